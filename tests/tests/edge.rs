//! The edge claims of docs/runbooks/failover.md and nginx/README.md, proven against the running
//! compose stack: balancing, replica loss, no replay of a POST, keepalived failover
//! (graceful, hard, nginx death), idle upstream keep-alive, and one VIP holder at all times.
//! Traffic goes to the VIP on the stack's own `edge` bridge (the host is a client there) and is
//! bounded in count and time. Every scenario restores the stack before it returns. Figures are
//! printed and appended to artifacts/stack/edge.jsonl.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use zufang_e2e::{
    admin_token, client, compose, container_id, docker, estates_named, eventually, failures, random_hex, record,
    vip_holders, vip_url, wait_healthy, Sample, Stream,
};

const REPLICAS: [(&str, &str); 3] =
    [("app1", "172.28.20.21:8080"), ("app2", "172.28.20.22:8080"), ("app3", "172.28.20.23:8080")];

fn upstream_of(resp: &reqwest::blocking::Response) -> String {
    resp.headers().get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Seconds since the epoch of an RFC 3339 UTC time as docker prints it (`2026-11-29T22:40:01.123456789Z`).
fn parse_rfc3339(ts: &str) -> Option<f64> {
    let (date, time) = ts.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (hh, mm) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?);
    let ss = t.next()?.parse::<f64>().ok()?;
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + hh * 3600 + mm * 60) as f64 + ss)
}

fn epoch_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs_f64()
}

/// Epoch seconds of the first log line of `service` (docker's own timestamps) at or after
/// `since` that contains `needle`.
fn log_time(service: &str, needle: &str, since: f64) -> Result<Option<f64>> {
    let logs = compose(&["logs", "--no-color", "--no-log-prefix", "--timestamps", service])?;
    Ok(logs
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| parse_rfc3339(l.split(' ').next()?))
        .find(|t| *t >= since))
}

/// When keepalived in `service` logged "Entering STATE STATE" at or after `since`.
fn wait_state_logged(service: &str, state: &str, since: f64, limit: Duration) -> Result<f64> {
    let needle = format!("Entering {state} STATE");
    eventually(&format!("{service} logs {state}"), limit, Duration::from_millis(250), || {
        log_time(service, &needle, since)
    })
}

fn the_one_holder() -> Result<String> {
    let holders = vip_holders()?;
    ensure!(holders.len() == 1, "exactly one proxy must hold the VIP, found {holders:?}");
    Ok(holders[0].clone())
}

fn other(lb: &str) -> &'static str {
    if lb == "lb1" {
        "lb2"
    } else {
        "lb1"
    }
}

/// Brings a proxy back after a scenario and shows that the VIP stays where it is (nopreempt) and
/// that there is exactly one holder.
fn recover_proxy(lb: &str, holder: &str) -> Result<()> {
    // A killed node's pid files outlive it, and a restarted container numbers its processes as
    // before, so keepalived may find its own new pid in them and refuse to start ("daemon is
    // already running"). Planted for certain here: pid files naming PID 1 (the entrypoint, alive
    // and no keepalived); the node must remove them and run keepalived all the same.
    let id = container_id(lb)?;
    let stale = std::env::temp_dir().join(format!("zufang-e2e-stale-{lb}.pid"));
    std::fs::write(&stale, "1\n")?;
    for name in ["keepalived.pid", "vrrp.pid"] {
        docker(&["cp", &stale.to_string_lossy(), &format!("{id}:/run/keepalived/{name}")])?;
    }
    let _ = std::fs::remove_file(&stale);
    compose(&["start", lb])?;
    let took = wait_healthy(lb, Duration::from_secs(60))?;
    let keepalived = compose(&["exec", "-T", lb, "sh", "-c", "pgrep -x keepalived || echo none"])?;
    ensure!(keepalived.trim() != "none", "{lb} came back without keepalived (stale pid files?)");
    // Several advert intervals after the restart: a preempting node would have taken the VIP back.
    std::thread::sleep(Duration::from_secs(4));
    let holders = vip_holders()?;
    eprintln!("  {lb} back (healthy in {:.1}s); VIP holders 4 s later: {holders:?}", took.as_secs_f64());
    ensure!(
        holders == vec![holder.to_string()],
        "after {lb} recovered the VIP must stay on {holder} alone: {holders:?}"
    );
    Ok(())
}

