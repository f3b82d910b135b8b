//! The admin API's writes and reads (routes/admin.rs validates and answers): roles and their
//! privileges, a user's roles, state and sessions. The rule that the service never loses its last
//! active admin lives here, inside the transactions that could break it.
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldErrors, ResultExt};
use crate::state::AppState;
use crate::storage::users::is_duplicate;

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Privilege {
    pub method: String,
    pub route: String,
}

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
pub async fn list_roles(state: &AppState) -> Result<Vec<Role>, ApiError> {
    let rows: Vec<RoleRow> = state
        .metrics
        .time_query(
            "admin_roles_list",
            sqlx::query_as(
                "SELECT r.id, r.name, r.intro, p.method, p.route FROM roles r \
                 LEFT JOIN role_privileges rp ON rp.role_id = r.id LEFT JOIN privileges p ON p.id = rp.privilege_id \
                 ORDER BY r.id, p.route, p.method",
            )
            .fetch_all(&state.db),
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

/// A new role with its privileges, in one transaction; 409 when the name is taken.
pub async fn create_role(state: &AppState, name: &str, intro: &str, privileges: &[Privilege]) -> Result<u32, ApiError> {
    let mut tx = state.db.begin().await.context_api("Failed to begin a transaction")?;
    let id = match sqlx::query("INSERT INTO roles (name, intro) VALUES (?, ?)")
        .bind(name)
        .bind(intro)
        .execute(&mut *tx)
        .await
    {
        Ok(res) => res.last_insert_id() as u32,
        Err(e) if is_duplicate(&e) => return Err(ApiError::Conflict(format!("Role {name} already exists."))),
        Err(e) => return Err(e).context_api("Failed to insert the role"),
    };
    for p in privileges {
        sqlx::query("INSERT IGNORE INTO privileges (method, route) VALUES (?, ?)")
            .bind(&p.method)
            .bind(&p.route)
            .execute(&mut *tx)
            .await
            .context_api("Failed to insert a privilege")?;
        sqlx::query(
            "INSERT IGNORE INTO role_privileges (role_id, privilege_id) \
             SELECT ?, id FROM privileges WHERE method = ? AND route = ?",
        )
        .bind(id)
        .bind(&p.method)
        .bind(&p.route)
        .execute(&mut *tx)
        .await
        .context_api("Failed to grant a privilege")?;
    }
    tx.commit().await.context_api("Failed to commit the role")?;
    Ok(id)
}

/// Replace a user's roles (one transaction): 404 for an unknown user, 422 naming an unknown role,
/// 409 when it would leave no active admin.
pub async fn set_user_roles(state: &AppState, user_id: u32, names: &[String]) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await.context_api("Failed to begin a transaction")?;
    let exists: Option<u32> = sqlx::query_scalar("SELECT id FROM users WHERE id = ? FOR UPDATE")
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .context_api("Failed to lock the user")?;
    if exists.is_none() {
        return Err(ApiError::not_found("User"));
    }
    let mut ids = Vec::new();
    for name in names {
        let id: Option<u32> = sqlx::query_scalar("SELECT id FROM roles WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .context_api("Failed to look up a role")?;
        match id {
            Some(id) => ids.push(id),
            None => {
                let mut fields = FieldErrors::new();
                fields.insert("roles".into(), vec![format!("Unknown role {name}.")]);
                return Err(ApiError::Unprocessable { message: "A referenced object does not exist.".into(), fields });
            }
        }
    }
    if !names.iter().any(|n| n == "admin") {
        refuse_last_admin(&mut tx, user_id, "the admin role cannot be removed").await?;
    }
    sqlx::query("DELETE FROM user_roles WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .context_api("Failed to clear the user's roles")?;
    for id in ids {
        sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context_api("Failed to grant a role")?;
    }
    tx.commit().await.context_api("Failed to commit the user's roles")?;
    Ok(())
}

/// Never leave the service without an active admin: the admin rows are locked in one order (all
/// of them, this user's included), so two admins demoting or deactivating each other serialize
/// and the second finds itself the last.
async fn refuse_last_admin(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    user_id: u32,
    what: &str,
) -> Result<(), ApiError> {
    let admins: Vec<u32> = sqlx::query_scalar(
        "SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         JOIN users u ON u.id = ur.user_id WHERE r.name = 'admin' AND u.is_active = 1 \
         ORDER BY ur.user_id FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await
    .context_api("Failed to lock the admin role's holders")?;
    if admins.contains(&user_id) && admins.len() == 1 {
        return Err(ApiError::Conflict(format!("This is the last active admin: {what}.")));
    }
    Ok(())
}

/// Activate or deactivate a user (deactivation moves the session epoch); the username, or 404.
/// 409 for deactivating the last active admin.
pub async fn set_user_active(state: &AppState, user_id: u32, active: bool) -> Result<String, ApiError> {
    let mut tx = state.db.begin().await.context_api("Failed to begin a transaction")?;
    let found: Option<(String, i8)> = sqlx::query_as("SELECT username, is_active FROM users WHERE id = ? FOR UPDATE")
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .context_api("Failed to lock the user")?;
    let Some((username, was_active)) = found else { return Err(ApiError::not_found("User")) };
    if (was_active != 0) != active {
        if !active {
            refuse_last_admin(&mut tx, user_id, "it cannot be deactivated").await?;
        }
        sqlx::query("UPDATE users SET is_active = ?, session_epoch = session_epoch + IF(? = 0, 1, 0) WHERE id = ?")
            .bind(active)
            .bind(active)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .context_api("Failed to update the user")?;
    }
    tx.commit().await.context_api("Failed to commit the user")?;
    Ok(username)
}

/// Move a user's session epoch (every token issued before stops working); 404 for an unknown user.
pub async fn revoke_sessions(state: &AppState, user_id: u32) -> Result<(), ApiError> {
    let res = state
        .metrics
        .time_query(
            "admin_revoke_sessions",
            sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?")
                .bind(user_id)
                .execute(&state.db),
        )
        .await
        .context_api("Failed to revoke the user's sessions")?;
    if res.rows_affected() == 0 {
        return Err(ApiError::not_found("User"));
    }
    Ok(())
}
