//! Accounts: SMS codes (`/api/mobile-codes/{tel}/`), sign-up (`/api/users/`), login
//! (`/api/tokens/`: password or SMS code), refresh (`/api/tokens/refresh/`), logout
//! (`/api/tokens/revoke/`) and the caller's profile (`/api/users/me/`).
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::access::{access, Principal};
use crate::accounts::refresh_tokens::{self, Rotation};
use crate::accounts::sign_up::sign_up;
use crate::accounts::{codes, login_throttle};
use crate::client_ip::{client_ip, rate_bucket};
use crate::domain::accounts::{NewUser, Tel};
use crate::error::{ApiError, ResultExt};
use crate::state::AppState;
use crate::storage::users;

fn ip_of(req: &HttpRequest, state: &AppState) -> String {
    client_ip(req, &state.settings.application.trusted_proxies).map(|ip| ip.to_string()).unwrap_or_else(|| "-".into())
}

/// The rate-limit bucket of the client (its address; an IPv6 client's /64).
fn ip_bucket(req: &HttpRequest, state: &AppState) -> String {
    client_ip(req, &state.settings.application.trusted_proxies).map(rate_bucket).unwrap_or_else(|| "-".into())
}

pub(super) async fn send_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tel = Tel::parse(&path).map_err(|m| ApiError::field("tel", m))?;
    codes::issue(&state, tel.as_str(), &ip_bucket(&req, &state)).await?;
    Ok(HttpResponse::Accepted().json(json!({"detail": "A verification code has been sent."})))
}

/// Sign-up (`accounts::sign_up`: rate limits, the SMS code, uniqueness, the insert).
pub(super) async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let new = NewUser::parse(&body)?;
    let id = sign_up(&state, &new, &ip_bucket(&req, &state)).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": id, "username": new.username, "tel": new.tel.as_str(), "roles": ["user"],
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    /// A username or a tel (with `password`), or a tel (with `code`).
    #[serde(alias = "tel")]
    username: String,
    password: Option<String>,
    /// An SMS code sent to the tel: the way in when password login is throttled for the account.
    code: Option<String>,
}

pub(super) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { username, password: pw, code } = body.into_inner();
    match (pw, code) {
        (Some(pw), None) => password_login(&state, &req, username, pw).await,
        (None, Some(code)) => code_login(&state, &req, &username, &code).await,
        _ => Err(ApiError::BadRequest("Send username (or tel) and password, or tel and code.".into())),
    }
}

async fn password_login(
    state: &AppState,
    req: &HttpRequest,
    username: String,
    pw: String,
) -> Result<HttpResponse, ApiError> {
    // Lengths in characters, as the OpenAPI document's maxLength counts them (a Devanagari or
    // Chinese username of 30 characters is 90 bytes): a name no account can have is a 401 below.
    if username.is_empty() || pw.is_empty() {
        return Err(ApiError::BadRequest("username (or tel) and password are required.".into()));
    }
    if username.chars().count() > 64 || pw.chars().count() > 1024 {
        return Err(ApiError::BadRequest("username is at most 64 characters, password at most 1024.".into()));
    }
    // A slot in the hashing pool first: beyond its bound the login is refused before it costs a
    // Redis call, a query or a hash (a flood must not exhaust the Redis and database pools either).
    let slot = state.hashing.slot()?;
    let bucket = ip_bucket(req, state);
    let found = users::find_for_login(state.store(), &username).await?;
    // Throttle per account (not per spelling: username and tel share one counter), per client
    // and across all clients.
    let account = match &found {
        Some((id, _)) => format!("user:{id}"),
        None => format!("name:{}", username.to_lowercase()),
    };
    login_throttle::login_attempt(state, &account, &bucket).await?;
    let (id, stored) = match found {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    // Unknown accounts verify against a dummy hash: same status, body and (Argon2) time.
    let ok = state.hashing.verify(&slot, pw, stored, &state.settings.auth).await.map_err(ApiError::Internal)?;
    drop(slot);
    let Some(id) = id.filter(|_| ok) else {
        state.metrics.auth_logins_total.with_label_values(&["failure"]).inc();
        return Err(ApiError::Unauthorized("Invalid credentials.".into()));
    };
    signed_in(state, req, id).await?;
    login_throttle::login_succeeded(state, &account, &bucket).await?;
    token_response(state, id).await
}

/// Login with an SMS code: not subject to the password throttle (the code has its own limits),
/// so an attacker who locks an account's password login does not lock out its owner.
async fn code_login(state: &AppState, req: &HttpRequest, tel: &str, code: &str) -> Result<HttpResponse, ApiError> {
    let tel = Tel::parse(tel).map_err(|m| ApiError::field("tel", m))?;
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field("code", "The 6-digit code sent to the tel."));
    }
    if !codes::verify(state, tel.as_str(), code).await? {
        state.metrics.auth_logins_total.with_label_values(&["failure"]).inc();
        return Err(ApiError::Unauthorized("Invalid or expired verification code.".into()));
    }
    let Some(id) = users::find_active_by_tel(state.store(), tel.as_str()).await? else {
        state.metrics.auth_logins_total.with_label_values(&["failure"]).inc();
        return Err(ApiError::Unauthorized("Invalid or expired verification code.".into()));
    };
    signed_in(state, req, id).await?;
    token_response(state, id).await
}

