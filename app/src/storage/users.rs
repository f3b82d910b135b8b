//! Account queries.
use chrono::NaiveDateTime;
use serde::Serialize;

use crate::error::{ApiError, ResultExt};
use crate::state::AppState;

pub async fn exists(state: &AppState, username: &str, tel: &str) -> Result<bool, ApiError> {
    let n: i64 = state
        .metrics
        .time_query(
            "users_exists",
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = ? OR tel = ?")
                .bind(username)
                .bind(tel)
                .fetch_one(&state.db),
        )
        .await
        .context_api("Failed to look up users")?;
    Ok(n > 0)
}

pub fn is_duplicate(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23000") && d.message().contains("Duplicate"))
}

/// The user row and the default role, in one transaction.
pub async fn create(state: &AppState, username: &str, password_hash: &str, tel: &str) -> Result<u64, ApiError> {
    let mut tx = state.db.begin().await.context_api("Failed to begin a transaction")?;
    let res = sqlx::query("INSERT INTO users (username, password_hash, tel) VALUES (?, ?, ?)")
        .bind(username)
        .bind(password_hash)
        .bind(tel)
        .execute(&mut *tx)
        .await;
    let id = match res {
        Ok(r) => r.last_insert_id(),
        Err(e) if is_duplicate(&e) => {
            return Err(ApiError::Conflict("A user with this username or tel already exists.".into()))
        }
        Err(e) => return Err(e).context_api("Failed to insert the user"),
    };
    sqlx::query("INSERT INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE name = 'user'")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context_api("Failed to give the user the default role")?;
    tx.commit().await.context_api("Failed to commit the new user")?;
    Ok(id)
}

/// (id, password hash) of the active user with this username or tel.
pub async fn find_for_login(state: &AppState, login: &str) -> Result<Option<(u32, String)>, ApiError> {
    state
        .metrics
        .time_query(
            "users_login",
            sqlx::query_as(
                "SELECT id, password_hash FROM users WHERE (username = ? OR tel = ?) AND is_active = 1 LIMIT 1",
            )
            .bind(login)
            .bind(login)
            .fetch_optional(&state.db),
        )
        .await
        .context_api("Failed to look up the account")
}

/// The id of the active user with this tel (SMS-code login).
pub async fn find_active_by_tel(state: &AppState, tel: &str) -> Result<Option<u32>, ApiError> {
    state
        .metrics
        .time_query(
            "users_login_tel",
            sqlx::query_scalar("SELECT id FROM users WHERE tel = ? AND is_active = 1")
                .bind(tel)
                .fetch_optional(&state.db),
        )
        .await
        .context_api("Failed to look up the account")
}

/// (is_active, session_epoch) straight from the database (refresh checks it; no cache).
pub async fn session_state(state: &AppState, user_id: u32) -> Result<Option<(bool, u32)>, ApiError> {
    let row: Option<(i8, u32)> = state
        .metrics
        .time_query(
            "users_session",
            sqlx::query_as("SELECT is_active, session_epoch FROM users WHERE id = ?")
                .bind(user_id)
                .fetch_optional(&state.db),
        )
        .await
        .context_api("Failed to check the account")?;
    Ok(row.map(|(active, epoch)| (active != 0, epoch)))
}

/// The login log row and `last_visit`, in one transaction.
pub async fn record_login(state: &AppState, user_id: u32, ip: &str, user_agent: &str) -> Result<(), ApiError> {
    let ua: String = user_agent.chars().take(255).collect();
    let mut tx = state.db.begin().await.context_api("Failed to begin a transaction")?;
    sqlx::query("INSERT INTO login_logs (user_id, ip, user_agent, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP())")
        .bind(user_id)
        .bind(ip)
        .bind(ua)
        .execute(&mut *tx)
        .await
        .context_api("Failed to write the login log")?;
    sqlx::query("UPDATE users SET last_visit = UTC_TIMESTAMP() WHERE id = ?")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .context_api("Failed to update last_visit")?;
    tx.commit().await.context_api("Failed to commit the login")
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

pub async fn profile(state: &AppState, user_id: u32) -> Result<Option<Profile>, ApiError> {
    state
        .metrics
        .time_query(
            "users_get",
            sqlx::query_as("SELECT id, username, tel, realname, email, last_visit FROM users WHERE id = ?")
                .bind(user_id)
                .fetch_optional(&state.db),
        )
        .await
        .context_api("Failed to fetch the user")
}
