//! Login, tokens, refresh rotation, throttling and token validation (the security cases).
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, closed_port, metric_value, spawn_app_with, TEST_JWT_SECRET};

const PW: &str = "correct horse battery";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims(sub: u32, exp_in: i64, aud: &str, iss: &str) -> Value {
    let now = now() as i64;
    json!({"sub": sub.to_string(), "iat": now, "nbf": now, "exp": now + exp_in, "iss": iss, "aud": aud,
           "jti": "t", "roles": ["admin"]})
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

async fn me_with(app: &crate::helpers::TestApp, authorization: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/users/me/", app.address))
        .header("Authorization", authorization)
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_token(res: reqwest::Response, case: &str) {
    assert_eq!(res.status(), 401, "{case}");
    assert_eq!(res.headers()["www-authenticate"], "Bearer error=\"invalid_token\"", "{case}");
    let body: Value = res.json().await.unwrap();
    assert_error(&body, "invalid_token");
}

#[tokio::test]
async fn login_returns_bearer_tokens_and_records_the_visit() {
    let app = spawn_app_with(&[], None).await;
    let id = app.create_user("alice", PW, &["user"]).await;

    let res = app
        .client
        .post(format!("{}/api/tokens/", app.address))
        .header("User-Agent", "zufang-test/1.0")
        .json(&json!({"username": "alice", "password": PW}))
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().len() > 40);
    let (ua, ip): (String, String) = sqlx::query_as("SELECT user_agent, ip FROM login_logs WHERE user_id = ?")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((ua.as_str(), ip.as_str()), ("zufang-test/1.0", "127.0.0.1"));
    let visited: Option<chrono::NaiveDateTime> =
        sqlx::query_scalar("SELECT last_visit FROM users WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap();
    assert!(visited.is_some());
    let me = app.authed(Method::GET, "/api/users/me/", body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!((me["id"].as_u64(), me["username"].as_str()), (Some(id as u64), Some("alice")));
    assert_eq!(me["roles"], json!(["user"]));
    assert!(me.get("password_hash").is_none());
    assert_eq!(metric_value(&app.metrics().await, "auth_logins_total{result=\"success\"}"), 1.0);
}

/// Lengths are characters, as the OpenAPI maxLength counts them: a 30-character Devanagari name
/// (90 bytes) is a well-formed login for no account (401), while 65 characters are a 400.
#[tokio::test]
async fn login_lengths_count_characters_not_bytes() {
    let app = spawn_app_with(&[], None).await;
    let name = "पन्ह".repeat(8);
    assert!(name.chars().count() <= 64 && name.len() > 64);
    assert_eq!(app.login(&name, "some-password").await.status().as_u16(), 401);
    let res = app.login(&"a".repeat(65), "some-password").await;
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("64 characters"), "{body}");
}

#[tokio::test]
async fn login_accepts_the_tel_instead_of_the_username() {
    let app = spawn_app_with(&[], None).await;
    let id = app.create_user("bob", PW, &["user"]).await;
    let tel: String =
        sqlx::query_scalar("SELECT tel FROM users WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap();
    assert_eq!(app.login(&tel, PW).await.status(), 200);
}

#[tokio::test]
async fn the_profile_needs_a_token() {
    let app = spawn_app_with(&[], None).await;
    let res = app.get("/api/users/me/").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_error(&res.json().await.unwrap(), "not_authenticated");
}

#[tokio::test]
async fn forged_expired_none_and_misaddressed_tokens_are_rejected() {
    let app = spawn_app_with(&[], None).await;
    let id = app.create_user("carol", PW, &["admin"]).await;
    let good = hs256(&claims(id, 600, "zufang-api", "zufang"), TEST_JWT_SECRET.as_bytes());
    assert_eq!(me_with(&app, &format!("Bearer {good}")).await.status(), 200, "control: a well-formed token works");

    let forged = hs256(&claims(id, 600, "zufang-api", "zufang"), b"not-the-server-secret-0123456789abcdef");
    let expired = hs256(&claims(id, -120, "zufang-api", "zufang"), TEST_JWT_SECRET.as_bytes());
    let wrong_aud = hs256(&claims(id, 600, "other-api", "zufang"), TEST_JWT_SECRET.as_bytes());
    let wrong_iss = hs256(&claims(id, 600, "zufang-api", "evil"), TEST_JWT_SECRET.as_bytes());
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(id, 600, "zufang-api", "zufang").to_string().as_bytes())
    );
    let mut tampered = good.clone();
    tampered.insert_str(good.find('.').unwrap() + 1, "eyJ4IjoxfQ");
    for (case, header) in [
        ("forged signature", format!("Bearer {forged}")),
        ("expired beyond the leeway", format!("Bearer {expired}")),
        ("wrong audience", format!("Bearer {wrong_aud}")),
        ("wrong issuer", format!("Bearer {wrong_iss}")),
        ("alg none", format!("Bearer {none}")),
        ("tampered payload", format!("Bearer {tampered}")),
        ("not a JWT", "Bearer abc.def".to_string()),
        ("Basic scheme", "Basic YWxpY2U6cHc=".to_string()),
        ("empty bearer", "Bearer ".to_string()),
    ] {
        assert_invalid_token(me_with(&app, &header).await, case).await;
    }
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_still_accepted() {
    let app = spawn_app_with(&[], None).await;
    let id = app.create_user("dave", PW, &["user"]).await;
    let recent = hs256(&claims(id, -5, "zufang-api", "zufang"), TEST_JWT_SECRET.as_bytes());
    assert_eq!(me_with(&app, &format!("Bearer {recent}")).await.status(), 200);
}

async fn openssl(args: &[&str]) {
    let st = tokio::process::Command::new("openssl").args(args).status().await.expect("openssl is installed");
    assert!(st.success(), "openssl {args:?}");
}

#[tokio::test]
async fn algorithm_confusion_is_rejected_both_ways() {
    // An RS256 deployment: keys generated for this test.
    let dir = std::env::temp_dir().join(crate::helpers::unique_name("rsa"));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private.to_str().unwrap()])
        .await;
    openssl(&["pkey", "-in", private.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()]).await;
    let rs_app = spawn_app_with(
        &[
            ("jwt.algorithm", "RS256"),
            ("jwt.private_key_file", private.to_str().unwrap()),
            ("jwt.public_key_file", public.to_str().unwrap()),
        ],
        None,
    )
    .await;
    rs_app.create_user("erin", PW, &["user"]).await;
    let real = rs_app.token("erin", PW).await;
    assert_eq!(me_with(&rs_app, &format!("Bearer {real}")).await.status(), 200, "control: RS256 login works");
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, real.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");

    // The classic confusion: HS256 signed with the (public) RSA key as the HMAC secret.
    let pem = std::fs::read(&public).unwrap();
    let id: u32 =
        sqlx::query_scalar("SELECT id FROM users WHERE username = 'erin'").fetch_one(&rs_app.db).await.unwrap();
    let confused = hs256(&claims(id, 600, "zufang-api", "zufang"), &pem);
    assert_invalid_token(me_with(&rs_app, &format!("Bearer {confused}")).await, "HS256 on an RS256 deployment").await;

    // And the other way round: an RS256 token (validly signed with a real key) where HS256 is configured.
    let hs_app = spawn_app_with(&[], None).await;
    let id = hs_app.create_user("frank", PW, &["user"]).await;
    let rs = encode(
        &Header::new(Algorithm::RS256),
        &claims(id, 600, "zufang-api", "zufang"),
        &EncodingKey::from_rsa_pem(&std::fs::read(&private).unwrap()).unwrap(),
    )
    .unwrap();
    assert_invalid_token(me_with(&hs_app, &format!("Bearer {rs}")).await, "RS256 on an HS256 deployment").await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/tokens/refresh/", app.address))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = spawn_app_with(&[], None).await;
    app.create_user("grace", PW, &["user"]).await;
    let first: Value = app.login("grace", PW).await.json().await.unwrap();
    let r1 = first["refresh_token"].as_str().unwrap().to_string();

    let res = refresh(&app, &r1).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2, "a refresh token is rotated on every use");
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(app.authed(Method::GET, "/api/users/me/", access).send().await.unwrap().status(), 200);

    // r1 was already rotated: presenting it again means it was copied. The whole family dies.
    assert_invalid_token(refresh(&app, &r1).await, "reused refresh token").await;
    assert_invalid_token(refresh(&app, &r2).await, "the legitimate holder's newer token after reuse").await;

    // A separate login (another family) is unaffected.
    let other: Value = app.login("grace", PW).await.json().await.unwrap();
    assert_eq!(refresh(&app, other["refresh_token"].as_str().unwrap()).await.status(), 200);
    assert_invalid_token(refresh(&app, "garbage").await, "garbage").await;
}

