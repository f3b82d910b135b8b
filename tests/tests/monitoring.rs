//! Monitoring claims against the running compose stack: every Grafana panel query has
//! live data after realistic traffic, and a stopped app replica reaches Alertmanager as
//! TargetDown. `scripts/ci/stack.sh test` runs Prometheus with a test-only override
//! (tests/compose.test.yaml: scrape/evaluation every 5 s, TargetDown `for: 10s`); the rule files
//! and prometheus.yml in monitoring/ keep the production values.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use zufang_e2e::{client, compose, eventually, published_url, random_hex, record, repo_root, vip_url, wait_healthy};

/// The monitoring suite's Python venv (cached by requirements hash) with check_dashboards.py's deps.
fn monitoring_python() -> Result<String> {
    let out = Command::new(repo_root().join("scripts/ci/venv.sh"))
        .args(["monitoring", "monitoring/tests/requirements.txt"])
        .current_dir(repo_root())
        .output()?;
    ensure!(out.status.success(), "scripts/ci/venv.sh: {}", String::from_utf8_lossy(&out.stderr));
    Ok(format!("{}/bin/python", String::from_utf8_lossy(&out.stdout).trim()))
}

/// Traffic a real user base makes: reads, misses (404), unauthenticated calls (401), a failed
/// login, and an SMS code requested twice (202, then the app's own 429).
fn generate_traffic() -> Result<Vec<(String, u16)>> {
    let c = client();
    let vip = vip_url();
    let mut seen = Vec::new();
    let mut get = |path: &str| -> Result<()> {
        let status = c.get(format!("{vip}{path}")).send()?.status().as_u16();
        seen.push((format!("GET {path}"), status));
        Ok(())
    };
    for _ in 0..10 {
        for path in
            ["/api/districts/", "/api/hot-cities/", "/api/estates/?page=1&size=5", "/api/houses/?ordering=-price"]
        {
            get(path)?;
        }
    }
    get("/api/estates/999999999/")?;
    get("/api/users/me/")?;
    get("/api/houses/?minprice=abc")?;
    let login = c
        .post(format!("{vip}/api/tokens/"))
        .json(&json!({"username": format!("nobody_{}", random_hex(4)), "password": "wrong-password"}))
        .send()?;
    seen.push(("POST /api/tokens/ (wrong password)".into(), login.status().as_u16()));
    let tel = format!("137{:08}", u32::from_str_radix(&random_hex(4), 16)? % 100_000_000);
    for _ in 0..2 {
        let status = c.post(format!("{vip}/api/mobile-codes/{tel}/")).send()?.status().as_u16();
        seen.push((format!("POST /api/mobile-codes/{tel}/"), status));
    }
    Ok(seen)
}

#[test]
fn m1_every_dashboard_panel_query_returns_live_data() -> Result<()> {
    let seen = generate_traffic()?;
    for (what, want) in [("GET /api/estates/999999999/", 404), ("GET /api/users/me/", 401)] {
        ensure!(seen.iter().any(|(w, s)| w == what && *s == want), "{what} should answer {want}: {seen:?}");
    }
    let codes: Vec<u16> =
        seen.iter().filter(|(w, _)| w.starts_with("POST /api/mobile-codes/")).map(|(_, s)| *s).collect();
    ensure!(codes == vec![202, 429], "an SMS code twice must give 202 then 429: {codes:?}");
    let python = monitoring_python()?;
    let prom = published_url("prometheus", 9090)?;
    // Rates need two scrapes after the traffic; the check is repeated until the data is there.
    let mut last = String::new();
    let outcome =
        eventually("every panel query returns data", Duration::from_secs(150), Duration::from_secs(10), || {
            let out = Command::new(&python)
                .current_dir(repo_root())
                .args(["monitoring/tests/check_dashboards.py", "--prometheus", &prom, "--context", "compose"])
                .args(["--rate-interval", "1m"])
                .args([
                    "--verify-sources",
                    "app,process,prometheus,node,keepalived,backup,mysql,redis,nginx,blackbox,worker",
                ])
                .output()?;
            last = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            Ok(out.status.success().then(|| last.clone()))
        });
    match outcome {
        Ok(report) => {
            eprintln!("check_dashboards.py --context compose:\n{report}");
            Ok(())
        }
        Err(e) => Err(e.context(format!("last check_dashboards.py output:\n{last}"))),
    }
}

fn am_alerts(am: &str) -> Result<Vec<Value>> {
    let v: Value = client().get(format!("{am}/api/v2/alerts")).send()?.json()?;
    v.as_array().cloned().context("Alertmanager /api/v2/alerts is not a list")
}

#[test]
fn m2_a_stopped_replica_reaches_alertmanager_as_target_down() -> Result<()> {
    let am = published_url("alertmanager", 9093)?;
    let victim = "app2";
    let t_stop = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    compose(&["stop", victim])?;
    let result = eventually(
        "TargetDown for the stopped replica in Alertmanager",
        Duration::from_secs(120),
        Duration::from_secs(2),
        || {
            let alerts = am_alerts(&am)?;
            Ok(alerts.into_iter().find(|a| {
                a["labels"]["alertname"] == "TargetDown"
                    && a["labels"]["job"] == "app"
                    && a["labels"]["replica"] == victim
                    && a["status"]["state"] == "active"
            }))
        },
    );
    let took = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64() - t_stop;
    compose(&["start", victim])?;
    wait_healthy(victim, Duration::from_secs(90))?;
    let alert = result?;
    eprintln!("TargetDown for {victim} active in Alertmanager {took:.1}s after the stop: {}", alert["labels"]);
    record("monitoring", &json!({"test": "target_down_to_alertmanager", "seconds": took, "labels": alert["labels"]}));
    for key in ["severity", "instance"] {
        ensure!(alert["labels"][key].is_string(), "TargetDown without a {key} label: {alert}");
    }
    ensure!(
        alert["annotations"]["runbook_url"].as_str().unwrap_or("").contains("docs/runbooks/"),
        "TargetDown without a runbook_url: {alert}"
    );
    Ok(())
}
