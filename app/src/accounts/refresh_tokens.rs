//! Refresh tokens, in Redis so they hold across replicas.
//!
//! A refresh token is `<family>.<secret>`. Redis keeps, per family, the owner, the account's
//! session epoch at login (`<uid>.<epoch>:<hash>`; the caller compares it with the database) and
//! the hash of the one current token. Refreshing swaps the hash atomically (Lua); presenting any other token of
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

/// Start a new family for a login under the account's session epoch; returns the refresh token.
pub async fn start_family(state: &AppState, user_id: u32, session_epoch: u32) -> Result<String, ApiError> {
    let family = hex::encode(rand::random::<[u8; 16]>());
    let secret = new_secret();
    let ttl = state.settings.jwt.refresh_ttl_seconds.max(1);
    static SET: LazyLock<Script> =
        LazyLock::new(|| Script::new("redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1"));
    let _: i64 = run_script(
        state,
        &SET,
        &[family_key(state, &family)],
        &[format!("{user_id}.{session_epoch}:{}", sha256_hex(&secret)), ttl.to_string()],
    )
    .await?;
    Ok(format!("{family}.{secret}"))
}

pub enum Rotation {
    /// The user id, the session epoch of the login, and the new refresh token.
    Rotated(u32, u32, String),
    Invalid(&'static str),
}

/// `(family, secret)` of a well-formed refresh token.
fn parse(token: &str) -> Option<(&str, &str)> {
    let (family, secret) = token.split_once('.')?;
    (family.len() == 32 && family.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((family, secret))
}

/// `<uid>[.<epoch>]` as stored (families from before epochs existed have epoch 0).
fn owner(stored: &str) -> Option<(u32, u32)> {
    match stored.split_once('.') {
        Some((uid, epoch)) => Some((uid.parse().ok()?, epoch.parse().ok()?)),
        None => Some((stored.parse().ok()?, 0)),
    }
}

pub async fn rotate(state: &AppState, token: &str) -> Result<Rotation, ApiError> {
    let Some((family, secret)) = parse(token) else {
        return Ok(Rotation::Invalid("The refresh token is invalid."));
    };
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
        "ok" => match owner(&uid) {
            Some((uid, epoch)) => Rotation::Rotated(uid, epoch, format!("{family}.{next}")),
            None => Rotation::Invalid("The refresh token is invalid."),
        },
        "reused" => {
            tracing::warn!(user_id = %uid, "refresh token reused: family revoked (possible token theft)");
            Rotation::Invalid("The refresh token was already used; this session has been revoked.")
        }
        "revoked" => Rotation::Invalid("This session has been revoked."),
        _ => Rotation::Invalid("The refresh token is invalid or expired."),
    })
}

/// End the session a refresh token belongs to (logout): its family is revoked, so neither this
/// token nor any other of the family refreshes again. False when the token is unknown, expired
/// or already revoked.
pub async fn revoke(state: &AppState, token: &str) -> Result<bool, ApiError> {
    static REVOKE: LazyLock<Script> = LazyLock::new(|| {
        Script::new(
            "local v = redis.call('GET', KEYS[1]) if not v or v == 'revoked' then return 0 end \
             redis.call('SET', KEYS[1], 'revoked', 'KEEPTTL') return 1",
        )
    });
    let Some((family, _)) = parse(token) else { return Ok(false) };
    let n: i64 = run_script(state, &REVOKE, &[family_key(state, family)], &[]).await?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::{owner, parse};

    #[test]
    fn stored_owner_with_and_without_epoch() {
        assert_eq!(owner("42.3"), Some((42, 3)));
        assert_eq!(owner("42"), Some((42, 0)));
        assert_eq!(owner("x.1"), None);
        assert!(parse("0123456789abcdef0123456789abcdef.s3cret").is_some());
        assert!(parse("short.s3cret").is_none());
        assert!(parse("0123456789abcdef0123456789abcdef.").is_none());
    }
}
