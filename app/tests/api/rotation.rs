//! JWT signing-key rotation without logging anyone out (docs/runbooks/rotation.md): replicas at
//! each step of the procedure share one database and Redis, as during a rolling deploy.
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use zufang::auth::jwt::{key_id, Claims};
use zufang::configuration::Secret;

use crate::helpers::{spawn_app, spawn_replica_with, TestApp, TEST_JWT_SECRET};

const NEXT_KEY: &str = "the-next-jwt-signing-key-0123456789abcdef";

async fn me(app: &TestApp, token: &str) -> u16 {
    app.authed(Method::GET, "/api/users/me/", token).send().await.unwrap().status().as_u16()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid in every token")
}

async fn login(app: &TestApp, user: &str) -> (String, String) {
    let res = app.login(user, "correct horse battery").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    (v["access_token"].as_str().unwrap().to_string(), v["refresh_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_session_survives_every_step_of_a_key_rotation() {
    let app = spawn_app().await; // before: current = old key
    app.create_user("rotating", "correct horse battery", &["user"]).await;
    let (old_access, old_refresh) = login(&app, "rotating").await;
    assert_eq!(kid_of(&old_access), key_id("hs", TEST_JWT_SECRET.as_bytes()));

    // Step 1: the next key is accepted, the old one still signs.
    let step1 = spawn_replica_with(&app, |s| s.jwt.verify_secrets = Secret::from(format!("\n{NEXT_KEY}\n"))).await;
    assert_eq!(me(&step1, &old_access).await, 200, "step 1 accepts tokens of the old key");
    // Step 2: the next key signs, the old one is verify-only.
    let step2 = spawn_replica_with(&app, |s| {
        s.jwt.secret = Secret::from(NEXT_KEY.to_string());
        s.jwt.verify_secrets = Secret::from(TEST_JWT_SECRET.to_string());
    })
    .await;
    assert_eq!(me(&step2, &old_access).await, 200, "step 2 accepts tokens of the old key");
    let (new_access, _) = login(&step2, "rotating").await;
    assert_eq!(kid_of(&new_access), key_id("hs", NEXT_KEY.as_bytes()));
    assert_eq!(me(&step1, &new_access).await, 200, "a step-1 replica accepts tokens of a step-2 replica");
    // Why step 1 comes first: a replica that does not know the next key yet refuses its tokens.
    assert_eq!(me(&app, &new_access).await, 401);
    // The refresh token (an opaque Redis family, not a JWT) keeps working and gets a new-key token.
    let res = step2
        .client
        .post(format!("{}/api/tokens/refresh/", step2.address))
        .json(&json!({"refresh_token": old_refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    let refreshed = refreshed["access_token"].as_str().unwrap();
    assert_eq!(kid_of(refreshed), key_id("hs", NEXT_KEY.as_bytes()));
    assert_eq!(me(&step2, refreshed).await, 200);
    // Step 3: the old key is gone; what it signed is refused, the rest works.
    let step3 = spawn_replica_with(&app, |s| s.jwt.secret = Secret::from(NEXT_KEY.to_string())).await;
    assert_eq!(me(&step3, &old_access).await, 401, "a token of a removed key is refused");
    assert_eq!(me(&step3, &new_access).await, 200);
    assert_eq!(me(&step3, refreshed).await, 200);
}

fn claims_for(user_id: u32, app: &TestApp) -> Claims {
    let now = zufang::auth::jwt::now();
    Claims {
        sub: user_id.to_string(),
        iat: now,
        nbf: now,
        exp: now + 300,
        iss: app.settings.jwt.issuer.clone(),
        aud: app.settings.jwt.audience.clone(),
        jti: "forged".into(),
        roles: vec!["admin".into()],
        sep: 0,
    }
}

fn signed(claims: &Claims, kid: Option<String>, key: &str) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = kid;
    encode(&h, claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

#[tokio::test]
async fn unknown_or_mismatched_key_ids_are_refused() {
    let app = spawn_app().await;
    let id = app.create_user("kidcheck", "correct horse battery", &["user"]).await;
    let claims = claims_for(id, &app);
    let current = key_id("hs", TEST_JWT_SECRET.as_bytes());
    // Control: the right key under its kid, and without a kid (a token from before kids).
    assert_eq!(me(&app, &signed(&claims, Some(current.clone()), TEST_JWT_SECRET)).await, 200);
    assert_eq!(me(&app, &signed(&claims, None, TEST_JWT_SECRET)).await, 200);
    // A made-up kid, even with the right signature.
    assert_eq!(me(&app, &signed(&claims, Some("hs-0000000000000000".into()), TEST_JWT_SECRET)).await, 401);
    // The current key's kid over another key's signature.
    assert_eq!(me(&app, &signed(&claims, Some(current), NEXT_KEY)).await, 401);
    // A real kid of a verify-only key, signed by a key nobody configured.
    let rotated = spawn_replica_with(&app, |s| s.jwt.verify_secrets = Secret::from(NEXT_KEY.to_string())).await;
    let next = key_id("hs", NEXT_KEY.as_bytes());
    assert_eq!(me(&rotated, &signed(&claims, Some(next.clone()), NEXT_KEY)).await, 200);
    assert_eq!(me(&rotated, &signed(&claims, Some(next), "a-key-nobody-configured-0123456789abcdef")).await, 401);
    // No kid falls back to the current key only, never to a verify-only one.
    assert_eq!(me(&rotated, &signed(&claims, None, NEXT_KEY)).await, 401);
    let body: Value = me_body(&app, &signed(&claims, Some("hs-0000000000000000".into()), TEST_JWT_SECRET)).await;
    assert!(body.to_string().contains("invalid"), "the same body as any invalid token: {body}");
}

async fn me_body(app: &TestApp, token: &str) -> Value {
    app.authed(Method::GET, "/api/users/me/", token).send().await.unwrap().json().await.unwrap()
}

async fn openssl(args: &[&str]) {
    let st = tokio::process::Command::new("openssl").args(args).status().await.expect("openssl is installed");
    assert!(st.success(), "openssl {args:?}");
}

/// An RSA key pair for the test: (private PEM path, public PEM path).
async fn rsa_pair(dir: &std::path::Path, name: &str) -> (String, String) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private.to_str().unwrap()])
        .await;
    openssl(&["pkey", "-in", private.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()]).await;
    (private.to_str().unwrap().to_string(), public.to_str().unwrap().to_string())
}

#[tokio::test]
async fn an_rs256_key_pair_rotates_through_verify_public_key_files() {
    let dir = std::env::temp_dir().join(crate::helpers::unique_name("rsarot"));
    std::fs::create_dir_all(&dir).unwrap();
    let (old_private, old_public) = rsa_pair(&dir, "old").await;
    let (new_private, new_public) = rsa_pair(&dir, "new").await;
    let app = crate::helpers::spawn_app_with(
        &[("jwt.algorithm", "RS256"), ("jwt.private_key_file", &old_private), ("jwt.public_key_file", &old_public)],
        None,
    )
    .await;
    app.create_user("rsarot", "correct horse battery", &["user"]).await;
    let (old_access, _) = login(&app, "rsarot").await;
    let old_pem = std::fs::read(&old_public).unwrap();
    assert_eq!(kid_of(&old_access), key_id("rs", &old_pem));
    // Step 2: the new pair signs, the old public key verifies.
    let (np, npub, op) = (new_private.clone(), new_public.clone(), old_public.clone());
    let step2 = spawn_replica_with(&app, move |s| {
        s.jwt.private_key_file = np;
        s.jwt.public_key_file = npub;
        s.jwt.verify_public_key_files = vec![op];
    })
    .await;
    assert_eq!(me(&step2, &old_access).await, 200, "the old pair's token verifies through verify_public_key_files");
    let (new_access, _) = login(&step2, "rsarot").await;
    assert_eq!(kid_of(&new_access), key_id("rs", &std::fs::read(&new_public).unwrap()));
    // Step 3: the old public key is gone.
    let (np, npub) = (new_private.clone(), new_public.clone());
    let step3 = spawn_replica_with(&app, move |s| {
        s.jwt.private_key_file = np;
        s.jwt.public_key_file = npub;
    })
    .await;
    assert_eq!(me(&step3, &old_access).await, 401);
    assert_eq!(me(&step3, &new_access).await, 200);
    // A verify-only file that is not a public key stops the replica at startup, naming the key.
    let mut bad = app.settings.jwt.clone();
    bad.verify_public_key_files = vec![old_private.replace("old.pem", "missing.pem")];
    let err = zufang::auth::jwt::JwtKeys::from_settings(&bad, &Secret::from(String::new())).err().expect("refused");
    assert!(format!("{err:#}").contains("jwt.verify_public_key_files"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
