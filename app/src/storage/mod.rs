//! Queries, one module per resource. Every function adds context to its errors and runs inside a
//! timed `db.query` span (`db_query_duration_seconds{query}`).
pub mod admin;
pub mod bulk;
pub mod districts;
pub mod estates;
pub mod houses;
pub mod search;
pub mod users;
pub mod writes;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode};
use sqlx::{ConnectOptions, Executor, MySqlPool};
use std::time::Duration;

use crate::configuration::{DatabaseSettings, DatabaseSslMode};

pub fn connect_options(s: &DatabaseSettings) -> MySqlConnectOptions {
    let mode = match s.ssl_mode {
        DatabaseSslMode::Disabled => MySqlSslMode::Disabled,
        DatabaseSslMode::Preferred => MySqlSslMode::Preferred,
        DatabaseSslMode::Required => MySqlSslMode::Required,
        DatabaseSslMode::VerifyCa => MySqlSslMode::VerifyCa,
        DatabaseSslMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
    };
    let opts = MySqlConnectOptions::new()
        .host(&s.host)
        .port(s.port)
        .username(&s.username)
        .password(s.password.expose())
        .database(&s.name)
        .charset("utf8mb4")
        .ssl_mode(mode)
        // sqlx would log every statement's whole text (at DEBUG, slow ones at WARN, pretty-printed
        // first): Metrics::time_query logs slow queries by name instead.
        .disable_statement_logging();
    if s.ssl_ca.is_empty() {
        opts
    } else {
        opts.ssl_ca(&s.ssl_ca)
    }
}

/// A lazily connecting pool: the service starts (and reports not-ready) while the database is down.
pub fn pool(s: &DatabaseSettings) -> MySqlPool {
    let statement_timeout = s.statement_timeout_ms as f64 / 1000.0;
    MySqlPoolOptions::new()
        .max_connections(s.max_connections)
        .min_connections(s.min_connections)
        .acquire_timeout(Duration::from_millis(s.acquire_timeout_ms))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // MariaDB aborts any statement running longer than this (MariaDB's
                // max_statement_time; the default 0 means no limit).
                conn.execute(format!("SET SESSION max_statement_time = {statement_timeout}").as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy_with(connect_options(s))
}

/// Create the configured database when it does not exist (for `migrate` and tests).
pub async fn ensure_database(s: &DatabaseSettings) -> anyhow::Result<()> {
    use anyhow::Context;
    use sqlx::Connection;
    let mut opts = connect_options(s);
    opts = opts.database("information_schema");
    let mut conn = sqlx::MySqlConnection::connect_with(&opts).await.context("Failed to connect to MariaDB")?;
    let name = s.name.replace('`', "``");
    conn.execute(
        format!("CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").as_str(),
    )
    .await
    .context("Failed to create the database")?;
    Ok(())
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
