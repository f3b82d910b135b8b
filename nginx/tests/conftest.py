"""Fixtures for the edge suite; nginx/tests/run.sh installs the tools and runs it as root.

The suite renders this repository's nginx configuration into temporary prefixes with the image's
own entrypoint, runs a real nginx from them on 127.0.0.1 (edge_http's ports), puts it in front of
two real zufang instances (scripts/ci/app-instance.sh) and drives keepalived in network
namespaces. Modules run in the order of MODULES: the live checks change what they run against
(a replica is stopped and restarted, the redirect-mode nginx is stopped last).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from edge_http import APP1, APP2, HTTP, HTTPS, R_HTTP, R_HTTPS, R_STATUS, STATUS
from instances import ARTIFACTS, Nginx, app_instance, entrypoint_env, prefix, zufang_bin
from shell import succeeds

MODULES = ["test_scripts", "test_config", "test_keepalived", "test_notify_fifo", "test_live_static",
           "test_failover_netns", "test_live_app", "test_live_browser", "test_live_replica", "test_live_end"]
_notes: list[str] = []


def keep() -> bool:
    """EDGE_TEST_KEEP=1: leave the scratch folder and the namespaces for inspection."""
    return os.environ.get("EDGE_TEST_KEEP", "0") == "1"


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.module.__name__
        return MODULES.index(name) if name in MODULES else len(MODULES)
    items.sort(key=rank)  # stable: tests keep their order inside a module


def pytest_terminal_summary(terminalreporter):
    if _notes:
        terminalreporter.section("edge figures")
        for line in _notes:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def note():
    """note(LINE): a measured figure, printed after the results (the results stay one line a check)."""
    return _notes.append


@pytest.fixture(scope="session")
def work():
    """The run's scratch folder (run.sh makes it and cleans up after an interrupted run)."""
    given = os.environ.get("EDGE_TEST_WORK")
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="edge-test."))
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)  # nginx workers (www-data) read html/ from here
    yield path
    if not given and not keep():
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def tls(work):
    """A development certificate from scripts/tls/make-dev-cert.sh (with an extra SAN)."""
    d = work / "tls"
    succeeds("scripts/tls/make-dev-cert.sh", "--cert", d / "tls.crt", "--key", d / "tls.key", "--san", "DNS:edge.test")
    return d


@pytest.fixture(scope="session")
def render(work, tls):
    """render(NAME, **ENV): a prefix rendered by nginx/docker-entrypoint.sh with ENV."""
    def _render(name: str, **env) -> Path:
        p = prefix(work, name)
        succeeds("nginx/docker-entrypoint.sh", "render", env={**entrypoint_env(p, tls), **env})
        return p
    return _render


@pytest.fixture(scope="session")
def main_prefix(render):
    """The instance the live checks use: serve mode in front of the two app instances."""
    return render("main", APP_UPSTREAMS=f"127.0.0.1:{APP1} 127.0.0.1:{APP2}", EDGE_LISTEN_ADDRESS="127.0.0.1",
                  EDGE_HTTP_PORT=str(HTTP), EDGE_HTTPS_PORT=str(HTTPS), EDGE_STATUS_PORT=str(STATUS))


@pytest.fixture(scope="session")
def redirect_prefix(render):
    return render("redirect", APP_UPSTREAMS=f"127.0.0.1:{APP1}", EDGE_LISTEN_ADDRESS="127.0.0.1",
                  EDGE_HTTP_MODE="redirect", EDGE_HTTP_PORT=str(R_HTTP), EDGE_HTTPS_PORT=str(R_HTTPS),
                  EDGE_STATUS_PORT=str(R_STATUS))


@pytest.fixture(scope="session")
def default_prefix(render):
    """The container's defaults (ports 80/443/8081, the three fixed replica addresses)."""
    return render("default")


@pytest.fixture(scope="session")
def live_main(main_prefix):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nginx = Nginx(main_prefix, STATUS)
    yield nginx
    nginx.stop()
    # The run's logs stay with the artifacts (the access log is JSON, one request a line).
    shutil.copy(nginx.access_log, ARTIFACTS / "nginx-access.log")
    shutil.copy(nginx.error_log, ARTIFACTS / "nginx-error.log")


@pytest.fixture(scope="session")
def live_redirect(redirect_prefix):
    nginx = Nginx(redirect_prefix, R_STATUS)
    yield nginx
    nginx.stop()


@pytest.fixture(scope="session")
def apps():
    """Two real zufang instances (edge on APP1, edge2 on APP2): name -> the start command's outcome."""
    started = {}
    try:
        for name, port in (("edge", APP1), ("edge2", APP2)):
            env = {"ZUFANG_BIN": zufang_bin()} if name == "edge2" and os.access(zufang_bin(), os.X_OK) else None
            started[name] = None
            started[name] = app_instance("start", name, str(port), env=env)
        yield started
    finally:
        for name in started:
            app_instance("stop", name)


@pytest.fixture(scope="session")
def both_apps(apps):
    """Both instances are up (the checks that need them fail at once otherwise)."""
    for name, outcome in apps.items():
        assert outcome.returncode == 0, f"app instance {name} did not start:\n{outcome.stdout[-2000:]}"
    return apps