async fn signed_in(state: &AppState, req: &HttpRequest, id: u32) -> Result<(), ApiError> {
    let agent = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    users::record_login(state.store(), id, &ip_of(req, state), agent).await?;
    state.metrics.auth_logins_total.with_label_values(&["success"]).inc();
    Ok(())
}

async fn token_response(state: &AppState, user_id: u32) -> Result<HttpResponse, ApiError> {
    let access = access(state, user_id).await?;
    let access_token = state.jwt.issue(user_id, access.roles, access.session_epoch).map_err(ApiError::Internal)?;
    let refresh_token = refresh_tokens::start_family(state, user_id, access.session_epoch).await?;
    Ok(token_body(state, access_token, refresh_token))
}

fn token_body(state: &AppState, access_token: String, refresh_token: String) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": state.jwt.access_ttl,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Refresh {
    refresh_token: String,
}

/// Refresh: the family must be current, and the account — read from the database, not a
/// cache — still active with the session epoch the family was started under.
pub(super) async fn refresh(state: web::Data<AppState>, body: web::Json<Refresh>) -> Result<HttpResponse, ApiError> {
    match refresh_tokens::rotate(&state, &body.refresh_token).await? {
        Rotation::Invalid(msg) => Err(ApiError::InvalidToken(msg.into())),
        Rotation::Rotated(user_id, epoch, refresh_token) => {
            match users::session_state(state.store(), user_id).await? {
                Some((true, current)) if current == epoch => {}
                Some((true, _)) => {
                    refresh_tokens::revoke(&state, &refresh_token).await?;
                    return Err(ApiError::InvalidToken("This session has been revoked.".into()));
                }
                _ => {
                    refresh_tokens::revoke(&state, &refresh_token).await?;
                    return Err(ApiError::InvalidToken("This account can no longer sign in.".into()));
                }
            }
            let access = access(&state, user_id).await?;
            if access.roles.is_empty() {
                // Stripped of every role since the login.
                return Err(ApiError::InvalidToken("This account can no longer sign in.".into()));
            }
            let access_token =
                state.jwt.issue(user_id, access.roles, access.session_epoch).map_err(ApiError::Internal)?;
            Ok(token_body(&state, access_token, refresh_token))
        }
    }
}

/// Logout: revoke the session (refresh-token family) the token belongs to. The access tokens
/// already issued stay valid until they expire (`jwt.access_ttl_seconds`), as in DRF SimpleJWT's
/// blacklist; an admin's "revoke all sessions" also ends those at once.
pub(super) async fn revoke(state: web::Data<AppState>, body: web::Json<Refresh>) -> Result<HttpResponse, ApiError> {
    if refresh_tokens::revoke(&state, &body.refresh_token).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::InvalidToken("The refresh token is invalid, expired or already revoked.".into()))
    }
}

pub(super) async fn me(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let p = principal.into_inner();
    // Deleted since the guard's (cached) check: the token's account is gone, a 401 like the guard's.
    let profile = users::profile(state.store(), p.user_id)
        .await?
        .ok_or_else(|| ApiError::InvalidToken("This account is inactive or no longer exists.".into()))?;
    let mut v = serde_json::to_value(profile).context_api("Failed to encode the profile")?;
    v["roles"] = json!(p.roles);
    Ok(HttpResponse::Ok().json(v))
}
