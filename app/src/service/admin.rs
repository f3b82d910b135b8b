//! The admin API's writes: a new role, a user's roles, a user's state, a user's sessions. Every
//! change to a user drops their cached access (`cache::keys::user_acl`), which the guard reads
//! from Redis on every request: it holds on every replica from the next request on.
use super::written;
use crate::cache::keys;
use crate::domain::admin::NewRole;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::admin::{self as store, Role};

/// A role with its privileges, in one transaction; 409 when the name is taken.
pub async fn create_role(state: &AppState, r: NewRole) -> Result<Role, ApiError> {
    let mut tx = state.store().begin().await?;
    let id = store::create_role(&mut tx, &r.name, &r.intro, &r.privileges).await?;
    tx.commit("admin_role_commit", "Failed to commit the role").await?;
    Ok(Role { id, name: r.name, intro: r.intro, privileges: r.privileges })
}

/// Replace a user's roles (one transaction).
pub async fn set_user_roles(state: &AppState, user_id: u32, names: &[String]) -> Result<(), ApiError> {
    let mut tx = state.store().begin().await?;
    store::set_user_roles(&mut tx, user_id, names).await?;
    tx.commit("admin_user_commit", "Failed to commit the user's roles").await?;
    written(state, &[], &[keys::user_acl(user_id)]).await;
    Ok(())
}

/// Activate or deactivate a user: their username. Deactivation also ends every session at once
/// (the session epoch moves, so access tokens already issued stop working too).
pub async fn set_user_active(state: &AppState, user_id: u32, active: bool) -> Result<String, ApiError> {
    let mut tx = state.store().begin().await?;
    let username = store::set_user_active(&mut tx, user_id, active).await?;
    tx.commit("admin_user_commit", "Failed to commit the user").await?;
    written(state, &[], &[keys::user_acl(user_id)]).await;
    Ok(username)
}

/// End every session of a user: refresh tokens stop refreshing and access tokens stop working.
pub async fn revoke_sessions(state: &AppState, user_id: u32) -> Result<(), ApiError> {
    store::revoke_sessions(state.store(), user_id).await?;
    written(state, &[], &[keys::user_acl(user_id)]).await;
    Ok(())
}