/// GETs through the VIP every 50 ms, each allowed 5 s like a patient client: a replica whose
/// address vanished costs nginx its 2 s connect timeout before the retry, and a client that gave
/// up earlier would cancel that attempt before nginx could mark the replica failed.
fn stream_vip() -> Stream {
    Stream::start(
        format!("{}/api/districts/?page=1&size=1", vip_url()),
        Duration::from_millis(50),
        Duration::from_secs(5),
        Duration::from_secs(90),
    )
}

fn summary(samples: &[Sample]) -> (usize, usize) {
    (samples.len(), samples.iter().filter(|s| !s.ok()).count())
}

#[test]
fn e1_balancing_reaches_every_replica_with_a_fair_share() -> Result<()> {
    let c = client();
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..300 {
        let resp = c.get(format!("{}/api/districts/?page=1&size=1", vip_url())).send()?;
        ensure!(resp.status().is_success(), "request {i} through the VIP: {}", resp.status());
        *counts.entry(upstream_of(&resp)).or_default() += 1;
    }
    eprintln!("300 requests through the VIP: {counts:?}");
    record("edge", &json!({"test": "balancing", "requests": 300, "per_upstream": counts}));
    for (_, addr) in REPLICAS {
        let n = counts.get(addr).copied().unwrap_or(0);
        // Fair share 100; the claim is "none with less than half of it".
        ensure!(n >= 50, "{addr} served {n} of 300 (< half its fair share): {counts:?}");
    }
    ensure!(counts.len() == REPLICAS.len(), "requests went to unexpected upstreams: {counts:?}");
    Ok(())
}

#[test]
fn e2_replica_loss_fails_no_get_and_the_replica_serves_again_without_reload() -> Result<()> {
    let (victim, addr) = REPLICAS[2];
    let nginx_pids =
        |lb: &str| compose(&["exec", "-T", lb, "pgrep", "-o", "-x", "nginx"]).map(|s| s.trim().to_string());
    let before = (nginx_pids("lb1")?, nginx_pids("lb2")?);
    let stream = stream_vip();
    std::thread::sleep(Duration::from_secs(2));
    let t_stop = stream.now();
    compose(&["stop", victim])?;
    let t_stopped = stream.now();
    std::thread::sleep(Duration::from_secs(3));
    let t_start = stream.now();
    compose(&["start", victim])?;
    wait_healthy(victim, Duration::from_secs(90))?;
    let t_healthy = stream.now();
    // Used again within the passive health check window (fail_timeout 5 s) plus slack, no reload.
    let back =
        eventually(&format!("{victim} serves again"), Duration::from_secs(30), Duration::from_millis(100), || {
            let resp = client().get(format!("{}/api/districts/?page=1&size=1", vip_url())).send()?;
            Ok((upstream_of(&resp) == addr).then_some(()))
        });
    let t_back = stream.now();
    std::thread::sleep(Duration::from_secs(1));
    let samples = stream.finish();
    back?;
    let (n, failed) = summary(&samples);
    let slowest = samples.iter().map(|s| s.took).max().unwrap_or_default();
    eprintln!(
        "replica loss: {n} GETs, {failed} failed; stop issued {:.1}s, stopped {:.1}s, start {:.1}s, healthy {:.1}s, \
         serving again {:.1}s ({:.1}s after healthy); slowest GET {:.2}s",
        t_stop.as_secs_f64(),
        t_stopped.as_secs_f64(),
        t_start.as_secs_f64(),
        t_healthy.as_secs_f64(),
        t_back.as_secs_f64(),
        (t_back - t_healthy).as_secs_f64(),
        slowest.as_secs_f64()
    );
    record(
        "edge",
        &json!({"test": "replica_loss", "gets": n, "failed": failed,
                "serving_again_after_healthy_s": (t_back - t_healthy).as_secs_f64(),
                "slowest_get_s": slowest.as_secs_f64()}),
    );
    ensure!(failed == 0, "GETs failed while {victim} stopped and came back: {:?}", failures(&samples));
    let after = (nginx_pids("lb1")?, nginx_pids("lb2")?);
    ensure!(before == after, "nginx master processes changed (a reload or restart): {before:?} -> {after:?}");
    Ok(())
}

