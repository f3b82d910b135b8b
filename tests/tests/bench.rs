//! The `bench` compose profile (compose.yaml, profile bench): the load
//! generator container runs the repository's benchmark scripts against the stack, with no tool
//! installed on the host. Each test runs
//! `docker compose --env-file $STACK_ENV_FILE --profile bench run --rm -T bench <script> --quick`
//! and reads what the script wrote into the results folder, bind-mounted from the host.
//!
//! Paths: compose mounts `${BENCH_RESULTS_DIR:-./bench-results}` at `/bench/bench-results` (the
//! container's working directory is `/bench`, the repository's bench/ at `/bench/bench`). Each test points
//! `BENCH_RESULTS_DIR` at a fresh host folder of its own (mode 0777: the container writes as uid
//! 10010) and passes `--out bench-results/<name>`, so `<host folder>/<name>/results.json` is the
//! file the script wrote. The tests run one at a time: `docker compose run` starts the profile's
//! one-shot `bench-account` (and re-checks `migrate`), which two concurrent runs would race for.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use zufang_e2e::{env_file, random_hex, repo_root};

/// The edge VIP as the bench container reaches it on the `edge` network.
const VIP_URL: &str = "http://172.28.10.100";
/// The API account's password inside the container (secrets-init: `bench/api_password`).
const API_PASSWORD_FILE: &str = "/run/stack-secrets/bench/api_password";

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A host folder bind-mounted as the container's `bench-results/`, removed when dropped
/// (kept when `BENCH_E2E_KEEP=1`, to look at a failure).
struct ResultsDir(PathBuf);

