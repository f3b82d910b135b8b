//! Login throttling per (account, client IP), in Redis so it holds across replicas.
use std::sync::LazyLock;

use deadpool_redis::redis::Script;

use super::run_script;
use crate::auth::digest::sha256_hex;
use crate::error::ApiError;
use crate::state::AppState;

/// Pre-counts an attempt (so concurrent guesses are all counted), then compares with the limit.
static LOGIN_ATTEMPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('TTL', KEYS[1])
if n > tonumber(ARGV[1]) then return {0, ttl} end
return {1, ttl}
",
    )
});

fn throttle_key(state: &AppState, account: &str, ip: &str) -> String {
    state.redis_key(&format!("login:{}:{ip}", sha256_hex(&account.to_lowercase())))
}

/// Count a login attempt for (account, ip): Err(429) when over the limit.
pub async fn login_attempt(state: &AppState, account: &str, ip: &str) -> Result<(), ApiError> {
    let a = &state.settings.auth;
    let (ok, ttl): (i64, i64) = run_script(
        state,
        &LOGIN_ATTEMPT,
        &[throttle_key(state, account, ip)],
        &[a.max_failed_logins.to_string(), a.failed_login_window_seconds.max(1).to_string()],
    )
    .await?;
    if ok == 1 {
        Ok(())
    } else {
        state.metrics.rate_limit_rejections_total.with_label_values(&["login"]).inc();
        state.metrics.auth_logins_total.with_label_values(&["throttled"]).inc();
        Err(ApiError::TooManyRequests {
            message: "Too many failed login attempts; try again later.".into(),
            retry_after_seconds: ttl.max(1) as u64,
        })
    }
}

/// A successful login resets the counter.
pub async fn login_succeeded(state: &AppState, account: &str, ip: &str) -> Result<(), ApiError> {
    static DEL: LazyLock<Script> = LazyLock::new(|| Script::new("return redis.call('DEL', KEYS[1])"));
    let _: i64 = run_script(state, &DEL, &[throttle_key(state, account, ip)], &[]).await?;
    Ok(())
}
