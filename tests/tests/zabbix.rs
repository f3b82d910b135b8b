//! The `zabbix` compose profile (issue 7) beside the running stack: zabbix-init imported the
//! templates and created the hosts, and the real server collects real values from the app
//! replicas (HTTP agent on /metrics), the proxies (stub_status, keepalived state through the
//! agent) and MariaDB (agent 2's MySQL plugin). `scripts/ci/stack.sh test` starts the stack with
//! this profile; the web front end's JSON-RPC API is published on ZABBIX_WEB_PORT (loopback).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use zufang_e2e::{client, compose, eventually, published_url, vip_holders};

struct Api {
    url: String,
    token: String,
}

impl Api {
    fn login() -> Result<Api> {
        let url = format!("{}/api_jsonrpc.php", published_url("zabbix-web", 8080)?);
        // The agent runs as the uid that owns the zabbix/ secrets folder: read the password there.
        let password = compose(&["exec", "-T", "zabbix-agent2", "cat", "/run/stack-secrets/zabbix/admin_password"])?;
        let mut api = Api { url, token: String::new() };
        let token = api.call("user.login", json!({"username": "Admin", "password": password.trim()}))?;
        api.token = token.as_str().context("user.login returned no token")?.to_string();
        Ok(api)
    }

    fn call(&self, method: &str, params: Value) -> Result<Value> {
        let mut body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        if !self.token.is_empty() && method != "apiinfo.version" {
            body["auth"] = json!(self.token);
        }
        let resp: Value = client()
            .post(&self.url)
            .header("Content-Type", "application/json-rpc")
            .json(&body)
            .send()
            .with_context(|| format!("Zabbix API {method}"))?
            .json()?;
        if let Some(err) = resp.get("error") {
            bail!("Zabbix API {method}: {err}");
        }
        Ok(resp["result"].clone())
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

#[test]
fn z1_the_zabbix_profile_collects_real_values_from_the_stack() -> Result<()> {
    let api =
        eventually("Zabbix API login", Duration::from_secs(120), Duration::from_secs(5), || Api::login().map(Some))?;
    let version = api.call("apiinfo.version", json!([]))?;
    ensure!(version.as_str().unwrap_or("").starts_with("6.0."), "Zabbix 6.0 LTS expected, API says {version}");
    let hosts: Vec<String> = api
        .call("host.get", json!({"output": ["host"]}))?
        .as_array()
        .context("host.get")?
        .iter()
        .filter_map(|h| h["host"].as_str().map(String::from))
        .collect();
    for host in ["app1", "app2", "app3", "lb1", "lb2", "mysql"] {
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
        last = format!("states {states:?}, VIP on {holders:?}");
        let ready = ["app1", "app2", "app3"].iter().all(|h| value_of(&v, h, "zufang.up") == Some("1"))
            && ["lb1", "lb2"].iter().all(|h| value_of(&v, h, "nginx.requests.rate").is_some())
            && value_of(&v, "mysql", "mysql.ping") == Some("1")
            && masters == holders;
        Ok(ready.then_some(v))
    })
    .with_context(|| format!("last keepalived view: {last}"))?;
    eprintln!(
        "Zabbix: app1 {} items with values, {last}, mysql.ping {:?}",
        values.get("app1").map(BTreeMap::len).unwrap_or(0),
        value_of(&values, "mysql", "mysql.ping")
    );
    Ok(())
}
