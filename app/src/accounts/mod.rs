//! Account flows on shared state: SMS verification codes, refresh-token families, login
//! throttling and sign-up. Everything here must hold across replicas, so it lives in Redis; when Redis is down
//! these operations answer 503: silently skipping a rate limit or a revocation check would weaken
//! security exactly when an operator is busy with an outage. The primitives they use (JWT keys,
//! HMAC, password hashing, SMS senders) are in `auth`.
pub mod codes;
pub mod login_throttle;
pub mod refresh_tokens;
pub mod sign_up;

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::Script;

use crate::error::ApiError;
use crate::state::AppState;

/// Run a Lua script atomically in Redis; any Redis failure is a 503.
pub async fn run_script<T: deadpool_redis::redis::FromRedisValue>(
    state: &AppState,
    script: &Script,
    keys: &[String],
    args: &[String],
) -> Result<T, ApiError> {
    let timeout = Duration::from_millis(state.settings.redis.timeout_ms.max(250) * 4);
    let fut = async {
        let mut conn = state.redis.get().await.map_err(|e| anyhow::anyhow!(e))?;
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        for a in args {
            inv.arg(a);
        }
        let v: T = inv.invoke_async(&mut conn).await.map_err(|e| anyhow::anyhow!(e))?;
        Ok::<T, anyhow::Error>(v)
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(redis_down(e)),
        Err(_) => Err(redis_down(anyhow::anyhow!("timed out"))),
    }
}

pub fn redis_down(e: anyhow::Error) -> ApiError {
    tracing::error!(error = %format!("{e:#}"), "Redis unavailable for a security-relevant operation");
    ApiError::ServiceUnavailable("Authentication storage is temporarily unavailable; please retry shortly.".into())
}

/// KEYS: counters; ARGV: (limit, window seconds) per key. Pre-counts the attempt on every key (so
/// concurrent attempts are all counted) and answers the first key over its limit with its TTL.
static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local over, over_ttl = -1, 0
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
  if over < 0 and n > tonumber(ARGV[2 * i - 1]) then over, over_ttl = i - 1, redis.call('TTL', key) end
end
return {over, over_ttl}
",
    )
});

/// Count one attempt against each (key, limit, window): `Some((index, retry after))` for the
/// first limit exceeded, `None` when all hold.
pub async fn count_attempts(state: &AppState, limits: &[(String, u32, u64)]) -> Result<Option<(usize, u64)>, ApiError> {
    let keys: Vec<String> = limits.iter().map(|(k, _, _)| k.clone()).collect();
    let args: Vec<String> =
        limits.iter().flat_map(|(_, max, win)| [max.to_string(), win.max(&1).to_string()]).collect();
    let (over, ttl): (i64, i64) = run_script(state, &COUNT, &keys, &args).await?;
    Ok(usize::try_from(over).ok().map(|i| (i, ttl.max(1) as u64)))
}
