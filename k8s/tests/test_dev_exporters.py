"""dev overlay: MariaDB and Redis are monitored like in compose, by exporter sidecars that run as non-root
users with read-only root filesystems, pinned to compose's exporter images, scraped by ServiceMonitors
whose Prometheus jobs are "mysql" and "redis", with credentials only in secret files."""
from __future__ import annotations

import re

import pytest

from conftest import K8S, REPO, find, one

EXPORTERS = {"mysql": ("mysqld-exporter", "MYSQLD_EXPORTER_IMAGE", 9104),
             "redis": ("redis-exporter", "REDIS_EXPORTER_IMAGE", 9121)}


def compose_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (REPO / ".env").read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.mark.parametrize("store", sorted(EXPORTERS))
def test_each_data_store_has_a_pinned_hardened_exporter_sidecar(rendered, store):
    name, image_var, port = EXPORTERS[store]
    sts = one(rendered["dev"], "StatefulSet", store)
    containers = {c["name"]: c for c in sts["spec"]["template"]["spec"]["containers"]}
    c = containers[name]
    assert c["image"] == compose_env()[image_var], "the same exporter release as the compose stack"
    assert re.search(r":v?\d+\.\d+\.\d+", c["image"]) and "latest" not in c["image"]
    sc = c["securityContext"]
    assert sc["runAsUser"] >= 10000 and sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert [p["containerPort"] for p in c["ports"]] == [port]
    assert not c.get("env") and not c.get("envFrom"), "credentials come from secret files, not variables"
    assert all(m.get("readOnly") for m in c["volumeMounts"] if "secret" in m["name"])
    assert any(f"listen-address=:{port}" in part for part in c["command"])
    svc = one(rendered["dev"], "Service", store)
    assert {"name": "metrics", "port": port, "targetPort": "metrics"} in svc["spec"]["ports"]


def test_service_monitors_make_the_jobs_mysql_and_redis(rendered):
    objs = rendered["dev"]
    jobs = {}
    for sm in find(objs, "ServiceMonitor"):
        for svc in find(objs, "Service"):
            labels = svc["metadata"].get("labels", {})
            if sm["spec"]["selector"]["matchLabels"].items() <= labels.items():
                jobs[sm["metadata"]["name"]] = labels[sm["spec"]["jobLabel"]] if sm["spec"].get("jobLabel") else svc["metadata"]["name"]
        assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert {k: v for k, v in jobs.items() if k in EXPORTERS} == {"mysql": "mysql", "redis": "redis"}


def test_the_exporter_account_is_the_one_initdb_creates(rendered):
    objs = rendered["dev"]
    sts = one(objs, "StatefulSet", "mysql")
    script = next(cm for cm in find(objs, "ConfigMap") if cm["metadata"]["name"].startswith("mysql-initdb"))
    [body] = script["data"].values()
    assert "'exporter'@'127.0.0.1'" in body and "MAX_USER_CONNECTIONS" in body
    assert "GRANT ALL" not in body.upper()
    exporter = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "mysqld-exporter")
    assert "user=exporter" in " ".join(exporter["command"]) and "host=127.0.0.1" in " ".join(exporter["command"])
    secret = one(objs, "Secret", next(v["secret"]["secretName"] for v in sts["spec"]["template"]["spec"]["volumes"]
                                      if v["name"] == "exporter-secret"))
    assert "exporter_password" in secret["data"]
    assert "mysqld_exporter_password" in (K8S / "tools/make-secrets.sh").read_text()
