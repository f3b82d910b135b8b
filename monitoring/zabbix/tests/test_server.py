"""The templates on the real server: configuration.import, the production defaults, test hosts for a
real zufang replica (zci-app1), two edge nodes on a real stub_status nginx with state files in the
notify script's format (zci-lb1/2), the VRRP pair (zci-edge), MariaDB and Redis (zci-data, and
zci-data-down on a closed port); then item values, and trigger state changes. The tests run in
file order: the trigger checks rewrite state files and finally stop the replica and nginx."""
from __future__ import annotations

import threading
import time
import urllib.request

import pytest
import yaml

import rig
from rig import DEAD_PORT, NGINX_PORT, REPO, WAIT, ZABBIX, log

TEMPLATES = ["zufang by HTTP", "zufang app by Zabbix agent 2", "zufang data by Zabbix agent 2",
             "zufang edge by Zabbix agent 2", "zufang edge pair"]
EDGE_GROUP = "zufang-ci/lb"


# --- helpers ---------------------------------------------------------------------------------------

def lastvalue(api, host: str, key: str) -> str | None:
    """The item's last value; None until it has one."""
    got = api.call("item.get", {"output": ["lastvalue", "lastclock"], "host": host, "filter": {"key_": key}})
    return got[0]["lastvalue"] if got and got[0]["lastclock"] != "0" else None


def wait_value(api, host: str, key: str, ok, seconds: float = WAIT) -> str:
    deadline, v = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        v = lastvalue(api, host, key)
        try:
            if v is not None and ok(v):
                log(f"{host} {key} = {v}")
                return v
        except ValueError:
            pass
        time.sleep(3)
    pytest.fail(f"{host} {key}: last value {v!r} did not satisfy the condition within {seconds:.0f}s")


def wait_trigger(api, host: str, name: str, value: int, seconds: float = WAIT) -> None:
    """Trigger NAME of HOST reaches VALUE (0 OK, 1 PROBLEM) within SECONDS."""
    deadline, v = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        got = api.call("trigger.get", {"output": ["value"], "host": host, "filter": {"description": name}})
        v = got[0]["value"] if got else None
        if v == str(value):
            log(f"{host} '{name}' -> {value}")
            return
        time.sleep(3)
    pytest.fail(f"{host} '{name}' stayed {v!r} (wanted {value}) for {seconds:.0f}s")


def num(v: str) -> float:
    return float(v)


@pytest.fixture(scope="module")
def state(zbx):
    d = zbx.dir / "state"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="module")
def textfile(zbx):
    """backup.prom as the backup service writes it (scripts/images/backup), atomically."""
    d = zbx.dir / "textfile"
    d.mkdir(exist_ok=True)

    def write(success_age: int, run_ok: int, binlog_age: int) -> None:
        now = int(time.time())
        tmp = d / "backup.prom.tmp"
        tmp.write_text(f"backup_last_success_timestamp_seconds {now - success_age}\n"
                       f"backup_last_run_timestamp_seconds {now}\nbackup_last_run_success {run_ok}\n"
                       f"backup_interval_seconds 21600\nbackup_binlog_copied_timestamp_seconds {now - binlog_age}\n")
        tmp.chmod(0o644)
        tmp.replace(d / "backup.prom")
    write(30, 1, 2)
    write.path = d / "backup.prom"
    return write


# --- templates ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def templates(api):
    """Our own hosts and templates of an earlier run go first, so the import creates them anew."""
    old = api.call("host.get", {"output": ["hostid"], "search": {"host": "zci-"}, "startSearch": True})
    if old:
        api.call("host.delete", [h["hostid"] for h in old])
    old = api.call("template.get", {"output": ["templateid"], "search": {"host": "zufang "}, "startSearch": True})
    if old:
        api.call("template.delete", [t["templateid"] for t in old])
    # The schema's own "Zabbix server" host polls an agent on 10050 that is not ours.
    zs = api.host_ids(["Zabbix server"])
    if zs:
        api.call("host.update", {"hostid": zs["Zabbix server"], "status": 1})
    return sorted((ZABBIX / "templates").glob("*.yaml"))


