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
use zufang_e2e::{admin_token, client, compose, env_file, estates_named, eventually, random_hex, record, repo_root, vip_url};

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

/// MariaDB as root inside the `mysql` container (the password from the secrets volume, never argv).
fn sql_root(statement: &str) -> Result<String> {
    let script = format!(
        "mariadb --defaults-extra-file=<(printf '[client]\\nuser=root\\npassword=\"%s\"\\n' \"$(head -n 1 /run/stack-secrets/mysql/root_password)\") -N -B -e \"{statement}\""
    );
    compose(&["exec", "-T", "mysql", "bash", "-c", &script])
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
    compose(&["down", "--timeout", "20"])?;
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
    let deleted = sql_root(&format!(
        "DELETE FROM zufang.estates WHERE name LIKE 'drill-{run_id}-%'; SELECT ROW_COUNT();"
    ))?;
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
