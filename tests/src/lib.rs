//! Helpers shared by the whole-stack end-to-end tests in `tests/tests/`.
//!
//! The tests run against a stack that `scripts/ci/stack.sh test` brought up (it sets
//! `STACK_ENV_FILE`); they find the published ports with `docker compose port` and read
//! container output with `docker compose logs`. Every wait is bounded by a deadline.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The repository root (where compose.yaml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The env file the stack was started with; the tests refuse to run without one, so that a
/// plain `cargo test --workspace` fails loudly instead of passing without a stack.
pub fn env_file() -> String {
    std::env::var("STACK_ENV_FILE")
        .unwrap_or_else(|_| panic!("STACK_ENV_FILE is not set: run these tests through `scripts/ci/stack.sh test`"))
}

/// `docker compose --env-file $STACK_ENV_FILE ARGS...`, returning stdout; fails on a non-zero exit.
pub fn compose(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .current_dir(repo_root())
        .args(["compose", "--env-file", &env_file()])
        .args(args)
        .output()
        .with_context(|| format!("Failed to run docker compose {args:?}"))?;
    if !out.status.success() {
        bail!("docker compose {args:?} exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `http://HOST:PORT` where the host reaches SERVICE's container port PORT.
pub fn published_url(service: &str, port: u16) -> Result<String> {
    let out = compose(&["port", service, &port.to_string()])?;
    let addr = out.lines().next().unwrap_or("").trim();
    if addr.is_empty() {
        bail!("{service}:{port} is not published");
    }
    // Published on 0.0.0.0 means "every address"; the test only ever talks to loopback.
    let addr = addr.replace("0.0.0.0", "127.0.0.1");
    Ok(format!("http://{addr}"))
}

/// The edge (lb1's published HTTP port).
pub fn edge_url() -> Result<String> {
    published_url("lb1", 80)
}

/// Names of the services that have a running container.
pub fn running_services() -> Result<Vec<String>> {
    Ok(compose(&["ps", "--status", "running", "--services"])?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// An HTTP client with short timeouts (every request in these tests is bounded).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .expect("an HTTP client")
}

/// Calls `check` until it returns `Ok(Some(v))` or `limit` passes; the last error explains a timeout.
pub fn eventually<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        let last = match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "condition not met yet".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{what}: not true within {limit:?}; last: {last}");
        }
        std::thread::sleep(every);
    }
}

/// `n` random bytes as lowercase hex (from the kernel's generator; no extra crate needed).
pub fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("/dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
