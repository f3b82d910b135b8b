//! The `zabbix` compose profile beside the running stack: zabbix-init imported the
//! templates and created the hosts, and the real server collects real values from the app
//! replicas (HTTP agent on /metrics), the proxies (stub_status, keepalived state through the
//! agent) and MariaDB (agent 2's MySQL plugin). `scripts/ci/stack.sh test` starts the stack with
//! this profile; the web front end's JSON-RPC API is published on ZABBIX_WEB_PORT (loopback).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use zufang_e2e::{compose, eventually, published_url, repo_root, run, vip_holders};

/// The hosts zabbix-init creates (monitoring/zabbix/zabbix_init.py).
const STACK_HOSTS: [&str; 7] = ["app1", "app2", "app3", "lb1", "lb2", "edge", "mysql"];

/// The stack's Zabbix API through the repository's one client, monitoring/zabbix/zabbix_api.py
/// (its command line): no second JSON-RPC client here.
struct Api {
    url: String,
    token: String,
}

impl Api {
    fn cli(&self) -> Command {
        let mut cmd = Command::new("python3");
        cmd.current_dir(repo_root()).env("PYTHONDONTWRITEBYTECODE", "1").env("ZBX_AUTH", &self.token).args([
            "monitoring/zabbix/zabbix_api.py",
            "--url",
            &self.url,
        ]);
        cmd
    }

    fn login() -> Result<Api> {
        let url = format!("{}/api_jsonrpc.php", published_url("zabbix-web", 8080)?);
        // The agent runs as the uid that owns the zabbix/ secrets folder: read the password there.
        let password = compose(&["exec", "-T", "zabbix-agent2", "cat", "/run/stack-secrets/zabbix/admin_password"])?;
        let mut api = Api { url, token: String::new() };
        // The password goes on stdin, never on a command line.
        let mut child = api
            .cli()
            .args(["login", "Admin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("python3 zabbix_api.py login")?;
        child.stdin.take().context("stdin")?.write_all(format!("{}\n", password.trim()).as_bytes())?;
        let out = child.wait_with_output()?;
        ensure!(out.status.success(), "Zabbix login: {}", String::from_utf8_lossy(&out.stderr));
        api.token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(api)
    }

    fn call(&self, method: &str, params: Value) -> Result<Value> {
        let mut cmd = self.cli();
        cmd.args(["call", method, &params.to_string()]);
        let out = run(cmd, &format!("Zabbix API {method}"))?;
        // Strings come back bare (the version), everything else as JSON.
        Ok(serde_json::from_str(out.trim()).unwrap_or_else(|_| Value::String(out.trim().to_string())))
    }

    fn host_names(&self) -> Result<Vec<String>> {
        let hosts = self.call("host.get", json!({"output": ["host"]}))?;
        Ok(hosts.as_array().context("host.get")?.iter().filter_map(|h| h["host"].as_str().map(String::from)).collect())
    }

    /// host -> key -> last value, for every monitored item that has received one.
    fn values(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
        let items = self.call(
            "item.get",
            json!({"output": ["key_", "lastvalue", "lastclock"], "selectHosts": ["host"],
                   "templated": false, "monitored": true}),
        )?;
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for item in items.as_array().context("item.get result")? {
            if item["lastclock"].as_str().unwrap_or("0") == "0" {
                continue;
            }
            let host = item["hosts"][0]["host"].as_str().unwrap_or("?").to_string();
            out.entry(host).or_default().insert(
                item["key_"].as_str().unwrap_or("?").to_string(),
                item["lastvalue"].as_str().unwrap_or("").to_string(),
            );
        }
        Ok(out)
    }
}

fn value_of<'a>(
    values: &'a BTreeMap<String, BTreeMap<String, String>>,
    host: &str,
    key_prefix: &str,
) -> Option<&'a str> {
    values.get(host)?.iter().find(|(k, _)| k.starts_with(key_prefix)).map(|(_, v)| v.as_str())
}

