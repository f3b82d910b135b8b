//! Helpers shared by the whole-stack end-to-end tests in `tests/tests/`.
//!
//! The tests run against a stack that `scripts/ci/stack.sh test` brought up (it sets
//! `STACK_ENV_FILE`); they find the published ports with `docker compose port` and read
//! container output with `docker compose logs`. Every wait is bounded by a deadline.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The repository root (where compose.yaml lives). `cargo test` sets CARGO_MANIFEST_DIR for the
/// run: read at run time, so a library built from another checkout of the same sources (a shared
/// target directory) still points at this one.
pub fn repo_root() -> PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(manifest).join("..")
}

/// The env file the stack was started with; the tests refuse to run without one, so that a
/// plain `cargo test --workspace` fails loudly instead of passing without a stack.
pub fn env_file() -> String {
    std::env::var("STACK_ENV_FILE")
        .unwrap_or_else(|_| panic!("STACK_ENV_FILE is not set: run these tests through `scripts/ci/stack.sh test`"))
}

/// Runs `cmd` (named `what` in errors), returning its stdout; fails on a non-zero exit, with stderr.
pub fn run(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("Failed to run {what}"))?;
    if !out.status.success() {
        bail!("{what} exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `docker compose --env-file $STACK_ENV_FILE` in the repository root, ready for arguments.
pub fn compose_command() -> Command {
    let mut cmd = Command::new("docker");
    cmd.current_dir(repo_root()).args(["compose", "--env-file", &env_file()]);
    cmd
}

/// `docker compose --env-file $STACK_ENV_FILE ARGS...`, returning stdout; fails on a non-zero exit.
pub fn compose(args: &[&str]) -> Result<String> {
    let mut cmd = compose_command();
    cmd.args(args);
    run(cmd, &format!("docker compose {args:?}"))
}

/// `statement` through the client in the `mysql` container as `user`, whose password is the first
/// line of /run/stack-secrets/mysql/`password_file` (an option file on a pipe: never an argument);
/// over TCP to 127.0.0.1 when `tcp` (the account's network grants), else the local socket.
/// Ok(output) or Err(the server's refusal).
pub fn mariadb_as(user: &str, password_file: &str, tcp: bool, statement: &str) -> Result<String> {
    let host = if tcp { "host=127.0.0.1\\n" } else { "" };
    let script = format!(
        "mariadb --defaults-extra-file=<(printf '[client]\\nuser={user}\\npassword=\"%s\"\\n{host}' \"$(head -n 1 /run/stack-secrets/mysql/{password_file})\") -N -B -e \"{statement}\""
    );
    compose(&["exec", "-T", "mysql", "bash", "-c", &script])
}

/// MariaDB as root over the `mysql` container's local socket (root has no network login).
pub fn sql_root(statement: &str) -> Result<String> {
    mariadb_as("root", "root_password", false, statement)
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

/// The edge's virtual IP on the `edge` network (compose.yaml: lb1/lb2 `VIP`). The host reaches
/// it over the network's bridge, like a client in front of the proxies; it follows a failover.
pub const VIP: &str = "172.28.10.100";

/// `http://VIP`.
pub fn vip_url() -> String {
    format!("http://{VIP}")
}

/// `docker ARGS...`, returning stdout; fails on a non-zero exit.
pub fn docker(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    run(cmd, &format!("docker {args:?}"))
}

/// The container id of a compose service ("" when it has none).
pub fn container_id(service: &str) -> Result<String> {
    Ok(compose(&["ps", "-a", "-q", service])?.trim().to_string())
}

/// `running`, `exited`, `paused`, … of a service's container, plus its health ("" without a check).
pub fn container_state(service: &str) -> Result<(String, String)> {
    let id = container_id(service)?;
    if id.is_empty() {
        return Ok(("absent".into(), String::new()));
    }
    let out = docker(&["inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", &id])?;
    let mut it = out.split_whitespace();
    Ok((it.next().unwrap_or("").to_string(), it.next().unwrap_or("").to_string()))
}

/// Waits until the service's container runs and (when it has a health check) is healthy.
pub fn wait_healthy(service: &str, limit: Duration) -> Result<Duration> {
    let t0 = Instant::now();
    eventually(&format!("{service} healthy"), limit, Duration::from_millis(500), || {
        let (state, health) = container_state(service)?;
        Ok((state == "running" && (health.is_empty() || health == "healthy")).then_some(()))
    })?;
    Ok(t0.elapsed())
}

/// The proxies (lb1, lb2) whose eth0 holds the VIP right now; a stopped proxy holds nothing.
pub fn vip_holders() -> Result<Vec<String>> {
    let mut holders = Vec::new();
    for lb in ["lb1", "lb2"] {
        if container_state(lb)?.0 != "running" {
            continue;
        }
        let addrs = compose(&["exec", "-T", lb, "ip", "-4", "-o", "addr", "show", "dev", "eth0"])?;
        if addrs.contains(&format!(" {VIP}/")) {
            holders.push(lb.to_string());
        }
    }
    Ok(holders)
}

/// One request of a [`Stream`]: when it was sent (since the stream began), how long it took,
/// and its status and `X-Upstream`, or the transport error.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Duration,
    pub took: Duration,
    pub outcome: std::result::Result<(u16, String), String>,
}

impl Sample {
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Ok((s, _)) if (200..300).contains(&s))
    }
}

