//! Writes: transactions, no lost updates, optimistic concurrency, validation and cache invalidation.
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp};
use crate::rbac::house_body;

async fn hot(app: &TestApp, estate: u32) -> u32 {
    sqlx::query_scalar("SELECT hot FROM estates WHERE id = ?").bind(estate).fetch_one(&app.db).await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_created_house_has_its_tags_and_raises_hot() {
    let app = spawn_app().await;
    let (uid, agent) = app.user_with_token("agent_a", &["agent"]).await;
    let before = hot(&app, 2).await;
    let mut body = house_body(2);
    body["tags"] = json!([1, 2]);
    let res = app.authed(Method::POST, "/api/houses/", &agent).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let house: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/houses/{}/", house["id"]));
    assert_eq!(house["tags"].as_array().unwrap().len(), 2);
    assert_eq!(house["estate"]["id"], 2);
    assert_eq!(hot(&app, 2).await, before + 1);
    let owner: Option<u32> = sqlx::query_scalar("SELECT user_id FROM houses WHERE id = ?")
        .bind(house["id"].as_u64())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(owner, Some(uid));
}

#[tokio::test]
async fn a_failing_last_step_leaves_no_trace() {
    let app = spawn_app().await;
    let (_, agent) = app.user_with_token("agent_b", &["agent"]).await;
    let (houses, tags, hot_before) = (
        count(&app, "SELECT COUNT(*) FROM houses").await,
        count(&app, "SELECT COUNT(*) FROM house_tags").await,
        hot(&app, 3).await,
    );
    // Tag 999999 does not exist: the tag insert (the last step, after the house insert and the
    // hot increment) fails on its foreign key.
    let mut body = house_body(3);
    body["tags"] = json!([1, 999999]);
    let res = app.authed(Method::POST, "/api/houses/", &agent).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(assert_error(&res.json().await.unwrap(), "unprocessable")["tags"].is_array());
    assert_eq!(count(&app, "SELECT COUNT(*) FROM houses").await, houses, "house insert rolled back");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM house_tags").await, tags);
    assert_eq!(hot(&app, 3).await, hot_before, "hot increment rolled back");
}

#[tokio::test]
async fn unknown_references_are_422_and_bad_fields_400() {
    let app = spawn_app().await;
    let (_, agent) = app.user_with_token("agent_c", &["agent"]).await;
    for (field, value) in [("estate_id", 999999), ("type_id", 999999)] {
        let mut body = house_body(1);
        body[field] = json!(value);
        let res = app.authed(Method::POST, "/api/houses/", &agent).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 422, "{field}");
        assert!(assert_error(&res.json().await.unwrap(), "unprocessable")[field].is_array(), "{field}");
    }
    let res = app
        .authed(Method::POST, "/api/houses/", &agent)
        .json(&json!({"title": "", "area": -1, "floor": 9, "total_floor": 3, "price": "cheap", "estate_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let fields = assert_error(&res.json().await.unwrap(), "invalid");
    for f in ["title", "area", "price", "direction", "type_id", "floor"] {
        assert!(fields[f].is_array(), "{f}: {fields}");
    }
}

#[tokio::test]
async fn one_hundred_parallel_creations_raise_hot_by_exactly_one_hundred() {
    let app = spawn_app_with(
        &[("database.max_connections", "32"), ("database.acquire_timeout_ms", "30000")],
        Some(zufang::seed::Scale::Small.counts()),
    )
    .await;
    let (_, agent) = app.user_with_token("agent_d", &["agent"]).await;
    let before = hot(&app, 5).await;
    let houses_before = count(&app, "SELECT COUNT(*) FROM houses WHERE estate_id = 5").await;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let req = app.authed(Method::POST, "/api/houses/", &agent).json(&house_body(5));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    assert_eq!(hot(&app, 5).await, before + 100);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM houses WHERE estate_id = 5").await, houses_before + 100);
}

#[tokio::test]
async fn concurrent_patches_of_one_version_let_exactly_one_win() {
    let app = spawn_app().await;
    let (_, agent) = app.user_with_token("agent_e", &["agent"]).await;
    let res = app.authed(Method::POST, "/api/houses/", &agent).json(&house_body(1)).send().await.unwrap();
    let id = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let etag = app.get(&format!("/api/houses/{id}/")).await.headers()["etag"].to_str().unwrap().to_string();

    let mut tasks = Vec::new();
    for i in 0..10 {
        let req = app
            .authed(Method::PATCH, &format!("/api/houses/{id}/"), &agent)
            .header("If-Match", etag.clone())
            .json(&json!({"price": 6000 + i}));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412, 412, 412, 412, 412]);
    let version: u32 =
        sqlx::query_scalar("SELECT version FROM houses WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap();
    assert_eq!(version, 2);

    // Without a precondition the write is refused (428), with a stale one 412.
    let res = app
        .authed(Method::PATCH, &format!("/api/houses/{id}/"), &agent)
        .json(&json!({"price": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 428);
    let res = app
        .authed(Method::PATCH, &format!("/api/houses/{id}/"), &agent)
        .json(&json!({"price": 1, "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);
    assert_error(&res.json().await.unwrap(), "precondition_failed");
    let res = app
        .authed(Method::PATCH, &format!("/api/houses/{id}/"), &agent)
        .header("If-Match", "\"2\"")
        .json(&json!({"price": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "\"3\"");
}

#[tokio::test]
async fn estate_writes_invalidate_the_cached_detail() {
    let app = spawn_app().await;
    let (_, admin) = app.user_with_token("estate_admin", &["admin"]).await;
    let cached = app.get_json("/api/estates/7/", 200).await;
    let version = cached["version"].as_u64().unwrap();
    let res = app.get("/api/estates/7/").await;
    assert_eq!(res.headers()["etag"].to_str().unwrap(), format!("\"{version}\""), "the cached answer has the ETag too");
    let res = app
        .authed(Method::PATCH, "/api/estates/7/", &admin)
        .header("If-Match", format!("\"{version}\""))
        .json(&json!({"name": "新名字花园"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let fresh = app.get_json("/api/estates/7/", 200).await;
    assert_eq!(fresh["name"], "新名字花园", "the cached detail was invalidated");
    assert_eq!(fresh["version"].as_u64(), Some(version + 1));

    // Creating a house there raises hot, also visible at once.
    let (_, agent) = app.user_with_token("agent_f", &["agent"]).await;
    app.authed(Method::POST, "/api/houses/", &agent).json(&house_body(7)).send().await.unwrap();
    assert_eq!(app.get_json("/api/estates/7/", 200).await["hot"].as_u64(), Some(fresh["hot"].as_u64().unwrap() + 1));
}

#[tokio::test]
async fn estates_are_created_replaced_and_deleted_by_admins() {
    let app = spawn_app().await;
    let (_, admin) = app.user_with_token("estates_admin", &["admin"]).await;
    let res = app
        .authed(Method::POST, "/api/estates/", &admin)
        .json(&json!({"name": "新小区", "district_id": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let res = app
        .authed(Method::POST, "/api/estates/", &admin)
        .json(&json!({"name": "x", "district_id": 999999}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    let res = app
        .authed(Method::PUT, &format!("/api/estates/{id}/"), &admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "改名小区", "district_id": 3, "intro": "简介"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .authed(Method::DELETE, &format!("/api/estates/{id}/"), &admin)
        .header("If-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412, "stale delete");
    let res = app.authed(Method::DELETE, &format!("/api/estates/{id}/"), &admin).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get(&format!("/api/estates/{id}/")).await.status(), 404);
    let busy: u32 = sqlx::query_scalar("SELECT estate_id FROM houses LIMIT 1").fetch_one(&app.db).await.unwrap();
    let res = app.authed(Method::DELETE, &format!("/api/estates/{busy}/"), &admin).send().await.unwrap();
    assert_eq!(res.status(), 409, "the estate has houses");
}
