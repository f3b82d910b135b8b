//! HTTP routes: this file is the route table — every operation the service answers, with its
//! access policy and handler — and mounts it; one module of handlers per resource below.
//! Mounting, the 405 `Allow` lists, the RBAC guard (`guard`), the admin API's privilege checks and
//! the OpenAPI consistency test all read the table, so an operation cannot be served without a
//! declared policy: the guard refuses any matched route that is not here (fail closed).
pub mod accounts;
pub mod admin;
pub mod districts;
pub mod estates;
pub mod fallback;
pub mod guard;
pub mod health;
pub mod houses;
pub mod openapi;
pub mod pages;
pub mod params;
pub mod photos;
pub mod preconditions;

use actix_web::{web, Route};

use fallback::method_not_allowed;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, no token (reads, sign-up, login, probes).
    Public,
    /// A valid Bearer token whose roles grant this (method, route) in `role_privileges`.
    Privilege,
    /// As `Privilege`, and only from `admin.allow_cidrs` (not `admin.deny_cidrs`).
    AdminPrivilege,
    /// As `Privilege` for another operation (method, route): a house's photos are changed by
    /// whoever may edit the house, without privileges of their own to seed and keep in step.
    PrivilegeOf(&'static str, &'static str),
}

/// One operation: method, route pattern (actix syntax, as `match_pattern()` reports it), policy and
/// the handler's route.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub policy: Policy,
    route: fn() -> Route,
}

use Policy::{AdminPrivilege, Privilege, PrivilegeOf, Public};

/// Who may change a house's photos: whoever may edit the house (and then only their own house).
const HOUSE_EDIT: Policy = PrivilegeOf("PATCH", "/api/houses/{id}/");

macro_rules! endpoint {
    ($method:ident $path:literal, $access:expr, $handler:path) => {
        Endpoint { method: stringify!($method), path: $path, policy: $access, route: || endpoint!(@verb $method).to($handler) }
    };
    (@verb GET) => { web::get() };
    (@verb POST) => { web::post() };
    (@verb PUT) => { web::put() };
    (@verb PATCH) => { web::patch() };
    (@verb DELETE) => { web::delete() };
}

pub static ENDPOINTS: &[Endpoint] = &[
    endpoint!(GET "/healthz", Public, health::healthz),
    endpoint!(GET "/readyz", Public, health::readyz),
    endpoint!(GET "/metrics", Public, health::metrics),
    endpoint!(GET "/openapi.json", Public, openapi::document),
    endpoint!(GET "/api/districts/", Public, districts::list),
    endpoint!(GET "/api/districts/{id}/", Public, districts::detail),
    endpoint!(GET "/api/hot-cities/", Public, districts::hot_cities),
    endpoint!(GET "/api/estates/", Public, estates::list),
    endpoint!(POST "/api/estates/", Privilege, estates::create),
    endpoint!(GET "/api/estates/{id}/", Public, estates::detail),
    endpoint!(PUT "/api/estates/{id}/", Privilege, estates::edit::<true>),
    endpoint!(PATCH "/api/estates/{id}/", Privilege, estates::edit::<false>),
    endpoint!(DELETE "/api/estates/{id}/", Privilege, estates::delete),
    endpoint!(GET "/api/houses/", Public, houses::list),
    endpoint!(POST "/api/houses/", Privilege, houses::create),
    endpoint!(GET "/api/houses/{id}/", Public, houses::detail),
    endpoint!(PATCH "/api/houses/{id}/", Privilege, houses::patch),
    endpoint!(DELETE "/api/houses/{id}/", Privilege, houses::delete),
    endpoint!(GET "/api/houses/{id}/photos/", Public, photos::list),
    endpoint!(POST "/api/houses/{id}/photos/", HOUSE_EDIT, photos::upload),
    endpoint!(GET "/api/houses/{id}/photos/{pid}/", Public, photos::detail),
    endpoint!(PATCH "/api/houses/{id}/photos/{pid}/", HOUSE_EDIT, photos::patch),
    endpoint!(DELETE "/api/houses/{id}/photos/{pid}/", HOUSE_EDIT, photos::delete),
    endpoint!(GET "/media/derived/{uuid}/{file}", Public, photos::media),
    endpoint!(POST "/api/mobile-codes/{tel}/", Public, accounts::send_code),
    endpoint!(POST "/api/users/", Public, accounts::register),
    endpoint!(GET "/api/users/me/", Privilege, accounts::me),
    endpoint!(POST "/api/tokens/", Public, accounts::login),
    endpoint!(POST "/api/tokens/refresh/", Public, accounts::refresh),
    endpoint!(POST "/api/tokens/revoke/", Public, accounts::revoke),
    endpoint!(GET "/api/admin/roles/", AdminPrivilege, admin::list_roles),
    endpoint!(POST "/api/admin/roles/", AdminPrivilege, admin::create_role),
    endpoint!(PUT "/api/admin/users/{id}/roles/", AdminPrivilege, admin::set_user_roles),
    endpoint!(PATCH "/api/admin/users/{id}/", AdminPrivilege, admin::set_user_active),
    endpoint!(POST "/api/admin/users/{id}/revoke-sessions/", AdminPrivilege, admin::revoke_sessions),
];

/// The declared operation for a method and a matched route pattern.
pub fn find(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.method == method && e.path == path)
}

/// Whether any operation is declared on this route pattern (another method then gets a 405).
pub fn serves_path(path: &str) -> bool {
    ENDPOINTS.iter().any(|e| e.path == path)
}

/// Mount every path once, with its methods and a 405 naming exactly the declared ones.
pub fn config(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for e in ENDPOINTS {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        let mut allowed = Vec::new();
        for e in ENDPOINTS.iter().filter(|e| e.path == path) {
            resource = resource.route((e.route)());
            allowed.push(e.method);
        }
        cfg.service(resource.default_service(method_not_allowed(allowed)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_declared_once() {
        for (i, e) in ENDPOINTS.iter().enumerate() {
            assert!(
                ENDPOINTS[i + 1..].iter().all(|o| (o.method, o.path) != (e.method, e.path)),
                "{} {} declared twice",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn only_admin_paths_are_admin_only_and_every_admin_path_is() {
        for e in ENDPOINTS {
            assert_eq!(e.path.starts_with("/api/admin/"), e.policy == AdminPrivilege, "{} {}", e.method, e.path);
        }
    }
}
