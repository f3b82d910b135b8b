//! Sign-up, the one account write that starts from nobody: rate limits per client and per tel,
//! the SMS code, the uniqueness check, the password hash, the insert. Nothing about existing
//! accounts is told before the code checks out: whether a username or tel is taken is learnt only
//! by the owner of the phone, one code (which this consumes) per question.
use super::{codes, count_attempts};
use crate::domain::accounts::NewUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::users;

/// The new account's id. `client` is the caller's rate-limit bucket (its address, or its /64).
pub async fn sign_up(state: &AppState, new: &NewUser, client: &str) -> Result<u64, ApiError> {
    let a = &state.settings.auth;
    let limits = [
        (state.redis_key(&format!("signup:ip:{client}")), a.max_signups_per_ip_per_hour, 3600),
        (state.redis_key(&format!("signup:tel:{}", new.tel.as_str())), a.max_signups_per_tel_per_hour, 3600),
    ];
    if let Some((which, ttl)) = count_attempts(state, &limits).await? {
        let limiter = if which == 0 { "signup_ip" } else { "signup_tel" };
        state.metrics.rate_limit_rejections_total.with_label_values(&[limiter]).inc();
        return Err(ApiError::TooManyRequests {
            message: "Too many sign-up attempts; try again later.".into(),
            retry_after_seconds: ttl,
        });
    }
    if !codes::verify(state, new.tel.as_str(), &new.code).await? {
        return Err(ApiError::field("code", "Invalid or expired verification code."));
    }
    if users::exists(state.store(), &new.username, new.tel.as_str()).await? {
        return Err(ApiError::Conflict("A user with this username or tel already exists.".into()));
    }
    let slot = state.hashing.slot()?;
    let hash = state.hashing.hash(&slot, new.password.clone(), a).await.map_err(ApiError::Internal)?;
    drop(slot);
    users::create(state.store(), &new.username, &hash, new.tel.as_str()).await
}
