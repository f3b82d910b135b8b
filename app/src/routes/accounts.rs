//! Accounts: SMS codes (`/api/mobile-codes/{tel}/`), sign-up (`/api/users/`), login
//! (`/api/tokens/`), refresh (`/api/tokens/refresh/`) and the caller's profile (`/api/users/me/`).
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::access::{access, Principal};
use crate::accounts::refresh_tokens::{self, Rotation};
use crate::accounts::{codes, login_throttle};
use crate::auth::password;
use crate::client_ip::client_ip;
use crate::domain::accounts::{NewUser, Tel};
use crate::error::{ApiError, ResultExt};
use crate::state::AppState;
use crate::storage::users;

fn ip_of(req: &HttpRequest, state: &AppState) -> String {
    client_ip(req, &state.settings.application.trusted_proxies).map(|ip| ip.to_string()).unwrap_or_else(|| "-".into())
}

pub(super) async fn send_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tel = Tel::parse(&path).map_err(|m| ApiError::field("tel", m))?;
    codes::issue(&state, tel.as_str(), &ip_of(&req, &state)).await?;
    Ok(HttpResponse::Accepted().json(json!({"detail": "A verification code has been sent."})))
}

pub(super) async fn register(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let new = NewUser::parse(&body)?;
    if users::exists(&state, &new.username, new.tel.as_str()).await? {
        return Err(ApiError::Conflict("A user with this username or tel already exists.".into()));
    }
    // The code is checked (and consumed) only once the request is otherwise acceptable.
    if !codes::verify(&state, new.tel.as_str(), &new.code).await? {
        return Err(ApiError::field("code", "Invalid or expired verification code."));
    }
    let hash = password::hash(new.password.clone(), &state.settings.auth).await.map_err(ApiError::Internal)?;
    let id = users::create(&state, &new.username, &hash, new.tel.as_str()).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": id, "username": new.username, "tel": new.tel.as_str(), "roles": ["user"],
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    /// A username or a tel.
    #[serde(alias = "tel")]
    username: String,
    password: String,
}

pub(super) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { username, password: pw } = body.into_inner();
    if username.is_empty() || username.len() > 64 || pw.is_empty() || pw.len() > 1024 {
        return Err(ApiError::BadRequest("username (or tel) and password are required.".into()));
    }
    let ip = ip_of(&req, &state);
    let found = users::find_for_login(&state, &username).await?;
    // Throttle per account (not per spelling: username and tel share one counter) and client IP.
    let account = match &found {
        Some((id, _)) => format!("user:{id}"),
        None => format!("name:{}", username.to_lowercase()),
    };
    login_throttle::login_attempt(&state, &account, &ip).await?;
    let (id, stored) = match found {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    // Unknown accounts verify against a dummy hash: same status, body and (Argon2) time.
    let ok = password::verify(pw, stored, &state.settings.auth).await.map_err(ApiError::Internal)?;
    let Some(id) = id.filter(|_| ok) else {
        state.metrics.auth_logins_total.with_label_values(&["failure"]).inc();
        return Err(ApiError::Unauthorized("Invalid credentials.".into()));
    };
    let agent = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    users::record_login(&state, id, &ip, agent).await?;
    login_throttle::login_succeeded(&state, &account, &ip).await?;
    state.metrics.auth_logins_total.with_label_values(&["success"]).inc();
    token_response(&state, id).await
}

async fn token_response(state: &AppState, user_id: u32) -> Result<HttpResponse, ApiError> {
    let roles = access(state, user_id).await?.roles;
    let access_token = state.jwt.issue(user_id, roles).map_err(ApiError::Internal)?;
    let refresh_token = refresh_tokens::start_family(state, user_id).await?;
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

pub(super) async fn refresh(state: web::Data<AppState>, body: web::Json<Refresh>) -> Result<HttpResponse, ApiError> {
    match refresh_tokens::rotate(&state, &body.refresh_token).await? {
        Rotation::Invalid(msg) => Err(ApiError::InvalidToken(msg.into())),
        Rotation::Rotated(user_id, refresh_token) => {
            let roles = access(&state, user_id).await?.roles;
            if roles.is_empty() {
                // Deactivated (or stripped of every role) since the login.
                return Err(ApiError::InvalidToken("This account can no longer sign in.".into()));
            }
            let access_token = state.jwt.issue(user_id, roles).map_err(ApiError::Internal)?;
            Ok(token_body(&state, access_token, refresh_token))
        }
    }
}

pub(super) async fn me(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let p = principal.into_inner();
    let profile = users::profile(&state, p.user_id).await?.ok_or_else(|| ApiError::not_found("User"))?;
    let mut v = serde_json::to_value(profile).context_api("Failed to encode the profile")?;
    v["roles"] = json!(p.roles);
    Ok(HttpResponse::Ok().json(v))
}
