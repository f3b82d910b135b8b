"""The offline Zabbix images on their own, without the compose project or its 172.28 networks: a
plain `docker network create` network, the three images of monitoring/zabbix/images, the offline
MariaDB (zabbix-db, aliased `mysql` for the agent's plugin) and Redis, secrets made by
scripts/images/runtime/init-secrets.sh, each container run with the variables compose.yaml gives it.
Tests run in file order: each builds on the state the ones before it left (the schema imported, the
templates in, zabbix-init run)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
HERE = "monitoring/zabbix/images"
PREFIX = os.environ.get("ZBX_IMAGES_PREFIX", "zbximg")
NET = f"{PREFIX}-net"
SCHEMA_TIMEOUT = int(os.environ.get("ZBX_IMAGES_TIMEOUT", "240"))
DB_ENV = ["-e", "DB_SERVER_HOST=zabbix-db", "-e", "DB_SERVER_PORT=3306", "-e", "MYSQL_DATABASE=zabbix",
          "-e", "MYSQL_USER=zabbix", "-e", "MYSQL_PASSWORD_FILE=/run/stack-secrets/zabbix/db_password"]
NAMES = ["db", "redis", "server", "web", "agent2", "half"]


def sh(*args: str, check: bool = False, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout, cwd=ROOT, **kw)


def name(short: str) -> str:
    return f"{PREFIX}-{short}"


def wait_for(what, seconds: float, every: float = 2) -> bool:
    end = time.monotonic() + seconds
    while True:
        try:
            if what():
                return True
        except (subprocess.SubprocessError, ValueError, KeyError):
            pass
        if time.monotonic() > end:
            return False
        time.sleep(every)


def health(container: str) -> str:
    return sh("docker", "inspect", "-f", "{{.State.Health.Status}}", container).stdout.strip()


def uid(container: str) -> str:
    return sh("docker", "exec", container, "id", "-u").stdout.strip()


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """The offline tags build.sh gives these images (built here when missing)."""
    tags = sh("scripts/images/build.sh", "--list", "--no-app", check=True).stdout.split()
    by_name = {t.rsplit(":", 1)[0].rsplit("/", 1)[-1]: t for t in tags}
    want = ["debian", "mariadb", "redis", "zabbix-server", "zabbix-web", "zabbix-agent2"]
    if any(sh("docker", "image", "inspect", by_name[w]).returncode for w in want):
        sh("scripts/images/build.sh", "--no-app", "--profile", "zabbix", check=True, timeout=1800)
    env = {"ZABBIX_SERVER_IMAGE": "zabbix-server", "ZABBIX_WEB_IMAGE": "zabbix-web",
           "ZABBIX_AGENT2_IMAGE": "zabbix-agent2"}
    out = {w: by_name[w] for w in want}
    out.update({w: os.environ[k] for k, w in env.items() if os.environ.get(k)})
    return out


@pytest.fixture(scope="module")
def work(images):
    """Network, secrets (the stack's generator and layout) and a keepalived state folder; removed at
    the end with every container (ZBX_KEEP=1 leaves them)."""
    def clean():
        sh("docker", "rm", "-f", *[name(n) for n in NAMES])
        sh("docker", "network", "rm", NET)
    clean()
    sh("docker", "network", "create", NET, check=True)
    d = Path(tempfile.mkdtemp(prefix="zabbix-images."))
    d.chmod(0o711)
    sh("bash", "scripts/images/runtime/init-secrets.sh", str(d / "secrets"), check=True)
    (d / "keepalived").mkdir()
    (d / "keepalived/lb1.state").write_text("MASTER\n")
    for p in [d / "keepalived", d / "keepalived/lb1.state"]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    yield d
    if os.environ.get("ZBX_KEEP") != "1":
        clean()
        shutil.rmtree(d, ignore_errors=True)


def secrets(work: Path) -> list[str]:
    return ["-v", f"{work}/secrets:/run/stack-secrets:ro"]


def net() -> list[str]:
    return ["--network", NET]


@pytest.fixture(scope="module")
def compose_cfg() -> dict:
    out = sh("docker", "compose", "-p", f"{PREFIX}-config", "-f", "compose.yaml", "--profile", "zabbix",
             "config", "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# ---- the compose profile -------------------------------------------------------------------------

@pytest.mark.parametrize("service", ["zabbix-db", "zabbix-server", "zabbix-web", "zabbix-agent2"])
def test_every_zabbix_service_has_its_profile_healthcheck_memory_limit_and_network(compose_cfg, service):
    svc = compose_cfg["services"][service]
    assert svc.get("profiles") == ["zabbix"]
    assert svc.get("healthcheck", {}).get("test"), "no healthcheck"
    assert int(svc.get("mem_limit") or 0) > 0, "no mem_limit"
    assert "monitoring" in svc["networks"]


def test_the_zabbix_services_have_their_fixed_monitoring_addresses(compose_cfg):
    addresses = sorted(s["networks"]["monitoring"]["ipv4_address"] for k, s in compose_cfg["services"].items()
                       if k.startswith("zabbix") and (s["networks"].get("monitoring") or {}).get("ipv4_address"))
    assert addresses == ["172.28.30.50", "172.28.30.51", "172.28.30.52", "172.28.30.53"]


def test_compose_builds_the_agent_from_compose_yaml(images):
    tag = f"{PREFIX}/compose-build:check"
    env = dict(os.environ, BASE_IMAGE=images["debian"], ZABBIX_AGENT2_IMAGE=tag)
    try:
        out = sh("docker", "compose", "-p", f"{PREFIX}-config", "-f", "compose.yaml", "--profile", "zabbix",
                 "build", "zabbix-agent2", env=env, timeout=900)
        assert out.returncode == 0, out.stderr[-2000:]
        assert sh("docker", "image", "inspect", tag).returncode == 0
    finally:
        sh("docker", "image", "rm", tag)


# ---- the database, and entrypoints that refuse to start -----------------------------------------

def test_zabbix_db_and_redis_start(images, work):
    sh("docker", "run", "-d", "--name", name("db"), *net(), "--network-alias", "zabbix-db", "--network-alias",
       "mysql", *secrets(work),
       "-v", f"{ROOT}/{HERE}/mysql-monitor-user.sh:/docker-entrypoint-initdb.d/20-zabbix-monitor-user.sh:ro",
       "-e", "MARIADB_DATABASE=zabbix", "-e", "MARIADB_USER=zabbix",
       "-e", "MARIADB_PASSWORD_FILE=/run/stack-secrets/zabbix-db/password",
       "-e", "MARIADB_ROOT_PASSWORD_FILE=/run/stack-secrets/zabbix-db/root_password",
       "--health-cmd", "healthcheck.sh --connect --innodb_initialized", "--health-interval", "2s",
       "--health-retries", "60", "--memory", "320m", images["mariadb"], "mariadbd",
       "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin", "--innodb-buffer-pool-size=64M",
       check=True)
    # As compose.yaml runs it: uid 6379, which owns the generated config with the ACL users.
    sh("docker", "run", "-d", "--name", name("redis"), *net(), "--network-alias", "redis", *secrets(work),
       "--user", "6379:6379", "--memory", "64m", images["redis"], "redis-server",
       "/run/stack-secrets/redis/redis.conf", check=True)
    assert wait_for(lambda: health(name("db")) == "healthy", 90), sh("docker", "logs", name("db")).stderr[-2000:]


@pytest.mark.parametrize("image,extra,needle", [
    ("zabbix-server", ["-e", "DB_SERVER_HOST=zabbix-db"], "MYSQL_PASSWORD"),
    ("zabbix-web", [], "MYSQL_PASSWORD"),
    ("zabbix-server", ["SECRETS", *DB_ENV, "-e", "ZBX_NOSUCHOPTION=1"], "NOSUCHOPTION"),
])
def test_an_entrypoint_refuses_a_missing_password_or_an_unknown_option(images, work, image, extra, needle):
    extra = [a for x in extra for a in (secrets(work) if x == "SECRETS" else [x])]
    out = sh("docker", "run", "--rm", *net(), *extra, images[image], timeout=120)
    assert out.returncode != 0 and needle in out.stdout + out.stderr, (out.returncode, out.stderr[-1000:])


# ---- the server: the first start imports the schema ----------------------------------------------

def test_the_server_imports_the_schema_and_listens(images, work):
    sh("docker", "run", "-d", "--name", name("server"), *net(), "--network-alias", "zabbix-server",
       *secrets(work), *DB_ENV, "-e", "ZBX_ALLOWUNSUPPORTEDDBVERSIONS=1", "-e", "ZBX_CACHEUPDATEFREQUENCY=5",
       "-e", "ZBX_STARTPINGERS=0", "-e", "ZBX_UNREACHABLEPERIOD=15",
       "--health-cmd", 'bash -c "</dev/tcp/127.0.0.1/10051"', "--health-interval", "3s",
       "--health-retries", "100", "--memory", "384m", images["zabbix-server"], check=True)
    assert wait_for(lambda: health(name("server")) == "healthy", SCHEMA_TIMEOUT), \
        sh("docker", "logs", "--tail", "40", name("server")).stderr
    log = sh("docker", "logs", name("server")).stdout + sh("docker", "logs", name("server")).stderr
    assert "schema imported in" in log
    assert re.search(r"Starting Zabbix Server\. Zabbix 6\.0\.", log)
    assert not re.search(r"cannot use database|database is down|\[Z3005\]", log, re.I)


def test_the_server_runs_as_1997_with_a_private_config(work):
    assert uid(name("server")) == "1997"
    mode = sh("docker", "exec", name("server"), "stat", "-c", "%a", "/run/zabbix/zabbix_server.conf").stdout.strip()
    assert mode == "600", "the config holds the database password"


# ---- the front end and its JSON-RPC API -------------------------------------------------------

@pytest.fixture(scope="module")
def web(images, work) -> str:
    sh("docker", "run", "-d", "--name", name("web"), *net(), "--network-alias", "zabbix-web", *secrets(work),
       *DB_ENV, "-e", "ZBX_SERVER_HOST=zabbix-server", "-e", "ZBX_SERVER_NAME=zufang-images", "-e", "PHP_TZ=UTC",
       "-p", "127.0.0.1::8080", "--memory", "256m", images["zabbix-web"], check=True)
    port = sh("docker", "port", name("web"), "8080/tcp", check=True).stdout.split(":")[-1].strip()
    return f"http://127.0.0.1:{port}"


def zbx(web: str, *args: str, auth: str = "", stdin: str | None = None) -> subprocess.CompletedProcess:
    """The repository's one Zabbix API client (monitoring/zabbix/zabbix_api.py), by its command line."""
    env = dict(os.environ, ZBX_API_URL=f"{web}/api_jsonrpc.php", ZBX_AUTH=auth)
    return subprocess.run(["python3", str(ROOT / "monitoring/zabbix/zabbix_api.py"), *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def call(web: str, auth: str, method: str, params) -> object:
    out = zbx(web, "call", method, json.dumps(params), auth=auth)
    assert out.returncode == 0, f"{method}: {out.stderr[-1000:]}"
    return json.loads(out.stdout)


def login(web: str, user: str, password: str) -> str | None:
    out = zbx(web, "login", user, stdin=password)
    return out.stdout.strip() if out.returncode == 0 else None


@pytest.fixture(scope="module")
def admin(web) -> str:
    assert wait_for(lambda: zbx(web, "call", "apiinfo.version", "[]").returncode == 0, 60)
    token = login(web, "Admin", "zabbix")
    assert token, "user.login as the default Admin"
    return token


def test_the_front_end_answers_the_api_with_zabbix_6_0(web, admin):
    version = zbx(web, "call", "apiinfo.version", "[]").stdout.strip().strip('"')
    assert re.fullmatch(r"6\.0\.\d+", version)


def test_the_login_page_is_served_and_the_configuration_folder_is_not(web, admin):
    home = urllib.request.urlopen(f"{web}/", timeout=20).read().decode()
    assert "Sign in" in home and "Database error" not in home and "setup.php" not in home
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{web}/conf/zabbix.conf.php", timeout=20)
    assert e.value.code == 403
    assert uid(name("web")) == "1997"


def test_every_template_file_imports(web, admin):
    for f in sorted((ROOT / "monitoring/zabbix/templates").glob("*.yaml")):
        out = zbx(web, "import", str(f), auth=admin)
        assert out.returncode == 0 and out.stdout.strip() == "true", f"{f.name}: {out.stderr[-1000:]}"
    names = {t["name"] for t in call(web, admin, "template.get", {"output": ["name"], "search": {"name": "zufang"}})}
    assert {"zufang by HTTP", "zufang data by Zabbix agent 2"} <= names
    assert int(call(web, admin, "trigger.get", {"templated": True, "countOutput": True,
                                                "search": {"description": "zufang"}})) > 0


# ---- agent 2: the repository's config, passwords from files ---------------------------------

def zget(key: str) -> str:
    return sh("docker", "exec", name("server"), "zabbix_get", "-s", "zabbix-agent2", "-p", "10050", "-t", "10",
              "-k", key).stdout.strip()


def test_agent2_starts_as_1997_with_its_plugin_secrets_private(images, work):
    sh("docker", "run", "-d", "--name", name("agent2"), *net(), "--network-alias", "zabbix-agent2",
       "--hostname", "zabbix-agent2", *secrets(work), "-v", f"{work}/keepalived:/var/lib/keepalived/state:ro",
       "-e", "ZBX_SECRETS_DIR=/run/stack-secrets/zabbix", "--read-only",
       "--tmpfs", "/run/zabbix:uid=1997,gid=1997,mode=0700,size=1m", "--tmpfs", "/tmp:size=8m",
       "--health-cmd", 'bash -c "</dev/tcp/127.0.0.1/10050"', "--health-interval", "2s", "--health-retries", "30",
       "--memory", "64m", images["zabbix-agent2"], check=True)
    assert wait_for(lambda: health(name("agent2")) == "healthy", 60)
    assert uid(name("agent2")) == "1997"
    mode = sh("docker", "exec", name("agent2"), "stat", "-c", "%a", "/run/zabbix/agent2.d/plugin-secrets.conf")
    assert mode.stdout.strip() == "600"
    leaked = sh("docker", "run", "--rm", "--entrypoint", "grep", images["zabbix-agent2"], "-rqi", "password=",
                "/etc/zabbix")
    assert leaked.returncode == 1, "a password in the agent image's config"


@pytest.mark.parametrize("key,expected", [
    ("agent.ping", "1"),
    ("zufang.keepalived.state[lb1]", "MASTER"),
    ("zufang.keepalived.state[lb2]", "UNKNOWN"),
    ('mysql.ping["zufang"]', "1"),
    ('redis.ping["zufang"]', "1"),
    ("zufang.app.healthz[http://zabbix-server:8080/healthz]", "0"),
])
def test_zabbix_get_from_the_server_container_reads_the_agent(key, expected):
    # The agent's first MySQL/Redis connection may still be opening: a few tries.
    assert wait_for(lambda: zget(key) == expected, 12), f"{key}: {zget(key)!r}"


def test_the_agent_denies_system_run():
    assert zget("system.run[id]").startswith("ZBX_NOTSUPPORTED: Unknown metric system.run")


def test_the_server_polls_the_agent_into_item_values(web, admin):
    gid = call(web, admin, "hostgroup.get", {"output": ["groupid"], "filter": {"name": ["Templates"]}})[0]["groupid"]
    host = call(web, admin, "host.create", {"host": f"{PREFIX}-agent2", "groups": [{"groupid": gid}],
                                            "interfaces": [{"type": 1, "main": 1, "useip": 0, "ip": "",
                                                            "dns": "zabbix-agent2", "port": "10050"}]})["hostids"][0]
    iface = call(web, admin, "hostinterface.get", {"output": ["interfaceid"], "hostids": host})[0]["interfaceid"]
    items = [("agent.ping", 3), ('redis.ping["zufang"]', 3), ("zufang.keepalived.state[lb1]", 1)]
    call(web, admin, "item.create", [{"hostid": host, "interfaceid": iface, "name": k, "key_": k, "type": 0,
                                      "value_type": t, "delay": "5s"} for k, t in items])
    want = {"agent.ping": "1", 'redis.ping["zufang"]': "1", "zufang.keepalived.state[lb1]": "MASTER"}

    def values():
        got = call(web, admin, "item.get", {"output": ["key_", "lastvalue", "lastclock"], "hostids": host})
        return {i["key_"]: i["lastvalue"] for i in got if i["lastclock"] != "0"}
    assert wait_for(lambda: values() == want, 120, every=3), values()


# ---- zabbix-init (the compose one-shot) -------------------------------------------------------

def init_run(images, work) -> subprocess.CompletedProcess:
    z = f"{ROOT}/monitoring/zabbix"
    return sh("docker", "run", "--rm", *net(), *secrets(work), "--read-only", "--entrypoint", "python3",
              "-v", f"{z}/zabbix_init.py:/opt/zabbix-init/zabbix_init.py:ro",
              "-v", f"{z}/zabbix_api.py:/opt/zabbix-init/zabbix_api.py:ro", "-v", f"{z}/templates:/templates:ro",
              "-e", "ZBX_API_URL=http://zabbix-web:8080/api_jsonrpc.php", "-e", "PYTHONDONTWRITEBYTECODE=1",
              "-e", "ZBX_ADMIN_PASSWORD_FILE=/run/stack-secrets/zabbix/admin_password",
              images["zabbix-agent2"], "/opt/zabbix-init/zabbix_init.py", timeout=300)


def test_zabbix_init_sets_the_admin_password_and_creates_the_hosts(images, work, web, admin):
    out = init_run(images, work)
    assert out.returncode == 0, out.stderr[-2000:]
    assert login(web, "Admin", "zabbix") is None, "the default Admin password still works"
    token = login(web, "Admin", (work / "secrets/zabbix/admin_password").read_text().splitlines()[0])
    assert token, "Admin with the generated password"
    hosts = call(web, token, "host.get", {"output": ["host"], "selectParentTemplates": ["host"],
                                          "selectMacros": ["macro", "value"],
                                          "filter": {"host": ["app1", "app2", "app3", "lb1", "lb2", "edge", "mysql"]}})
    summary = {h["host"]: sorted(t["host"] for t in h["parentTemplates"]) for h in hosts}
    app = ["zufang app by Zabbix agent 2", "zufang by HTTP"]
    assert summary == {"app1": app, "app2": app, "app3": app, "edge": ["zufang edge pair"],
                       "lb1": ["zufang edge by Zabbix agent 2"], "lb2": ["zufang edge by Zabbix agent 2"],
                       "mysql": ["zufang data by Zabbix agent 2"]}
    app2 = next(h for h in hosts if h["host"] == "app2")
    assert {m["macro"]: m["value"] for m in app2["macros"]}["{$ZUFANG.METRICS.URL}"] == "http://app2:8080/metrics"
    again = init_run(images, work)
    assert again.returncode == 0 and "host app1 exists" in again.stdout + again.stderr, "not idempotent"


# ---- restarts and an interrupted import -------------------------------------------------------

def test_a_restart_keeps_the_schema(work):
    sh("docker", "restart", "-t", "30", name("server"), check=True, timeout=120)
    assert wait_for(lambda: health(name("server")) == "healthy", 90)
    log = sh("docker", "logs", name("server"))
    assert "holds a Zabbix schema" in log.stdout + log.stderr


def test_a_half_imported_database_is_dropped_and_imported_again(images, work):
    root_pw = (work / "secrets/zabbix-db/root_password").read_text().splitlines()[0]
    sql = ("CREATE DATABASE zabbix_half CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
           "GRANT ALL ON zabbix_half.* TO 'zabbix'@'%'; "
           "CREATE TABLE zabbix_half.dbversion (dbversionid bigint); CREATE TABLE zabbix_half.users (userid bigint);")
    sh("docker", "exec", "-e", f"MYSQL_PWD={root_pw}", name("db"), "mariadb", "-uroot", "-e", sql, check=True)
    env = [a if a != "MYSQL_DATABASE=zabbix" else "MYSQL_DATABASE=zabbix_half" for a in DB_ENV]
    sh("docker", "run", "-d", "--name", name("half"), *net(), *secrets(work), *env, "--memory", "256m",
       images["zabbix-server"], check=True)

    def redone():
        log = sh("docker", "logs", name("half"))
        return re.search(r"\(interrupted import\): dropping them.*importing the Zabbix", log.stdout + log.stderr, re.S)
    assert wait_for(redone, 30), sh("docker", "logs", "--tail", "5", name("half")).stderr
