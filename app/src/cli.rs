//! Command line: `zufang [serve|migrate|seed|check-config|healthcheck]`.
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
    /// Print the effective configuration (secrets redacted) and exit non-zero if it is invalid.
    CheckConfig,
    /// Exit 0 when a running instance's /healthz answers 200 (for container health checks).
    Healthcheck {
        /// Defaults to http://127.0.0.1:{application.port}/healthz.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 2)]
        timeout_seconds: u64,
    },
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
        eprintln!("seed: {scale:?} done in {:.1}s", started.elapsed().as_secs_f64());
    }
    pool.close().await;
    Ok(())
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
