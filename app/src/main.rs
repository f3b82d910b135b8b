//! Wiring only: configuration, telemetry, then the chosen command.
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use zufang::cli::{Cli, Command};
use zufang::configuration::{get_configuration, get_database_job_configuration, get_jobs_configuration};
use zufang::startup::Application;

/// Every allocation of 1 MiB or more is its own mapping, returned to the system when freed. glibc's
/// default raises that threshold after the first large free, so each 19 MiB Argon2 block array
/// would stay in whichever allocator arena served it (measured: 210 MiB kept after a login flood
/// with two hashing threads); with a fixed threshold memory follows the hashes in flight.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_allocations_to_the_system() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_allocations_to_the_system() {}

fn main() -> ExitCode {
    return_large_allocations_to_the_system();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // A probe given its URL reads no configuration: it answers for whichever process it probes (the
    // worker's secrets hold no JWT key), and a setting it does not use cannot fail it.
    if let Command::Healthcheck { url: Some(url), timeout_seconds } = &command {
        return probe(url, *timeout_seconds);
    }
    // Jobs and the worker are not held to what only serving the API needs (JWT keys, SMS).
    let database_job = matches!(
        command,
        Command::Migrate | Command::Seed { .. } | Command::Search { .. } | Command::CreateUser { .. } | Command::Worker
    );
    let loaded = if matches!(command, Command::Jobs { .. }) {
        get_jobs_configuration()
    } else if database_job {
        get_database_job_configuration()
    } else {
        get_configuration()
    };
    let settings = match loaded {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zufang: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Command::Healthcheck { url, timeout_seconds } = &command {
        let url = url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{}/healthz", settings.application.port));
        return probe(&url, *timeout_seconds);
    }
    if let Command::CheckConfig = command {
        println!("{}", serde_json::to_string_pretty(&settings.redacted_json()).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zufang: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve => {
                let _telemetry = zufang::telemetry::init(&settings)?;
                let app = Application::build(settings).await?;
                app.run_until_stopped().await
            }
            Command::Migrate => {
                zufang::telemetry::init_logs_only(&settings.log.level);
                zufang::cli::migrate(&settings).await
            }
            Command::Seed { scale } => {
                zufang::telemetry::init_logs_only(&settings.log.level);
                zufang::cli::seed(&settings, scale).await
            }
            Command::Search { action } => {
                zufang::telemetry::init_logs_only(&settings.log.level);
                zufang::cli::search(&settings, action).await
            }
            Command::CreateUser { username, tel, roles } => {
                zufang::telemetry::init_logs_only(&settings.log.level);
                let password = std::env::var("ZUFANG_NEW_USER_PASSWORD").map_err(|_| {
                    anyhow::anyhow!(
                        "set ZUFANG_NEW_USER_PASSWORD to the new account's password (at least 8 characters)"
                    )
                })?;
                let id = zufang::cli::create_user(&settings, &username, &tel, password, &roles).await?;
                eprintln!("create-user: {username} (id {id}) has roles {roles:?}");
                Ok(())
            }
            Command::Worker => {
                let _telemetry = zufang::telemetry::init(&settings)?;
                zufang::worker::run(settings).await
            }
            Command::Jobs { action } => {
                zufang::telemetry::init_logs_only(&settings.log.level);
                zufang::cli::jobs(&settings, action).await
            }
            Command::CheckConfig | Command::Healthcheck { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "zufang failed");
            eprintln!("zufang: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `zufang healthcheck`: exit 0 when `url` answers 200.
fn probe(url: &str, timeout_seconds: u64) -> ExitCode {
    match zufang::cli::healthcheck(url, Duration::from_secs(timeout_seconds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
