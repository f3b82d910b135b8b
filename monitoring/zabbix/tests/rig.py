"""The test rig: a throw-away Zabbix 6.0 server, its PHP front end (JSON-RPC API only), agent 2 and a
stub_status nginx, all from Debian's packages, all on 127.0.0.1, all under one run folder.

Ports (127.0.0.1, each overridable by its variable): front end ZBX_WEB_PORT=19101, nginx
ZBX_NGINX_PORT=19102, server ZBX_SERVER_PORT=19103, agent ZBX_AGENT_PORT=19104, a closed port
ZBX_DEAD_PORT=19105 for the "down" checks, the zufang instance ZBX_APP_PORT=19110.
"""
from __future__ import annotations

import gzip
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ZABBIX = HERE.parent
REPO = ZABBIX.parent.parent
sys.path.insert(0, str(ZABBIX))

from zabbix_api import ZabbixAPI, ZabbixError  # noqa: E402  (the repository's one client)


def port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


WEB_PORT = port("ZBX_WEB_PORT", 19101)
NGINX_PORT = port("ZBX_NGINX_PORT", 19102)
SERVER_PORT = port("ZBX_SERVER_PORT", 19103)
AGENT_PORT = port("ZBX_AGENT_PORT", 19104)
DEAD_PORT = port("ZBX_DEAD_PORT", 19105)
APP_PORT = port("ZBX_APP_PORT", 19110)
PORTS = [WEB_PORT, NGINX_PORT, SERVER_PORT, AGENT_PORT, DEAD_PORT, APP_PORT]
APP_URL = f"http://127.0.0.1:{APP_PORT}"
API_URL = f"http://127.0.0.1:{WEB_PORT}/api_jsonrpc.php"
# Seconds an item value or a trigger state may take to arrive.
WAIT = float(os.environ.get("ZBX_WAIT", "150"))


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} zabbix-test: {msg}", file=sys.stderr, flush=True)


def sh(*cmd, input: str | None = None, check: bool = True, **kw) -> str:
    p = subprocess.run([str(c) for c in cmd], input=input, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}: {p.stdout[-2000:]}")
    return p.stdout


def secret(name: str) -> str:
    """A random secret kept in .cache/secrets (git-ignored), created once."""
    f = REPO / ".cache/secrets" / name
    if not f.is_file() or not f.read_text().strip():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")[:24])
        f.chmod(0o600)
    return f.read_text().strip()


def port_open(p: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, p)) == 0


def wait_port(p: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(p):
            return True
        time.sleep(0.25)
    return False


def mariadb(sql: str, db: str | None = None, stdin=None) -> str:
    cmd = ["mariadb", "--protocol=socket", "-N"] + ([db] if db else []) + ([] if stdin else ["-e", sql])
    p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"mariadb: {p.stderr.strip()}")
    return p.stdout.strip()


def reset_admin_password() -> None:
    """The suite logs in as Admin with the package's default password, which the zabbix_init check
    replaces: put the default back (its hash from data.sql), and lift any failed-login block."""
    with gzip.open("/usr/share/zabbix-server-mysql/data.sql.gz", "rt", encoding="utf-8") as f:
        row = next(line for line in f if line.startswith("INSERT INTO `users`") and "'Admin'" in line)
    default_hash = re.search(r"'(\$2y\$[^']+)'", row).group(1)
    mariadb(f"UPDATE zabbix_ci.users SET passwd='{default_hash}', attempt_failed=0, attempt_clock=0 "
            "WHERE username='Admin'")


