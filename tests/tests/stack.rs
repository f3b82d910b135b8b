//! The compose stack, end to end, through the ports a user reaches: the edge (lb1), Prometheus,
//! and the trace collector's output. Run by `scripts/ci/stack.sh test`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use zufang_e2e::{
    client, compose, edge_url, eventually, mariadb_as, published_url, random_hex, running_services, sql_root,
};

fn get_json(url: &str) -> Result<Value> {
    let resp = client().get(url).send().with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp.text().with_context(|| format!("body of {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body}"))
}

#[test]
fn api_through_the_edge_returns_the_seeded_data() -> Result<()> {
    let edge = edge_url()?;
    for resource in ["districts", "estates", "houses"] {
        let page = get_json(&format!("{edge}/api/{resource}/?page=1&size=5"))?;
        let count = page["count"].as_u64().unwrap_or(0);
        let results = page["results"].as_array().map(Vec::len).unwrap_or(0);
        assert!(count > 0, "/api/{resource}/: the seeded database has no rows: {page}");
        assert!(results > 0 && results <= 5, "/api/{resource}/: page of {results} rows: {page}");
    }
    // One object by id, taken from the list, comes back the same.
    let first = &get_json(&format!("{edge}/api/districts/"))?["results"][0];
    let id = first["id"].as_u64().context("district without a numeric id")?;
    let one = get_json(&format!("{edge}/api/districts/{id}/"))?;
    assert_eq!(one["id"], first["id"], "district {id} by id: {one}");
    Ok(())
}

#[test]
fn the_edge_hides_internal_endpoints() -> Result<()> {
    let edge = edge_url()?;
    for path in ["/metrics", "/readyz"] {
        let status = client().get(format!("{edge}{path}")).send()?.status();
        assert_eq!(status.as_u16(), 404, "{path} must not be reachable through the edge");
    }
    Ok(())
}

#[test]
fn requests_are_spread_over_every_app_replica() -> Result<()> {
    let edge = edge_url()?;
    let expected: BTreeSet<String> = (21..=23).map(|i| format!("172.28.20.{i}:8080")).collect();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    // least_conn with sequential requests still rotates; 90 requests bound the test.
    for i in 0..90 {
        let resp = client().get(format!("{edge}/api/districts/?page=1&size=1")).send()?;
        assert!(resp.status().is_success(), "request {i}: {}", resp.status());
        let upstream =
            resp.headers().get("x-upstream").context("the edge sent no X-Upstream header")?.to_str()?.to_string();
        *seen.entry(upstream).or_default() += 1;
        if expected.iter().all(|u| seen.contains_key(u)) && i >= 29 {
            break;
        }
    }
    let got: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(got, expected, "replicas that answered (with counts): {seen:?}");
    Ok(())
}

/// X-Upstream names the replica only for EDGE_DEBUG_CLIENTS (the edge network here): lb1 asked on
/// its backend-network address is a client from elsewhere, and hears no backend address, while
/// its access log still records the upstream.
#[test]
fn the_upstream_header_is_only_for_debug_clients() -> Result<()> {
    let rid = format!("e2e-untrusted-{}", zufang_e2e::random_hex(6));
    let headers = compose(&[
        "exec",
        "-T",
        "lb1",
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "-H",
        "Host: localhost",
        "-H",
        &format!("X-Request-ID: {rid}"),
        "http://172.28.20.11/api/districts/?page=1&size=1",
    ])?
    .to_lowercase();
    assert!(headers.starts_with("http/1.1 200"), "lb1 via its backend address: {headers}");
    assert!(!headers.contains("x-upstream"), "a client outside EDGE_DEBUG_CLIENTS saw the backend: {headers}");
    assert!(headers.contains(&format!("x-request-id: {rid}")), "{headers}");
    let logged =
        zufang_e2e::eventually("the access log line", Duration::from_secs(10), Duration::from_millis(500), || {
            let logs = compose(&["logs", "--no-color", "--since", "2m", "lb1"])?;
            Ok(logs.lines().find(|l| l.contains(&rid)).map(str::to_string))
        })?;
    assert!(logged.contains("172.28.20.2"), "the access log keeps the upstream: {logged}");
    Ok(())
}

#[test]
fn every_prometheus_target_is_up() -> Result<()> {
    let prom = published_url("prometheus", 9090)?;
    let running = running_services()?;
    // Targets of services that are not part of this stack (a profile left off, e.g. Grafana
    // offline) cannot be up; they are listed, not silently dropped.
    let missing_service = |instance: &str| -> Option<String> {
        let host = instance.split("://").last()?.split([':', '/']).next()?.to_string();
        let is_service_name = host.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        (is_service_name && host != "localhost" && !running.contains(&host)).then_some(host)
    };
    let mut excluded = BTreeSet::new();
    let summary = eventually("every Prometheus target up", Duration::from_secs(150), Duration::from_secs(5), || {
        let targets = get_json(&format!("{prom}/api/v1/targets?state=active"))?;
        let active = targets["data"]["activeTargets"].as_array().context("no activeTargets")?.clone();
        if active.is_empty() {
            bail!("Prometheus has no active targets");
        }
        let mut down = Vec::new();
        let mut up = 0;
        for t in &active {
            let job = t["labels"]["job"].as_str().unwrap_or("?");
            let instance = t["labels"]["instance"].as_str().unwrap_or("?");
            if let Some(svc) = missing_service(instance) {
                excluded.insert(format!("{job}/{instance} (service {svc} not running)"));
                continue;
            }
            match t["health"].as_str() {
                Some("up") => up += 1,
                h => down.push(format!("{job}/{instance}: {} {}", h.unwrap_or("?"), t["lastError"])),
            }
        }
        if down.is_empty() {
            Ok(Some(format!("{up} targets up")))
        } else {
            bail!("not up: {down:?}")
        }
    })?;
    eprintln!("{summary}; excluded: {excluded:?}");
    let jobs = get_json(&format!("{prom}/api/v1/targets?state=active"))?["data"]["activeTargets"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["labels"]["job"].as_str().map(String::from)).collect::<BTreeSet<_>>())
        .unwrap_or_default();
    for job in ["app", "nginx", "mysql", "redis", "node"] {
        assert!(jobs.contains(job), "Prometheus scrapes no `{job}` job: {jobs:?}");
    }
    Ok(())
}

