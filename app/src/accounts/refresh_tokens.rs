//! Refresh tokens, in Redis so they hold across replicas.
//!
//! A refresh token is `<family>.<secret>`. Redis keeps, per family, the owner and the hash of the
//! one current token. Refreshing swaps the hash atomically (Lua); presenting any other token of
//! the family (an already-rotated one: it was copied) revokes the family, so both the thief and
//! the victim must log in again. A family expires `jwt.refresh_ttl_seconds` after the login
//! (rotation keeps the TTL), so a session cannot be stretched forever by refreshing.
use std::sync::LazyLock;

use deadpool_redis::redis::Script;

use super::run_script;
use crate::auth::digest::sha256_hex;
use crate::error::ApiError;
use crate::state::AppState;

static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if not v then return {'unknown', ''} end
if v == 'revoked' then return {'revoked', ''} end
local sep = string.find(v, ':', 1, true)
local uid = string.sub(v, 1, sep - 1)
if string.sub(v, sep + 1) ~= ARGV[1] then
  redis.call('SET', KEYS[1], 'revoked', 'EX', ARGV[3])
  return {'reused', uid}
end
-- KEEPTTL: the family lives refresh_ttl_seconds from the login, however often it is refreshed.
redis.call('SET', KEYS[1], uid .. ':' .. ARGV[2], 'KEEPTTL')
return {'ok', uid}
",
    )
});

fn family_key(state: &AppState, family: &str) -> String {
    state.redis_key(&format!("rt:{family}"))
}

fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Start a new family for a login; returns the refresh token.
pub async fn start_family(state: &AppState, user_id: u32) -> Result<String, ApiError> {
    let family = hex::encode(rand::random::<[u8; 16]>());
    let secret = new_secret();
    let ttl = state.settings.jwt.refresh_ttl_seconds.max(1);
    static SET: LazyLock<Script> =
        LazyLock::new(|| Script::new("redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1"));
    let _: i64 = run_script(
        state,
        &SET,
        &[family_key(state, &family)],
        &[format!("{user_id}:{}", sha256_hex(&secret)), ttl.to_string()],
    )
    .await?;
    Ok(format!("{family}.{secret}"))
}

pub enum Rotation {
    /// The user id and the new refresh token.
    Rotated(u32, String),
    Invalid(&'static str),
}

pub async fn rotate(state: &AppState, token: &str) -> Result<Rotation, ApiError> {
    let Some((family, secret)) = token.split_once('.') else {
        return Ok(Rotation::Invalid("The refresh token is invalid."));
    };
    if family.len() != 32 || !family.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Rotation::Invalid("The refresh token is invalid."));
    }
    let next = new_secret();
    let ttl = state.settings.jwt.refresh_ttl_seconds.max(1);
    let (status, uid): (String, String) = run_script(
        state,
        &ROTATE,
        &[family_key(state, family)],
        &[sha256_hex(secret), sha256_hex(&next), ttl.to_string()],
    )
    .await?;
    Ok(match status.as_str() {
        "ok" => match uid.parse() {
            Ok(uid) => Rotation::Rotated(uid, format!("{family}.{next}")),
            Err(_) => Rotation::Invalid("The refresh token is invalid."),
        },
        "reused" => {
            tracing::warn!(user_id = %uid, "refresh token reused: family revoked (possible token theft)");
            Rotation::Invalid("The refresh token was already used; this session has been revoked.")
        }
        "revoked" => Rotation::Invalid("This session has been revoked."),
        _ => Rotation::Invalid("The refresh token is invalid or expired."),
    })
}
