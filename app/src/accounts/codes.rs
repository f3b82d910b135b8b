//! SMS verification codes: a 6-digit code from the OS CSPRNG, stored in Redis only as an HMAC,
//! with atomic limits (one Lua script checks and counts all of them, so concurrent requests on
//! any number of replicas cannot slip past): one code per number per resend interval, a daily
//! cap per number, an hourly cap per client IP.
use std::sync::LazyLock;

use deadpool_redis::redis::Script;
use rand::Rng;

use super::run_script;
use crate::auth::digest::hmac_hex;
use crate::error::ApiError;
use crate::state::AppState;

/// KEYS: interval, daily, ip, code, attempts. ARGV: interval s, daily max, ip max, code hmac, code ttl.
static ISSUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return {'sms_interval', redis.call('TTL', KEYS[1])} end
local d = tonumber(redis.call('GET', KEYS[2]) or '0')
if d >= tonumber(ARGV[2]) then return {'sms_daily', redis.call('TTL', KEYS[2])} end
local i = tonumber(redis.call('GET', KEYS[3]) or '0')
if i >= tonumber(ARGV[3]) then return {'sms_ip', redis.call('TTL', KEYS[3])} end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], 86400) end
if redis.call('INCR', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], 3600) end
redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[5])
redis.call('DEL', KEYS[5])
return {'ok', 0}
",
    )
});

/// KEYS: code, attempts. ARGV: presented hmac, max attempts. Single use; wrong guesses are counted.
static CHECK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local h = redis.call('GET', KEYS[1])
if not h then return 'missing' end
if h == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) return 'ok' end
local n = redis.call('INCR', KEYS[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
if n >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1], KEYS[2]) end
return 'wrong'
",
    )
});

/// Wrong codes allowed before the code is invalidated.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

fn keys(state: &AppState, tel: &str) -> (String, String) {
    (state.redis_key(&format!("sms:code:{tel}")), state.redis_key(&format!("sms:tries:{tel}")))
}

fn code_mac(state: &AppState, tel: &str, code: &str) -> String {
    hmac_hex(&state.jwt.hmac_key, &format!("sms:{tel}:{code}"))
}

/// Issue a code for `tel` (already validated) requested from `ip`.
pub async fn issue(state: &AppState, tel: &str, ip: &str) -> Result<(), ApiError> {
    let s = &state.settings.sms;
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let (code_key, tries_key) = keys(state, tel);
    let interval_key = state.redis_key(&format!("sms:interval:{tel}"));
    let (status, ttl): (String, i64) = run_script(
        state,
        &ISSUE,
        &[
            interval_key.clone(),
            state.redis_key(&format!("sms:day:{tel}")),
            state.redis_key(&format!("sms:ip:{ip}")),
            code_key.clone(),
            tries_key,
        ],
        &[
            s.resend_interval_seconds.max(1).to_string(),
            s.max_per_number_per_day.to_string(),
            s.max_per_ip_per_hour.to_string(),
            code_mac(state, tel, &code),
            s.code_ttl_seconds.max(1).to_string(),
        ],
    )
    .await?;
    if status != "ok" {
        state.metrics.rate_limit_rejections_total.with_label_values(&[status.as_str()]).inc();
        let message = match status.as_str() {
            "sms_interval" => "A code was sent to this number recently; wait before asking again.",
            "sms_daily" => "Too many codes for this number today.",
            _ => "Too many codes requested from this address.",
        };
        return Err(ApiError::TooManyRequests { message: message.into(), retry_after_seconds: ttl.max(1) as u64 });
    }
    let sender = state.sms.name();
    match state.sms.send(tel, &code).await {
        Ok(()) => {
            state.metrics.sms_codes_sent_total.with_label_values(&[sender, "success"]).inc();
            Ok(())
        }
        Err(e) => {
            state.metrics.sms_codes_sent_total.with_label_values(&[sender, "failure"]).inc();
            tracing::error!(error = %format!("{e:#}"), "SMS sender failed");
            // The code never reached the user: let them ask again at once.
            static DEL: LazyLock<Script> = LazyLock::new(|| Script::new("return redis.call('DEL', KEYS[1], KEYS[2])"));
            let _: Result<i64, _> = run_script(state, &DEL, &[interval_key, code_key], &[]).await;
            Err(ApiError::ServiceUnavailable("The SMS provider is unavailable; please retry shortly.".into()))
        }
    }
}

/// Check (and consume on success) the code for `tel`.
pub async fn verify(state: &AppState, tel: &str, code: &str) -> Result<bool, ApiError> {
    let (code_key, tries_key) = keys(state, tel);
    let status: String =
        run_script(state, &CHECK, &[code_key, tries_key], &[code_mac(state, tel, code), MAX_CODE_ATTEMPTS.to_string()])
            .await?;
    Ok(status == "ok")
}
