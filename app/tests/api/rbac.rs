//! The RBAC guard, ownership and the admin ACL: privilege-escalation attempts.
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, TestApp};

pub fn house_body(estate: u32) -> Value {
    json!({"title": "朝南两居", "area": 80, "floor": 3, "total_floor": 18, "direction": "南", "price": 5200,
           "type_id": 1, "estate_id": estate})
}

async fn create_house(app: &TestApp, token: &str) -> u32 {
    let res = app.authed(Method::POST, "/api/houses/", token).json(&house_body(1)).send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_u64().unwrap() as u32
}

#[tokio::test]
async fn anonymous_writes_are_401_and_insufficient_roles_403() {
    let app = spawn_app().await;
    let res = app.client.post(format!("{}/api/houses/", app.address)).json(&house_body(1)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_error(&res.json().await.unwrap(), "not_authenticated");

    let (_, user) = app.user_with_token("plainuser", &["user"]).await;
    let res = app.authed(Method::POST, "/api/houses/", &user).json(&house_body(1)).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_error(&res.json().await.unwrap(), "permission_denied");
    let res = app.authed(Method::PATCH, "/api/estates/1/", &user).json(&json!({"name": "x"})).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // Reads stay public.
    assert_eq!(app.get("/api/houses/1/").await.status(), 200);
}

#[tokio::test]
async fn a_user_cannot_call_admin_routes() {
    let app = spawn_app_with(&[], None).await;
    let (uid, user) = app.user_with_token("mallory", &["user"]).await;
    let res = app.authed(Method::GET, "/api/admin/roles/", &user).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .authed(Method::PUT, &format!("/api/admin/users/{uid}/roles/"), &user)
        .json(&json!({"roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a user cannot grant themselves admin");
    let roles: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_roles WHERE user_id = ?")
        .bind(uid)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(roles, 1);
}

#[tokio::test]
async fn an_agent_cannot_edit_or_delete_another_agents_house() {
    let app = spawn_app().await;
    let (_, alice) = app.user_with_token("agent_alice", &["agent"]).await;
    let (_, bob) = app.user_with_token("agent_bob", &["agent"]).await;
    let house = create_house(&app, &alice).await;

    let res = app
        .authed(Method::PATCH, &format!("/api/houses/{house}/"), &bob)
        .header("If-Match", "\"1\"")
        .json(&json!({"price": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app.authed(Method::DELETE, &format!("/api/houses/{house}/"), &bob).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // Seeded houses have no owner: not editable by agents either.
    let res = app
        .authed(Method::PATCH, "/api/houses/1/", &bob)
        .header("If-Match", "\"1\"")
        .json(&json!({"price": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let res = app
        .authed(Method::PATCH, &format!("/api/houses/{house}/"), &alice)
        .header("If-Match", "\"1\"")
        .json(&json!({"price": 4800}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the owner may edit");
    let (_, admin) = app.user_with_token("root", &["admin"]).await;
    let res = app.authed(Method::DELETE, &format!("/api/houses/{house}/"), &admin).send().await.unwrap();
    assert_eq!(res.status(), 204, "an admin may delete anyone's house");
    let price: Option<u32> =
        sqlx::query_scalar("SELECT price FROM houses WHERE id = ?").bind(house).fetch_optional(&app.db).await.unwrap();
    assert_eq!(price, None);
}

#[tokio::test]
async fn granting_a_role_takes_effect_at_once() {
    let app = spawn_app().await;
    let (uid, user) = app.user_with_token("promoted", &["user"]).await;
    let (_, admin) = app.user_with_token("boss", &["admin"]).await;
    assert_eq!(
        app.authed(Method::POST, "/api/houses/", &user).json(&house_body(1)).send().await.unwrap().status(),
        403
    );

    let res = app
        .authed(Method::PUT, &format!("/api/admin/users/{uid}/roles/"), &admin)
        .json(&json!({"roles": ["user", "agent"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Same token: privileges come from the (invalidated) cache, not from the token's claims.
    assert_eq!(
        app.authed(Method::POST, "/api/houses/", &user).json(&house_body(1)).send().await.unwrap().status(),
        201
    );

    let res = app
        .authed(Method::PUT, &format!("/api/admin/users/{uid}/roles/"), &admin)
        .json(&json!({"roles": ["user"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.authed(Method::POST, "/api/houses/", &user).json(&house_body(1)).send().await.unwrap().status(),
        403
    );
    let res = app
        .authed(Method::PUT, &format!("/api/admin/users/{uid}/roles/"), &admin)
        .json(&json!({"roles": ["pope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn admins_list_and_create_roles() {
    let app = spawn_app_with(&[], None).await;
    let (_, admin) = app.user_with_token("admin1", &["admin"]).await;
    let list: Value = app.authed(Method::GET, "/api/admin/roles/", &admin).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = list["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "agent", "user"]);

    let body = json!({"name": "editor", "intro": "edits estates", "privileges": [{"method": "PATCH", "route": "/api/estates/{id}/"}]});
    let res = app.authed(Method::POST, "/api/admin/roles/", &admin).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(app.authed(Method::POST, "/api/admin/roles/", &admin).json(&body).send().await.unwrap().status(), 409);
    let bad = json!({"name": "x", "privileges": [{"method": "GET", "route": "/nope/"}]});
    assert_eq!(app.authed(Method::POST, "/api/admin/roles/", &admin).json(&bad).send().await.unwrap().status(), 400);

    // The new role works through the guard.
    let (_, editor) = app.user_with_token("ed", &["editor"]).await;
    let res = app.authed(Method::PATCH, "/api/estates/1/", &editor).json(&json!({"name": "x"})).send().await.unwrap();
    assert_ne!(res.status(), 403);
    let res = app
        .authed(Method::POST, "/api/estates/", &editor)
        .json(&json!({"name": "x", "district_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_admin_api_is_locked_to_the_allowed_networks() {
    let app = spawn_app_with(&[("admin.allow_cidrs", r#"["10.0.0.0/8"]"#)], None).await;
    let (_, admin) = app.user_with_token("far_admin", &["admin"]).await;
    let res = app.authed(Method::GET, "/api/admin/roles/", &admin).send().await.unwrap();
    assert_eq!(res.status(), 403, "127.0.0.1 is not in the allow list");
    // Behind a trusted proxy (127.0.0.1 is one by default) the forwarded client address counts.
    let res = app
        .authed(Method::GET, "/api/admin/roles/", &admin)
        .header("X-Forwarded-For", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A forged X-Forwarded-For from an untrusted peer changes nothing (127.0.0.1 is trusted by
    // default, so use a deployment that trusts no proxy).
    let app =
        spawn_app_with(&[("admin.allow_cidrs", r#"["10.0.0.0/8"]"#), ("application.trusted_proxies", r#"[]"#)], None)
            .await;
    let (_, admin) = app.user_with_token("far_admin", &["admin"]).await;
    let res = app
        .authed(Method::GET, "/api/admin/roles/", &admin)
        .header("X-Forwarded-For", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let app = spawn_app_with(&[("admin.deny_cidrs", r#"["127.0.0.0/8"]"#)], None).await;
    let (_, admin) = app.user_with_token("denied_admin", &["admin"]).await;
    let res = app.authed(Method::GET, "/api/admin/roles/", &admin).send().await.unwrap();
    assert_eq!(res.status(), 403, "deny wins over allow");
}

#[tokio::test]
async fn the_create_user_command_makes_a_working_admin() {
    let app = spawn_app_with(&[], None).await;
    let roles = vec!["admin".to_string()];
    zufang::cli::create_user(&app.settings, "operator", "13112345678", "operator-password".into(), &roles)
        .await
        .unwrap();
    let token = app.token("operator", "operator-password").await;
    assert_eq!(app.authed(Method::GET, "/api/admin/roles/", &token).send().await.unwrap().status(), 200);
    let bad =
        zufang::cli::create_user(&app.settings, "x", "13112345679", "operator-password".into(), &["pope".into()]).await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn the_last_active_admin_keeps_the_admin_role() {
    let app = spawn_app().await;
    let (solo, token) = app.user_with_token("solo_admin", &["admin"]).await;
    let (other, _) = app.user_with_token("second_admin", &["admin"]).await;
    let put = |uid: u32, roles: Value| {
        app.authed(Method::PUT, &format!("/api/admin/users/{uid}/roles/"), &token).json(&roles).send()
    };
    // Another admin may go while one remains.
    assert_eq!(put(other, json!({"roles": ["user"]})).await.unwrap().status(), 200);
    // Every other active admin (a seed may have some) goes too; then the last one cannot.
    let admins: Vec<u32> = sqlx::query_scalar(
        "SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id JOIN users u ON u.id = ur.user_id \
         WHERE r.name = 'admin' AND u.is_active = 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    for uid in admins.into_iter().filter(|u| *u != solo) {
        assert_eq!(put(uid, json!({"roles": ["user"]})).await.unwrap().status(), 200);
    }
    let res = put(solo, json!({"roles": ["user"]})).await.unwrap();
    assert_eq!(res.status(), 409);
    assert_error(&res.json().await.unwrap(), "conflict");
    // Still an admin: the admin API still answers.
    assert_eq!(app.authed(Method::GET, "/api/admin/roles/", &token).send().await.unwrap().status(), 200);
    assert_eq!(put(solo, json!({"roles": ["admin", "user"]})).await.unwrap().status(), 200);
}

#[tokio::test]
async fn main_photo_accepts_web_urls_only() {
    let app = spawn_app().await;
    let (_, agent) = app.user_with_token("photo_agent", &["agent"]).await;
    for bad in ["javascript:alert(1)", "data:image/png;base64,AAAA", "//evil.example/x.jpg", "ftp://x/y.jpg"] {
        let mut body = house_body(1);
        body["main_photo"] = json!(bad);
        let res = app.authed(Method::POST, "/api/houses/", &agent).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let fields = assert_error(&res.json().await.unwrap(), "invalid");
        assert!(fields.get("main_photo").is_some(), "{bad}: {fields}");
    }
    let mut body = house_body(1);
    body["main_photo"] = json!("https://img.example/1.jpg");
    assert_eq!(app.authed(Method::POST, "/api/houses/", &agent).json(&body).send().await.unwrap().status(), 201);
}
