//! The admin API (`/api/admin/*`): roles, role assignment, deactivation and session revocation.
//! The guard already required the `admin` role's privilege and a client IP inside
//! `admin.allow_cidrs`; the writes (and the cached access they drop) are `service::admin`'s.
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::params::path_id;
use crate::domain::admin::{NewRole, UserRoles, UserState};
use crate::error::ApiError;
use crate::service::admin as service;
use crate::state::AppState;
use crate::storage::admin as store;

pub(super) async fn list_roles(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let roles = store::list_roles(state.store()).await?;
    Ok(HttpResponse::Ok().json(json!({"count": roles.len(), "next": null, "previous": null, "results": roles})))
}

pub(super) async fn create_role(
    state: web::Data<AppState>,
    body: web::Json<NewRole>,
) -> Result<HttpResponse, ApiError> {
    let served = |method: &str, route: &str| {
        super::ENDPOINTS.iter().any(|e| e.path == route && (method == "*" || e.method == method))
    };
    let role = service::create_role(&state, body.into_inner().validate(served)?).await?;
    Ok(HttpResponse::Created().json(role))
}

/// Replace a user's roles.
pub(super) async fn set_user_roles(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UserRoles>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path_id(&path, "User")?;
    let names = body.into_inner().names();
    service::set_user_roles(&state, user_id, &names).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": user_id, "roles": names})))
}

/// Activate or deactivate a user.
pub(super) async fn set_user_active(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UserState>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path_id(&path, "User")?;
    let active = body.is_active;
    let username = service::set_user_active(&state, user_id, active).await?;
    Ok(HttpResponse::Ok().json(json!({"id": user_id, "username": username, "is_active": active})))
}

/// End every session of a user.
pub(super) async fn revoke_sessions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path_id(&path, "User")?;
    service::revoke_sessions(&state, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