def test_configuration_import_of_each_template_file(api, templates):
    assert len(templates) == 2
    for f in templates:
        assert api.import_template(f) is True, f.name


def test_all_five_templates_exist_after_import(api):
    assert sorted(api.template_ids(TEMPLATES)) == sorted(TEMPLATES)


def test_zufang_by_http_has_items_triggers_graphs_a_dashboard_and_the_bucket_discovery(api):
    t = api.call("template.get", {"output": ["host"], "filter": {"host": ["zufang by HTTP"]}, "selectItems": "count",
                                  "selectTriggers": "count", "selectGraphs": "count", "selectDashboards": "count",
                                  "selectDiscoveries": "count"})[0]
    assert int(t["items"]) >= 15 and int(t["triggers"]) >= 6 and int(t["graphs"]) >= 4
    assert int(t["dashboards"]) >= 1 and int(t["discoveries"]) == 1


def test_triggers_that_mirror_an_alert_link_its_runbook(api):
    """generate.py writes each trigger's url from the alert table's runbook_url pattern; the server
    keeps it, and the page exists."""
    ids = list(api.template_ids(TEMPLATES).values())
    triggers = api.call("trigger.get", {"output": ["description", "url"], "hostids": ids, "selectTags": "extend"})
    mirrored = {t["description"]: (t["url"], tag["value"]) for t in triggers for tag in t["tags"] if tag["tag"] == "alert"}
    assert len(mirrored) >= 16, mirrored
    for name, (url, alert) in mirrored.items():
        assert "/docs/runbooks/" in url, f"{name}: url {url!r}"
        page = url.split("/docs/runbooks/", 1)[1].split("#")[0]
        assert (REPO / "docs/runbooks" / page).is_file(), f"{name} ({alert}): {url}"


def shipped_macros() -> dict[tuple[str, str], str]:
    """{(template, macro): value} as the committed template files ship them: production defaults, whose
    thresholds and periods monitoring/generate.py writes from monitoring/alerts.yaml (its --check in
    the monitoring suite keeps them equal), so no number is repeated here."""
    out = {}
    for f in sorted((ZABBIX / "templates").glob("*.yaml")):
        for t in yaml.safe_load(f.read_text(encoding="utf-8"))["zabbix_export"]["templates"]:
            for m in t.get("macros", []):
                out[(t["template"], m["macro"])] = str(m.get("value", ""))
    return out


def test_templates_on_the_server_carry_the_shipped_production_defaults(api):
    """Test values live on the test hosts only; the templates keep what the files (the alert table) say."""
    shipped = shipped_macros()
    assert {"{$ZUFANG.5XX.RATIO.MAX.HIGH}", "{$ZUFANG.P99.MAX.WARN}", "{$ZUFANG.DOWN.NODATA}"} <= {m for _, m in shipped}
    ids = api.template_ids(TEMPLATES)
    # usermacro.get's `templateids` means "hosts linked to": hostids selects the template's own.
    got = {(tpl, m["macro"]): m["value"] for tpl, tid in ids.items()
           for m in api.call("usermacro.get", {"output": ["macro", "value"], "hostids": [tid]})}
    assert got == shipped


def test_app_probes_of_the_real_replica(zbx, app):
    """After the server's start, which the app's build (if any) overlapped."""
    assert zbx.agent_test(f"zufang.app.healthz[{app}/healthz]") == "1"
    # 2 = ready, 1 = degraded (ready, a dependency slow)
    assert zbx.agent_test(f"zufang.app.readyz[{app}/readyz]") in ("1", "2")


# --- hosts --------------------------------------------------------------------------------------

def test_nginx_with_stub_status_started(zbx):
    assert zbx.nginx_start()


def test_zabbix_agent2_started(zbx):
    assert zbx.agent_start()


