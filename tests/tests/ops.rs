//! Day-2 operations drilled against the running compose stack (docs/runbooks/restore.md,
//! docs/runbooks/deploy.md): backup and point-in-time restore under a steady write load (a lost
//! volume, then a destructive statement), the refusals of a restore that cannot be done, and a
//! rolling deploy and rollback under load. Every drill uses the operator's own commands
//! (scripts/ops/*.sh, what `make backup|restore|deploy|rollback` run) and leaves the stack
//! serving. Figures go to artifacts/stack/ops.jsonl.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use zufang_e2e::{
    admin_token, client, compose, env_file, estates_named, eventually, random_hex, record, repo_root, sql_root, vip_url,
};

/// Runs scripts/ops/SCRIPT ARGS with the stack's env file; (success, stdout + stderr).
fn ops(script: &str, args: &[&str]) -> Result<(bool, String)> {
    let out = Command::new(repo_root().join("scripts/ops").join(script))
        .args(args)
        .env("STACK_ENV_FILE", env_file())
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("running scripts/ops/{script}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

fn ops_ok(script: &str, args: &[&str]) -> Result<String> {
    let (ok, text) = ops(script, args)?;
    ensure!(ok, "scripts/ops/{script} {args:?} failed:\n{text}");
    Ok(text)
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix second, as `date` in the stack's containers prints it.
fn utc(secs: u64) -> Result<String> {
    let out = Command::new("date").args(["-u", "-d", &format!("@{secs}"), "+%F %T"]).output()?;
    ensure!(out.status.success(), "date failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn first_district() -> Result<u64> {
    client().get(format!("{}/api/districts/?page=1&size=1", vip_url())).send()?.json::<Value>()?["results"][0]["id"]
        .as_u64()
        .context("no district to attach estates to")
}

/// An acknowledged write: the estate's name and when its 2xx arrived.
#[derive(Clone, Debug)]
struct Ack {
    name: String,
    at: SystemTime,
}

/// A steady writer through the VIP: one POST /api/estates/ every 100 ms, each with a unique name;
/// it remembers what was acknowledged and what failed. `pause` holds it between requests.
struct Writer {
    stop: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    failed: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(prefix: String, token: String, district: u64) -> Writer {
        let (stop, pause, idle) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let (s, p, i, a, f) = (stop.clone(), pause.clone(), idle.clone(), acks.clone(), failed.clone());
        let handle = std::thread::spawn(move || {
            let c = client();
            let deadline = Instant::now() + Duration::from_secs(600);
            let mut seq = 0u32;
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                if p.load(Ordering::SeqCst) {
                    i.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                i.store(false, Ordering::SeqCst);
                seq += 1;
                let name = format!("{prefix}-{seq:05}");
                let r = c
                    .post(format!("{}/api/estates/", vip_url()))
                    .bearer_auth(&token)
                    .json(&json!({"name": name, "district_id": district}))
                    .send();
                match r {
                    Ok(r) if r.status().is_success() => a.lock().unwrap().push(Ack { name, at: SystemTime::now() }),
                    Ok(r) => f.lock().unwrap().push(format!("{name}: {}", r.status())),
                    Err(e) => f.lock().unwrap().push(format!("{name}: {e:#}")),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Writer { stop, pause, idle, acks, failed, handle: Some(handle) }
    }

    /// Pauses the load, makes one acknowledged write and returns it with T, the UTC second it was
    /// acknowledged in; the load resumes only once that second is over, so T separates the writes
    /// cleanly (binlog times have one-second resolution).
    fn point_in_time(&self, prefix: &str, token: &str, district: u64) -> Result<(Ack, u64)> {
        self.pause.store(true, Ordering::SeqCst);
        eventually("writer paused", Duration::from_secs(15), Duration::from_millis(20), || {
            Ok(self.idle.load(Ordering::SeqCst).then_some(()))
        })?;
        let name = format!("{prefix}-chosen");
        let r = client()
            .post(format!("{}/api/estates/", vip_url()))
            .bearer_auth(token)
            .json(&json!({"name": name, "district_id": district}))
            .send()?;
        ensure!(r.status().is_success(), "the chosen write: {}", r.status());
        let ack = Ack { name, at: SystemTime::now() };
        let t = unix(ack.at) as u64;
        // Resume in the second after T (and a little margin for clock reading).
        while unix(SystemTime::now()) < (t + 1) as f64 + 0.2 {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pause.store(false, Ordering::SeqCst);
        Ok((ack, t))
    }

    fn finish(mut self) -> (Vec<Ack>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().expect("finished once").join().expect("the writer thread");
        let acks = self.acks.lock().unwrap().clone();
        let failed = self.failed.lock().unwrap().clone();
        (acks, failed)
    }
}

/// Waits until the backup service's binlog copy is caught up after `after` (Unix seconds): only
/// then can a restore reach every write acknowledged before it.
fn wait_binlog_copied(after: f64) -> Result<()> {
    eventually("binlog copy caught up", Duration::from_secs(60), Duration::from_millis(500), || {
        let out = compose(&[
            "exec",
            "-T",
            "backup",
            "sh",
            "-c",
            "cat /backups/binlog/$(cat /var/lib/mysql/zufang-timeline)/caught-up",
        ])?;
        let at: f64 = out.trim().parse().unwrap_or(0.0);
        Ok((at > after).then_some(()))
    })
}

/// The current timeline has a full backup (the agent takes one when a timeline starts).
fn wait_full_backup_on_current_timeline() -> Result<()> {
    let tl = compose(&["exec", "-T", "mysql", "cat", "/var/lib/mysql/zufang-timeline"])?.trim().to_string();
    eventually("a full backup of the new timeline", Duration::from_secs(120), Duration::from_secs(2), || {
        let list = ops_ok("backup.sh", &["list"])?;
        Ok(list.lines().any(|l| l.starts_with("20") && l.contains(&tl)).then_some(()))
    })
}

/// After a restore to T: every write acknowledged up to T exists, none acknowledged after it.
/// Returns (acknowledged writes up to T, of those lost, writes after T, of those present).
fn check_restored(acks: &[Ack], chosen: &Ack, t: u64) -> Result<(usize, Vec<String>, usize, Vec<String>)> {
    let (before, after): (Vec<&Ack>, Vec<&Ack>) =
        acks.iter().chain(std::iter::once(chosen)).partition(|a| unix(a.at) < (t + 1) as f64);
    ensure!(!before.is_empty() && !after.is_empty(), "the drill needs writes on both sides of T");
    let mut lost = Vec::new();
    for a in &before {
        if estates_named(&a.name)? != 1 {
            lost.push(a.name.clone());
        }
    }
    let mut present = Vec::new();
    for a in &after {
        if estates_named(&a.name)? != 0 {
            present.push(a.name.clone());
        }
    }
    Ok((before.len(), lost, after.len(), present))
}

/// `make restore UNTIL=T` and the figures: RTO from the script's own report.
fn restore_until(t: u64) -> Result<(f64, String)> {
    let until = utc(t)?;
    let t0 = Instant::now();
    let out = ops_ok("backup.sh", &["restore", &until])?;
    Ok((t0.elapsed().as_secs_f64(), out))
}

fn project_name() -> Result<String> {
    let cfg: Value = serde_json::from_str(&compose(&["config", "--format", "json"])?)?;
    cfg["name"].as_str().map(String::from).context("no project name in the compose config")
}

fn api_serves() -> Result<()> {
    eventually("the API answers through the VIP", Duration::from_secs(60), Duration::from_millis(500), || {
        let r = client().get(format!("{}/api/districts/?page=1&size=1", vip_url())).send();
        Ok(matches!(r, Ok(r) if r.status().is_success()).then_some(()))
    })
}

#[test]
fn b1_backup_and_point_in_time_restore_under_load() -> Result<()> {
    let token = admin_token()?;
    let district = first_district()?;
    let run_id = random_hex(3);

    // ---- (a) the mysql volume is lost --------------------------------------------------------
    let prefix = format!("drill-{run_id}-a");
    let writer = Writer::start(prefix.clone(), token.clone(), district);
    std::thread::sleep(Duration::from_secs(3));
    let t_backup = Instant::now();
    let out = ops_ok("backup.sh", &["backup"])?;
    let backup_s = t_backup.elapsed().as_secs_f64();
    eprintln!("full backup mid-load in {backup_s:.1}s:\n{}", out.lines().last().unwrap_or(""));
    std::thread::sleep(Duration::from_secs(2));
    let (chosen, t) = writer.point_in_time(&prefix, &token, district)?;
    std::thread::sleep(Duration::from_secs(3));
    let (acks, failed) = writer.finish();
    ensure!(failed.is_empty(), "writes failed during the backup: {failed:?}");
    let last = acks.iter().map(|a| unix(a.at)).fold(0.0, f64::max);
    wait_binlog_copied(last)?;

    let project = project_name()?;
    // As the runbook says (`make down`): every profile's containers, so none is left on a removed network.
    compose(&["--profile", "*", "down", "--timeout", "20"])?;
    zufang_e2e::docker(&["volume", "rm", &format!("{project}_mysql-data")])?;
    let (rto_a, out) = restore_until(t)?;
    eprintln!("{}", out.lines().filter(|l| l.contains("backup:")).collect::<Vec<_>>().join("\n"));
    api_serves()?;
    let (n_before, lost, n_after, present) = check_restored(&acks, &chosen, t)?;
    eprintln!("(a) volume lost: restored to {} in {rto_a:.1}s; {n_before} writes up to T, {} lost; {n_after} after T, {} present", utc(t)?, lost.len(), present.len());
    record(
        "ops",
        &json!({"drill": "restore-volume-lost", "rto_s": rto_a, "backup_s": backup_s, "writes_up_to_t": n_before,
                "rpo_lost_writes": lost.len(), "writes_after_t": n_after, "after_t_present": present.len()}),
    );
    ensure!(lost.is_empty(), "acknowledged writes up to T lost after the restore: {lost:?}");
    ensure!(present.is_empty(), "writes after T present after the restore to T: {present:?}");

    // ---- (b) a destructive statement after T ---------------------------------------------------
    wait_full_backup_on_current_timeline()?;
    let prefix = format!("drill-{run_id}-b");
    let writer = Writer::start(prefix.clone(), token.clone(), district);
    std::thread::sleep(Duration::from_secs(3));
    let (chosen, t) = writer.point_in_time(&prefix, &token, district)?;
    std::thread::sleep(Duration::from_secs(2));
    let (acks, failed) = writer.finish();
    ensure!(failed.is_empty(), "writes failed: {failed:?}");
    let deleted =
        sql_root(&format!("DELETE FROM zufang.estates WHERE name LIKE 'drill-{run_id}-%'; SELECT ROW_COUNT();"))?;
    eprintln!("the mistake: deleted {} drill estates", deleted.trim());
    ensure!(estates_named(&chosen.name)? == 0, "the destructive statement did not take (cache?)");
    wait_binlog_copied(unix(SystemTime::now()))?;
    let (rto_b, _) = restore_until(t)?;
    api_serves()?;
    let (n_before, lost, n_after, present) = check_restored(&acks, &chosen, t)?;
    eprintln!("(b) rows deleted after T: restored in {rto_b:.1}s; {n_before} writes up to T, {} lost; {n_after} after T, {} present", lost.len(), present.len());
    record(
        "ops",
        &json!({"drill": "restore-after-delete", "rto_s": rto_b, "writes_up_to_t": n_before,
                "rpo_lost_writes": lost.len(), "writes_after_t": n_after, "after_t_present": present.len()}),
    );
    ensure!(lost.is_empty(), "acknowledged writes up to T lost after the restore: {lost:?}");
    ensure!(present.is_empty(), "writes after T present after the restore to T: {present:?}");
    // The first drill's estates are back too (they were before T).
    ensure!(estates_named(&format!("drill-{run_id}-a-chosen"))? == 1, "drill (a)'s chosen write is missing");
    Ok(())
}

#[test]
fn b2_a_restore_that_cannot_be_done_is_refused_and_changes_nothing() -> Result<()> {
    let mysql_before = compose(&["ps", "-q", "mysql"])?;
    let refuse = |args: &[&str], expect: &str| -> Result<()> {
        let (ok, out) = ops("backup.sh", args)?;
        ensure!(!ok, "backup.sh {args:?} succeeded; it must refuse:\n{out}");
        ensure!(out.contains(expect), "backup.sh {args:?}: the refusal does not say '{expect}':\n{out}");
        Ok(())
    };
    refuse(&["restore", "2000-01-01 00:00:00"], "outside the window")?;
    refuse(&["restore", "2999-01-01 00:00:00"], "in the future")?;
    refuse(&["restore", "yesterday"], "must be 'YYYY-MM-DD HH:MM:SS'")?;
    // No backup at all: the restore one-shot pointed at an empty folder.
    let (ok, out) = {
        let mut c = zufang_e2e::compose_command();
        c.args(["run", "--rm", "--no-deps", "--pull", "never", "-T", "-e", "BACKUP_DIR=/tmp/none", "backup-restore"])
            .args(["restore", "--check"]);
        let o = c.output()?;
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    ensure!(!ok && out.contains("no full backup"), "restore without backups: {out}");
    // A corrupt backup: one byte of the newest archive flipped, then flipped back.
    let flip = r#"f=$(ls -d /backups/full/2* | tail -n 1); a=$(ls "$f"/backup.tar.gz*)
        b=$(od -An -tu1 -j100 -N1 "$a" | tr -d ' ')
        printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$a" bs=1 seek=100 count=1 conv=notrunc 2>/dev/null"#;
    compose(&["exec", "-T", "backup", "bash", "-c", flip])?;
    let corrupt = refuse(&["restore"], "is corrupt");
    compose(&["exec", "-T", "backup", "bash", "-c", flip])?;
    corrupt?;
    ops_ok("backup.sh", &["verify"])?;
    // Nothing was touched: the same MariaDB container serves, the API answers.
    ensure!(compose(&["ps", "-q", "mysql"])? == mysql_before, "MariaDB was restarted by a refused restore");
    api_serves()?;
    Ok(())
}

/// Steady mixed traffic through the VIP: `threads` clients, each alternating a list GET and an
/// estate POST on a fresh connection per request (a client's idle keep-alive socket can be closed
/// by any server at any time; what is measured here is the stack dropping requests). Counts
/// every non-2xx answer and transport error.
struct Load {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    fn start(threads: usize, prefix: String, token: String, district: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|n| {
                let (stop, prefix, token) = (stop.clone(), prefix.clone(), token.clone());
                std::thread::spawn(move || {
                    let c = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(15))
                        .pool_max_idle_per_host(0)
                        .build()
                        .expect("an HTTP client");
                    let deadline = Instant::now() + Duration::from_secs(900);
                    let (mut sent, mut failed) = (0u64, Vec::new());
                    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                        sent += 1;
                        let r = if sent % 2 == 0 {
                            c.post(format!("{}/api/estates/", vip_url()))
                                .bearer_auth(&token)
                                .json(&json!({"name": format!("{prefix}-{n}-{sent}"), "district_id": district}))
                                .send()
                        } else {
                            c.get(format!("{}/api/houses/?page=1&size=5", vip_url())).send()
                        };
                        match r {
                            Ok(r) if r.status().is_success() => {}
                            Ok(r) => failed.push(format!("{}: {}", unix(SystemTime::now()), r.status())),
                            Err(e) => failed.push(format!("{}: {e:#}", unix(SystemTime::now()))),
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    (sent, failed)
                })
            })
            .collect();
        Load { stop, handles }
    }

    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = (0, Vec::new());
        for h in self.handles {
            let (sent, failed) = h.join().expect("a load thread");
            total.0 += sent;
            total.1.extend(failed);
        }
        total
    }
}

const REPLICAS: [&str; 3] = ["app1", "app2", "app3"];

/// The git_sha label of zufang_build_info on every replica (from `deploy.sh status`).
fn replica_revisions() -> Result<Vec<String>> {
    let out = ops_ok("deploy.sh", &["status"])?;
    REPLICAS
        .iter()
        .map(|r| {
            let line = out.lines().find(|l| l.starts_with(r)).with_context(|| format!("no {r} in status:\n{out}"))?;
            let sha = line.split("git_sha=\"").nth(1).and_then(|s| s.split('"').next());
            sha.map(String::from).with_context(|| format!("{r}: no build reported: {line}"))
        })
        .collect()
}

fn running_image(service: &str) -> Result<String> {
    let id = compose(&["ps", "-q", service])?;
    Ok(zufang_e2e::docker(&["inspect", "-f", "{{.Config.Image}}", id.trim()])?.trim().to_string())
}

#[test]
fn d1_rolling_deploy_rollback_and_edge_reload_drop_nothing_under_load() -> Result<()> {
    let token = admin_token()?;
    let district = first_district()?;
    let old_image = running_image("app1")?;
    // By image id: the name .env gives the app moves at every deploy, so the rollback runs the old
    // image under a tag of its id (the history cannot use the moving name).
    let id_of =
        |image: &str| zufang_e2e::docker(&["image", "inspect", "-f", "{{.Id}}", image]).map(|s| s.trim().to_string());
    let old_id = id_of(&old_image)?;
    let old_revisions = replica_revisions()?;
    // The new release: the running image with another revision (a version bump; the walk does not
    // depend on what changed inside).
    let rev = format!("drill-{}", random_hex(4));
    let new_image = format!("zufang-e2e/app:{rev}");
    let mut build = Command::new("docker");
    build.args(["build", "-q", "-t", &new_image, "-"]).stdin(std::process::Stdio::piped());
    let mut child = build.stdout(std::process::Stdio::null()).spawn()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().context("docker build stdin")?;
        writeln!(stdin, "FROM {old_image}\nENV ZUFANG_GIT_SHA={rev}")?;
    }
    ensure!(child.wait()?.success(), "docker build of {new_image} failed");

    let load = Load::start(4, format!("deploy-{rev}"), token, district);
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    let out = ops_ok("deploy.sh", &["--image", &new_image])?;
    let deploy_s = t0.elapsed().as_secs_f64();
    eprintln!("{}", out.lines().filter(|l| l.contains("deploy:")).collect::<Vec<_>>().join("\n"));
    let after_deploy = replica_revisions()?;
    // The photo worker runs the app's image too: a deploy that left it behind would run two
    // releases against one schema and queue.
    let worker_after_deploy = id_of(&running_image("worker")?)?;
    let t1 = Instant::now();
    ops_ok("deploy.sh", &["rollback"])?;
    let rollback_s = t1.elapsed().as_secs_f64();
    let after_rollback = replica_revisions()?;
    let worker_after_rollback = id_of(&running_image("worker")?)?;
    let t2 = Instant::now();
    ops_ok("deploy.sh", &["--edge"])?;
    let reload_s = t2.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let (sent, failed) = load.finish();
    eprintln!(
        "deploy {deploy_s:.1}s, rollback {rollback_s:.1}s, edge reload {reload_s:.1}s; {sent} requests, {} failed",
        failed.len()
    );
    record(
        "ops",
        &json!({"drill": "deploy-rollback-reload", "deploy_s": deploy_s, "rollback_s": rollback_s,
                "edge_reload_s": reload_s, "requests": sent, "failed": failed.len()}),
    );
    ensure!(after_deploy.iter().all(|r| r == &rev), "after the deploy, replicas report {after_deploy:?}, not {rev}");
    ensure!(
        after_rollback == old_revisions,
        "after the rollback: {after_rollback:?}, before the deploy: {old_revisions:?}"
    );
    ensure!(id_of(&running_image("app2")?)? == old_id, "app2 does not run {old_image} ({old_id}) after the rollback");
    ensure!(worker_after_deploy == id_of(&new_image)?, "the worker does not run {new_image} after the deploy");
    ensure!(worker_after_rollback == old_id, "the worker does not run {old_image} ({old_id}) after the rollback");
    zufang_e2e::wait_healthy("worker", Duration::from_secs(60))?;
    ensure!(failed.is_empty(), "requests failed during deploy/rollback/reload: {failed:?}");
    ensure!(sent > 100, "the load sent only {sent} requests");
    let _ = zufang_e2e::docker(&["image", "rm", &new_image]);
    Ok(())
}

#[test]
fn d2_a_deploy_that_cannot_be_done_is_refused_and_changes_nothing() -> Result<()> {
    let before: Vec<String> = REPLICAS.iter().map(|r| compose(&["ps", "-q", r])).collect::<Result<_>>()?;
    let (ok, out) = ops("deploy.sh", &["--image", "zufang-e2e/app:does-not-exist"])?;
    ensure!(!ok && out.contains("no image zufang-e2e/app:does-not-exist"), "deploy of a missing image: {out}");
    // A migration that drops a column the running release reads, without the contract marker.
    let dir = std::env::temp_dir().join(format!("zufang-migrations-{}", random_hex(4)));
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(repo_root().join("app/migrations"))? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "sql") {
            std::fs::copy(&p, dir.join(p.file_name().context("a file name")?))?;
        }
    }
    std::fs::write(dir.join("29990101000000_drop_title.sql"), "ALTER TABLE houses DROP COLUMN title;\n")?;
    let out = Command::new(repo_root().join("scripts/ops/deploy.sh"))
        .env("STACK_ENV_FILE", env_file())
        .env("MIGRATIONS_DIR", &dir)
        .current_dir(repo_root())
        .output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(!out.status.success(), "a deploy with an unmarked DROP COLUMN succeeded:\n{text}");
    ensure!(text.contains("29990101000000_drop_title.sql") && text.contains("expand now, contract later"), "{text}");
    let after: Vec<String> = REPLICAS.iter().map(|r| compose(&["ps", "-q", r])).collect::<Result<_>>()?;
    ensure!(before == after, "a refused deploy replaced containers: {before:?} -> {after:?}");
    api_serves()?;
    Ok(())
}

#[test]
fn b3_backups_are_encrypted_once_a_key_is_set() -> Result<()> {
    let has_key = compose(&[
        "exec",
        "-T",
        "backup",
        "sh",
        "-c",
        "test -s /run/stack-secrets/backup/encryption_key && echo yes || echo no",
    ])?;
    if has_key.trim() == "no" {
        let out = ops_ok("backup.sh", &["key"])?;
        ensure!(out.lines().any(|l| l.trim().len() == 64), "the key is printed once (64 hex digits):\n{out}");
        let (ok, again) = ops("backup.sh", &["key"])?;
        ensure!(!ok && again.contains("exists already"), "a second key must be refused: {again}");
    }
    ops_ok("backup.sh", &["backup"])?;
    let list = ops_ok("backup.sh", &["list"])?;
    let newest = list.lines().rfind(|l| l.starts_with("20")).context("no backup listed")?;
    ensure!(newest.split_whitespace().nth(5) == Some("true"), "the newest backup is not encrypted: {newest}");
    // Not a gzip stream on disk (openssl's salted header), and it reads back with the key.
    let magic = compose(&[
        "exec",
        "-T",
        "backup",
        "sh",
        "-c",
        "head -c 8 \"$(ls -d /backups/full/2* | tail -n 1)\"/backup.tar.gz.enc",
    ])?;
    ensure!(magic == "Salted__", "encrypted archive header: {magic:?}");
    let manifest: Value = serde_json::from_str(&compose(&[
        "exec",
        "-T",
        "backup",
        "sh",
        "-c",
        "cat \"$(ls -d /backups/full/2* | tail -n 1)\"/manifest.json",
    ])?)?;
    for key in ["gtid_start", "gtid", "binlog_file", "sha256", "tool", "server"] {
        ensure!(manifest[key].as_str().is_some_and(|v| !v.is_empty()), "manifest.json lacks {key}: {manifest}");
    }
    ensure!(manifest["size"].as_u64().unwrap_or(0) > 0 && manifest["encrypted"] == true, "{manifest}");
    ops_ok("backup.sh", &["verify"])?;
    let (ok, check) = {
        let mut c = zufang_e2e::compose_command();
        c.args(["run", "--rm", "--no-deps", "--pull", "never", "-T", "backup-restore", "restore", "--check"]);
        let o = c.output()?;
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    ensure!(ok && check.contains("checksum and archive OK"), "restore check of an encrypted backup: {check}");
    Ok(())
}

fn me_status(token: &str) -> Result<u16> {
    Ok(client().get(format!("{}/api/users/me/", vip_url())).bearer_auth(token).send()?.status().as_u16())
}

/// The token with its header's `kid` replaced (signature untouched).
fn with_kid(token: &str, kid: &str) -> Result<String> {
    let mut parts = token.splitn(2, '.');
    let (_, rest) = (parts.next().context("a JWT")?, parts.next().context("a JWT")?);
    let header = format!(r#"{{"typ":"JWT","alg":"HS256","kid":"{kid}"}}"#);
    // base64url without padding, by hand (no extra crate).
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in header.as_bytes().chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=c.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    Ok(format!("{out}.{rest}"))
}

#[test]
fn r1_jwt_key_rotation_logs_nobody_out() -> Result<()> {
    let token = admin_token()?;
    let district = first_district()?;
    ensure!(me_status(&token)? == 200, "the token works before the rotation");
    // The load authenticates every POST with the token issued before the rotation.
    let load = Load::start(2, format!("rotate-{}", random_hex(3)), token.clone(), district);
    let t0 = Instant::now();
    let out = ops_ok("rotate.sh", &["jwt"])?;
    let rotate_s = t0.elapsed().as_secs_f64();
    eprintln!("{}", out.lines().filter(|l| l.contains("rotate:")).collect::<Vec<_>>().join("\n"));
    let (sent, failed) = load.finish();
    ensure!(failed.is_empty(), "requests with the pre-rotation token failed during the rotation: {failed:?}");
    ensure!(me_status(&token)? == 200, "the pre-rotation token works after the new key became current");
    ensure!(me_status(&with_kid(&token, "hs-0000000000000000")?)? == 401, "a forged kid must be refused");
    let fresh = admin_token()?;
    ops_ok("rotate.sh", &["jwt", "--finish"])?;
    ensure!(me_status(&token)? == 401, "a token of the removed key must be refused");
    ensure!(me_status(&fresh)? == 200, "a token of the new key keeps working after the old one is dropped");
    record("ops", &json!({"drill": "jwt-rotation", "rotate_s": rotate_s, "requests": sent, "failed": failed.len()}));
    Ok(())
}

#[test]
fn r2_database_and_redis_passwords_rotate_under_load() -> Result<()> {
    let token = admin_token()?;
    let district = first_district()?;
    let load = Load::start(4, format!("pwrotate-{}", random_hex(3)), token.clone(), district);
    let worker_before = zufang_e2e::container_id("worker")?;
    let mut steps = Vec::new();
    for what in ["db-app", "redis", "db-exporter", "db-bench"] {
        let t0 = Instant::now();
        ops_ok("rotate.sh", &[what])?;
        steps.push((what, t0.elapsed().as_secs_f64()));
    }
    let (sent, failed) = load.finish();
    eprintln!("password rotations {steps:?}: {sent} requests, {} failed: {failed:?}", failed.len());
    record(
        "ops",
        &json!({"drill": "password-rotation", "steps": format!("{steps:?}"), "requests": sent, "failed": failed.len()}),
    );
    // The stack works with the new passwords only: every replica restarted on them, the exporters
    // report the services up again.
    ensure!(me_status(&token)? == 200, "the API answers after the rotations");
    let prom = zufang_e2e::published_url("prometheus", 9090)?;
    eventually(
        "mysql and redis exporters up with the new passwords",
        Duration::from_secs(90),
        Duration::from_secs(3),
        || {
            let q = |m: &str| -> Result<f64> {
                let v: Value = client().get(format!("{prom}/api/v1/query")).query(&[("query", m)]).send()?.json()?;
                Ok(v["data"]["result"][0]["value"][1].as_str().unwrap_or("0").parse().unwrap_or(0.0))
            };
            Ok((q("max(mysql_up)")? == 1.0 && q("max(redis_up)")? == 1.0).then_some(()))
        },
    )?;
    ensure!(failed.is_empty(), "requests failed while the passwords rotated: {failed:?}");
    // The photo worker shares the replicas' MariaDB and Redis accounts: its copies of the files
    // changed with theirs, and it was restarted onto them (a worker left on the old password
    // fails at its next new connection, long after the rotation "succeeded").
    let secret = |svc: &str, file: &str| compose(&["exec", "-T", svc, "cat", file]);
    for f in ["database_password", "redis_password"] {
        ensure!(
            secret("worker", &format!("/run/stack-secrets/worker/{f}"))?
                == secret("app1", &format!("/run/stack-secrets/app/{f}"))?,
            "the worker's {f} differs from the replicas' after the rotation"
        );
    }
    ensure!(
        zufang_e2e::container_id("worker")? != worker_before,
        "the worker was not restarted onto the new passwords"
    );
    zufang_e2e::wait_healthy("worker", Duration::from_secs(60))?;
    Ok(())
}

#[test]
fn r3_rotate_vrrp_is_refused_with_the_reason() -> Result<()> {
    // VRRPv3 has no password, so there is nothing to rotate; an operator who asks gets the reason.
    let (ok, out) = ops("rotate.sh", &["vrrp"])?;
    ensure!(!ok, "rotate.sh vrrp succeeded:\n{out}");
    ensure!(out.contains("VRRPv3, which has no password"), "rotate.sh vrrp does not say why:\n{out}");
    Ok(())
}
