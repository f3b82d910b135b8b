"""A real zufang instance (scripts/ci/app-instance.sh: loopback MariaDB and Redis, small seed) answers the
probes and the Ingress path the manifests use, exposes the metric behind the HPA, and shuts down within the
Deployment's grace period. Kubernetes itself is not involved: no cluster runs here."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO, one
from test_consistency import effective_config, effective_env, zufang_containers

NAME, PORT = "k8s", 18480
APP_INSTANCE = REPO / "scripts/ci/app-instance.sh"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def prod_app(rendered, default_config):
    objs = rendered["prod"]
    cfg = effective_config(default_config, effective_env(objs, zufang_containers(objs)[-1][1]))["application"]
    return cfg


@pytest.fixture(scope="module")
def instance(prod_app):
    env = dict(os.environ)
    env["ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS"] = str(prod_app["shutdown_drain_seconds"])
    env["ZUFANG__APPLICATION__SHUTDOWN_TIMEOUT_SECONDS"] = str(prod_app["shutdown_timeout_seconds"])
    try:
        proc = subprocess.run([str(APP_INSTANCE), "start", NAME, str(PORT)], env=env, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield f"http://127.0.0.1:{PORT}"
    finally:
        # Also after a failed start: app-instance leaves a process that did not become ready running.
        subprocess.run([str(APP_INSTANCE), "stop", NAME], capture_output=True, timeout=120)


def test_probe_and_ingress_paths_answer_on_a_real_instance(rendered, instance):
    c = one(rendered["prod"], "Deployment", "app")["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        status, _ = get(instance + c[probe]["httpGet"]["path"])
        assert status == 200, probe
    paths = [p["path"] for r in one(rendered["prod"], "Ingress", "app")["spec"]["rules"] for p in r["http"]["paths"]]
    status, body = get(instance + paths[0] + "districts/")
    assert status == 200 and '"results"' in body


def test_the_hpa_metric_comes_from_the_app(instance):
    get(instance + "/api/districts/")
    status, metrics = get(instance + "/metrics")
    assert status == 200
    routes = set(re.findall(r'^http_requests_total\{[^}]*route="([^"]*)"', metrics, flags=re.M))
    assert "/api/districts/" in routes
    # The adapter rule in k8s/README.md leaves probe and scrape traffic out of requests per second.
    readme = (REPO / "k8s/README.md").read_text()
    excluded = re.search(r'route!~"([^"]+)"', readme).group(1)
    assert any(re.fullmatch(excluded, r) for r in routes), "the probes' route label is not excluded"
    assert not re.fullmatch(excluded, "/api/districts/")


def test_shutdown_fits_the_grace_period(rendered, instance, prod_app):
    """SIGTERM (after preStop): readiness fails at once, the process exits within drain + timeout, and
    preStop + that stays below terminationGracePeriodSeconds."""
    spec = one(rendered["prod"], "Deployment", "app")["spec"]["template"]["spec"]
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    pid = int((REPO / ".cache/app-instances" / f"{NAME}.pid").read_text())
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    status, _ = get(instance + "/readyz")
    assert status == 503, "readiness must fail as soon as shutdown begins"
    limit = prod_app["shutdown_drain_seconds"] + prod_app["shutdown_timeout_seconds"] + 2
    while time.monotonic() - started < limit:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"zufang still running {limit}s after SIGTERM")
    took = time.monotonic() - started
    assert took >= prod_app["shutdown_drain_seconds"] - 0.5, "exited before draining"
    assert pre_stop + took < spec["terminationGracePeriodSeconds"]
