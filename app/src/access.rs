//! Who the caller is and what their roles allow: the authenticated `Principal` the guard puts in
//! the request extensions, and a user's state, roles and privileges (`Access`), cached under
//! `acl:v2:user:{id}` in Redis only (no in-process copy) and invalidated by every change an admin
//! makes to the user (roles, deactivation, session revocation): the next request on any replica
//! sees it.
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
    /// The account exists and is active (false: deleted or deactivated; no roles then).
    #[serde(default)]
    pub active: bool,
    /// `users.session_epoch`: tokens issued under an older one are refused.
    #[serde(default)]
    pub session_epoch: u32,
    pub roles: Vec<String>,
    /// (method or "*", route pattern or "*")
    pub privileges: Vec<(String, String)>,
}

impl Access {
    pub fn allows(&self, method: &str, route: &str) -> bool {
        self.privileges.iter().any(|(m, r)| (m == "*" || m == method) && (r == "*" || r == route))
    }
}

/// (session epoch, role, privilege method, privilege route)
type AclRow = (u32, Option<String>, Option<String>, Option<String>);

/// The state, roles and privileges of a user (cached in Redis; inactive or unknown: `active: false`).
pub async fn access(state: &AppState, user_id: u32) -> Result<Access, ApiError> {
    let bytes = state
        .cache
        .get_or_load_shared(&keys::user_acl(user_id), || async {
            let rows: Vec<AclRow> = state
                .metrics
                .time_query(
                    "acl_user",
                    sqlx::query_as(
                        "SELECT u.session_epoch, r.name, p.method, p.route FROM users u \
                         LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id \
                         LEFT JOIN role_privileges rp ON rp.role_id = r.id \
                         LEFT JOIN privileges p ON p.id = rp.privilege_id \
                         WHERE u.id = ? AND u.is_active = 1 ORDER BY r.name",
                    )
                    .bind(user_id)
                    .fetch_all(&state.db),
                )
                .await
                .context_api("Failed to load the user's privileges")?;
            let mut access =
                Access { active: !rows.is_empty(), session_epoch: 0, roles: Vec::new(), privileges: Vec::new() };
            for (epoch, role, m, r) in rows {
                access.session_epoch = epoch;
                let Some(role) = role else { continue };
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
        None => Ok(Access { active: false, session_epoch: 0, roles: Vec::new(), privileges: Vec::new() }),
    }
}