def test_hosts_created_with_their_templates_linked(api, zbx, state, textfile, app):
    """Short intervals through host macros; the templates keep production defaults. The warning
    thresholds (p99, 5xx ratio, DB pool) are lowered below the real values so that their triggers must
    fire from real data; the high-severity ones keep production thresholds and must stay OK."""
    (state / "zci-lb1.state").write_text("MASTER\n")
    (state / "zci-lb2.state").write_text("BACKUP\n")
    agent = {"ip": "127.0.0.1", "port": rig.AGENT_PORT}
    api.create_host("zci-app1", "zufang-ci/app", ["zufang by HTTP", "zufang app by Zabbix agent 2"], {
        "ZUFANG.METRICS.URL": f"{app}/metrics", "ZUFANG.METRICS.INTERVAL": "5s", "ZUFANG.DOWN.NODATA": "30s",
        "ZUFANG.P99.WINDOW": "1m", "ZUFANG.HEALTHZ.URL": f"{app}/healthz", "ZUFANG.READYZ.URL": f"{app}/readyz",
        "ZUFANG.PROBE.INTERVAL": "5s", "ZUFANG.PROBE.PERIOD": "15s",
        "ZUFANG.P99.MAX.WARN": "0.0000001", "ZUFANG.P99.PERIOD.WARN": "15s",
        "ZUFANG.5XX.RATIO.MAX.WARN": "-1", "ZUFANG.5XX.PERIOD": "15s",
        "ZUFANG.DB.POOL.UTIL.MAX.WARN": "-1", "ZUFANG.DB.POOL.PERIOD": "15s"}, agent)
    lb = {"NGINX.STUB_STATUS.URL": f"http://127.0.0.1:{NGINX_PORT}/stub_status", "NGINX.STUB_STATUS.INTERVAL": "5s",
          "NGINX.DOWN.NODATA": "30s", "KEEPALIVED.STATE.DIR": str(state), "KEEPALIVED.INTERVAL": "5s",
          "KEEPALIVED.FAULT.PERIOD": "10s"}
    for name in ("zci-lb1", "zci-lb2"):
        api.create_host(name, EDGE_GROUP, ["zufang edge by Zabbix agent 2"], lb, agent)
    api.create_host("zci-edge", "zufang-ci/edge", ["zufang edge pair"], {
        "ZUFANG.EDGE.HOSTGROUP": EDGE_GROUP, "KEEPALIVED.PAIR.INTERVAL": "5s", "KEEPALIVED.PAIR.PERIOD": "10s"}, None)
    api.create_host("zci-data", "zufang-ci/data", ["zufang data by Zabbix agent 2"], {
        "ZUFANG.DATA.INTERVAL": "5s", "ZUFANG.DATA.DOWN.PERIOD": "10s", "BACKUP.TEXTFILE": str(textfile.path),
        "BACKUP.INTERVAL": "5s", "BACKUP.MAX.AGE": "600", "BACKUP.NODATA": "10m", "BACKUP.FAILED.PERIOD": "10s",
        "BACKUP.BINLOG.PERIOD": "10s"}, agent)
    # The same template pointed at a closed port: MySQLDown/RedisDown must fire without stopping the
    # shared MariaDB and Redis other suites use.
    dead = f"tcp://127.0.0.1:{DEAD_PORT}"
    api.create_host("zci-data-down", "zufang-ci/data", ["zufang data by Zabbix agent 2"], {
        "ZUFANG.DATA.INTERVAL": "5s", "ZUFANG.DATA.DOWN.PERIOD": "10s", "ZUFANG.MYSQL.SESSION": dead,
        "ZUFANG.REDIS.SESSION": dead}, agent)
    linked = api.call("host.get", {"output": ["host"], "selectParentTemplates": "count",
                                   "search": {"host": "zci-"}, "startSearch": True})
    assert {h["host"]: int(h["parentTemplates"]) for h in linked} == {
        "zci-app1": 2, "zci-lb1": 1, "zci-lb2": 1, "zci-edge": 1, "zci-data": 1, "zci-data-down": 1}


