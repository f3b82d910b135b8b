//! Who the caller is and what their roles allow: the authenticated `Principal` the guard puts in
//! the request extensions, and a user's roles and privileges (`Access`), cached under
//! `acl:user:{id}` in the two-tier cache and invalidated when an admin changes the user's roles
//! (other replicas' in-process copies expire within `cache.local_ttl_seconds`).
use serde::{Deserialize, Serialize};

use crate::cache::{decode, encode, keys};
use crate::error::{ApiError, ResultExt};
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

/// The roles and privileges of an active user (cached).
pub async fn access(state: &AppState, user_id: u32) -> Result<Access, ApiError> {
    let bytes = state
        .cache
        .get_or_load(&keys::user_acl(user_id), || async {
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