#[test]
fn a_request_with_traceparent_is_traced_to_the_collector() -> Result<()> {
    let edge = edge_url()?;
    let trace_id = random_hex(16);
    let traceparent = format!("00-{trace_id}-{}-01", random_hex(8));
    let resp =
        client().get(format!("{edge}/api/districts/?page=1&size=1")).header("traceparent", &traceparent).send()?;
    assert!(resp.status().is_success(), "traced request: {}", resp.status());
    // The apps batch spans (a few seconds); the collector prints each one it receives.
    let line =
        eventually("the trace in the collector's output", Duration::from_secs(60), Duration::from_secs(3), || {
            let logs = compose(&["logs", "--no-color", "--no-log-prefix", "otel-collector"])?;
            Ok(logs.lines().find(|l| l.contains(&trace_id)).map(String::from))
        })?;
    eprintln!("collector saw trace {trace_id}: {line}");
    Ok(())
}

/// `statement` as `account` over TCP from inside the `mysql` container.
fn sql_as(account: &str, password_file: &str, statement: &str) -> Result<String> {
    mariadb_as(account, password_file, true, statement)
}

#[test]
fn every_service_holds_only_its_own_secrets_and_least_privileged_accounts() -> Result<()> {
    // Secrets: each container sees its own folder, nothing of the others'.
    for (service, own) in [("redis", "redis"), ("app1", "app"), ("mysqld-exporter", "mysqld-exporter")] {
        let listed = compose(&["exec", "-T", service, "ls", "/run/stack-secrets"])?;
        let folders: Vec<&str> = listed.split_whitespace().collect();
        assert_eq!(folders, vec![own], "{service} sees {folders:?} under /run/stack-secrets");
    }
    // The proxies hold no secret at all (VRRPv3 has no password).
    let listed = compose(&["exec", "-T", "lb1", "sh", "-c", "ls -A /run/stack-secrets 2>/dev/null || true"])?;
    assert!(listed.trim().is_empty(), "lb1 sees {listed:?} under /run/stack-secrets");
    // The datastores run as different users (no file of one is another's).
    let uid = |service: &str| compose(&["exec", "-T", service, "id", "-u"]).map(|s| s.trim().to_string());
    assert_ne!(uid("redis")?, uid("mysql")?, "Redis and MariaDB share a uid");
    // root logs in over the local socket only.
    let remote_roots = sql_root("SELECT COUNT(*) FROM mysql.user WHERE User = 'root' AND Host NOT IN ('localhost')")?;
    assert_eq!(remote_roots.trim(), "0", "root over the network");
    // The replicas' account: data yes, schema no.
    assert!(sql_as("zufang", "database_password", "SELECT COUNT(*) > 0 FROM zufang.districts")?.trim() == "1");
    let ddl = sql_as("zufang", "database_password", "CREATE TABLE zufang.intruder (id INT)");
    assert!(ddl.is_err(), "the runtime account created a table: {ddl:?}");
    let drop = sql_as("zufang", "database_password", "DROP TABLE zufang.login_logs");
    assert!(drop.is_err(), "the runtime account dropped a table: {drop:?}");
    // The migrations' account may.
    sql_as(
        "zufang_migrate",
        "migrate_password",
        "CREATE TABLE zufang.e2e_probe (id INT); DROP TABLE zufang.e2e_probe",
    )?;
    // The exporter reads server status, not the application's tables.
    let read = sql_as("exporter", "mysqld_exporter_password", "SELECT COUNT(*) FROM zufang.users");
    assert!(read.is_err(), "the exporter read zufang.users: {read:?}");
    sql_as("exporter", "mysqld_exporter_password", "SHOW GLOBAL STATUS LIKE 'Uptime'")?;
    // Redis: one ACL user per client, each with only its commands.
    let redis = |user: &str, file: &str, command: &str| {
        let script = format!(
            "REDISCLI_AUTH=$(head -n 1 /run/stack-secrets/redis/{file}) redis-cli --user {user} --no-auth-warning {command}"
        );
        compose(&["exec", "-T", "redis", "sh", "-c", &script])
    };
    assert!(redis("app", "app_password", "set zufang:e2e:acl 1")?.contains("OK"));
    for denied in ["flushall", "config get maxmemory", "keys 'zufang:*'", "set other:key 1"] {
        let out = redis("app", "app_password", denied)?;
        assert!(out.contains("NOPERM"), "the app user ran `{denied}`: {out}");
    }
    assert!(redis("exporter", "exporter_password", "info server")?.contains("redis_version"));
    let out = redis("exporter", "exporter_password", "get zufang:e2e:acl")?;
    assert!(out.contains("NOPERM"), "the exporter read a key: {out}");
    assert!(redis("default", "monitor_password", "ping")?.contains("PONG"));
    let out = redis("default", "monitor_password", "get zufang:e2e:acl")?;
    assert!(out.contains("NOPERM"), "the monitor user read a key: {out}");
    redis("admin", "admin_password", "del zufang:e2e:acl")?;
    Ok(())
}
