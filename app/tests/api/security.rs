//! Account abuse and session control against the real MariaDB and Redis: sign-up enumeration and
//! rate limits, revocation (deactivation, admin "revoke all", logout) on another replica,
//! cross-address login throttling with SMS login as the owner's way in, IPv6 /64 buckets, the
//! bounded password-hashing pool, and the write rules (merged PATCH, empty PATCH, `hot`).
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app_with, spawn_binary, spawn_replica, SmsSink, TestApp};

async fn sink_app(extra: &[(&str, &str)]) -> (TestApp, SmsSink) {
    let sink = SmsSink::start().await;
    let o = sink.overrides();
    let mut all: Vec<(&str, &str)> = o.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    (spawn_app_with(&all, Some(zufang::seed::Scale::Small.counts())).await, sink)
}

async fn post(app: &TestApp, path: &str, body: Value, from: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(format!("{}{path}", app.address)).json(&body);
    if let Some(ip) = from {
        // The test client connects from 127.0.0.1, a trusted proxy: it may name the client.
        req = req.header("X-Forwarded-For", ip);
    }
    req.send().await.unwrap()
}

async fn code_for(app: &TestApp, sink: &SmsSink, tel: &str) -> String {
    let res = post(app, &format!("/api/mobile-codes/{tel}/"), json!({}), Some("198.51.100.250")).await;
    assert_eq!(res.status(), 202);
    sink.last_code(tel).unwrap()
}

