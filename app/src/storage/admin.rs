//! The admin API's reads and writes (the writes inside the transaction `service::admin` opens):
//! roles and their privileges, a user's roles, state and sessions. The rule that the service
//! never loses its last active admin lives here, inside the transactions that could break it.
use serde::Serialize;

use super::constraint::{on_constraint, Meaning, OnConstraint};
use super::{Store, Tx};
use crate::domain::admin::Privilege;
use crate::error::{ApiError, ResultExt};

/// What the roles' keys mean to the API.
const ON_CONSTRAINT: OnConstraint = &[("uq_roles_name", Meaning::Conflict("Role {value} already exists."))];

#[derive(Serialize)]
pub struct Role {
    pub id: u32,
    pub name: String,
    pub intro: String,
    pub privileges: Vec<Privilege>,
}

/// (role id, name, intro, privilege method, privilege route)
type RoleRow = (u32, String, String, Option<String>, Option<String>);

/// Every role with its privileges, by id.
pub async fn list_roles(store: Store<'_>) -> Result<Vec<Role>, ApiError> {
    let rows: Vec<RoleRow> = store
        .time(
            "admin_roles_list",
            sqlx::query_as(
                "SELECT r.id, r.name, r.intro, p.method, p.route FROM roles r \
                 LEFT JOIN role_privileges rp ON rp.role_id = r.id LEFT JOIN privileges p ON p.id = rp.privilege_id \
                 ORDER BY r.id, p.route, p.method",
            )
            .fetch_all(store.pool),
        )
        .await
        .context_api("Failed to list roles")?;
    let mut roles: Vec<Role> = Vec::new();
    for (id, name, intro, method, route) in rows {
        if roles.last().map(|r| r.id) != Some(id) {
            roles.push(Role { id, name, intro, privileges: Vec::new() });
        }
        if let (Some(method), Some(route), Some(role)) = (method, route, roles.last_mut()) {
            role.privileges.push(Privilege { method, route });
        }
    }
    Ok(roles)
}

/// A new role with its privileges; 409 when the name is taken.
pub async fn create_role(tx: &mut Tx<'_>, name: &str, intro: &str, privileges: &[Privilege]) -> Result<u32, ApiError> {
    let insert = sqlx::query("INSERT INTO roles (name, intro) VALUES (?, ?)").bind(name).bind(intro);
    let id = tx
        .execute("admin_role_insert", insert)
        .await
        .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to insert the role"))?
        .last_insert_id() as u32;
    for p in privileges {
        let privilege = sqlx::query("INSERT IGNORE INTO privileges (method, route) VALUES (?, ?)");
        let privilege = privilege.bind(&p.method).bind(&p.route);
        tx.execute("admin_privilege_insert", privilege).await.context_api("Failed to insert a privilege")?;
        let grant = sqlx::query(
            "INSERT IGNORE INTO role_privileges (role_id, privilege_id) \
             SELECT ?, id FROM privileges WHERE method = ? AND route = ?",
        );
        let grant = grant.bind(id).bind(&p.method).bind(&p.route);
        tx.execute("admin_role_grant", grant).await.context_api("Failed to grant a privilege")?;
    }
    Ok(id)
}

/// Lock a user's row: (username, is_active), or 404.
async fn lock_user(tx: &mut Tx<'_>, user_id: u32) -> Result<(String, bool), ApiError> {
    let lock = sqlx::query_as("SELECT username, is_active FROM users WHERE id = ? FOR UPDATE").bind(user_id);
    let found: Option<(String, i8)> = tx.row("admin_user_lock", lock).await.context_api("Failed to lock the user")?;
    found.map(|(name, active)| (name, active != 0)).ok_or_else(|| ApiError::not_found("User"))
}

/// Replace a user's roles: 404 for an unknown user, 422 naming an unknown role, 409 when it
/// would leave no active admin.
pub async fn set_user_roles(tx: &mut Tx<'_>, user_id: u32, names: &[String]) -> Result<(), ApiError> {
    lock_user(tx, user_id).await?;
    let mut ids = Vec::new();
    for name in names {
        let role = sqlx::query_as("SELECT id FROM roles WHERE name = ?").bind(name);
        let id: Option<(u32,)> = tx.row("admin_role_by_name", role).await.context_api("Failed to look up a role")?;
        ids.push(
            id.map(|(id,)| id).ok_or_else(|| ApiError::unknown_reference("roles", format!("Unknown role {name}.")))?,
        );
    }
    if !names.iter().any(|n| n == "admin") {
        refuse_last_admin(tx, user_id, "the admin role cannot be removed").await?;
    }
    let clear = sqlx::query("DELETE FROM user_roles WHERE user_id = ?").bind(user_id);
    tx.execute("admin_user_roles_clear", clear).await.context_api("Failed to clear the user's roles")?;
    for id in ids {
        let grant = sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)").bind(user_id).bind(id);
        tx.execute("admin_user_role_grant", grant).await.context_api("Failed to grant a role")?;
    }
    Ok(())
}

/// Never leave the service without an active admin: the admin rows are locked in one order (all
/// of them, this user's included), so two admins demoting or deactivating each other serialize
/// and the second finds itself the last.
async fn refuse_last_admin(tx: &mut Tx<'_>, user_id: u32, what: &str) -> Result<(), ApiError> {
    let lock = sqlx::query_scalar(
        "SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         JOIN users u ON u.id = ur.user_id WHERE r.name = 'admin' AND u.is_active = 1 \
         ORDER BY ur.user_id FOR UPDATE",
    );
    let admins: Vec<u32> =
        tx.scalars("admin_holders_lock", lock).await.context_api("Failed to lock the admin role's holders")?;
    if admins.contains(&user_id) && admins.len() == 1 {
        return Err(ApiError::Conflict(format!("This is the last active admin: {what}.")));
    }
    Ok(())
}

/// Activate or deactivate a user (deactivation moves the session epoch); the username, or 404.
/// 409 for deactivating the last active admin.
pub async fn set_user_active(tx: &mut Tx<'_>, user_id: u32, active: bool) -> Result<String, ApiError> {
    let (username, was_active) = lock_user(tx, user_id).await?;
    if was_active != active {
        if !active {
            refuse_last_admin(tx, user_id, "it cannot be deactivated").await?;
        }
        let update =
            sqlx::query("UPDATE users SET is_active = ?, session_epoch = session_epoch + IF(? = 0, 1, 0) WHERE id = ?");
        let update = update.bind(active).bind(active).bind(user_id);
        tx.execute("admin_user_state", update).await.context_api("Failed to update the user")?;
    }
    Ok(username)
}

/// Move a user's session epoch (every token issued before stops working); 404 for an unknown user.
pub async fn revoke_sessions(store: Store<'_>, user_id: u32) -> Result<(), ApiError> {
    let q = sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?").bind(user_id);
    let res = store
        .time("admin_revoke_sessions", q.execute(store.pool))
        .await
        .context_api("Failed to revoke the user's sessions")?;
    if res.rows_affected() == 0 {
        return Err(ApiError::not_found("User"));
    }
    Ok(())
}
