//! Command line: `zufang [serve|migrate|seed|check-config|healthcheck|create-user|worker|jobs]`.
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::configuration::Settings;
use crate::seed::Scale;

#[derive(Debug, Parser)]
#[command(name = "zufang", version, about = "zufang rental-listings API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Load deterministic seed data (skipped when the database already has data).
    Seed {
        #[arg(long, value_enum, default_value = "small")]
        scale: Scale,
    },
    /// The title search index (house_title_grams).
    Search {
        #[command(subcommand)]
        action: SearchAction,
    },
    /// Print the effective configuration (secrets redacted) and exit non-zero if it is invalid.
    CheckConfig,
    /// Create (or re-role) an account, e.g. the first admin. The password is read from the
    /// environment variable ZUFANG_NEW_USER_PASSWORD, never from the command line.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        tel: String,
        /// Roles to grant (admin, agent, user); repeat the flag for several.
        #[arg(long = "role", default_value = "user")]
        roles: Vec<String>,
    },
    /// Consume photo.thumbnail: make each photo's derived sizes, mark it ready or failed (runs
    /// until SIGTERM; /metrics, /healthz, /readyz on worker.port). Runs as the broker user
    /// zufang-worker: ZUFANG__AMQP__USERNAME=zufang-worker and its password in amqp_password.
    Worker,
    /// Background jobs: the dead-letter queue of thumbnail jobs.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Exit 0 when a running instance's /healthz answers 200 (for container health checks).
    Healthcheck {
        /// Defaults to http://127.0.0.1:{application.port}/healthz.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 2)]
        timeout_seconds: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// The dead-letter queue (photo.thumbnail.dlq). Needs the broker's admin account:
    /// ZUFANG__AMQP__USERNAME=zufang-admin and its password in the secret file amqp_password.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// Show dead jobs (message_id, photo_id, age, x-error, x-death) without removing any.
    List {
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send dead jobs back to photo.thumbnail with their attempts reset; prints how many.
    Replay {
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// Only the message with this message_id.
        #[arg(long)]
        message_id: Option<String>,
    },
}

pub async fn jobs(settings: &Settings, action: JobsAction) -> anyhow::Result<()> {
    let JobsAction::Dlq { action } = action;
    match action {
        DlqAction::List { limit, json } => crate::worker::dlq::list(settings, limit, json).await,
        DlqAction::Replay { limit, message_id } => {
            let n = crate::worker::dlq::replay(settings, limit, message_id.as_deref()).await?;
            println!("{n}");
            Ok(())
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SearchAction {
    /// Rebuild what the house writes maintain from the rows: the title index (one id range per
    /// transaction, progress at INFO; safe while serving) and the house counters, and make every
    /// replica reload its in-memory title index. For rows
    /// written around the service (SQL by hand, a restore of another schema).
    Reindex {
        /// Houses per transaction.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
    /// Make every replica reload its in-memory title index from the rows (seconds; nothing is
    /// rebuilt in the database): after a restore, or titles changed by hand in SQL.
    Reload,
}

pub async fn search(settings: &Settings, action: SearchAction) -> anyhow::Result<()> {
    let pool = crate::storage::pool(&settings.database);
    let started = std::time::Instant::now();
    let reindexed = match action {
        SearchAction::Reindex { batch } => {
            let metrics = crate::metrics::Metrics::new()?;
            let n = crate::storage::search::reindex(&pool, &metrics, batch).await?;
            crate::storage::houses::recount(&mut *pool.acquire().await?).await?;
            Some(n)
        }
        SearchAction::Reload => None,
    };
    // Either way every replica's in-memory title index reloads from the rows.
    crate::storage::title_index::new_epoch(&mut *pool.acquire().await?).await?;
    match reindexed {
        Some(n) => tracing::info!(
            houses = n,
            seconds = started.elapsed().as_secs_f64(),
            "search reindex: done (title index and house counters)"
        ),
        None => tracing::info!("search reload: every replica reloads its title index at its next search"),
    }
    pool.close().await;
    Ok(())
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    crate::storage::ensure_database(&settings.database).await?;
    let pool = crate::storage::pool(&settings.database);
    crate::storage::MIGRATOR.run(&pool).await.context("Failed to apply migrations")?;
    pool.close().await;
    Ok(())
}

pub async fn seed(settings: &Settings, scale: Scale) -> anyhow::Result<()> {
    let pool = crate::storage::pool(&settings.database);
    let started = std::time::Instant::now();
    if crate::seed::run(&pool, scale.counts(), false).await? {
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "seed: {scale:?} done");
    }
    pool.close().await;
    Ok(())
}

/// `password` comes from ZUFANG_NEW_USER_PASSWORD (see main.rs): argv is visible to every local user.
pub async fn create_user(
    settings: &Settings,
    username: &str,
    tel: &str,
    password: String,
    roles: &[String],
) -> anyhow::Result<u32> {
    anyhow::ensure!(password.chars().count() >= 8, "the password must have at least 8 characters");
    crate::domain::accounts::Tel::parse(tel).map_err(|m| anyhow::anyhow!("--tel: {m}"))?;
    let hash = crate::auth::password::hash(password, &settings.auth).await?;
    let pool = crate::storage::pool(&settings.database);
    let mut tx = pool.begin().await.context("Failed to begin a transaction")?;
    sqlx::query(
        "INSERT INTO users (username, password_hash, tel) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash)",
    )
    .bind(username)
    .bind(&hash)
    .bind(tel)
    .execute(&mut *tx)
    .await
    .context("Failed to insert the user")?;
    let id: u32 = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
        .bind(username)
        .fetch_one(&mut *tx)
        .await
        .context("Failed to read the user back")?;
    for role in roles {
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roles WHERE name = ?")
            .bind(role)
            .fetch_one(&mut *tx)
            .await
            .context("Failed to look up a role")?;
        anyhow::ensure!(known == 1, "unknown role {role:?} (seeded: admin, agent, user)");
        sqlx::query("INSERT IGNORE INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE name = ?")
            .bind(id)
            .bind(role)
            .execute(&mut *tx)
            .await
            .context("Failed to grant a role")?;
    }
    tx.commit().await.context("Failed to commit the user")?;
    pool.close().await;
    Ok(id)
}

/// A minimal HTTP/1.0 GET over std (the runtime image has no curl).
pub fn healthcheck(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let rest = url.strip_prefix("http://").context("healthcheck: only http:// URLs are supported")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:80") };
    let addr = hostport.to_socket_addrs()?.next().context("healthcheck: cannot resolve host")?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).context("healthcheck: connection failed")?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: zufang-healthcheck\r\n\r\n")?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf)?;
    let head = String::from_utf8_lossy(&buf[..n]);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        anyhow::bail!("healthcheck: {url} answered {:?}", head.lines().next().unwrap_or(""))
    }
}
