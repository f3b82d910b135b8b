"""Fixtures of the Zabbix suite; monitoring/zabbix/tests/run.sh installs the packages and runs it as root.

Modules run in the order of MODULES: the static checks, agent 2 on its own, then the server: the
compose one-shot (zabbix_init.py) and the client's command line against it, the templates, hosts, values, and the triggers, whose
checks change the state they run against (state files rewritten, the replica and nginx stopped).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest

import rig
from rig import REPO, Rig, log

MODULES = ["test_static", "test_agent", "test_init", "test_client", "test_server"]


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.module.__name__
        return MODULES.index(name) if name in MODULES else len(MODULES)
    items.sort(key=rank)  # stable: tests keep their order inside a module


def keep() -> bool:
    """ZBX_KEEP=1: leave the server, front end, agent and the run folder for a look."""
    return os.environ.get("ZBX_KEEP", "0") == "1"


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """MARIADB_* of the shared MariaDB and Redis (scripts/ci/services.sh installs and starts them)."""
    out = subprocess.run([REPO / "scripts/ci/services.sh", "--env"], check=True, text=True,
                         stdout=subprocess.PIPE).stdout
    env = {}
    for word in shlex.split(out):
        if "=" in word:
            k, v = word.split("=", 1)
            env[k] = v
    return env


@pytest.fixture(scope="session")
def run_dir():
    busy = [p for p in rig.PORTS if rig.port_open(p)]
    if busy:
        pytest.exit(f"port(s) {busy} on 127.0.0.1 in use (another run? ZBX_KEEP=1 leftovers?)", returncode=1)
    d = Path(tempfile.mkdtemp(prefix="zufang-zabbix."))
    d.chmod(0o755)
    yield d
    if not keep():
        subprocess.run(["rm", "-rf", str(d)])


@pytest.fixture(scope="session")
def app_start(run_dir):
    """A real zufang instance (scripts/ci/app-instance.sh), started in the background at once: it may
    need a cargo build, which overlaps the server's start. The fixture `app` waits for it."""
    logf = open(run_dir / "app-start.log", "w")
    p = subprocess.Popen([REPO / "scripts/ci/app-instance.sh", "start", "zabbix", str(rig.APP_PORT)],
                         stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    yield p
    p.wait()
    logf.close()
    if not keep():
        subprocess.run([REPO / "scripts/ci/app-instance.sh", "stop", "zabbix"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def app(app_start, run_dir) -> str:
    rc = app_start.wait()
    assert rc == 0, f"scripts/ci/app-instance.sh start failed ({rc}):\n" + (run_dir / "app-start.log").read_text()[-3000:]
    return rig.APP_URL


@pytest.fixture(scope="session")
def zbx(services, run_dir, app_start) -> Rig:
    """The rig with agent 2 configured (not started: the agent checks run it with -t)."""
    r = Rig(run_dir, services.get("MARIADB_PORT") or "3306")
    secrets_dir = r.monitor_account()
    r.agent_config()
    subprocess.run([rig.ZABBIX / "agent2/render-secrets.sh", secrets_dir, run_dir / "agent2/secrets.d"],
                   check=True, stdout=subprocess.DEVNULL)
    yield r
    if keep():
        log(f"ZBX_KEEP=1: left running, state in {run_dir}")
    else:
        r.stop_all()


@pytest.fixture(scope="session")
def server(zbx) -> Rig:
    zbx.db_prepare()
    assert zbx.server_start(), "zabbix_server did not start (log above)"
    return zbx


@pytest.fixture(scope="session")
def api(server):
    assert server.frontend_start(), f"the PHP front end did not listen on {rig.WEB_PORT}"
    return server.api_login()
