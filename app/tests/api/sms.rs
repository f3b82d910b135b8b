//! SMS codes (through the real `http` sender into a loopback gateway) and sign-up.
use serde_json::{json, Value};

use crate::helpers::{assert_error, closed_port, metric_value, spawn_app_with, spawn_replica, SmsSink, TestApp};

async fn sink_app(extra: &[(&str, &str)]) -> (TestApp, SmsSink) {
    let sink = SmsSink::start().await;
    let o = sink.overrides();
    let mut all: Vec<(&str, &str)> = o.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    (spawn_app_with(&all, None).await, sink)
}

async fn ask_code(app: &TestApp, tel: &str) -> reqwest::Response {
    app.client.post(format!("{}/api/mobile-codes/{tel}/", app.address)).send().await.unwrap()
}

async fn register(app: &TestApp, body: Value) -> reqwest::Response {
    app.client.post(format!("{}/api/users/", app.address)).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn a_code_is_sent_to_the_gateway_and_never_returned() {
    let (app, sink) = sink_app(&[]).await;
    let res = ask_code(&app, "13800138000").await;
    assert_eq!(res.status(), 202);
    let body = res.text().await.unwrap();
    let code = sink.last_code("13800138000").expect("the gateway received a code");
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert!(!body.contains(&code), "the response must not contain the code");
    // Only an HMAC is stored.
    let mut conn = app.state.redis.get().await.unwrap();
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{}*", app.settings.redis.key_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    for k in keys {
        let v: Option<String> = deadpool_redis::redis::cmd("GET").arg(&k).query_async(&mut conn).await.unwrap_or(None);
        assert!(!v.unwrap_or_default().contains(&code), "{k} holds the code in clear");
    }
    let m = app.metrics().await;
    assert_eq!(metric_value(&m, "sms_codes_sent_total{result=\"success\",sender=\"http\"}"), 1.0, "{m}");
}

#[tokio::test]
async fn a_malformed_tel_is_a_400() {
    let (app, sink) = sink_app(&[]).await;
    for bad in ["12800138000", "1380013800", "abc", "138001380001"] {
        let res = ask_code(&app, bad).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(assert_error(&res.json().await.unwrap(), "invalid")["tel"].is_array());
    }
    assert_eq!(sink.received.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn fifty_concurrent_requests_on_two_replicas_send_exactly_one_code() {
    // Room for the burst: this test is about atomicity, not about the pool size (a pool timeout
    // would answer 503, failing closed).
    let (a, sink) = sink_app(&[("redis.pool_size", "64"), ("redis.timeout_ms", "3000")]).await;
    let b = spawn_replica(&a).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (client, address) =
            if i % 2 == 0 { (a.client.clone(), a.address.clone()) } else { (b.client.clone(), b.address.clone()) };
        tasks.push(tokio::spawn(async move {
            let res = client.post(format!("{address}/api/mobile-codes/13900139000/")).send().await.unwrap();
            (res.status().as_u16(), res.headers().get("retry-after").is_some())
        }));
    }
    let mut accepted = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            (202, _) => accepted += 1,
            (429, true) => limited += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((accepted, limited), (1, 49));
    assert_eq!(sink.count("13900139000"), 1);
    let rejected = metric_value(&a.metrics().await, "rate_limit_rejections_total{limiter=\"sms_interval\"}")
        + metric_value(&b.metrics().await, "rate_limit_rejections_total{limiter=\"sms_interval\"}");
    assert_eq!(rejected, 49.0);
}

#[tokio::test]
async fn the_daily_and_per_ip_limits_hold() {
    let (app, _sink) = sink_app(&[
        ("sms.resend_interval_seconds", "1"),
        ("sms.max_per_number_per_day", "2"),
        ("sms.max_per_ip_per_hour", "3"),
    ])
    .await;
    assert_eq!(ask_code(&app, "13700137000").await.status(), 202);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(ask_code(&app, "13700137000").await.status(), 202);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = ask_code(&app, "13700137000").await;
    assert_eq!(res.status(), 429, "third code for the number today");
    assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 3600);
    assert_eq!(ask_code(&app, "13700137001").await.status(), 202, "third code from this IP");
    let res = ask_code(&app, "13700137002").await;
    assert_eq!(res.status(), 429, "fourth code from this IP this hour");
    let m = app.metrics().await;
    assert_eq!(metric_value(&m, "rate_limit_rejections_total{limiter=\"sms_daily\"}"), 1.0);
    assert_eq!(metric_value(&m, "rate_limit_rejections_total{limiter=\"sms_ip\"}"), 1.0);
}

#[tokio::test]
async fn codes_answer_503_when_redis_is_down() {
    let port = closed_port().to_string();
    let (app, sink) = sink_app(&[("redis.port", &port)]).await;
    let res = ask_code(&app, "13600136000").await;
    assert_eq!(res.status(), 503);
    assert_error(&res.json().await.unwrap(), "service_unavailable");
    assert_eq!(sink.received.lock().unwrap().len(), 0, "no unlimited codes while the limiter is down");
}