#[tokio::test]
async fn revocation_holds_across_replicas() {
    let app = spawn_app_with(&[], None).await;
    let replica = crate::helpers::spawn_replica(&app).await;
    app.create_user("heidi", PW, &["user"]).await;
    let first: Value = app.login("heidi", PW).await.json().await.unwrap();
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(&replica, &r1).await.status(), 200, "replica B rotates A's token");
    assert_invalid_token(refresh(&app, &r1).await, "reuse on replica A").await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_ip_and_indistinguishable() {
    let app = spawn_app_with(&[], None).await;
    app.create_user("ivan", PW, &["user"]).await;

    let unknown = app.login("nobody-here", "whatever-password").await;
    let unknown_status = unknown.status();
    let unknown_body = unknown.text().await.unwrap();
    let wrong = app.login("ivan", "wrong-password").await;
    assert_eq!(wrong.status(), unknown_status);
    assert_eq!(wrong.text().await.unwrap(), unknown_body, "unknown account and wrong password look the same");
    assert_eq!(unknown_status, 401);

    for _ in 0..4 {
        assert_eq!(app.login("ivan", "wrong-password").await.status(), 401);
    }
    // Five failures: even the right password is refused until the window passes.
    let res = app.login("ivan", PW).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    let m = app.metrics().await;
    assert!(metric_value(&m, "rate_limit_rejections_total{limiter=\"login\"}") >= 1.0);
    assert!(metric_value(&m, "auth_logins_total{result=\"throttled\"}") >= 1.0);
    assert_eq!(metric_value(&m, "auth_logins_total{result=\"failure\"}"), 6.0);
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn_app_with(&[], None).await;
    app.create_user("judy", PW, &["user"]).await;
    for _ in 0..4 {
        assert_eq!(app.login("judy", "wrong-password").await.status(), 401);
    }
    assert_eq!(app.login("judy", PW).await.status(), 200);
    for _ in 0..4 {
        assert_eq!(app.login("judy", "wrong-password").await.status(), 401, "the count restarted");
    }
    assert_eq!(app.login("judy", PW).await.status(), 200);
}