impl ResultsDir {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("zufang-bench-e2e-{}", random_hex(6)));
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        // The container runs as uid 10010, not as the user running the tests.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))?;
        Ok(Self(dir))
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ResultsDir {
    fn drop(&mut self) {
        if std::env::var("BENCH_E2E_KEEP").as_deref() == Ok("1") {
            eprintln!("bench results kept in {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// `docker compose --env-file $STACK_ENV_FILE --profile bench run --rm -T bench ARGS...` with the
/// results folder mounted; fails with the output's tail on a non-zero exit or after `limit`.
fn bench_run(results: &ResultsDir, args: &[&str], limit: Duration) -> Result<String> {
    let log_path = results.path(&format!("run-{}.log", random_hex(4)));
    let log = File::create(&log_path)?;
    let mut child = Command::new("docker")
        .current_dir(repo_root())
        .env("BENCH_RESULTS_DIR", &results.0)
        .args(["compose", "--env-file", &env_file(), "--profile", "bench", "run", "--rm", "-T", "bench"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("Failed to start docker compose run")?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("bench {args:?} still running after {limit:?}; output:\n{}", tail(&log_path));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        bail!("bench {args:?} exited with {status}; output:\n{}", tail(&log_path));
    }
    Ok(output)
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("the script wrote no {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// The `results` rows of a results.json, each checked for positive throughput and latencies and
/// (next to) no errors; returns them.
fn positive_results(doc: &Value, what: &str) -> Result<Vec<Value>> {
    let rows = doc["results"].as_array().with_context(|| format!("{what}: no results array"))?.clone();
    ensure!(!rows.is_empty(), "{what}: no result rows: {doc}");
    for r in &rows {
        let num = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        ensure!(num("throughput") > 0.0, "{what}: throughput not positive: {r}");
        ensure!(num("lat_avg_ms") > 0.0 && num("lat_p95_ms") > 0.0 && num("lat_p99_ms") > 0.0, "{what}: latency: {r}");
        ensure!(num("lat_p99_ms") >= num("lat_p95_ms"), "{what}: p99 below p95: {r}");
        // wrk: every error is a failed request. sysbench: "ignored errors" are deadlocks it retried
        // (oltp_write_only on two small tables has a few), so at most 5% of the transactions.
        let errors = r["errors"].as_f64().with_context(|| format!("{what}: no error count: {r}"))?;
        let limit = if r["tool"] == "wrk" { 0.0 } else { 0.05 * r["extra"]["events"].as_f64().unwrap_or(0.0) };
        ensure!(errors <= limit, "{what}: {errors} errors (at most {limit}): {r}");
    }
    Ok(rows)
}

/// The CSV next to results.json: a header and one row per result, throughput column positive.
fn check_csv(path: &Path, rows: usize) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("no {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty CSV")?.split(',').collect();
    let col = header.iter().position(|h| *h == "throughput").context("CSV without a throughput column")?;
    let body: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    ensure!(body.len() == rows, "{}: {} rows, results.json has {rows}", path.display(), body.len());
    for line in body {
        let v: f64 = line.split(',').nth(col).unwrap_or("").parse().unwrap_or(0.0);
        ensure!(v > 0.0, "{}: throughput not positive in {line:?}", path.display());
    }
    Ok(())
}

/// `bench/report/report.sh` in the container: report.md mentions the run and links PNGs that exist,
/// are PNG files and are not empty.
fn check_report(results: &ResultsDir, input: &str, out: &str) -> Result<()> {
    bench_run(
        results,
        &["bench/report/report.sh", &format!("bench-results/{input}"), "--out", &format!("bench-results/{out}")],
        Duration::from_secs(120),
    )?;
    let dir = results.path(out);
    let md = fs::read_to_string(dir.join("report.md")).context("bench/report/report.sh wrote no report.md")?;
    ensure!(md.len() > 200, "report.md is nearly empty: {md:?}");
    let mut pngs = 0;
    for entry in fs::read_dir(&dir)? {
        let p = entry?.path();
        if p.extension().and_then(|e| e.to_str()) == Some("png") {
            let bytes = fs::read(&p)?;
            ensure!(bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a real PNG", p.display());
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            ensure!(md.contains(&name), "report.md does not show {name}");
            pngs += 1;
        }
    }
    ensure!(pngs >= 2, "expected throughput and latency plots, found {pngs} PNGs in {}", dir.display());
    Ok(())
}

#[test]
fn oltp_quick_in_the_bench_container_measures_mariadb_and_reports() -> Result<()> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let results = ResultsDir::new()?;
    // No connection flags: MARIADB_HOST/USER/PASSWORD_FILE come from the service (mysql, bench).
    bench_run(
        &results,
        &["bench/sysbench/oltp.sh", "--quick", "--out", "bench-results/oltp"],
        Duration::from_secs(300),
    )?;
    let doc = read_json(&results.path("oltp/results.json"))?;
    let rows = positive_results(&doc, "oltp")?;
    let tests: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r["test"].as_str()).collect();
    for t in ["oltp_point_select", "oltp_read_only", "oltp_read_write", "oltp_write_only"] {
        assert!(tests.contains(t), "no {t} in the results: {tests:?}");
    }
    for r in &rows {
        assert!(r["qps"].as_f64().unwrap_or(0.0) > 0.0, "oltp row without queries/s: {r}");
    }
    assert_eq!(doc["params"]["schema"], "sbtest", "params: {}", doc["params"]);
    assert!(
        doc["params"]["target"].as_str().unwrap_or("").starts_with("bench@mysql:3306"),
        "params: {}",
        doc["params"]
    );
    assert_eq!(doc["profile"]["container"], true, "profile: {}", doc["profile"]);
    check_csv(&results.path("oltp/results.csv"), rows.len())?;
    check_report(&results, "oltp", "oltp-report")
}

#[test]
fn http_quick_through_the_vip_with_a_jwt_reaches_every_replica_and_reports() -> Result<()> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let results = ResultsDir::new()?;
    // The API account `bench` is created by the profile's one-shot bench-account; load.sh logs in
    // through the edge (POST /api/tokens/) and sends the JWT on half of the requests.
    bench_run(
        &results,
        &[
            "bench/http/load.sh",
            "--quick",
            "--url",
            VIP_URL,
            "--user",
            "bench",
            "--password-file",
            API_PASSWORD_FILE,
            "--auth-share",
            "0.5",
            "--out",
            "bench-results/http",
        ],
        Duration::from_secs(300),
    )?;
    let doc = read_json(&results.path("http/results.json"))?;
    let rows = positive_results(&doc, "http")?;
    assert_eq!(doc["params"]["authenticated"], "yes", "params: {}", doc["params"]);
    assert_eq!(doc["params"]["url"], VIP_URL, "params: {}", doc["params"]);
    // Through the edge: nginx names the replica (X-Upstream); the mix reached all three.
    let mut upstreams = std::collections::BTreeSet::new();
    for r in &rows {
        if let Some(map) = r["extra"]["upstreams"].as_object() {
            upstreams.extend(map.keys().cloned());
        }
    }
    let expected: std::collections::BTreeSet<String> = (21..=23).map(|i| format!("172.28.20.{i}:8080")).collect();
    assert!(expected.is_subset(&upstreams), "replicas seen through the VIP: {upstreams:?}");
    check_csv(&results.path("http/results.csv"), rows.len())?;
    check_report(&results, "http", "http-report")
}

#[test]
fn the_bench_database_account_reaches_sbtest_only() -> Result<()> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let results = ResultsDir::new()?;
    // The password goes to the client through an option file on a pipe, never argv.
    let sql = |q: &str| {
        format!(
            "mariadb --defaults-extra-file=<(printf '[client]\\npassword=\"%s\"\\n' \"$(head -n 1 \"$MARIADB_PASSWORD_FILE\")\") \
             -h \"$MARIADB_HOST\" -P \"$MARIADB_PORT\" -u \"$MARIADB_USER\" --batch --skip-column-names -e '{q}'"
        )
    };
    // Control: the account logs in and sees its grants (so the refusal below is the grant's).
    let grants = bench_run(&results, &["bash", "-c", &sql("SHOW GRANTS")], Duration::from_secs(120))?;
    assert!(grants.contains("`sbtest`.*"), "bench account grants: {grants}");
    for line in grants.lines().filter(|l| l.contains(" ON *.*")) {
        assert!(line.starts_with("GRANT USAGE ON *.*"), "the bench account has global privileges: {line}");
    }
    // The application's data is out of reach.
    let err =
        bench_run(&results, &["bash", "-c", &sql("SELECT COUNT(*) FROM zufang.houses")], Duration::from_secs(120))
            .expect_err("the bench account read the zufang database");
    let msg = format!("{err:#}");
    assert!(msg.contains("denied"), "expected an access-denied error, got: {msg}");
    Ok(())
}
