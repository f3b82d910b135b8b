//! Title search, from each replica's in-memory index and from the n-gram table: the same answers
//! as the substring definition (`title LIKE '%term%'` under the column's collation), kept by
//! every house write (on every replica, at once), rebuilt by `zufang search reindex`, and in the
//! database (a restarted service finds what the old one indexed).
use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use zufang::storage::search;

use crate::helpers::{metric_value, spawn_app, spawn_app_with, spawn_binary, spawn_replica_with, TestApp};
use crate::rbac::house_body;

/// Every id `title=term` answers, through the keyset pages (no count cap, no page bound).
async fn search_ids(base: &str, client: &reqwest::Client, term: &str, extra: &str) -> BTreeSet<u64> {
    let q = title_param(term);
    let mut url = format!("{base}/api/houses/?{q}&ordering=price&size=100&cursor={extra}");
    let mut ids = BTreeSet::new();
    for _ in 0..100 {
        let body: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        for h in body["results"].as_array().unwrap_or_else(|| panic!("{term}: {body}")) {
            assert!(ids.insert(h["id"].as_u64().unwrap()), "{term}: a row twice");
        }
        match body["next"].as_str() {
            Some(n) => url = n.to_string(),
            None => return ids,
        }
    }
    panic!("{term}: more than 100 pages");
}

fn title_param(term: &str) -> String {
    serde_urlencoded::to_string([("title", term)]).unwrap()
}

/// The substring definition, straight from SQL.
async fn like_ids(app: &TestApp, term: &str) -> BTreeSet<u64> {
    let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let ids: Vec<u32> = sqlx::query_scalar("SELECT id FROM houses WHERE title LIKE CONCAT('%', ?, '%')")
        .bind(escaped)
        .fetch_all(&app.db)
        .await
        .unwrap();
    ids.into_iter().map(u64::from).collect()
}