#[test]
fn e3_a_post_whose_upstream_dies_mid_request_is_not_replayed() -> Result<()> {
    let token = admin_token()?;
    let (victim, victim_addr) = REPLICAS[1];
    let district = client().get(format!("{}/api/districts/?page=1&size=1", vip_url())).send()?.json::<Value>()?
        ["results"][0]["id"]
        .as_u64()
        .context("no district to attach estates to")?;
    // Freeze the replica: nginx's connection to it stays open, a request sent there gets no answer.
    compose(&["pause", victim])?;
    let result = (|| -> Result<Value> {
        for round in 0..5 {
            // Three POSTs at once: least_conn gives the frozen replica one of them (retry otherwise).
            let names: Vec<String> = (0..3).map(|i| format!("e2e-noreplay-{}-{round}-{i}", random_hex(4))).collect();
            let handles: Vec<_> = names
                .iter()
                .map(|name| {
                    let (name, token) = (name.clone(), token.clone());
                    std::thread::spawn(move || {
                        let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                        c.post(format!("{}/api/estates/", vip_url()))
                            .bearer_auth(token)
                            .json(&json!({"name": name, "district_id": district}))
                            .send()
                            .map(|r| (r.status().as_u16(), upstream_of(&r)))
                            .map_err(|e| format!("{e:#}"))
                    })
                })
                .collect();
            // The two live replicas answer at once; one still pending after 2 s is on the frozen one.
            std::thread::sleep(Duration::from_secs(2));
            let pending = handles.iter().filter(|h| !h.is_finished()).count();
            if pending == 0 {
                let done: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                eprintln!("round {round}: no POST reached {victim}: {done:?}");
                continue;
            }
            // The replica dies with the request in its socket (SIGKILL while frozen).
            let t_kill = epoch_now();
            docker(&["kill", "-s", "KILL", &container_id(victim)?])?;
            let done: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            eprintln!("round {round}: killed {victim} with {pending} POST(s) in flight; responses {done:?}");
            let mut rows = BTreeMap::new();
            for (name, outcome) in names.iter().zip(&done) {
                rows.insert(name.clone(), (outcome.clone(), estates_named(name)?));
            }
            for (name, (outcome, n)) in &rows {
                match outcome {
                    Ok((201, up)) => {
                        ensure!(*n == 1, "{name}: 201 from {up} but {n} rows");
                        ensure!(!up.contains(','), "{name}: a POST went to two upstreams: {up}");
                    }
                    Ok((status, up)) => {
                        ensure!(
                            up == victim_addr,
                            "{name}: {status} from {up}, expected only the killed {victim_addr}"
                        );
                        ensure!((500..600).contains(status), "{name}: the dead replica's POST answered {status}");
                        ensure!(*n == 0, "{name}: the POST to the dead replica was replayed ({n} rows)");
                    }
                    Err(e) => bail!("{name}: transport error through the VIP: {e}"),
                }
            }
            ensure!(
                rows.values().any(|(o, _)| matches!(o, Ok((s, _)) if *s >= 500)),
                "a POST was pending on {victim} but none failed: {rows:?}"
            );
            return Ok(json!({"test": "post_not_replayed", "round": round, "killed_at": t_kill,
                             "responses": rows.iter().map(|(k, (o, n))| json!({"name": k, "outcome": format!("{o:?}"), "rows": n})).collect::<Vec<_>>()}));
        }
        bail!("in 5 rounds no POST was sent to the frozen replica {victim}")
    })();
    // Restore: a killed container is started again; a still-paused one is unpaused first.
    if compose(&["ps", "--status", "paused", "--services"])?.contains(victim) {
        compose(&["unpause", victim])?;
    }
    compose(&["start", victim])?;
    wait_healthy(victim, Duration::from_secs(90))?;
    let figures = result?;
    record("edge", &figures);
    Ok(())
}

#[test]
fn e4_keepalived_failover_graceful_hard_and_nginx_death_with_one_holder() -> Result<()> {
    let result = failover_scenarios();
    // Whatever happened, leave both proxies running for the tests that follow.
    compose(&["start", "lb1", "lb2"])?;
    wait_healthy("lb1", Duration::from_secs(60))?;
    wait_healthy("lb2", Duration::from_secs(60))?;
    result
}

