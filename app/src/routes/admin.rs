//! The admin API (`/api/admin/*`): roles, role assignment, deactivation and session revocation.
//! The guard already required the `admin` role's privilege and a client IP inside
//! `admin.allow_cidrs`. Every change to a user drops their cached access, which the guard reads
//! from Redis on every request: it holds on every replica from the next request on.
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::cache::keys;
use crate::domain::query::path_id;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;
use crate::storage::admin::{self as store, Privilege, Role};

pub(super) async fn list_roles(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let roles = store::list_roles(&state).await?;
    Ok(HttpResponse::Ok().json(json!({"count": roles.len(), "next": null, "previous": null, "results": roles})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    name: String,
    #[serde(default)]
    intro: String,
    #[serde(default)]
    privileges: Vec<Privilege>,
}

const METHODS: &[&str] = &["*", "GET", "POST", "PUT", "PATCH", "DELETE"];

pub(super) async fn create_role(
    state: web::Data<AppState>,
    body: web::Json<NewRole>,
) -> Result<HttpResponse, ApiError> {
    let r = body.into_inner();
    let mut fields = FieldErrors::new();
    if r.name.is_empty() || r.name.len() > 32 || !r.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        fields.insert("name".into(), vec!["1-32 letters, digits or underscores.".into()]);
    }
    if r.intro.chars().count() > 255 {
        fields.insert("intro".into(), vec!["At most 255 characters.".into()]);
    }
    let known = |p: &Privilege| {
        METHODS.contains(&p.method.as_str())
            && (p.route == "*"
                || super::ENDPOINTS.iter().any(|e| e.path == p.route && (p.method == "*" || e.method == p.method)))
    };
    if let Some(bad) = r.privileges.iter().find(|p| !known(p)) {
        fields.insert(
            "privileges".into(),
            vec![format!("{} {} is not a route this service serves.", bad.method, bad.route)],
        );
    }
    ApiError::check_fields(fields)?;
    let id = store::create_role(&state, &r.name, &r.intro, &r.privileges).await?;
    Ok(HttpResponse::Created().json(Role { id, name: r.name, intro: r.intro, privileges: r.privileges }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserRoles {
    roles: Vec<String>,
}

/// Replace a user's roles (one transaction), then drop their cached privileges.
pub(super) async fn set_user_roles(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UserRoles>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path_id(&path, "User")?;
    let mut names = body.into_inner().roles;
    names.sort();
    names.dedup();
    store::set_user_roles(&state, user_id, &names).await?;
    state.cache.invalidate(&[keys::user_acl(user_id)]).await;
    Ok(HttpResponse::Ok().json(json!({"user_id": user_id, "roles": names})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserState {
    is_active: bool,
}

/// Activate or deactivate a user. Deactivation also ends every session at once (the session
/// epoch moves, so access tokens already issued stop working too).
pub(super) async fn set_user_active(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UserState>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path_id(&path, "User")?;
    let active = body.is_active;
    let username = store::set_user_active(&state, user_id, active).await?;
    state.cache.invalidate(&[keys::user_acl(user_id)]).await;
    Ok(HttpResponse::Ok().json(json!({"id": user_id, "username": username, "is_active": active})))
}

/// End every session of a user: refresh tokens stop refreshing and access tokens stop working.
pub(super) async fn revoke_sessions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path_id(&path, "User")?;
    store::revoke_sessions(&state, user_id).await?;
    state.cache.invalidate(&[keys::user_acl(user_id)]).await;
    Ok(HttpResponse::NoContent().finish())
}
