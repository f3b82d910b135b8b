//! Title search through the bigram index: the same answers as the substring definition
//! (`title LIKE '%term%'`), kept by every house write, rebuilt by `zufang search reindex`, and
//! in the database (a restarted service finds what the old one indexed).
use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use zufang::storage::search;

use crate::helpers::{spawn_app, spawn_binary, TestApp};
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
    let (_, agent) = app.user_with_token("agent_s1", &["agent"]).await;
    // Latin, mixed case and LIKE's wildcards beside the seed's Chinese titles.
    for t in ["Sunny LOFT 江景", "loft_50% off", "LoFt a_b"] {
        create(&app, &agent, t).await;
    }
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
    ];
    terms.dedup();
    for term in &terms {
        let want = like_ids(&app, term).await;
        let got = search_ids(&app.address, &app.client, term, "").await;
        assert_eq!(got, want, "title={term:?}");
        // Page numbers agree: the count (below the cap) is the same set's size.
        let body = app.get_json(&format!("/api/houses/?{}", title_param(term)), 200).await;
        assert_eq!(body["count"].as_u64().unwrap(), want.len() as u64, "count of title={term:?}");
    }
    assert!(like_ids(&app, "loft").await.len() == 3, "case-insensitive like the column");
    // Terms with a two-character word are looked up through the index, not by scanning titles.
    for term in ["两室", "loft", "不存在的房子"] {
        let plan = search::plan(&app.db, &app.state.metrics, term).await.unwrap();
        assert!(!plan.grams.is_empty(), "{term}: {plan:?}");
    }
    assert!(search::plan(&app.db, &app.state.metrics, "园").await.unwrap().grams.is_empty());
}

#[tokio::test]
async fn title_index_follows_creation_edit_and_deletion() {
    let app = spawn_app().await;
    let (_, agent) = app.user_with_token("agent_s2", &["agent"]).await;
    let id = create(&app, &agent, "独栋别墅 带花园泳池").await;
    let found = |term: &'static str| {
        let (base, client) = (app.address.clone(), app.client.clone());
        async move { search_ids(&base, &client, term, "").await }
    };
    assert!(found("花园泳池").await.contains(&id));
    let res = app.patch_house(id, &agent, 1, &json!({"title": "江景公寓 落地窗"})).await;
    assert_eq!(res.status(), 200);
    assert!(!found("花园泳池").await.contains(&id), "the old title no longer matches");
    assert_eq!(found("落地窗").await, BTreeSet::from([id]));
    // An edit of other fields leaves the index alone.
    let res = app.patch_house(id, &agent, 2, &json!({"price": 9900})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(found("落地窗").await, BTreeSet::from([id]));
    let res = app.authed(Method::DELETE, &format!("/api/houses/{id}/"), &agent).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(found("落地窗").await.is_empty());
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM house_title_grams WHERE house_id = ?")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0, "no index entries outlive the house");
}

#[tokio::test]
async fn reindex_rebuilds_the_title_index_and_a_restarted_service_uses_it() {
    let app = spawn_app().await;
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
    let s = &app.settings.database;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"))
        .args(["search", "reindex", "--batch", "97"])
        .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("ZUFANG_SECRETS_DIR", "/nonexistent")
        .env("ZUFANG__DATABASE__HOST", &s.host)
        .env("ZUFANG__DATABASE__PORT", s.port.to_string())
        .env("ZUFANG__DATABASE__USERNAME", &s.username)
        .env("ZUFANG__DATABASE__PASSWORD", s.password.expose())
        .env("ZUFANG__DATABASE__NAME", &s.name)
        .output()
        .await
        .unwrap();
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
    let (_child, base) = spawn_binary(&app, &[("ZUFANG__LOG__LEVEL", "warn")]).await;
    assert_eq!(search_ids(&base, &app.client, "两室", "").await, before);
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"))
        .args(["search", "reindex", "--batch", "0"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--batch"));
}
