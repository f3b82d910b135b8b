//! Account queries.
use chrono::NaiveDateTime;
use serde::Serialize;

use super::constraint::{on_constraint, Meaning, OnConstraint};
use super::Store;
use crate::error::{ApiError, ResultExt};

pub async fn exists(store: Store<'_>, username: &str, tel: &str) -> Result<bool, ApiError> {
    let q = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = ? OR tel = ?").bind(username).bind(tel);
    let n: i64 = store.time("users_exists", q.fetch_one(store.pool)).await.context_api("Failed to look up users")?;
    Ok(n > 0)
}

/// What the users' keys mean to the API.
const ON_CONSTRAINT: OnConstraint =
    &[("uq_users_username", Meaning::Conflict(TAKEN)), ("uq_users_tel", Meaning::Conflict(TAKEN))];
const TAKEN: &str = "A user with this username or tel already exists.";

/// The user row and the default role, in one transaction; 409 when the username or tel is taken.
pub async fn create(store: Store<'_>, username: &str, password_hash: &str, tel: &str) -> Result<u64, ApiError> {
    let mut tx = store.begin().await?;
    let insert = sqlx::query("INSERT INTO users (username, password_hash, tel) VALUES (?, ?, ?)");
    let id = tx
        .execute("users_insert", insert.bind(username).bind(password_hash).bind(tel))
        .await
        .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to insert the user"))?
        .last_insert_id();
    let role = sqlx::query("INSERT INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE name = 'user'");
    tx.execute("users_default_role", role.bind(id)).await.context_api("Failed to give the user the default role")?;
    tx.commit("users_commit", "Failed to commit the new user").await?;
    Ok(id)
}

/// (id, password hash) of the active user with this username or tel.
pub async fn find_for_login(store: Store<'_>, login: &str) -> Result<Option<(u32, String)>, ApiError> {
    let q =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE (username = ? OR tel = ?) AND is_active = 1 LIMIT 1");
    let q = q.bind(login).bind(login);
    store.time("users_login", q.fetch_optional(store.pool)).await.context_api("Failed to look up the account")
}

/// The id of the active user with this tel (SMS-code login).
pub async fn find_active_by_tel(store: Store<'_>, tel: &str) -> Result<Option<u32>, ApiError> {
    let q = sqlx::query_scalar("SELECT id FROM users WHERE tel = ? AND is_active = 1").bind(tel);
    store.time("users_login_tel", q.fetch_optional(store.pool)).await.context_api("Failed to look up the account")
}

/// (is_active, session_epoch) straight from the database (refresh checks it; no cache).
pub async fn session_state(store: Store<'_>, user_id: u32) -> Result<Option<(bool, u32)>, ApiError> {
    let q = sqlx::query_as("SELECT is_active, session_epoch FROM users WHERE id = ?").bind(user_id);
    let row: Option<(i8, u32)> =
        store.time("users_session", q.fetch_optional(store.pool)).await.context_api("Failed to check the account")?;
    Ok(row.map(|(active, epoch)| (active != 0, epoch)))
}

/// The login log row and `last_visit`, in one transaction.
pub async fn record_login(store: Store<'_>, user_id: u32, ip: &str, user_agent: &str) -> Result<(), ApiError> {
    let ua: String = user_agent.chars().take(255).collect();
    let mut tx = store.begin().await?;
    let log =
        sqlx::query("INSERT INTO login_logs (user_id, ip, user_agent, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP())");
    let log = log.bind(user_id).bind(ip).bind(ua);
    tx.execute("users_login_log", log).await.context_api("Failed to write the login log")?;
    let visit = sqlx::query("UPDATE users SET last_visit = UTC_TIMESTAMP() WHERE id = ?").bind(user_id);
    tx.execute("users_last_visit", visit).await.context_api("Failed to update last_visit")?;
    tx.commit("users_commit", "Failed to commit the login").await
}

#[derive(Serialize, sqlx::FromRow)]
pub struct Profile {
    pub id: u32,
    pub username: String,
    pub tel: String,
    pub realname: String,
    pub email: String,
    #[serde(with = "opt_iso")]
    pub last_visit: Option<NaiveDateTime>,
}

mod opt_iso {
    use chrono::NaiveDateTime;
    use serde::Serializer;
    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            None => s.serialize_none(),
        }
    }
}

pub async fn profile(store: Store<'_>, user_id: u32) -> Result<Option<Profile>, ApiError> {
    let q = sqlx::query_as("SELECT id, username, tel, realname, email, last_visit FROM users WHERE id = ?");
    store.time("users_get", q.bind(user_id).fetch_optional(store.pool)).await.context_api("Failed to fetch the user")
}