/// `up --wait` of the zabbix profile returns only once zabbix-init has created every host and
/// template: zabbix-agent2 starts after zabbix-init exited 0 (compose.yaml), and zabbix_init.py
/// exits 0 only when all of them exist. Proven from scratch: the stack's hosts are deleted and the
/// agent stopped, then `up -d --wait` must bring both back before it returns — no polling after it.
#[test]
fn z0_the_zabbix_profiles_up_wait_returns_after_every_host_exists() -> Result<()> {
    let api =
        eventually("Zabbix API login", Duration::from_secs(120), Duration::from_secs(5), || Api::login().map(Some))?;
    let ids: Vec<Value> = api
        .call("host.get", json!({"output": ["hostid"], "filter": {"host": STACK_HOSTS}}))?
        .as_array()
        .context("host.get")?
        .iter()
        .map(|h| h["hostid"].clone())
        .collect();
    if !ids.is_empty() {
        api.call("host.delete", Value::Array(ids))?;
    }
    let left = api.host_names()?;
    ensure!(STACK_HOSTS.iter().all(|h| !left.iter().any(|l| l == h)), "hosts not deleted: {left:?}");
    compose(&["stop", "zabbix-agent2"])?;

    let started = Instant::now();
    compose(&["up", "-d", "--wait", "--wait-timeout", "300", "--no-build", "--pull", "never", "zabbix-agent2"])?;
    let took = started.elapsed();
    // Right after `up --wait`: the same session still works (zabbix-init found the generated
    // password already set and did not change it).
    let hosts = api.host_names()?;
    let missing: Vec<&str> = STACK_HOSTS.iter().copied().filter(|h| !hosts.iter().any(|x| x == h)).collect();
    ensure!(missing.is_empty(), "`up --wait` returned after {took:?} with hosts missing: {missing:?} (have {hosts:?})");
    ensure!(hosts.len() == 8, "8 hosts expected (the stack's 7 and \"Zabbix server\"), have {hosts:?}");
    let templates = api.call(
        "template.get",
        json!({"output": ["host"], "filter": {"host": ["zufang by HTTP", "zufang app by Zabbix agent 2",
            "zufang data by Zabbix agent 2", "zufang edge by Zabbix agent 2", "zufang edge pair"]}}),
    )?;
    ensure!(templates.as_array().map(Vec::len) == Some(5), "templates after `up --wait`: {templates}");
    eprintln!("Zabbix: `up --wait` returned in {took:?} with all {} hosts and 5 templates", hosts.len());
    Ok(())
}

#[test]
fn z1_the_zabbix_profile_collects_real_values_from_the_stack() -> Result<()> {
    let api =
        eventually("Zabbix API login", Duration::from_secs(120), Duration::from_secs(5), || Api::login().map(Some))?;
    let version = api.call("apiinfo.version", json!([]))?;
    ensure!(version.as_str().unwrap_or("").starts_with("6.0."), "Zabbix 6.0 LTS expected, API says {version}");
    let hosts = api.host_names()?;
    for host in STACK_HOSTS {
        ensure!(hosts.iter().any(|h| h == host), "zabbix-init did not create host {host}: {hosts:?}");
    }
    // Values arrive within a few item intervals (zabbix-init sets them for a quick first poll);
    // the keepalived state Zabbix reads must agree with where the VIP really is (after the edge
    // tests moved it, the items catch up within their interval).
    let mut last = String::new();
    let values = eventually("values from every host", Duration::from_secs(180), Duration::from_secs(5), || {
        let v = api.values()?;
        let states: Vec<(&str, &str)> =
            ["lb1", "lb2"].iter().map(|h| (*h, value_of(&v, h, "zufang.keepalived.state").unwrap_or(""))).collect();
        let masters: Vec<String> = states.iter().filter(|(_, s)| *s == "MASTER").map(|(h, _)| h.to_string()).collect();
        let holders = vip_holders()?;
        last = format!(
            "states {states:?}, VIP on {holders:?}, mysql.ping {:?}, redis.ping {:?}",
            value_of(&v, "mysql", "mysql.ping"),
            value_of(&v, "mysql", "redis.ping")
        );
        let ready = ["app1", "app2", "app3"].iter().all(|h| value_of(&v, h, "zufang.up") == Some("1"))
            && ["lb1", "lb2"].iter().all(|h| value_of(&v, h, "nginx.requests.rate").is_some())
            && value_of(&v, "mysql", "mysql.ping") == Some("1")
            // The agent's Redis session logs in as Redis's ACL user `default` (PING, INFO, SETNAME).
            && value_of(&v, "mysql", "redis.ping") == Some("1")
            && masters == holders;
        Ok(ready.then_some(v))
    })
    .with_context(|| format!("last view: {last}"))?;
    eprintln!(
        "Zabbix: app1 {} items with values, {last}, mysql.ping {:?}, redis.ping {:?}",
        values.get("app1").map(BTreeMap::len).unwrap_or(0),
        value_of(&values, "mysql", "mysql.ping"),
        value_of(&values, "mysql", "redis.ping")
    );
    Ok(())
}
