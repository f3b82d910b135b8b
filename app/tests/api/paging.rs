//! Deep pages: page numbers stop at `lists.max_page_depth` rows (400 naming `page`, pointing at
//! `cursor`), keyset pages go both ways at any depth, bad cursors are 400 naming `cursor`, and
//! `count` is exact up to the bound (from maintained counters where they apply).
use reqwest::Method;
use serde_json::{json, Value};
use zufang::domain::pagination::Cursor;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp};
use crate::rbac::house_body;

fn ids(body: &Value) -> Vec<u64> {
    body["results"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect()
}

async fn get_url(app: &TestApp, url: &str) -> Value {
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.unwrap()
}

async fn sql_count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn page_numbers_beyond_the_depth_bound_are_refused_pointing_at_the_cursor() {
    let app = spawn_app_with(&[("lists.max_page_depth", "100")], Some(zufang::seed::Scale::Small.counts())).await;
    app.get_json("/api/houses/?page=5&size=20", 200).await;
    app.get_json("/api/houses/?page=1&size=100", 200).await;
    for qs in ["page=6&size=20", "page=2&size=100", "page=101"] {
        let body = app.get_json(&format!("/api/houses/?{qs}"), 400).await;
        let msg = assert_error(&body, "invalid")["page"].to_string();
        assert!(msg.contains("100") && msg.contains("cursor"), "{qs}: {msg}");
    }
    // The default bound is 10,000 rows.
    let app = spawn_app().await;
    app.get_json("/api/houses/?page=100&size=100", 200).await;
    let body = app.get_json("/api/houses/?page=101&size=100", 400).await;
    assert!(assert_error(&body, "invalid").get("page").is_some());
}

#[tokio::test]
async fn keyset_pages_walk_forward_and_back_in_every_ordering() {
    let app = spawn_app().await;
    for o in ["price", "-price", "published_at", "-published_at", "area", "-area"] {
        let mut pages: Vec<Vec<u64>> = Vec::new();
        let first = get_url(&app, &format!("{}/api/houses/?district=5&ordering={o}&size=4&cursor=", app.address)).await;
        assert!(first["previous"].is_null(), "{o}: the first page has no previous");
        let mut body = first;
        loop {
            pages.push(ids(&body));
            match body["next"].as_str() {
                Some(next) => body = get_url(&app, next).await,
                None => break,
            }
        }
        let all: Vec<u64> = pages.concat();
        let by_page = app.get_json(&format!("/api/houses/?district=5&ordering={o}&size=100"), 200).await;
        assert_eq!(all, ids(&by_page), "{o}: cursor order is the page order");
        assert!(pages.len() >= 3, "{o}: fixture too small");
        // Back from the last page through the previous links: the same pages, reversed.
        let mut back = vec![ids(&body)];
        while let Some(prev) = body["previous"].as_str() {
            body = get_url(&app, prev).await;
            back.push(ids(&body));
            assert!(body["next"].is_string(), "{o}: a page reached backwards links forward");
        }
        back.reverse();
        assert_eq!(back, pages, "{o}: previous links retrace the pages");
    }
}

#[tokio::test]
async fn bad_cursors_are_400_naming_cursor() {
    let app = spawn_app().await;
    let enc = |o: &str, k: i64, i: u32| Cursor { o: o.into(), k, i, r: false }.encode();
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    for (qs, field) in [
        ("cursor=%%%".to_string(), "cursor"),
        (format!("cursor={}", b64("[1,2]")), "cursor"),
        (format!("cursor={}", b64(r#"{"o":"-published_at","k":1,"i":1,"admin":true}"#)), "cursor"),
        (format!("ordering=price&cursor={}", enc("price", -5, 1)), "cursor"),
        (format!("ordering=area&cursor={}", enc("area", 1 << 40, 1)), "cursor"),
        (format!("ordering=price&cursor={}", enc("price", 10, 0)), "cursor"),
        (format!("ordering=-area&cursor={}", enc("area", 10, 1)), "cursor"),
        (format!("cursor={}", "a".repeat(500)), "cursor"),
        ("cursor=&page=2".to_string(), "cursor"),
        ("cursor=&size=0".to_string(), "size"),
        ("cursor=&size=101".to_string(), "size"),
    ] {
        let body = app.get_json(&format!("/api/houses/?{qs}"), 400).await;
        assert!(assert_error(&body, "invalid").get(field).is_some(), "{qs}: {body}");
    }
}

#[tokio::test]
async fn counts_are_exact_up_to_the_bound_and_the_links_stop_there() {
    let app = spawn_app_with(&[("lists.max_page_depth", "100")], Some(zufang::seed::Scale::Small.counts())).await;
    let total = sql_count(&app, "SELECT COUNT(*) FROM houses").await;
    assert!(total > 100);
    // More than the bound (from the counter, and from a capped COUNT): the bound.
    for qs in ["", "minprice=0", "title=%E5%8E%85"] {
        let body = app.get_json(&format!("/api/houses/?{qs}&size=20&page=5"), 200).await;
        assert_eq!(body["count"], 100, "{qs}");
        assert!(body["next"].is_null(), "{qs}: no link past the bound");
    }
    // Fewer: exact, from either source.
    let (d, n): (u32, i64) = sqlx::query_as(
        "SELECT district_id, COUNT(*) FROM houses GROUP BY district_id HAVING COUNT(*) < 100 ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(app.get_json(&format!("/api/houses/?district={d}"), 200).await["count"], n);
    let n2 = sql_count(&app, &format!("SELECT COUNT(*) FROM houses WHERE district_id = {d} AND price >= 3000")).await;
    assert_eq!(app.get_json(&format!("/api/houses/?district={d}&minprice=3000"), 200).await["count"], n2);
}

#[tokio::test]
async fn maintained_counts_follow_creation_type_change_and_deletion() {
    let app = spawn_app().await;
    let (_, agent) = app.user_with_token("agent_p1", &["agent"]).await;
    let (city, district): (u32, u32) = sqlx::query_as(
        "SELECT d.parent_id, e.district_id FROM estates e JOIN districts d ON d.id = e.district_id WHERE e.id = 4",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let check = |label: &'static str| {
        let app = &app;
        async move {
            for (qs, sql) in [
                (String::new(), "SELECT COUNT(*) FROM houses".to_string()),
                (format!("city={city}"), format!("SELECT COUNT(*) FROM houses WHERE city_id = {city}")),
                (format!("district={district}"), format!("SELECT COUNT(*) FROM houses WHERE district_id = {district}")),
                ("type=1".into(), "SELECT COUNT(*) FROM houses WHERE type_id = 1".into()),
                ("type=2".into(), "SELECT COUNT(*) FROM houses WHERE type_id = 2".into()),
            ] {
                let want = sql_count(app, &sql).await;
                assert_eq!(app.get_json(&format!("/api/houses/?{qs}"), 200).await["count"], want, "{label}: ?{qs}");
            }
        }
    };
    check("seeded").await;
    let res = app.authed(Method::POST, "/api/houses/", &agent).json(&house_body(4)).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    check("created").await;
    let res = app.patch_house(id, &agent, 1, &json!({"type_id": 2})).await;
    assert_eq!(res.status(), 200);
    check("type changed").await;
    let res = app.authed(Method::DELETE, &format!("/api/houses/{id}/"), &agent).send().await.unwrap();
    assert_eq!(res.status(), 204);
    check("deleted").await;
}