class Rig:
    def __init__(self, run_dir: Path, mariadb_port: str):
        self.dir = run_dir
        self.db_port = mariadb_port
        self.procs: dict[str, subprocess.Popen] = {}

    # --- database ---------------------------------------------------------------------------
    def db_prepare(self) -> None:
        """The schema import takes ~45 s on a busy 2-core machine, so an imported schema is reused when
        it was made from the same package version and the import finished (marker row written last).
        Reuse is safe: the suite deletes its own hosts/templates first, and nothing else uses zabbix_ci."""
        pkgver = sh("dpkg-query", "-W", "-f=${Version}", "zabbix-server-mysql").strip()
        pw = secret("zabbix_ci_db_password")
        mariadb(f"""CREATE USER IF NOT EXISTS 'zabbix_ci'@'127.0.0.1' IDENTIFIED BY '{pw}';
            ALTER USER 'zabbix_ci'@'127.0.0.1' IDENTIFIED BY '{pw}';
            CREATE DATABASE IF NOT EXISTS zabbix_ci_meta;
            CREATE TABLE IF NOT EXISTS zabbix_ci_meta.import (pkgver VARCHAR(64) PRIMARY KEY);""")
        marker = mariadb(f"SELECT COUNT(*) FROM zabbix_ci_meta.import WHERE pkgver='{pkgver}'")
        try:
            mariadb("SELECT mandatory FROM zabbix_ci.dbversion")
            schema_there = True
        except RuntimeError:
            schema_there = False
        if marker == "1" and schema_there and os.environ.get("ZBX_FRESH_SCHEMA", "0") != "1":
            log(f"reusing the imported Zabbix schema (package {pkgver}; ZBX_FRESH_SCHEMA=1 to re-import)")
        else:
            log(f"importing the Zabbix {pkgver} schema into zabbix_ci (under a minute)")
            mariadb("""DELETE FROM zabbix_ci_meta.import; DROP DATABASE IF EXISTS zabbix_ci;
                CREATE DATABASE zabbix_ci CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;""")
            for part in ("schema", "images"):
                self._import_sql(f"/usr/share/zabbix-server-mysql/{part}.sql.gz")
            # data.sql is 130k one-row INSERTs: batched, 20 s instead of 2 minutes.
            self._import_sql("/usr/share/zabbix-server-mysql/data.sql.gz", batch=True)
            mariadb(f"INSERT INTO zabbix_ci_meta.import VALUES ('{pkgver}')")
        mariadb("GRANT ALL PRIVILEGES ON zabbix_ci.* TO 'zabbix_ci'@'127.0.0.1'")
        reset_admin_password()


    def _import_sql(self, path: str, batch: bool = False) -> None:
        plain = self.dir / "import.sql"
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        if batch:
            batched = self.dir / "import-batched.sql"
            with open(plain, "rb") as src, open(batched, "wb") as dst:
                subprocess.run([sys.executable, HERE / "batch-inserts.py"], stdin=src, stdout=dst, check=True)
            batched.replace(plain)
        with open(plain, encoding="utf-8") as f:
            mariadb("", db="zabbix_ci", stdin=f)
        plain.unlink()

    # --- server -------------------------------------------------------------------------------
    def server_start(self) -> bool:
        d = self.dir / "server"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "zabbix_server.conf"
        # Short cache/timer periods so that a test host's items and triggers take effect in seconds;
        # production keeps the defaults (CacheUpdateFrequency=60).
        conf.write_text(f"""ListenIP=127.0.0.1
ListenPort={SERVER_PORT}
LogType=file
LogFile={d}/zabbix_server.log
PidFile={d}/zabbix_server.pid
SocketDir={d}
DBHost=127.0.0.1
DBPort={self.db_port}
DBName=zabbix_ci
DBUser=zabbix_ci
DBPassword={secret('zabbix_ci_db_password')}
CacheUpdateFrequency=2
StartPollers=3
StartPollersUnreachable=1
StartTrappers=1
StartPingers=0
StartDiscoverers=0
StartHTTPPollers=0
StartTimers=1
StartEscalators=1
StartAlerters=1
StartPreprocessors=2
StartLLDProcessors=1
StartReportWriters=0
HousekeepingFrequency=0
UnreachablePeriod=15
UnavailableDelay=5
UnreachableDelay=5
Timeout=4
AllowRoot=1
# Debian's own MariaDB (10.11) is newer than the newest 6.0.14 knows (10.10); 6.0.19+ accepts it.
AllowUnsupportedDBVersions=1
FpingLocation=/usr/bin/fping
""")
        conf.chmod(0o600)
        self._spawn("server", ["nice", "zabbix_server", "-f", "-c", conf], d / "stdout.log")
        if wait_port(SERVER_PORT, 60):
            return True
        log((d / "zabbix_server.log").read_text()[-3000:] if (d / "zabbix_server.log").exists() else "no server log")
        return False

    # --- front end (API only) -----------------------------------------------------------------
    def frontend_start(self) -> bool:
        """Debian's front end reads /etc/zabbix/zabbix.conf.php (a constant in CConfigFile.php). The suite
        must not touch /etc, so it serves a copy of /usr/share/zabbix with the constant pointed here."""
        fe = self.dir / "frontend"
        shutil.rmtree(fe, ignore_errors=True)
        shutil.copytree("/usr/share/zabbix", fe, symlinks=True)
        cf = fe / "include/classes/core/CConfigFile.php"
        conf = self.dir / "zabbix.conf.php"
        text = cf.read_text(encoding="utf-8")
        new = text.replace("const CONFIG_FILE_PATH = '/etc/zabbix/zabbix.conf.php';",
                           f"const CONFIG_FILE_PATH = '{conf}';")
        if new == text:
            log("could not point the front end at its config (CConfigFile.php changed?)")
            return False
        cf.write_text(new, encoding="utf-8")
        conf.write_text(f"""<?php
$DB['TYPE'] = 'MYSQL';
$DB['SERVER'] = '127.0.0.1';
$DB['PORT'] = '{self.db_port}';
$DB['DATABASE'] = 'zabbix_ci';
$DB['USER'] = 'zabbix_ci';
$DB['PASSWORD'] = '{secret('zabbix_ci_db_password')}';
$DB['SCHEMA'] = '';
$DB['ENCRYPTION'] = false;
$DB['DOUBLE_IEEE754'] = true;
$ZBX_SERVER = '127.0.0.1';
$ZBX_SERVER_PORT = '{SERVER_PORT}';
$ZBX_SERVER_NAME = 'zufang-ci';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
""")
        conf.chmod(0o600)
        self._spawn("frontend", ["nice", "php", "-d", "memory_limit=512M", "-d", "post_max_size=16M",
                                 "-d", "max_execution_time=120", "-S", f"127.0.0.1:{WEB_PORT}", "-t", fe],
                    self.dir / "frontend.log", env={"PHP_CLI_SERVER_WORKERS": "2"})
        return wait_port(WEB_PORT, 30)

    def api_login(self) -> ZabbixAPI:
        """Admin on the reused schema has the default password (the zabbix_init check restores it). The
        front end answers before PHP has its sessions ready: retry the first login for 30 s."""
        api = ZabbixAPI(API_URL)
        for _ in range(30):
            try:
                api.login("Admin", "zabbix")
                return api
            except ZabbixError:
                time.sleep(1)
        api.login("Admin", "zabbix")
        return api

    # --- agent 2 ------------------------------------------------------------------------------
    def agent_config(self) -> Path:
        """The repository's agent files with only the addresses changed for loopback: service names
        (mysql, redis) -> 127.0.0.1, script directory -> the repository checkout."""
        a = self.dir / "agent2"
        shutil.rmtree(a, ignore_errors=True)
        (a / "zabbix_agent2.d").mkdir(parents=True)
        (a / "secrets.d").mkdir()
        src = ZABBIX / "agent2"
        for f in sorted((src / "zabbix_agent2.d").glob("*.conf")):
            text = f.read_text(encoding="utf-8")
            text = text.replace("tcp://mysql:3306", f"tcp://127.0.0.1:{self.db_port}")
            text = text.replace("tcp://redis:6379", "tcp://127.0.0.1:6379")
            text = text.replace("/usr/local/lib/zufang-zabbix", str(src / "scripts"))
            (a / "zabbix_agent2.d" / f.name).write_text(text, encoding="utf-8")
        # The main file as shipped, with listen/log paths and the include directories moved.
        subs = {"Server": "127.0.0.1", "ServerActive": "", "ListenIP": "127.0.0.1", "ListenPort": str(AGENT_PORT),
                "Hostname": "zufang-ci-agent", "LogType": "file", "LogFile": f"{a}/agent2.log",
                "PidFile": f"{a}/agent2.pid", "ControlSocket": f"{a}/agent2.sock"}
        lines = []
        for line in (src / "zabbix_agent2.conf").read_text(encoding="utf-8").splitlines():
            key = line.split("=", 1)[0]
            if key in subs and "=" in line:
                line = f"{key}={subs[key]}"
            elif line == "Include=/etc/zabbix/zabbix_agent2.d/*.conf":
                line = f"Include={a}/zabbix_agent2.d/*.conf"
            elif line == "Include=/run/zabbix/agent2.d/*.conf":
                line = f"Include={a}/secrets.d/*.conf"
            lines.append(line)
        (a / "zabbix_agent2.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return a / "zabbix_agent2.conf"

    def agent_test(self, key: str) -> str:
        """The value `zabbix_agent2 -t KEY` prints ("[s|VALUE]")."""
        out = subprocess.run(["zabbix_agent2", "-c", self.dir / "agent2/zabbix_agent2.conf", "-t", key],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        m = re.search(r"\[[a-z]\|(.*)\]$", out.strip(), re.M)
        return m.group(1) if m else ""

    def agent_start(self) -> bool:
        self._spawn("agent2", ["nice", "zabbix_agent2", "-c", self.dir / "agent2/zabbix_agent2.conf"],
                    self.dir / "agent2/stdout.log")
        return wait_port(AGENT_PORT, 30)

    # --- nginx with stub_status ---------------------------------------------------------------
    def nginx_start(self) -> bool:
        d = self.dir / "nginx"
        d.mkdir(parents=True, exist_ok=True)
        conf = (HERE / "nginx-stub-status.conf").read_text(encoding="utf-8")
        (d / "nginx.conf").write_text(conf.replace("@RUN_DIR@", str(d)).replace("@PORT@", str(NGINX_PORT)))
        self._spawn("nginx", ["nginx", "-e", d / "error.log", "-c", d / "nginx.conf", "-p", d, "-g", "daemon off;"],
                    d / "stdout.log")
        return wait_port(NGINX_PORT, 20)

    # --- the agent's MariaDB account ----------------------------------------------------------
    def monitor_account(self) -> Path:
        """The grants the MySQL plugin's checks need and nothing more; the password goes to a secrets
        folder the way compose mounts /run/secrets."""
        pw = secret("zabbix_mysql_password")
        mariadb(f"""CREATE USER IF NOT EXISTS 'zbx_monitor'@'127.0.0.1' IDENTIFIED BY '{pw}';
            ALTER USER 'zbx_monitor'@'127.0.0.1' IDENTIFIED BY '{pw}';
            GRANT USAGE, REPLICATION CLIENT, PROCESS, SHOW DATABASES, SHOW VIEW ON *.* TO 'zbx_monitor'@'127.0.0.1';""")
        d = self.dir / "secrets"
        d.mkdir(mode=0o700, exist_ok=True)
        shutil.copy(REPO / ".cache/secrets/zabbix_mysql_password", d / "zabbix_mysql_password")
        (d / "zabbix_mysql_password").chmod(0o600)
        return d

    # --- processes ------------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list, logfile: Path, env: dict | None = None) -> None:
        # Own process group: php -S with workers and zabbix_server fork children that must go with them.
        with open(logfile, "w") as out:
            self.procs[name] = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                                start_new_session=True)

    def stop(self, name: str) -> None:
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        os.killpg(p.pid, signal.SIGTERM)
        try:
            # zabbix_server stops its workers on SIGTERM; give it time.
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def stop_all(self) -> None:
        for name in ("nginx", "agent2", "frontend", "server"):
            self.stop(name)