@pytest.fixture(scope="module")
def traffic(app):
    """Requests in the background, so that rates, cache counters and the latency histogram move."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            for path in ("/api/estates/?page=1&size=5", "/api/houses/?page=1&size=5", "/api/districts/"):
                try:
                    urllib.request.urlopen(app + path, timeout=5).read()
                except OSError:
                    pass
            stop.wait(0.2)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield stop
    stop.set()


# --- values (item keys as stored on the host: macros unexpanded) -----------------------------------
KA_KEY = "zufang.keepalived.state[{HOST.HOST},{$KEEPALIVED.STATE.DIR}]"
VALUES = [
    ("zci-lb1", "nginx.connections.active", lambda v: num(v) >= 1, "stub_status active connections"),
    ("zci-lb1", KA_KEY, lambda v: v == "MASTER", "lb1 keepalived state MASTER"),
    ("zci-lb2", KA_KEY, lambda v: v == "BACKUP", "lb2 keepalived state BACKUP"),
    ("zci-lb1", "keepalived.vrrp.master", lambda v: v == "1", "lb1 Is MASTER = 1"),
    ("zci-edge", "keepalived.vrrp.masters", lambda v: num(v) == 1, "pair: nodes in MASTER state = 1"),
    ("zci-data", 'mysql.ping["{$ZUFANG.MYSQL.SESSION}"]', lambda v: v == "1", "MariaDB ping = 1"),
    ("zci-data", 'redis.ping["{$ZUFANG.REDIS.SESSION}"]', lambda v: v == "1", "Redis ping = 1"),
    ("zci-data", "mysql.threads_connected", lambda v: num(v) > 0, "MariaDB threads connected > 0"),
    ("zci-data", "zufang.backup.age", lambda v: 0 <= num(v) < 300, "backup age from backup.prom"),
    ("zci-data", "zufang.backup.last_run_success", lambda v: v == "1", "last backup attempt succeeded"),
    ("zci-data", "zufang.backup.binlog.lag", lambda v: 0 <= num(v) < 300, "binlog copy lag from backup.prom"),
    ("zci-app1", "zufang.up", lambda v: v == "1", "app up = 1"),
    ("zci-app1", "zufang.version", lambda v: len(v) > 0, "version label extracted"),
    ("zci-app1", "zufang.http.requests.rate", lambda v: num(v) > 0, "request rate > 0"),
    ("zci-app1", "zufang.http.requests.5xx.ratio", lambda v: num(v) >= 0, "5xx ratio computed"),
    ("zci-app1", "zufang.http.in_flight", lambda v: num(v) >= 0, "in-flight received"),
    ("zci-app1", "zufang.db.pool.max", lambda v: num(v) > 0, "DB pool size > 0"),
    ("zci-app1", "zufang.db.pool.utilization", lambda v: num(v) >= 0, "DB pool utilization computed"),
    ("zci-app1", "zufang.cache.hit.ratio", lambda v: num(v) >= 0, "cache hit ratio computed"),
    ("zci-app1", "zufang.ratelimit.rejections.rate", lambda v: num(v) >= 0, "rate-limit rejections received"),
    ("zci-app1", "zufang.http.duration.bucket[+Inf]", lambda v: num(v) > 0, "latency bucket le=+Inf discovered"),
    ("zci-app1", "zufang.http.duration.p99", lambda v: num(v) > 0, "p99 computed from the buckets"),
    ("zci-app1", "zufang.app.healthz[{$ZUFANG.HEALTHZ.URL}]", lambda v: v == "1", "liveness probe (agent) = 1"),
    ("zci-app1", "zufang.app.readyz[{$ZUFANG.READYZ.URL}]", lambda v: v in ("1", "2"), "readiness probe = 2 or 1"),
]


@pytest.mark.parametrize("host, key, ok, what", VALUES, ids=[v[3] for v in VALUES])
def test_item_receives_values(api, traffic, host, key, ok, what):
    wait_value(api, host, key, ok)


# --- triggers -------------------------------------------------------------------------------------

def test_mysqldown_and_redisdown_fire_for_servers_that_do_not_answer(api):
    wait_trigger(api, "zci-data-down", "MariaDB: Service is down", 1)
    wait_trigger(api, "zci-data-down", "Redis: Service is down", 1)


def test_mysqldown_and_redisdown_stay_ok_for_the_real_servers(api):
    wait_trigger(api, "zci-data", "MariaDB: Service is down", 0, 5)
    wait_trigger(api, "zci-data", "Redis: Service is down", 0, 5)


def test_backup_triggers_ok_with_a_fresh_backup_and_a_current_binlog_copy(api):
    wait_trigger(api, "zci-data", "Backup: No recent full backup", 0, 5)
    wait_trigger(api, "zci-data", "Backup: Binlog copy is behind the server", 0, 5)


def test_backup_triggers_fire_for_an_old_backup_failed_attempts_and_a_stale_copy(api, textfile):
    textfile(5000, 0, 1000)
    wait_trigger(api, "zci-data", "Backup: No recent full backup", 1)
    wait_trigger(api, "zci-data", "Backup: Full backup attempts fail", 1)
    wait_trigger(api, "zci-data", "Backup: Binlog copy is behind the server", 1)


def test_backup_too_old_resolves_after_a_new_backup(api, textfile):
    textfile(30, 1, 2)
    wait_trigger(api, "zci-data", "Backup: No recent full backup", 0)


def test_keepalived_pair_triggers_ok_with_one_master(api):
    wait_trigger(api, "zci-edge", "keepalived: No node holds the VIP", 0, 5)
    wait_trigger(api, "zci-edge", "keepalived: More than one node holds the VIP", 0, 5)


def test_keepalived_split_brain_fires_when_both_nodes_report_master(api, state):
    (state / "zci-lb2.state").write_text("MASTER\n")
    wait_trigger(api, "zci-edge", "keepalived: More than one node holds the VIP", 1)


def test_keepalived_no_master_fires_when_no_node_reports_master_and_split_brain_resolves(api, state):
    (state / "zci-lb1.state").write_text("BACKUP\n")
    (state / "zci-lb2.state").write_text("BACKUP\n")
    wait_trigger(api, "zci-edge", "keepalived: No node holds the VIP", 1)
    wait_trigger(api, "zci-edge", "keepalived: More than one node holds the VIP", 0)


def test_keepalived_fault_and_missing_state_file_fire(api, state):
    (state / "zci-lb1.state").write_text("FAULT\n")
    (state / "zci-lb2.state").unlink()
    wait_trigger(api, "zci-lb2", "keepalived: State file missing or invalid", 1)
    wait_trigger(api, "zci-lb1", "keepalived: Node is in FAULT", 1)


def test_replica_down_stays_ok_while_the_replica_answers(api):
    wait_trigger(api, "zci-app1", "zufang: Replica is down", 0, 5)


@pytest.mark.parametrize("name", [
    "zufang: High p99 latency (over {$ZUFANG.P99.MAX.WARN}s)",
    "zufang: High 5xx ratio (over {$ZUFANG.5XX.RATIO.MAX.WARN}%)",
    "zufang: DB pool nearly exhausted (over {$ZUFANG.DB.POOL.UTIL.MAX.WARN}%)",
], ids=["ZufangHighLatencyP99 warning", "ZufangHigh5xxRatio warning", "DB pool warning"])
def test_warning_trigger_with_lowered_threshold_fires_from_real_data(api, traffic, name):
    wait_trigger(api, "zci-app1", name, 1)


@pytest.mark.parametrize("name", [
    "zufang: High 5xx ratio (over {$ZUFANG.5XX.RATIO.MAX.HIGH}%)",
    "zufang: High p99 latency (over {$ZUFANG.P99.MAX.HIGH}s)",
], ids=["ZufangHigh5xxRatio critical (5%, no 5xx)", "ZufangHighLatencyP99 critical (1 s)"])
def test_critical_trigger_with_production_threshold_stays_ok(api, name):
    wait_trigger(api, "zci-app1", name, 0, 5)


def test_replica_down_liveness_and_nginx_down_fire_after_the_replica_and_nginx_stop(api, zbx, traffic):
    traffic.set()
    log("stopping the zufang instance and nginx")
    rig.sh(REPO / "scripts/ci/app-instance.sh", "stop", "zabbix")
    zbx.stop("nginx")
    wait_trigger(api, "zci-app1", "zufang: Replica is down", 1)
    wait_trigger(api, "zci-app1", "zufang: Replica fails its liveness probe", 1)
    wait_trigger(api, "zci-lb1", "nginx: Service is down", 1)

