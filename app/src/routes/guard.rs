//! The RBAC guard: the matched route pattern and method against the route table's policy
//! (routes/mod.rs). Public operations pass; privileged ones need a valid Bearer token whose roles
//! grant the operation (anonymous, deactivated, deleted or revoked -> 401, insufficient -> 403); admin operations also need the
//! client IP in `admin.allow_cidrs` and not in `admin.deny_cidrs` (deny wins). Fail closed: a
//! matched route the table does not declare is refused, so a handler mounted outside the table
//! never runs without an access check.
//! The caller's roles and privileges come from `crate::access` (cached per user).
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::Policy;
use crate::access::{access, Principal};
use crate::client_ip::{client_ip, is_trusted};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // No matched route: the fallback answers (redirect to the slashed path, or 404).
    let Some(route) = req.match_pattern() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let method = req.method().as_str().to_string();
    let policy = match super::find(&method, &route) {
        Some(endpoint) => endpoint.policy,
        // A declared path with another method: the router answers 405 with `Allow`.
        None if super::serves_path(&route) => {
            return next.call(req).await.map(ServiceResponse::map_into_left_body);
        }
        None => {
            tracing::error!(%method, %route, "refused: the route is mounted but not declared in the route table");
            let e = ApiError::Forbidden("This operation is not declared in the route table.".into());
            return Ok(req.into_response(e.error_response()).map_into_right_body());
        }
    };
    if policy == Policy::Public {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let e = ApiError::Internal(anyhow::anyhow!("the RBAC guard found no application state"));
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    };
    // The privilege checked: the operation's own, or the one it borrows.
    let (method, route) = match policy {
        Policy::PrivilegeOf(m, r) => (m.to_string(), r.to_string()),
        _ => (method, route),
    };
    match authorize(&state, &req, &method, &route, policy == Policy::AdminPrivilege).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

async fn authorize(
    state: &AppState,
    req: &ServiceRequest,
    method: &str,
    route: &str,
    admin_network: bool,
) -> Result<Principal, ApiError> {
    if admin_network {
        let admin = &state.settings.admin;
        let ip = client_ip(req.request(), &state.settings.application.trusted_proxies);
        let allowed = ip.map(|ip| is_trusted(ip, &admin.allow_cidrs) && !is_trusted(ip, &admin.deny_cidrs));
        if allowed != Some(true) {
            return Err(ApiError::Forbidden("The admin API is not reachable from this network.".into()));
        }
    }
    let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized("Authentication credentials were not provided.".into()));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::InvalidToken("Malformed Authorization header; expected: Bearer <token>.".into()))?;
    let (user_id, claims) = state.jwt.validate(token).map_err(ApiError::InvalidToken)?;
    let access = access(state, user_id).await?;
    // A valid signature is not enough: the account must still exist, be active, and not have had
    // its sessions revoked since the token was issued.
    if !access.active {
        return Err(ApiError::InvalidToken("This account is inactive or no longer exists.".into()));
    }
    if claims.sep != access.session_epoch {
        return Err(ApiError::InvalidToken("This session has been revoked; sign in again.".into()));
    }
    if !access.allows(method, route) {
        return Err(ApiError::Forbidden("You do not have permission to perform this action.".into()));
    }
    Ok(Principal { user_id, roles: access.roles })
}