async fn tel_of(app: &TestApp, id: u32) -> String {
    sqlx::query_scalar("SELECT tel FROM users WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap()
}

async fn status_and_body(res: reqwest::Response) -> (u16, Value) {
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn sign_up_answers_the_same_whether_or_not_the_account_exists() {
    let (app, sink) = sink_app(&[]).await;
    let id = app.create_user("existing_one", "correct horse battery", &["user"]).await;
    let taken_tel = tel_of(&app, id).await;
    // A wrong code: the same answer for a taken username + tel and a free one.
    let taken = post(
        &app,
        "/api/users/",
        json!({"username": "existing_one", "password": "long enough pw", "tel": taken_tel, "code": "000000"}),
        Some("198.51.100.1"),
    )
    .await;
    let free = post(
        &app,
        "/api/users/",
        json!({"username": "nobody_yet", "password": "long enough pw", "tel": "13700137000", "code": "000000"}),
        Some("198.51.100.2"),
    )
    .await;
    let (taken, free) = (status_and_body(taken).await, status_and_body(free).await);
    assert_eq!(taken, free, "sign-up must not tell which accounts exist");
    assert_eq!(taken.0, 400);
    assert!(assert_error(&taken.1, "invalid")["code"].is_array());
    // Only the phone's owner (who holds a code) learns that the tel has an account; it costs the code.
    let code = code_for(&app, &sink, &taken_tel).await;
    let res = post(
        &app,
        "/api/users/",
        json!({"username": "another_name", "password": "long enough pw", "tel": taken_tel, "code": code}),
        Some("198.51.100.1"),
    )
    .await;
    assert_eq!(res.status(), 409);
    let again = post(
        &app,
        "/api/users/",
        json!({"username": "another_name", "password": "long enough pw", "tel": taken_tel, "code": code}),
        Some("198.51.100.1"),
    )
    .await;
    assert_eq!(again.status(), 400, "the code was used up by the answer");
}

#[tokio::test]
async fn sign_up_is_rate_limited_per_client_and_per_tel() {
    let (app, _sink) =
        sink_app(&[("auth.max_signups_per_ip_per_hour", "3"), ("auth.max_signups_per_tel_per_hour", "2")]).await;
    let body = |tel: &str| json!({"username": "prober", "password": "long enough pw", "tel": tel, "code": "123456"});
    for tel in ["13700137001", "13700137002", "13700137003"] {
        assert_eq!(post(&app, "/api/users/", body(tel), Some("203.0.113.9")).await.status(), 400);
    }
    let res = post(&app, "/api/users/", body("13700137004"), Some("203.0.113.9")).await;
    assert_eq!(res.status(), 429, "the fourth sign-up from one client within the hour");
    assert!(res.headers().get("retry-after").is_some());
    assert_error(&res.json().await.unwrap(), "throttled");
    // Per tel, whatever the address.
    assert_eq!(post(&app, "/api/users/", body("13700137009"), Some("203.0.113.10")).await.status(), 400);
    assert_eq!(post(&app, "/api/users/", body("13700137009"), Some("203.0.113.11")).await.status(), 400);
    assert_eq!(post(&app, "/api/users/", body("13700137009"), Some("203.0.113.12")).await.status(), 429);
}

async fn login_pair(app: &TestApp, username: &str) -> (String, String) {
    let res = app.login(username, "correct horse battery").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    (v["access_token"].as_str().unwrap().into(), v["refresh_token"].as_str().unwrap().into())
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.authed(Method::GET, "/api/users/me/", token).send().await.unwrap().status().as_u16()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    post(app, "/api/tokens/refresh/", json!({"refresh_token": token}), None).await
}

#[tokio::test]
async fn deactivation_and_revoke_all_take_effect_at_once_on_another_replica() {
    let (app, _sink) = sink_app(&[]).await;
    let replica = spawn_replica(&app).await;
    let (_, admin) = app.user_with_token("the_admin", &["admin"]).await;
    let victim = app.create_user("leaver", "correct horse battery", &["agent"]).await;
    let (access, refresh_token) = login_pair(&app, "leaver").await;
    assert_eq!(me(&replica, &access).await, 200, "the replica has the user's access cached from now on");

    let res = app
        .authed(Method::PATCH, &format!("/api/admin/users/{victim}/"), &admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["is_active"], json!(false));
    // The very next request, on the other replica: 401 for the access token and the refresh token.
    let res = replica.authed(Method::GET, "/api/users/me/", &access).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_error(&res.json().await.unwrap(), "invalid_token");
    assert_eq!(refresh(&replica, &refresh_token).await.status(), 401);
    assert_eq!(app.login("leaver", "correct horse battery").await.status(), 401);

    // Reactivated: a new login works; the tokens of before stay dead.
    let res = app
        .authed(Method::PATCH, &format!("/api/admin/users/{victim}/"), &admin)
        .json(&json!({"is_active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(me(&replica, &access).await, 401);
    let (access2, refresh2) = login_pair(&replica, "leaver").await;
    assert_eq!(me(&app, &access2).await, 200);

    // "Revoke all sessions": access and refresh tokens of every session, at once, everywhere.
    let res =
        app.authed(Method::POST, &format!("/api/admin/users/{victim}/revoke-sessions/"), &admin).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(me(&replica, &access2).await, 401);
    assert_eq!(refresh(&replica, &refresh2).await.status(), 401);
    let (access3, _) = login_pair(&app, "leaver").await;
    assert_eq!(me(&replica, &access3).await, 200);

    // Role changes: at once on the other replica too.
    let res = app
        .authed(Method::PUT, &format!("/api/admin/users/{victim}/roles/"), &admin)
        .json(&json!({"roles": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(me(&replica, &access3).await, 403);

    // Unknown users: 404; the last admin cannot deactivate itself.
    let res = app
        .authed(Method::PATCH, "/api/admin/users/999999/", &admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let admin_id: u32 =
        sqlx::query_scalar("SELECT id FROM users WHERE username = 'the_admin'").fetch_one(&app.db).await.unwrap();
    let res = app
        .authed(Method::PATCH, &format!("/api/admin/users/{admin_id}/"), &admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn a_deleted_user_gets_401_not_404() {
    let (app, _sink) = sink_app(&[]).await;
    let (id, token) = app.user_with_token("gone_soon", &["user"]).await;
    assert_eq!(me(&app, &token).await, 200);
    sqlx::query("DELETE FROM login_logs WHERE user_id = ?").bind(id).execute(&app.db).await.unwrap();
    sqlx::query("DELETE FROM user_roles WHERE user_id = ?").bind(id).execute(&app.db).await.unwrap();
    sqlx::query("DELETE FROM users WHERE id = ?").bind(id).execute(&app.db).await.unwrap();
    let res = app.authed(Method::GET, "/api/users/me/", &token).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_error(&res.json().await.unwrap(), "invalid_token");
}

#[tokio::test]
async fn logout_revokes_the_session_family() {
    let (app, _sink) = sink_app(&[]).await;
    app.create_user("leaving_now", "correct horse battery", &["user"]).await;
    let (_, refresh_token) = login_pair(&app, "leaving_now").await;
    let res = refresh(&app, &refresh_token).await;
    assert_eq!(res.status(), 200);
    let rotated = res.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string();
    let res = post(&app, "/api/tokens/revoke/", json!({"refresh_token": rotated}), None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(refresh(&app, &rotated).await.status(), 401);
    let res = post(&app, "/api/tokens/revoke/", json!({"refresh_token": rotated}), None).await;
    assert_eq!(res.status(), 401, "already revoked");
    assert_error(&res.json().await.unwrap(), "invalid_token");
    let res = post(&app, "/api/tokens/revoke/", json!({"refresh_token": "not-a-token"}), None).await;
    assert_eq!(res.status(), 401);
}

async fn login_from(app: &TestApp, username: &str, password: &str, ip: &str) -> u16 {
    post(app, "/api/tokens/", json!({"username": username, "password": password}), Some(ip)).await.status().as_u16()
}

#[tokio::test]
async fn rotating_addresses_buys_no_extra_guesses_and_sms_login_still_works() {
    let (app, sink) = sink_app(&[("auth.max_failed_logins", "5"), ("auth.max_failed_logins_per_account", "10")]).await;
    let id = app.create_user("target_user", "correct horse battery", &["user"]).await;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for i in 0..30 {
            v.push(login_from(&app, "target_user", "wrong guess", &format!("192.0.2.{}", i + 1)).await);
        }
        v
    };
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "30 guesses from 30 addresses: throttled after 10: {statuses:?}");
    // The owner's right password is throttled too (an attacker can cause that) ...
    assert_eq!(login_from(&app, "target_user", "correct horse battery", "192.0.2.200").await, 429);
    // ... but an SMS code gets the owner in.
    let tel = tel_of(&app, id).await;
    let code = code_for(&app, &sink, &tel).await;
    let res = post(&app, "/api/tokens/", json!({"tel": tel, "code": code}), Some("192.0.2.200")).await;
    assert_eq!(res.status(), 200);
    assert!(res.json::<Value>().await.unwrap()["access_token"].is_string());
    // A wrong or reused code is a 401; a body with both a password and a code is a 400.
    let res = post(&app, "/api/tokens/", json!({"tel": tel, "code": code}), Some("192.0.2.200")).await;
    assert_eq!(res.status(), 401);
    let res = post(&app, "/api/tokens/", json!({"tel": tel, "code": code, "password": "x"}), None).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn an_ipv6_client_gets_one_bucket_per_64() {
    let (app, _sink) =
        sink_app(&[("auth.max_failed_logins", "3"), ("auth.max_failed_logins_per_account", "100")]).await;
    app.create_user("v6_user", "correct horse battery", &["user"]).await;
    for host in ["1", "2", "3"] {
        assert_eq!(login_from(&app, "v6_user", "wrong guess", &format!("2001:db8:aa:bb::{host}")).await, 401);
    }
    assert_eq!(login_from(&app, "v6_user", "wrong guess", "2001:db8:aa:bb:ffff::9").await, 429, "same /64");
    assert_eq!(login_from(&app, "v6_user", "wrong guess", "2001:db8:aa:bc::1").await, 401, "another /64");
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 200 concurrent logins with random usernames against the real binary at the production
/// Argon2 cost: other endpoints keep answering, the refused logins are fast 503s with
/// Retry-After, and memory stays within the pool's bound (without the pool every login would hash
/// at once, 19 MiB each). The figures under load are in bench/ (docs/login-flood-benchmark.md).
#[tokio::test]
async fn a_login_flood_is_bounded_and_leaves_other_endpoints_alone() {
    let (app, _sink) = sink_app(&[]).await;
    let (mut child, base) = spawn_binary(
        &app,
        &[
            ("ZUFANG__LOG__LEVEL", "error"),
            ("ZUFANG__REDIS__KEY_PREFIX", &app.settings.redis.key_prefix),
            ("ZUFANG__AUTH__PASSWORD_HASH_CONCURRENCY", "2"),
            ("ZUFANG__AUTH__PASSWORD_HASH_QUEUE", "4"),
            ("ZUFANG__AUTH__MAX_FAILED_LOGINS", "1000"),
            // The bound is the subject here, not Redis latency on a busy test machine.
            ("ZUFANG__REDIS__TIMEOUT_MS", "2000"),
        ],
    )
    .await;
    let pid = child.id().unwrap();
    let client = reqwest::Client::new();
    // Warm up (connection pools, the dummy hash) before the idle figure.
    for _ in 0..3 {
        assert_eq!(client.get(format!("{base}/api/districts/")).send().await.unwrap().status(), 200);
    }
    let _ =
        client.post(format!("{base}/api/tokens/")).json(&json!({"username": "warm_up", "password": "x"})).send().await;
    let idle_kib = status_kib(pid, "VmRSS:");
    let logins: Vec<_> = (0..200)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let res = client
                    .post(format!("{base}/api/tokens/"))
                    .header("X-Forwarded-For", format!("198.18.{}.{}", i / 250, i % 250 + 1))
                    .json(&json!({"username": format!("nobody_{i}_{}", rand::random::<u32>()), "password": "guess"}))
                    .send()
                    .await
                    .unwrap();
                let (status, retry_after) = (res.status().as_u16(), res.headers().get("retry-after").is_some());
                let body: Value = res.json().await.unwrap_or_default();
                let busy = body["error"]["message"].as_str().is_some_and(|m| m.contains("busy verifying passwords"));
                (status, retry_after, busy)
            })
        })
        .collect();
    let mut others = Vec::new();
    for _ in 0..20 {
        others.push(client.get(format!("{base}/api/districts/")).send().await.unwrap().status().as_u16());
    }
    let mut counts = std::collections::BTreeMap::new();
    let mut pool_refusals = 0;
    for l in logins {
        let (status, retry_after, busy) = l.await.unwrap();
        *counts.entry(status).or_insert(0) += 1;
        if status == 503 {
            assert!(retry_after, "a refused login says when to retry");
        }
        pool_refusals += usize::from(busy);
    }
    let peak_kib = status_kib(pid, "VmHWM:");
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let _ = child.kill().await;
    let counted = crate::helpers::metric_value(&metrics, r#"rate_limit_rejections_total{limiter="password_hash"}"#);
    assert_eq!(counted as usize, pool_refusals, "every refusal of the pool is counted");
    eprintln!(
        "login flood: idle RSS {idle_kib} KiB, peak {peak_kib} KiB; answers {counts:?}; pool refusals {pool_refusals}"
    );
    assert!(others.iter().all(|s| *s == 200), "other endpoints during the flood: {others:?}");
    assert!(counts.keys().all(|s| *s == 401 || *s == 503), "login answers: {counts:?}");
    assert!(pool_refusals > 0, "the pool refused some: {counts:?}");
    // Two hashes at 19 MiB at once, plus slack for 200 connections' buffers and allocator arenas
    // (measured here: about 80 MiB over idle; without the pool every login hashes at once).
    let bound_kib = 2 * 19_456 + 64 * 1024;
    assert!(
        peak_kib.saturating_sub(idle_kib) < bound_kib,
        "peak RSS {peak_kib} KiB vs idle {idle_kib} KiB: more than the pool's bound ({bound_kib} KiB)"
    );
}

async fn house_fixture(app: &TestApp) -> (String, u32, u32, u32) {
    let (_, token) = app.user_with_token("house_agent", &["agent"]).await;
    let estate_id: u32 =
        sqlx::query_scalar("SELECT id FROM estates ORDER BY id LIMIT 1").fetch_one(&app.db).await.unwrap();
    let type_id: u32 =
        sqlx::query_scalar("SELECT id FROM house_types ORDER BY id LIMIT 1").fetch_one(&app.db).await.unwrap();
    let res = app
        .authed(Method::POST, "/api/houses/", &token)
        .json(&json!({"title": "Sunny flat", "area": 60, "floor": 5, "total_floor": 6, "direction": "south",
                      "price": 3000, "type_id": type_id, "estate_id": estate_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap() as u32;
    (token, id, estate_id, type_id)
}

async fn patch(app: &TestApp, token: &str, id: u32, body: Value) -> reqwest::Response {
    let version: u32 =
        sqlx::query_scalar("SELECT version FROM houses WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap();
    app.authed(Method::PATCH, &format!("/api/houses/{id}/"), token)
        .header("If-Match", format!("\"{version}\""))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn patch_checks_the_merged_house_and_an_empty_patch_changes_nothing() {
    let (app, _sink) = sink_app(&[]).await;
    let (token, id, _, _) = house_fixture(&app).await;
    // floor 5 of 6: a one-field edit is checked against the stored other field.
    let res = patch(&app, &token, id, json!({"floor": 9})).await;
    assert_eq!(res.status(), 400);
    assert!(assert_error(&res.json().await.unwrap(), "invalid")["floor"].is_array());
    let res = patch(&app, &token, id, json!({"total_floor": 3})).await;
    assert_eq!(res.status(), 400);
    assert!(assert_error(&res.json().await.unwrap(), "invalid")["total_floor"].is_array());
    assert_eq!(patch(&app, &token, id, json!({"floor": 6})).await.status(), 200);

    let before: u32 =
        sqlx::query_scalar("SELECT version FROM houses WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap();
    let generation = app.state.lists.generation(zufang::list_cache::Listing::Houses).await;
    assert!(generation.is_some());
    let res = patch(&app, &token, id, json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], format!("\"{before}\"").as_str());
    let after: u32 =
        sqlx::query_scalar("SELECT version FROM houses WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap();
    assert_eq!(before, after, "an empty PATCH does not bump the version");
    assert_eq!(
        generation,
        app.state.lists.generation(zufang::list_cache::Listing::Houses).await,
        "nor flush the list caches"
    );
    // A stale If-Match still fails, empty body or not.
    let res = app
        .authed(Method::PATCH, &format!("/api/houses/{id}/"), &token)
        .header("If-Match", format!("\"{}\"", before - 1))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);
}

#[tokio::test]
async fn creating_and_deleting_a_house_leaves_the_estates_hot_unchanged() {
    let (app, _sink) = sink_app(&[]).await;
    let estate_id: u32 =
        sqlx::query_scalar("SELECT id FROM estates ORDER BY id LIMIT 1").fetch_one(&app.db).await.unwrap();
    let hot = || async {
        sqlx::query_scalar::<_, u32>("SELECT hot FROM estates WHERE id = ?")
            .bind(estate_id)
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let before = hot().await;
    let (token, id, _, _) = house_fixture(&app).await;
    assert_eq!(hot().await, before + 1);
    let res = app.authed(Method::DELETE, &format!("/api/houses/{id}/"), &token).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(hot().await, before, "create + delete must not inflate hot");
    let detail = app.get_json(&format!("/api/estates/{estate_id}/"), 200).await;
    assert_eq!(detail["hot"], json!(before), "the cached estate detail shows it too");
}

#[tokio::test]
async fn only_allowed_hosts_are_answered_and_links_use_them() {
    let app = spawn_app_with(
        &[("application.allowed_hosts", r#"["127.0.0.1", ".zufang.test"]"#)],
        Some(zufang::seed::Scale::Small.counts()),
    )
    .await;
    let get = |host: &'static str, path: &'static str, forwarded: Option<&'static str>| {
        let mut req = app.client.get(format!("{}{path}", app.address)).header("Host", host);
        if let Some(f) = forwarded {
            req = req.header("X-Forwarded-Host", f);
        }
        req.send()
    };
    let res = get("evil.example", "/api/districts/?size=1", None).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_error(&res.json().await.unwrap(), "bad_request");
    // A trusted proxy's X-Forwarded-Host is what is checked (the test client is one).
    let res = get("127.0.0.1", "/api/districts/?size=1", Some("evil.example")).await.unwrap();
    assert_eq!(res.status(), 400);
    let res = get("api.zufang.test:8443", "/api/districts/?size=1", None).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let next = body["next"].as_str().expect("a next link on the first page of one");
    assert!(next.contains("://api.zufang.test:8443/"), "{next}");
    // Probes and the scrape are reached by address, whatever the Host.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get("10.1.2.3:8080", path, None).await.unwrap().status(), 200, "{path}");
    }
}