#[tokio::test]
async fn sign_up_with_the_code_then_log_in() {
    let (app, sink) = sink_app(&[]).await;
    assert_eq!(ask_code(&app, "13500135000").await.status(), 202);
    let code = sink.last_code("13500135000").unwrap();
    let body = json!({"username": "newbie", "password": "long enough pw", "tel": "13500135000", "code": code});

    let res = register(&app, body.clone()).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["roles"], json!(["user"]));
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'newbie'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let token = app.token("newbie", "long enough pw").await;
    let me: Value =
        app.authed(reqwest::Method::GET, "/api/users/me/", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["roles"], json!(["user"]));

    // The same body again: the code is used up, so a 400 on the code — nothing is said about the
    // account (the 409 for the phone's owner, who holds a fresh code: security.rs).
    let again = register(&app, body).await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn a_code_is_single_use_and_dies_after_five_wrong_guesses() {
    let (app, sink) = sink_app(&[("auth.max_signups_per_tel_per_hour", "20")]).await;
    assert_eq!(ask_code(&app, "13400134000").await.status(), 202);
    let code = sink.last_code("13400134000").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let res = register(
            &app,
            json!({"username": "guesser", "password": "long enough pw", "tel": "13400134000", "code": wrong}),
        )
        .await;
        assert_eq!(res.status(), 400);
    }
    let res = register(
        &app,
        json!({"username": "guesser", "password": "long enough pw", "tel": "13400134000", "code": code}),
    )
    .await;
    assert_eq!(res.status(), 400, "the right code after five wrong guesses is dead");
    assert!(assert_error(&res.json().await.unwrap(), "invalid")["code"].is_array());

    // A used code cannot register a second account.
    assert_eq!(ask_code(&app, "13400134001").await.status(), 202);
    let code = sink.last_code("13400134001").unwrap();
    let ok =
        register(&app, json!({"username": "first", "password": "long enough pw", "tel": "13400134001", "code": code}))
            .await;
    assert_eq!(ok.status(), 201);
    sqlx::query("DELETE FROM users WHERE username = 'first'").execute(&app.db).await.unwrap();
    let reuse =
        register(&app, json!({"username": "second", "password": "long enough pw", "tel": "13400134001", "code": code}))
            .await;
    assert_eq!(reuse.status(), 400);
}

#[tokio::test]
async fn sign_up_validates_every_field() {
    let (app, _sink) = sink_app(&[]).await;
    let res = register(&app, json!({"username": "x", "password": "short", "tel": "123", "code": "12"})).await;
    assert_eq!(res.status(), 400);
    let fields = assert_error(&res.json().await.unwrap(), "invalid");
    for f in ["username", "password", "tel", "code"] {
        assert!(fields[f].is_array(), "{f}: {fields}");
    }
    let res =
        register(&app, json!({"username": "samename", "password": "SameName", "tel": "13300133000", "code": "123456"}))
            .await;
    assert!(assert_error(&res.json().await.unwrap(), "invalid")["password"].is_array());
}

async fn failing_sink_app(failures: usize, retries: &str) -> (TestApp, SmsSink) {
    let sink = SmsSink::start_failing(failures).await;
    let o = sink.overrides();
    let mut all: Vec<(&str, &str)> = o.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("sms.webhook_max_retries", retries));
    (spawn_app_with(&all, None).await, sink)
}

#[tokio::test]
async fn the_webhook_sender_retries_a_failing_gateway() {
    let (app, sink) = failing_sink_app(2, "2").await;
    assert_eq!(ask_code(&app, "13200132000").await.status(), 202, "two 503s, then delivered on the last retry");
    assert_eq!(sink.count("13200132000"), 1);
}

#[tokio::test]
async fn a_gateway_that_keeps_failing_is_a_503_and_frees_the_number() {
    let (app, sink) = failing_sink_app(3, "1").await;
    let res = ask_code(&app, "13200132001").await;
    assert_eq!(res.status(), 503, "1 try + 1 retry, both refused");
    assert_eq!(sink.count("13200132001"), 0);
    let m = app.metrics().await;
    assert_eq!(metric_value(&m, "sms_codes_sent_total{result=\"failure\",sender=\"http\"}"), 1.0);
    // The code never arrived: the resend interval does not hold the user back. The gateway's
    // third refusal is used up by this attempt's first try, its retry succeeds.
    assert_eq!(ask_code(&app, "13200132001").await.status(), 202);
    assert_eq!(sink.count("13200132001"), 1);
}

#[tokio::test]
async fn production_log_sender_never_writes_the_code_to_the_log() {
    use tokio::io::AsyncBufReadExt;
    // The real binary in production mode with the default "log" sender: a verification code is a
    // secret, so the log says it was not delivered and carries no code.
    let app = crate::helpers::spawn_app().await; // a migrated, seeded database
    let prefix = format!("{}prod:", app.settings.redis.key_prefix);
    let (mut child, base) = crate::helpers::spawn_binary(
        &app,
        &[
            ("ZUFANG_ENV", "production"),
            ("ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION", "true"),
            ("ZUFANG__APPLICATION__HOST", "127.0.0.1"),
            ("ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS", "0"),
            ("ZUFANG__JWT__SECRET", "a-test-secret-that-is-at-least-32-bytes-long"),
            ("ZUFANG__REDIS__KEY_PREFIX", &prefix),
        ],
    )
    .await;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let res = reqwest::Client::new().post(format!("{base}/api/mobile-codes/13912345678/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 202);
    let mut saw_warning = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(deadline, lines.next_line()).await {
        assert!(!line.contains("\"code\""), "a code reached the log: {line}");
        if line.contains("SMS code not delivered") {
            saw_warning = true;
            break;
        }
    }
    assert!(saw_warning, "the undelivered code is reported");
    let _ = child.kill().await;
}

#[tokio::test]
async fn a_username_of_digits_only_is_refused_it_would_shadow_a_phone_number() {
    let (app, _sink) = sink_app(&[]).await;
    let res = register(
        &app,
        json!({"username": "13912345678", "password": "correct horse battery", "tel": "13912345678", "code": "123456"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let fields = assert_error(&res.json().await.unwrap(), "invalid");
    assert!(fields.get("username").is_some(), "{fields}");
}
