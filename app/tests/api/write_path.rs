//! The write path's seams: a violated constraint answers through the one edge
//! (`storage::constraint`) on every resource, naming the right field; a write drops the cached
//! detail of the other resource it changes; every statement of a transaction is timed.
use reqwest::Method;
use serde_json::{json, Value};
use zufang::error::ApiError;
use zufang::storage::users;

use crate::helpers::{assert_error, metric_value, spawn_app, TestApp};
use crate::rbac::house_body;

async fn created_house(app: &TestApp, token: &str, estate: u32) -> Value {
    let res = app.authed(Method::POST, "/api/houses/", token).json(&house_body(estate)).send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn unknown_references_in_edits_are_422_naming_the_field() {
    let app = spawn_app().await;
    let (_, admin) = app.user_with_token("edge_admin", &["admin"]).await;
    let estate = app.get_json("/api/estates/2/", 200).await;
    let res = app
        .authed(Method::PATCH, "/api/estates/2/", &admin)
        .header("If-Match", format!("\"{}\"", estate["version"]))
        .json(&json!({"district_id": 999999}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(assert_error(&res.json().await.unwrap(), "unprocessable")["district_id"].is_array());

    let house = created_house(&app, &admin, 2).await;
    let id = house["id"].as_u64().unwrap();
    let res = app.patch_house(id, &admin, 1, &json!({"type_id": 999999})).await;
    assert_eq!(res.status(), 422);
    assert!(assert_error(&res.json().await.unwrap(), "unprocessable")["type_id"].is_array());
    let after = app.get_json(&format!("/api/houses/{id}/"), 200).await;
    assert_eq!(after["version"], 1, "the refused edit wrote nothing");
}

#[tokio::test]
async fn duplicate_keys_are_409_with_the_resources_message() {
    let app = spawn_app().await;
    let (_, admin) = app.user_with_token("dup_admin", &["admin"]).await;
    let body = json!({"name": "auditor"});
    assert_eq!(app.authed(Method::POST, "/api/admin/roles/", &admin).json(&body).send().await.unwrap().status(), 201);
    let res = app.authed(Method::POST, "/api/admin/roles/", &admin).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["message"], "Role auditor already exists.");

    // The sign-up flow checks first; a race past that check meets the unique keys.
    let store = app.state.store();
    users::create(store, "dup_user", "hash", "13700000001").await.unwrap();
    for (username, tel) in [("dup_user", "13700000002"), ("other_user", "13700000001")] {
        match users::create(store, username, "hash", tel).await {
            Err(ApiError::Conflict(m)) => assert_eq!(m, "A user with this username or tel already exists."),
            other => panic!("{username}/{tel}: expected a 409, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn deleting_a_house_drops_the_estates_cached_detail() {
    let app = spawn_app().await;
    let (_, agent) = app.user_with_token("del_agent", &["agent"]).await;
    let house = created_house(&app, &agent, 4).await;
    let hot = app.get_json("/api/estates/4/", 200).await["hot"].as_u64().unwrap();
    assert_eq!(app.get_json("/api/estates/4/", 200).await["hot"].as_u64(), Some(hot), "cached");
    let res = app.authed(Method::DELETE, &format!("/api/houses/{}/", house["id"]), &agent).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get_json("/api/estates/4/", 200).await["hot"].as_u64(), Some(hot - 1));
}

#[tokio::test]
async fn every_statement_of_a_write_transaction_is_timed() {
    let app = spawn_app().await;
    let (_, admin) = app.user_with_token("timed_admin", &["admin"]).await;
    let user = app.create_user("timed_user", "correct horse battery", &["user"]).await;
    created_house(&app, &admin, 1).await;
    let demote = app.authed(Method::PUT, &format!("/api/admin/users/{user}/roles/"), &admin);
    assert_eq!(demote.json(&json!({"roles": ["agent"]})).send().await.unwrap().status(), 200);
    let text = app.metrics().await;
    for query in [
        "begin",
        "write_house_lock_estate",
        "write_house_insert",
        "write_estate_hot_raise",
        "write_house_counts",
        "write_house_commit",
        "admin_user_lock",
        "admin_holders_lock",
        "admin_user_roles_clear",
        "admin_user_role_grant",
        "admin_user_commit",
        "users_login_log",
        "users_last_visit",
    ] {
        let series = format!("db_query_duration_seconds_count{{query=\"{query}\"}}");
        assert!(metric_value(&text, &series) >= 1.0, "{series} missing");
    }
}
