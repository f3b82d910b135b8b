//! The RBAC guard: the matched route pattern and method against the route table's policy
//! (routes/table.rs). Public operations pass; privileged ones need a valid Bearer token whose roles
//! grant the operation (anonymous -> 401, insufficient -> 403); admin operations also need the
//! client IP in `admin.allow_cidrs` and not in `admin.deny_cidrs` (deny wins). Fail closed: a
//! matched route the table does not declare is refused, so a handler mounted outside the table
//! never runs without an access check.
//!
//! A user's roles and privileges are cached (key `acl:user:{id}` in the two-tier cache) and
//! invalidated when an admin changes the user's roles; other replicas' in-process copies expire
//! within `cache.local_ttl_seconds`.
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use serde::{Deserialize, Serialize};

use crate::client_ip::{client_ip, is_trusted};
use crate::error::{ApiError, ResultExt};
use crate::routes::table::{self, Access as Policy};
use crate::routes::{decode, encode};
use crate::state::AppState;

/// The authenticated caller, in the request extensions (`web::ReqData<Principal>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: u32,
    pub roles: Vec<String>,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Access {
    pub roles: Vec<String>,
    /// (method or "*", route pattern or "*")
    pub privileges: Vec<(String, String)>,
}

impl Access {
    pub fn allows(&self, method: &str, route: &str) -> bool {
        self.privileges.iter().any(|(m, r)| (m == "*" || m == method) && (r == "*" || r == route))
    }
}

pub fn acl_key(user_id: u32) -> String {
    format!("acl:user:{user_id}")
}

/// The roles and privileges of an active user (cached).
pub async fn access(state: &AppState, user_id: u32) -> Result<Access, ApiError> {
    let bytes = state
        .cache
        .get_or_load(&acl_key(user_id), || async {
            let rows: Vec<(String, Option<String>, Option<String>)> = state
                .metrics
                .time_query(
                    "acl_user",
                    sqlx::query_as(
                        "SELECT r.name, p.method, p.route FROM users u \
                         JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id \
                         LEFT JOIN role_privileges rp ON rp.role_id = r.id \
                         LEFT JOIN privileges p ON p.id = rp.privilege_id \
                         WHERE u.id = ? AND u.is_active = 1 ORDER BY r.name",
                    )
                    .bind(user_id)
                    .fetch_all(&state.db),
                )
                .await
                .context_api("Failed to load the user's privileges")?;
            let mut access = Access { roles: Vec::new(), privileges: Vec::new() };
            for (role, m, r) in rows {
                if !access.roles.contains(&role) {
                    access.roles.push(role);
                }
                if let (Some(m), Some(r)) = (m, r) {
                    access.privileges.push((m, r));
                }
            }
            encode(&access).map(Some)
        })
        .await?;
    match bytes {
        Some(b) => decode(&b),
        None => Ok(Access { roles: Vec::new(), privileges: Vec::new() }),
    }
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // No matched route: the fallback answers (redirect to the slashed path, or 404).
    let Some(route) = req.match_pattern() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let method = req.method().as_str().to_string();
    let policy = match table::find(&method, &route) {
        Some(endpoint) => endpoint.access,
        // A declared path with another method: the router answers 405 with `Allow`.
        None if table::serves_path(&route) => {
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
    let (user_id, _claims) = state.jwt.validate(token).map_err(ApiError::InvalidToken)?;
    let access = access(state, user_id).await?;
    if !access.allows(method, route) {
        return Err(ApiError::Forbidden("You do not have permission to perform this action.".into()));
    }
    Ok(Principal { user_id, roles: access.roles })
}