/// A keepalived failover scenario: its name in the figures, and what the measured time must meet.
struct Failover {
    scenario: &'static str,
    /// How long the backup may take to log MASTER.
    wait: Duration,
    /// The claim on the failover time in seconds, and its wording, where the runbook makes one.
    bound: Option<(f64, &'static str)>,
    /// The old master still runs after the trigger (keepalived alive): stop it before restarting.
    stop_before_recovery: bool,
    /// No request may meet a refused connection (the proxies' EDGE_QUIET_REFUSALS rule).
    no_refusals: bool,
}

impl Failover {
    fn new(scenario: &'static str, wait_s: u64, bound: Option<(f64, &'static str)>) -> Failover {
        Failover { scenario, wait: Duration::from_secs(wait_s), bound, stop_before_recovery: false, no_refusals: false }
    }

    fn no_refusals(self) -> Failover {
        Failover { no_refusals: true, ..self }
    }

    fn stop_before_recovery(self) -> Failover {
        Failover { stop_before_recovery: true, ..self }
    }
}

/// What a trigger reports: when the failover clock starts (epoch seconds) and extra figures.
struct Fired {
    t0: f64,
    figures: serde_json::Map<String, Value>,
}

/// One failover away from the current VIP holder, the skeleton every scenario shares: GETs stream
/// through the VIP while `trigger` acts on the master (it gets the master and the epoch second
/// before it acts, and says when the failover clock starts); the failover lasts until the backup
/// logs "Entering MASTER STATE". Then the backup alone must hold the VIP, the time must meet the
/// bound, and the old master comes back and must stay BACKUP. Returns the scenario's figures.
fn failover(f: Failover, trigger: impl FnOnce(&str, f64) -> Result<Fired>) -> Result<Value> {
    let master = the_one_holder()?;
    let backup = other(&master);
    let stream = stream_vip();
    std::thread::sleep(Duration::from_secs(2));
    let since = epoch_now();
    let fired = trigger(&master, since)?;
    let t1 = wait_state_logged(backup, "MASTER", since, f.wait)?;
    std::thread::sleep(Duration::from_secs(1));
    let samples = stream.finish();
    let (n, failed) = summary(&samples);
    let took = t1 - fired.t0;
    let failed_requests = failures(&samples);
    eprintln!(
        "{}: VIP {master} -> {backup} in {took:.3}s {:?}; {n} requests, {failed} failed {failed_requests:?}",
        f.scenario, fired.figures,
    );
    let mut figures = json!({"scenario": f.scenario, "from": master, "to": backup, "failover_s": took,
                             "requests": n, "failed": failed, "failures": failed_requests,
                             "slowest_s": samples.iter().map(|s| s.took.as_secs_f64()).fold(0.0, f64::max)});
    figures.as_object_mut().expect("an object").extend(fired.figures);
    let holders = vip_holders()?;
    ensure!(
        holders == vec![backup.to_string()],
        "after {} on {master} the VIP must be on {backup} alone: {holders:?}",
        f.scenario
    );
    if let Some((bound, claim)) = f.bound {
        ensure!(took < bound, "{} failover took {took:.3}s (claim: {claim})", f.scenario);
    }
    if f.no_refusals {
        // EDGE_QUIET_REFUSALS: the dead node's kernel drops what it would refuse, so a request
        // may wait for its SYN's retransmission (slowest_s) but is never refused.
        let refused: Vec<&String> = failed_requests.iter().filter(|f| f.to_lowercase().contains("refused")).collect();
        ensure!(refused.is_empty(), "{}: connections to the VIP were refused: {refused:?}", f.scenario);
    }
    if f.stop_before_recovery {
        compose(&["stop", &master])?;
    }
    recover_proxy(&master, backup)?;
    Ok(figures)
}