/// A client in front of the edge: one GET every `every` on a fresh connection (as a new client
/// would make), each bounded by `timeout`, until stopped or `limit` passes (always bounded).
pub struct Stream {
    started: Instant,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<Sample>>>,
}

impl Stream {
    pub fn start(url: String, every: Duration, timeout: Duration, limit: Duration) -> Stream {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client");
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) && started.elapsed() < limit {
                let at = started.elapsed();
                let outcome = client
                    .get(&url)
                    .send()
                    .map(|r| {
                        let up = r.headers().get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        (r.status().as_u16(), up)
                    })
                    .map_err(|e| error_chain(&e));
                let took = started.elapsed() - at;
                samples.push(Sample { at, took, outcome });
                if let Some(rest) = every.checked_sub(took) {
                    std::thread::sleep(rest);
                }
            }
            samples
        });
        Stream { started, stop, handle: Some(handle) }
    }

    /// Time since the stream began (to place events on the samples' time line).
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the stream and returns every sample.
    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().expect("finished once").join().expect("the stream thread")
    }
}

/// An error with its sources ("error sending request ...: ... Connection refused"): reqwest's own
/// message names the request, not what went wrong on the wire.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Failed samples (transport error or non-2xx) as a short printable list.
pub fn failures(samples: &[Sample]) -> Vec<String> {
    samples.iter().filter(|s| !s.ok()).map(|s| format!("{:.2}s: {:?}", s.at.as_secs_f64(), s.outcome)).collect()
}

/// Appends one JSON object (a measured figure set) to artifacts/stack/NAME.jsonl for the docs.
pub fn record(name: &str, value: &serde_json::Value) {
    use std::io::Write;
    let dir = repo_root().join("artifacts/stack");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{name}.jsonl"))) {
        let _ = writeln!(f, "{value}");
    }
}

/// Creates an admin through the app's own CLI in a replica (password through the environment,
/// never argv) and logs in through the VIP; returns the access token.
pub fn admin_token() -> Result<String> {
    let username = format!("e2e_admin_{}", random_hex(4));
    let password = random_hex(16);
    let tel = format!("139{:08}", u32::from_str_radix(&random_hex(4), 16)? % 100_000_000);
    let args = ["app1", "zufang", "create-user", "--username", &username, "--tel", &tel, "--role", "admin"];
    let mut create = compose_command();
    create.env("ZUFANG_NEW_USER_PASSWORD", &password).args(["exec", "-T", "-e", "ZUFANG_NEW_USER_PASSWORD"]).args(args);
    run(create, "zufang create-user")?;
    let resp = client()
        .post(format!("{}/api/tokens/", vip_url()))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()?;
    let status = resp.status();
    let body: serde_json::Value = resp.json()?;
    anyhow::ensure!(status.is_success(), "login through the VIP: {status} {body}");
    body["access_token"].as_str().map(String::from).context("no access_token")
}

/// Rows of estates whose name is exactly `name` (the server-side counter of POSTs that ran).
pub fn estates_named(name: &str) -> Result<u64> {
    let resp = client().get(format!("{}/api/estates/?name={name}&size=100", vip_url())).send()?;
    let page: serde_json::Value = resp.json()?;
    Ok(page["results"].as_array().map(|r| r.iter().filter(|e| e["name"] == name).count() as u64).unwrap_or(0))
}