#[tokio::test]
async fn login_and_refresh_answer_503_when_redis_is_down() {
    let port = closed_port().to_string();
    let app = spawn_app_with(&[("redis.port", &port)], None).await;
    app.create_user("ken", PW, &["user"]).await;
    let res = app.login("ken", PW).await;
    assert_eq!(res.status(), 503, "no throttling storage: refuse rather than allow unlimited guesses");
    assert_error(&res.json().await.unwrap(), "service_unavailable");
    let res = refresh(&app, &format!("{}.{}", "a".repeat(32), "b".repeat(64))).await;
    assert_eq!(res.status(), 503);
}

#[tokio::test]
async fn username_and_tel_share_one_failure_count() {
    let app = spawn_app_with(&[], None).await;
    let id = app.create_user("lena", PW, &["user"]).await;
    let tel: String =
        sqlx::query_scalar("SELECT tel FROM users WHERE id = ?").bind(id).fetch_one(&app.db).await.unwrap();
    for login in ["lena", &tel, "LENA", &tel, "lena"] {
        assert_eq!(app.login(login, "wrong-password").await.status(), 401);
    }
    assert_eq!(app.login(&tel, PW).await.status(), 429);
}

#[tokio::test]
async fn eddsa_deployments_issue_and_accept_their_own_tokens_only() {
    let dir = std::env::temp_dir().join(crate::helpers::unique_name("ed25519"));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", private.to_str().unwrap()]).await;
    openssl(&["pkey", "-in", private.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()]).await;
    let app = spawn_app_with(
        &[
            ("jwt.algorithm", "EdDSA"),
            ("jwt.private_key_file", private.to_str().unwrap()),
            ("jwt.public_key_file", public.to_str().unwrap()),
        ],
        None,
    )
    .await;
    let id = app.create_user("olga", PW, &["user"]).await;
    let real = app.token("olga", PW).await;
    assert_eq!(me_with(&app, &format!("Bearer {real}")).await.status(), 200);
    let hs = hs256(&claims(id, 600, "zufang-api", "zufang"), &std::fs::read(&public).unwrap());
    assert_invalid_token(me_with(&app, &format!("Bearer {hs}")).await, "HS256 on an EdDSA deployment").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_refresh_family_expires_with_the_login_not_with_the_last_refresh() {
    let app = spawn_app_with(&[], None).await;
    app.create_user("pia", PW, &["user"]).await;
    let first: Value = app.login("pia", PW).await.json().await.unwrap();
    let token = first["refresh_token"].as_str().unwrap();
    let family = token.split('.').next().unwrap();
    let key = format!("{}rt:{family}", app.settings.redis.key_prefix);
    let mut conn = app.state.redis.get().await.unwrap();
    let _: () = deadpool_redis::redis::cmd("EXPIRE").arg(&key).arg(100).query_async(&mut conn).await.unwrap();
    assert_eq!(refresh(&app, token).await.status(), 200);
    let ttl: i64 = deadpool_redis::redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0 && ttl <= 100, "rotation must not extend the session: ttl {ttl}");
}