fn failover_scenarios() -> Result<()> {
    // EDGE_QUIET_REFUSALS (compose.yaml): each proxy drops, not refuses, connections to the VIP
    // that nobody accepts, so the requests that reach a killed proxy in its last milliseconds are
    // retried by TCP at the peer instead of failing.
    for lb in ["lb1", "lb2"] {
        let rules = compose(&["exec", "-T", lb, "iptables", "-w", "5", "-S", "OUTPUT"])?;
        ensure!(
            rules.contains("zufang-edge-quiet-refusals") && rules.contains("--connbytes 0:1"),
            "{lb} has no quiet-refusals rule: {rules}"
        );
    }
    // Steady state.
    let master = the_one_holder()?;
    eprintln!("steady state: VIP on {master} alone");
    let mut figures = Vec::new();

    // Graceful: stop the master container (SIGTERM: keepalived sends a priority-0 advert).
    let graceful = Failover::new("graceful", 10, Some((1.0, "under 1 s")));
    figures.push(failover(graceful, |master, since| {
        compose(&["stop", master])?;
        let t0 = log_time(master, "stopping keepalived", since)?.context("the stopped proxy did not log its stop")?;
        Ok(Fired { t0, figures: Default::default() })
    })?);

    // Hard: SIGKILL the (new) master: the backup waits for 3 missed adverts + skew (VRRPv3,
    // advert_int 0.2 s: 0.61 s at priority 240).
    let hard = Failover::new("hard_kill", 15, Some((1.0, "under 1 s = 3 adverts at 0.2 s + skew"))).no_refusals();
    figures.push(failover(hard, |master, _| {
        let id = container_id(master)?;
        docker(&["kill", "-s", "KILL", &id])?;
        let finished = docker(&["inspect", "-f", "{{.State.FinishedAt}}", &id])?;
        let t0 = parse_rfc3339(finished.trim()).context("FinishedAt of the killed proxy")?;
        Ok(Fired { t0, figures: Default::default() })
    })?);

    // nginx dies, keepalived lives: the track script puts the master in FAULT. The node keeps
    // keepalived but has no nginx: the container is restarted to recover it. Every nginx process
    // dies: the master (root) first, so that it respawns no worker, then the workers, which run
    // as www-data and which root cannot signal in this container (no CAP_KILL): as www-data
    // (setpriv, with the container's SETUID/SETGID). Killing the master alone leaves its workers
    // serving on the VIP, and nothing would be measured. A killed process may linger a moment
    // (until PID 1 reaps it): up to 2 s for none to be left.
    let nginx_death = Failover::new("nginx_death", 15, None).stop_before_recovery().no_refusals();
    figures.push(failover(nginx_death, |master, since| {
        let left = compose(&[
            "exec",
            "-T",
            master,
            "sh",
            "-c",
            "pkill -KILL -x -u root nginx; setpriv --reuid=www-data --regid=www-data --clear-groups pkill -KILL -x nginx; \
             for _ in $(seq 20); do pgrep -x nginx >/dev/null || { echo none; exit; }; sleep 0.1; done; pgrep -a -x nginx",
        ])?;
        ensure!(left.trim() == "none", "nginx processes left on {master} after the kill: {left}");
        let t_fault = wait_state_logged(master, "FAULT", since, Duration::from_secs(15))?;
        let mut extra = serde_json::Map::new();
        extra.insert("fault_s".into(), json!(t_fault - since));
        Ok(Fired { t0: since, figures: extra })
    })?);

    // Steady state again: one holder, every request answered.
    let holder = the_one_holder()?;
    let resp = client().get(format!("{}/api/districts/?page=1&size=1", vip_url())).send()?;
    ensure!(resp.status().is_success(), "through the VIP after all scenarios: {}", resp.status());
    eprintln!("end: VIP on {holder} alone");
    record("edge", &json!({"test": "failover", "scenarios": figures}));
    Ok(())
}