/// Wait until `app`'s in-memory title index has loaded (it loads in the background at start).
async fn index_loaded(app: &TestApp) {
    for _ in 0..200 {
        if app.state.titles.houses().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the title index did not load in 10 s");
}

/// Searches answered from memory so far.
async fn memory_searches(app: &TestApp) -> f64 {
    metric_value(&app.metrics().await, "title_searches_total{index=\"memory\"}")
}

/// A replica of `app` whose title search uses the n-gram table alone.
async fn ngram_replica(app: &TestApp) -> TestApp {
    spawn_replica_with(app, |s| s.lists.memory_title_index = false).await
}

/// Every id of a listing, in order, read page by page (size 7) or by cursor.
async fn ordered_ids(app: &TestApp, query: &str, cursor: bool) -> Vec<u64> {
    let mut url = if cursor {
        format!("{}/api/houses/?{query}&size=7&cursor=", app.address)
    } else {
        format!("{}/api/houses/?{query}&size=7", app.address)
    };
    let mut ids = Vec::new();
    for _ in 0..200 {
        let body: Value = app.client.get(&url).send().await.unwrap().json().await.unwrap();
        ids.extend(
            body["results"]
                .as_array()
                .unwrap_or_else(|| panic!("{query}: {body}"))
                .iter()
                .map(|h| h["id"].as_u64().unwrap()),
        );
        match body["next"].as_str() {
            Some(n) => url = n.to_string(),
            None => return ids,
        }
    }
    panic!("{query}: more than 200 pages");
}

/// Whether `title=term` on `app` finds house `id` within 10 s (a reload runs in the background).
async fn eventually_finds(app: &TestApp, term: &str, id: u64) -> bool {
    for _ in 0..100 {
        if search_ids(&app.address, &app.client, term, "").await.contains(&id) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// `zufang ARGS` against the database `s` (the command-line jobs' configuration).
async fn zufang_on(s: &zufang::configuration::DatabaseSettings, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"))
        .args(args)
        .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("ZUFANG_SECRETS_DIR", "/nonexistent")
        .env("ZUFANG__DATABASE__HOST", &s.host)
        .env("ZUFANG__DATABASE__PORT", s.port.to_string())
        .env("ZUFANG__DATABASE__USERNAME", &s.username)
        .env("ZUFANG__DATABASE__PASSWORD", s.password.expose())
        .env("ZUFANG__DATABASE__NAME", &s.name)
        .output()
        .await
        .unwrap()
}

async fn create(app: &TestApp, token: &str, title: &str) -> u64 {
    let mut body = house_body(4);
    body["title"] = json!(title);
    let res = app.authed(Method::POST, "/api/houses/", token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_u64().unwrap()
}

#[tokio::test]
async fn title_search_answers_exactly_the_substring_matches() {
    let app = spawn_app().await;
    let ngram = ngram_replica(&app).await;
    let (_, agent) = app.user_with_token("agent_s1", &["agent"]).await;
    // Latin, mixed case, LIKE's wildcards, accents, full-width letters and a compatibility
    // character beside the seed's Chinese titles: under utf8mb4_unicode_ci `é` matches `e`,
    // `ｆ` matches `f` and `㎡` is one character of its own weight.
    for t in
        ["Sunny LOFT 江景", "loft_50% off", "LoFt a_b", "Café CRÈME 复式", "ｆｕｌｌ ｗｉｄｔｈ 公寓", "Straße 45m2"]
    {
        create(&app, &agent, t).await;
    }
    index_loaded(&app).await;
    let sample: String = sqlx::query_scalar("SELECT title FROM houses WHERE id = 7").fetch_one(&app.db).await.unwrap();
    let words: Vec<&str> = sample.split_whitespace().collect();
    let mut terms: Vec<String> = vec![
        "两室".into(),
        "一室一厅".into(),
        "花园".into(),
        sample.clone(),
        words[0].into(),
        format!("{} {}", words[0], words[1]),
        // Across a word boundary, starting mid-word.
        format!("{} {}", &words[1][words[1].len() - 3..], words[2]),
        "朝南".into(),
        "㎡ 朝".into(),
        "loft".into(),
        "LOFT 江".into(),
        "_50%".into(),
        "a_b".into(),
        "%".into(),
        "不存在的房子".into(),
        "园".into(),
        "cafe creme".into(),
        "CAFÉ".into(),
        "full".into(),
        "ＬＯＦＴ".into(),
        "m2".into(),
        "5m".into(),
        "strasse".into(),
        "straße".into(),
        "e c".into(),
    ];
    terms.dedup();
    let before = memory_searches(&app).await;
    for term in &terms {
        let want = like_ids(&app, term).await;
        for (path, app) in [("memory", &app), ("ngram", &ngram)] {
            let got = search_ids(&app.address, &app.client, term, "").await;
            assert_eq!(got, want, "title={term:?} from {path}");
            // Page numbers agree: the count (below the cap) is the same set's size.
            let body = app.get_json(&format!("/api/houses/?{}", title_param(term)), 200).await;
            assert_eq!(body["count"].as_u64().unwrap(), want.len() as u64, "count of title={term:?} from {path}");
        }
    }
    assert!(like_ids(&app, "loft").await.len() == 3, "case-insensitive like the column");
    assert!(like_ids(&app, "cafe").await.len() == 1, "accent-insensitive like the column");
    // Every term of two characters or more was answered from memory (two requests each).
    let two_plus = terms.iter().filter(|t| t.chars().count() >= 2).count() as f64;
    assert!(memory_searches(&app).await - before >= 2.0 * two_plus, "the in-memory index answered");
    assert_eq!(memory_searches(&ngram).await, 0.0, "the n-gram replica never used memory");
    // Terms with a two-character word are looked up through the n-gram table, not by scanning.
    for term in ["两室", "loft", "不存在的房子"] {
        let plan = search::plan(&app.db, &app.state.metrics, term).await.unwrap();
        assert!(!plan.grams.is_empty(), "{term}: {plan:?}");
    }
    assert!(search::plan(&app.db, &app.state.metrics, "园").await.unwrap().grams.is_empty());
}

#[tokio::test]
async fn memory_and_ngram_pages_are_the_same_in_every_ordering_and_filter() {
    let app = spawn_app().await;
    let ngram = ngram_replica(&app).await;
    index_loaded(&app).await;
    // Equal prices tie-break on the id, in both directions.
    sqlx::query("UPDATE houses SET price = 3000 WHERE id % 5 = 0").execute(&app.db).await.unwrap();
    sqlx::query("UPDATE search_clock SET epoch = epoch + 1").execute(&app.db).await.unwrap();
    let district: u32 = sqlx::query_scalar(
        "SELECT district_id FROM houses WHERE title LIKE '%室%' GROUP BY district_id ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let queries = [
        "title=%E5%AE%A4".to_string(), // 室: one character, the n-gram table's scan on both
        "title=%E4%B8%A4%E5%AE%A4&ordering=price".into(),
        "title=%E4%B8%A4%E5%AE%A4&ordering=-price".into(),
        "title=%E6%9C%9D%E5%8D%97&ordering=-area".into(),
        "title=%E6%9C%9D%E5%8D%97&ordering=published_at".into(),
        format!("title=%E5%AE%A4%E4%B8%80&district={district}&ordering=-price"),
        "title=%E5%AE%A4%E4%B8%80&minprice=2000&maxprice=6000&ordering=area".into(),
    ];
    let mut loaded = false;
    for _ in 0..100 {
        // The epoch moved: the index reloads in the background (the n-gram table answers meanwhile).
        app.get_json("/api/houses/?title=%E4%B8%A4%E5%AE%A4", 200).await;
        if app.state.titles.houses().is_some() {
            loaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(loaded, "the index reloaded after the epoch moved");
    let before = memory_searches(&app).await;
    for q in &queries {
        for cursor in [false, true] {
            let want = ordered_ids(&ngram, q, cursor).await;
            assert!(!want.is_empty(), "{q}: the test wants matches");
            assert_eq!(ordered_ids(&app, q, cursor).await, want, "{q} (cursor: {cursor})");
        }
    }
    assert!(memory_searches(&app).await > before, "memory answered");
    // A previous link from a cursor page leads back to the same rows.
    let q = "title=%E4%B8%A4%E5%AE%A4&ordering=-price&size=5&cursor=";
    let first: Value = app.get_json(&format!("/api/houses/?{q}"), 200).await;
    let next = first["next"].as_str().unwrap();
    let second: Value = app.client.get(next).send().await.unwrap().json().await.unwrap();
    let back: Value = app.client.get(second["previous"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(back["results"], first["results"]);
}

#[tokio::test]
async fn title_index_follows_creation_edit_and_deletion_on_every_replica() {
    let app = spawn_app().await;
    // The writes go to `app`; the searches to another replica, from memory, and to the n-gram table.
    let other = spawn_replica_with(&app, |_| {}).await;
    let ngram = ngram_replica(&app).await;
    index_loaded(&other).await;
    let (_, agent) = app.user_with_token("agent_s2", &["agent"]).await;
    let before = memory_searches(&other).await;
    let id = create(&app, &agent, "独栋别墅 带花园泳池").await;
    for r in [&other, &ngram] {
        let found = |term: &'static str| {
            let (base, client) = (r.address.clone(), r.client.clone());
            async move { search_ids(&base, &client, term, "").await }
        };
        assert!(found("花园泳池").await.contains(&id));
    }
    let res = app.patch_house(id, &agent, 1, &json!({"title": "江景公寓 落地窗"})).await;
    assert_eq!(res.status(), 200);
    for r in [&other, &ngram] {
        assert!(
            !search_ids(&r.address, &r.client, "花园泳池", "").await.contains(&id),
            "the old title no longer matches"
        );
        assert_eq!(search_ids(&r.address, &r.client, "落地窗", "").await, BTreeSet::from([id]));
    }
    // An edit of other fields keeps the title's matches; the filters see the new price at once.
    let res = app.patch_house(id, &agent, 2, &json!({"price": 9900})).await;
    assert_eq!(res.status(), 200);
    for r in [&other, &ngram] {
        assert_eq!(search_ids(&r.address, &r.client, "落地窗", "").await, BTreeSet::from([id]));
        assert_eq!(search_ids(&r.address, &r.client, "落地窗", "&minprice=9900").await, BTreeSet::from([id]));
        assert!(search_ids(&r.address, &r.client, "落地窗", "&maxprice=9899").await.is_empty());
    }
    let res = app.authed(Method::DELETE, &format!("/api/houses/{id}/"), &agent).send().await.unwrap();
    assert_eq!(res.status(), 204);
    for r in [&other, &ngram] {
        assert!(search_ids(&r.address, &r.client, "落地窗", "").await.is_empty());
    }
    let answered = memory_searches(&other).await - before;
    assert_eq!(answered, 7.0, "the other replica answered every search from memory");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM house_title_grams WHERE house_id = ?")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0, "no index entries outlive the house");
    let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM house_changes WHERE house_id = ?")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(logged, 4, "creation, two edits and the deletion are in the change log");
}

#[tokio::test]
async fn the_memory_index_reloads_for_rows_written_around_the_service() {
    let app = spawn_app().await;
    index_loaded(&app).await;
    let found = |app: &TestApp, term: &'static str| {
        let (base, client) = (app.address.clone(), app.client.clone());
        async move { search_ids(&base, &client, term, "").await }
    };
    // A title changed by hand: in no log, so no index sees it...
    sqlx::query("UPDATE houses SET title = '手写标题 改过' WHERE id = 3").execute(&app.db).await.unwrap();
    assert!(found(&app, "手写标题").await.is_empty());
    // ...until `zufang search reload` moves the epoch: the replica reloads from the rows.
    let out = zufang_on(&app.settings.database, &["search", "reload"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(eventually_finds(&app, "手写标题", 3).await, "the reload picked up the title written by hand");
    // With a one-second refresh a replica picks such a title up without a command.
    let quick = spawn_replica_with(&app, |s| s.lists.title_index_refresh_seconds = 1).await;
    index_loaded(&quick).await;
    sqlx::query("UPDATE houses SET title = '再次手写 改过' WHERE id = 4").execute(&app.db).await.unwrap();
    assert!(eventually_finds(&quick, "再次手写", 4).await, "the periodic reload picked up a title written by hand");
    // A change log pruned past a replica's position makes it reload rather than miss writes.
    let (_, agent) = app.user_with_token("agent_s3", &["agent"]).await;
    let a = create(&app, &agent, "修剪之前 甲").await;
    sqlx::query("DELETE FROM house_changes").execute(&app.db).await.unwrap();
    sqlx::query("UPDATE search_clock SET seq = seq + 1").execute(&app.db).await.unwrap();
    let b = create(&app, &agent, "修剪之后 乙").await;
    assert_eq!(search_ids(&app.address, &app.client, "修剪之", "").await, BTreeSet::from([a, b]));
}

#[tokio::test]
async fn reindex_rebuilds_the_title_index_and_a_restarted_service_uses_it() {
    // The n-gram table alone (the in-memory index would answer from its own copy).
    let app = spawn_app_with(&[("lists.memory_title_index", "false")], Some(zufang::seed::Scale::Small.counts())).await;
    let before = search_ids(&app.address, &app.client, "两室", "").await;
    assert!(!before.is_empty());
    let entries = |app: &TestApp| {
        let db = app.db.clone();
        async move { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM house_title_grams").fetch_one(&db).await.unwrap() }
    };
    let indexed = entries(&app).await;
    // Lost (e.g. rows loaded by hand): the search answers from the index, so it finds nothing.
    sqlx::query("DELETE FROM house_title_grams").execute(&app.db).await.unwrap();
    // And counters moved by hand (as SQL writes around the service leave them).
    sqlx::query("UPDATE house_counts SET houses = 1 WHERE scope = 'all'").execute(&app.db).await.unwrap();
    assert!(search_ids(&app.address, &app.client, "两室", "").await.is_empty());
    // The command rebuilds it, logging progress.
    let out = zufang_on(&app.settings.database, &["search", "reindex", "--batch", "97"]).await;
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("search reindex: 100%") && log.contains("search reindex: done"), "{log}");
    assert_eq!(entries(&app).await, indexed);
    // The counters are recounted too.
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM houses").fetch_one(&app.db).await.unwrap();
    assert_eq!(app.get_json("/api/houses/?size=1", 200).await["count"], all.min(10_000));
    // The migration indexes the titles an upgraded database already has, to the same answers.
    sqlx::query("DELETE FROM house_title_grams").execute(&app.db).await.unwrap();
    let migration = include_str!("../../migrations/20261205000002_search_and_keyset.sql");
    let start = migration.find("INSERT IGNORE INTO house_title_grams").expect("the migration fills the index");
    let fill = &migration[start..start + migration[start..].find(';').unwrap()];
    sqlx::query(fill).execute(&app.db).await.unwrap();
    assert_eq!(search_ids(&app.address, &app.client, "两室", "").await, before);
    // A fresh process on the same database (a restart) answers from the stored index.
    let (_child, base) =
        spawn_binary(&app, &[("ZUFANG__LOG__LEVEL", "warn"), ("ZUFANG__LISTS__MEMORY_TITLE_INDEX", "false")]).await;
    assert_eq!(search_ids(&base, &app.client, "两室", "").await, before);
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"))
        .args(["search", "reindex", "--batch", "0"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--batch"));
}

#[tokio::test]
async fn a_catalogue_above_the_memory_limit_is_searched_in_the_ngram_table() {
    // 8,000 houses need more than 1 MiB of index: the replica never loads it, and says why.
    let counts = zufang::seed::Counts { agents: 30, estates: 300, houses: 8_000 };
    let app = spawn_app_with(&[("lists.title_index_max_mib", "1")], Some(counts)).await;
    let big = spawn_replica_with(&app, |s| s.lists.title_index_max_mib = 64).await;
    index_loaded(&big).await;
    let want = like_ids(&app, "两室").await;
    assert!(want.len() > 1000);
    for _ in 0..3 {
        assert_eq!(search_ids(&app.address, &app.client, "两室", "").await, want);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.state.titles.houses(), None, "not loaded above the limit");
    assert_eq!(memory_searches(&app).await, 0.0);
    assert!(metric_value(&app.metrics().await, "title_searches_total{index=\"ngram\"}") >= 3.0);
    assert_eq!(big.state.titles.houses(), Some(8_000));
    assert_eq!(search_ids(&big.address, &big.client, "两室", "").await, want);
    assert!(memory_searches(&big).await >= 1.0);
}
