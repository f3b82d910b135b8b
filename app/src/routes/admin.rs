//! The admin API (`/api/admin/*`): roles, role assignment, deactivation and session revocation.
//! The guard already required the `admin` role's privilege and a client IP inside
//! `admin.allow_cidrs`. Every change to a user drops their cached access, which the guard reads
//! from Redis on every request: it holds on every replica from the next request on.
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cache::keys;
use crate::domain::query::path_id;
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
struct Role {
    id: u32,
    name: String,
    intro: String,
    privileges: Vec<Privilege>,
}

/// (role id, name, intro, privilege method, privilege route)
type RoleRow = (u32, String, String, Option<String>, Option<String>);

pub(super) async fn list_roles(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows: Vec<RoleRow> = sqlx::query_as(
        "SELECT r.id, r.name, r.intro, p.method, p.route FROM roles r \
         LEFT JOIN role_privileges rp ON rp.role_id = r.id LEFT JOIN privileges p ON p.id = rp.privilege_id \
         ORDER BY r.id, p.route, p.method",
    )
    .fetch_all(&state.db)
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
    let mut tx = state.db.begin().await.context_api("Failed to begin a transaction")?;
    let id = match sqlx::query("INSERT INTO roles (name, intro) VALUES (?, ?)")
        .bind(&r.name)
        .bind(&r.intro)
        .execute(&mut *tx)
        .await
    {
        Ok(res) => res.last_insert_id() as u32,
        Err(e) if is_duplicate(&e) => return Err(ApiError::Conflict(format!("Role {} already exists.", r.name))),
        Err(e) => return Err(e).context_api("Failed to insert the role"),
    };
    for p in &r.privileges {
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
    for name in &names {
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
    state.cache.invalidate(&[keys::user_acl(user_id)]).await;
    Ok(HttpResponse::Ok().json(json!({"user_id": user_id, "roles": names})))
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
    state.cache.invalidate(&[keys::user_acl(user_id)]).await;
    Ok(HttpResponse::Ok().json(json!({"id": user_id, "username": username, "is_active": active})))
}

/// End every session of a user: refresh tokens stop refreshing and access tokens stop working.
pub(super) async fn revoke_sessions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path_id(&path, "User")?;
    let res = sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?")
        .bind(user_id)
        .execute(&state.db)
        .await
        .context_api("Failed to revoke the user's sessions")?;
    if res.rows_affected() == 0 {
        return Err(ApiError::not_found("User"));
    }
    state.cache.invalidate(&[keys::user_acl(user_id)]).await;
    Ok(HttpResponse::NoContent().finish())
}
