//! Queries, one module per resource. Every statement adds context to its errors and runs inside a
//! timed `db.query` span (`db_query_duration_seconds{query}`), through [`Store`] (the pool and the
//! metrics) or, inside a transaction, [`Tx`]. Constraint violations become API errors in one
//! place, `constraint.rs`.
pub mod admin;
pub mod bulk;
pub mod constraint;
pub mod districts;
pub mod estates;
pub mod houses;
pub mod photos;
pub mod search;
pub mod title_index;
pub mod users;
pub mod versions;

use sqlx::mysql::{MySqlArguments, MySqlConnectOptions, MySqlPoolOptions, MySqlQueryResult, MySqlRow, MySqlSslMode};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{ConnectOptions, Executor, FromRow, MySql, MySqlPool, Transaction};
use std::time::Duration;

use crate::configuration::{DatabaseSettings, DatabaseSslMode};
use crate::error::{ApiError, ResultExt};
use crate::metrics::Metrics;

type SqlResult<T> = Result<T, sqlx::Error>;

/// Datetimes are stored in UTC and rendered as RFC 3339 with a `Z`, as DRF does with USE_TZ.
pub mod iso {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%SZ").map_err(serde::de::Error::custom)
    }
}

/// The narrow handle storage works through: the pool and the metrics its statements are timed in.
#[derive(Clone, Copy)]
pub struct Store<'a> {
    pub pool: &'a MySqlPool,
    pub metrics: &'a Metrics,
}

impl<'a> Store<'a> {
    pub fn new(pool: &'a MySqlPool, metrics: &'a Metrics) -> Self {
        Store { pool, metrics }
    }

    /// Run one statement under `name` (`db_query_duration_seconds{query=name}`, slow-query log).
    pub async fn time<F: std::future::Future>(&self, name: &'static str, statement: F) -> F::Output {
        self.metrics.time_query(name, statement).await
    }

    /// A transaction (REPEATABLE READ, the default) whose statements are timed the same way.
    pub async fn begin(&self) -> Result<Tx<'a>, ApiError> {
        let conn = self.time("begin", self.pool.begin()).await.context_api("Failed to begin a transaction")?;
        Ok(Tx { conn, metrics: self.metrics })
    }
}

/// An open transaction whose statements run timed through its methods (`execute`, `row`,
/// `scalar`, `scalars`); dropped without [`Tx::commit`], it rolls back.
pub struct Tx<'a> {
    pub conn: Transaction<'static, MySql>,
    pub metrics: &'a Metrics,
}

impl Tx<'_> {
    /// Run `q` (INSERT, UPDATE, DELETE, a locking SELECT), timed under `name`.
    pub async fn execute(
        &mut self,
        name: &'static str,
        q: Query<'_, MySql, MySqlArguments>,
    ) -> SqlResult<MySqlQueryResult> {
        self.metrics.time_query(name, q.execute(&mut *self.conn)).await
    }

    /// At most one row of `q`, timed under `name`.
    pub async fn row<O>(&mut self, name: &'static str, q: QueryAs<'_, MySql, O, MySqlArguments>) -> SqlResult<Option<O>>
    where
        O: Send + Unpin + for<'r> FromRow<'r, MySqlRow>,
    {
        self.metrics.time_query(name, q.fetch_optional(&mut *self.conn)).await
    }

    /// Every value of `q`, timed under `name`.
    pub async fn scalars<O>(
        &mut self,
        name: &'static str,
        q: QueryScalar<'_, MySql, O, MySqlArguments>,
    ) -> SqlResult<Vec<O>>
    where
        O: Send + Unpin,
        (O,): Send + Unpin + for<'r> FromRow<'r, MySqlRow>,
    {
        self.metrics.time_query(name, q.fetch_all(&mut *self.conn)).await
    }

    pub async fn commit(self, name: &'static str, what: &'static str) -> Result<(), ApiError> {
        self.metrics.time_query(name, self.conn.commit()).await.context_api(what)
    }
}

/// `sql` followed by `values` as one bound list, `(?, ?, …)`: a statement over a set of ids
/// (`… WHERE id IN `). `values` must not be empty (`IN ()` is a syntax error).
pub fn with_list<'a, T>(sql: &str, values: &'a [T]) -> sqlx::QueryBuilder<'a, MySql>
where
    T: Copy + Send + sqlx::Encode<'a, MySql> + sqlx::Type<MySql> + 'a,
{
    let mut qb = sqlx::QueryBuilder::new(sql);
    qb.push("(");
    let mut list = qb.separated(", ");
    for v in values {
        list.push_bind(*v);
    }
    qb.push(")");
    qb
}

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
