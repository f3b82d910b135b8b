//! Argon2id password hashes; the cost comes from `auth.password_hash_*` (default m=19 MiB, t=2,
//! p=1: OWASP's minimum). Verification reads the cost from the stored hash.
//! Hashing runs on the blocking pool: it is deliberately slow and would stall a worker.
use std::sync::OnceLock;

use anyhow::Context;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::configuration::AuthSettings;

fn hasher(s: &AuthSettings) -> Argon2<'static> {
    let params = Params::new(s.password_hash_memory_kib, s.password_hash_iterations, 1, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub async fn hash(password: String, settings: &AuthSettings) -> anyhow::Result<String> {
    let argon = hasher(settings);
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await
    .context("Password hashing task failed")?
}

/// A hash of a random password, verified against when the account does not exist so that
/// "unknown account" and "wrong password" take the same time.
fn dummy_hash(settings: &AuthSettings) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let pw = hex::encode(rand::random::<[u8; 16]>());
        hasher(settings).hash_password(pw.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

/// True when `password` matches `stored`; with `stored = None` a dummy hash is verified (always false).
pub async fn verify(password: String, stored: Option<String>, settings: &AuthSettings) -> anyhow::Result<bool> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash(&settings).to_string());
        let ok = match PasswordHash::new(&stored) {
            Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        };
        ok && exists
    })
    .await
    .context("Password verification task failed")
}
