//! Login throttling in Redis, so it holds across replicas: per (account, client IP) and per account
//! from every address (rotating addresses does not buy more guesses). IPv6 clients count per /64.
use std::sync::LazyLock;

use deadpool_redis::redis::Script;

use super::{count_attempts, run_script};
use crate::auth::digest::sha256_hex;
use crate::error::ApiError;
use crate::state::AppState;

fn keys(state: &AppState, account: &str, ip_bucket: &str) -> [String; 2] {
    let h = sha256_hex(&account.to_lowercase());
    [state.redis_key(&format!("login:{h}:{ip_bucket}")), state.redis_key(&format!("login:{h}"))]
}

/// Count a password login attempt for (account, ip bucket): Err(429) when over either limit.
pub async fn login_attempt(state: &AppState, account: &str, ip_bucket: &str) -> Result<(), ApiError> {
    let a = &state.settings.auth;
    let window = a.failed_login_window_seconds.max(1);
    let [pair, acct] = keys(state, account, ip_bucket);
    let over =
        count_attempts(state, &[(pair, a.max_failed_logins, window), (acct, a.max_failed_logins_per_account, window)])
            .await?;
    let Some((which, ttl)) = over else { return Ok(()) };
    let limiter = if which == 0 { "login" } else { "login_account" };
    state.metrics.rate_limit_rejections_total.with_label_values(&[limiter]).inc();
    state.metrics.auth_logins_total.with_label_values(&["throttled"]).inc();
    let message = if which == 0 {
        "Too many failed login attempts; try again later."
    } else {
        "Too many failed login attempts for this account; try again later or sign in with an SMS code."
    };
    Err(ApiError::TooManyRequests { message: message.into(), retry_after_seconds: ttl })
}

/// A successful login resets the (account, ip) counter and takes its own attempt back from the
/// account's counter (the failures of others stay counted until the window ends).
pub async fn login_succeeded(state: &AppState, account: &str, ip_bucket: &str) -> Result<(), ApiError> {
    static RESET: LazyLock<Script> = LazyLock::new(|| {
        Script::new(
            "redis.call('DEL', KEYS[1]) if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then \
             redis.call('DECR', KEYS[2]) end return 1",
        )
    });
    let _: i64 = run_script(state, &RESET, &keys(state, account, ip_bucket), &[]).await?;
    Ok(())
}