#[test]
fn e5_idle_pooled_upstream_connections_give_no_502() -> Result<()> {
    // The ordering that prevents the 502, read from the running containers: nginx's upstream pool
    // must drop idle connections before the app closes them (otherwise nginx may reuse a socket
    // at the instant the app closes it). A burst after an idle period alone passes with the wrong
    // ordering most of the time (nginx also drops a pooled socket when the app's FIN arrives), so
    // the effective values are checked first.
    let app_config = compose(&["exec", "-T", "app1", "zufang", "check-config"])?;
    let keep_alive =
        number_after(&app_config, "\"keep_alive_seconds\":").context("keep_alive_seconds in check-config")?;
    let nginx_t = compose(&["exec", "-T", "lb1", "nginx", "-T", "-p", "/etc/nginx/", "-c", "/etc/nginx/nginx.conf"])?;
    let upstream = nginx_t
        .split("upstream zufang_app {")
        .nth(1)
        .and_then(|b| b.split('}').next())
        .context("upstream zufang_app in nginx -T")?;
    let pool_timeout =
        number_after(upstream, "keepalive_timeout").context("keepalive_timeout in upstream zufang_app")?;
    eprintln!("nginx upstream keepalive_timeout {pool_timeout}s, app keep_alive_seconds {keep_alive}s");
    ensure!(
        pool_timeout < keep_alive,
        "nginx keeps idle upstream connections ({pool_timeout}s) longer than the app ({keep_alive}s)"
    );
    let burst = |what: &str| -> Result<BTreeMap<u16, u32>> {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                std::thread::spawn(move || -> Result<u16> {
                    let c = client();
                    let resp = if i % 4 == 0 {
                        // A POST that reaches the app (401 without a token): never retried by nginx.
                        c.post(format!("{}/api/estates/", vip_url())).json(&json!({"name": "idle"})).send()?
                    } else {
                        c.get(format!("{}/api/estates/?page=1&size=1", vip_url())).send()?
                    };
                    Ok(resp.status().as_u16())
                })
            })
            .collect();
        let mut statuses = BTreeMap::new();
        for h in handles {
            *statuses.entry(h.join().unwrap()?).or_default() += 1;
        }
        eprintln!("{what}: statuses {statuses:?}");
        Ok(statuses)
    };
    let first = burst("burst filling the upstream pools")?;
    ensure!(!first.keys().any(|s| *s >= 500), "5xx before the idle period: {first:?}");
    eprintln!("idle for {} s (longer than the app's keep-alive)", keep_alive + 3);
    std::thread::sleep(Duration::from_secs(keep_alive + 3));
    let second = burst("burst after the idle period")?;
    record("edge", &json!({"test": "idle_keepalive", "idle_s": keep_alive + 3, "statuses": second}));
    ensure!(!second.contains_key(&502), "502 after idle pooled connections: {second:?}");
    ensure!(
        second.keys().all(|s| *s == 200 || *s == 401),
        "every GET must be 200 and every POST 401 from the app: {second:?}"
    );
    Ok(())
}

#[test]
fn e6_limit_conn_answers_429_beyond_64_connections_per_client() -> Result<()> {
    // Every replica frozen: requests stay in flight at the edge, so 70 at once from one client
    // address exceed `limit_conn perclient 64`; the excess must get nginx's 429 JSON at once.
    let apps: Vec<&str> = REPLICAS.iter().map(|(s, _)| *s).collect();
    compose(&[&["pause"][..], &apps].concat())?;
    let handles: Vec<_> = (0..70)
        .map(|_| {
            std::thread::spawn(move || -> std::result::Result<(u16, String, Duration), String> {
                let t0 = std::time::Instant::now();
                let c = reqwest::blocking::Client::builder().timeout(Duration::from_secs(40)).build().unwrap();
                let r =
                    c.get(format!("{}/api/estates/?page=1&size=1", vip_url())).send().map_err(|e| format!("{e:#}"))?;
                let status = r.status().as_u16();
                Ok((status, r.text().unwrap_or_default(), t0.elapsed()))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let early = handles.iter().filter(|h| h.is_finished()).count();
    compose(&[&["unpause"][..], &apps].concat())?;
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut statuses: BTreeMap<u16, u32> = BTreeMap::new();
    for r in &results {
        match r {
            Ok((s, _, _)) => *statuses.entry(*s).or_default() += 1,
            Err(e) => bail!("a request failed at the transport level: {e}"),
        }
    }
    eprintln!("70 concurrent GETs with every replica frozen: {early} answered within 3 s; statuses {statuses:?}");
    record("edge", &json!({"test": "limit_conn", "concurrent": 70, "answered_early": early, "statuses": statuses}));
    let limited: Vec<_> = results.iter().flatten().filter(|(s, _, _)| *s == 429).collect();
    ensure!(limited.len() >= 6, "at most 64 in flight per client: expected >= 6 answers 429, got {statuses:?}");
    for (_, body, took) in &limited {
        ensure!(body.contains("\"rate_limited\""), "429 without the JSON error body: {body}");
        ensure!(*took < Duration::from_secs(3), "a 429 took {took:?}: it must not wait for an upstream");
    }
    ensure!(early == limited.len(), "only the 429s may answer while the replicas are frozen: {early} early");
    ensure!(
        statuses.get(&200).copied().unwrap_or(0) as usize + limited.len() == 70,
        "the admitted requests must succeed once the replicas run again: {statuses:?}"
    );
    Ok(())
}

/// The first unsigned integer after `key` in `text`.
fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[test]
fn rfc3339_parser_matches_known_epochs() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(parse_rfc3339("2000-03-01T00:00:01Z"), Some(951868801.0));
    let t = parse_rfc3339("2026-11-29T22:40:01.500000000Z").unwrap();
    assert!((t - 1795992001.5).abs() < 1e-6, "{t}");
}
