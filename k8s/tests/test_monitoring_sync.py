"""One source of truth for alerts and dashboards: the monitoring component's PrometheusRules and dashboard
ConfigMaps are generated from monitoring/ by k8s/tools/sync-monitoring.py and must equal it."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import K8S, REPO, find

SYNC = K8S / "tools/sync-monitoring.py"
RULES = sorted(p for ext in ("*.yaml", "*.yml") for p in (REPO / "monitoring/prometheus/rules").glob(ext))
DASHBOARDS = sorted((REPO / "monitoring/grafana/dashboards").glob("*/*.json"))


def sync(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SYNC), *args], capture_output=True, text=True, timeout=60)


def test_generated_copies_are_up_to_date():
    proc = sync("--check")
    assert proc.returncode == 0, proc.stderr + "\nrun: k8s/tools/sync-monitoring.py"


def test_prometheus_rules_equal_the_monitoring_rules(rendered):
    """After kustomize, each PrometheusRule's groups are exactly one monitoring rule file's groups."""
    rules = {o["metadata"]["annotations"]["zufang.io/source"]: o for o in find(rendered["prod"], "PrometheusRule")}
    assert set(rules) == {str(p.relative_to(REPO)) for p in RULES}
    for path in RULES:
        source = yaml.safe_load(path.read_text())
        assert rules[str(path.relative_to(REPO))]["spec"]["groups"] == source["groups"], path
    assert all(o["metadata"]["labels"]["release"] == "kube-prometheus-stack" for o in rules.values())


def test_dashboards_equal_the_monitoring_dashboards(rendered):
    cms = {o["metadata"]["annotations"]["zufang.io/source"]: o
           for o in find(rendered["prod"], "ConfigMap") if "zufang.io/source" in o["metadata"].get("annotations", {})}
    assert set(cms) == {str(p.relative_to(REPO)) for p in DASHBOARDS}
    for path in DASHBOARDS:
        cm = cms[str(path.relative_to(REPO))]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == path.parent.name
        assert cm["data"] == {path.name: path.read_text()}, path
        # kubectl apply (client side) keeps a copy in an annotation limited to 256 KiB.
        assert len(path.read_bytes()) < 256 * 1024, f"{path}: too large for `kubectl apply` (use --server-side)"


def test_generator_detects_drift_and_handles_every_shape(tmp_path):
    """The check can fail: a changed rule, an extra dashboard or a missing source make --check fail; the
    generated text round-trips rule files and dashboards exactly, whatever their whitespace."""
    src = tmp_path / "repo"
    rules = src / "monitoring/prometheus/rules"
    dash = src / "monitoring/grafana/dashboards/Team Space"
    rules.mkdir(parents=True)
    dash.mkdir(parents=True)
    (rules / "a.alerts.yaml").write_text(
        "# comment\ngroups:\n  - name: a\n    rules:\n      - alert: A\n        expr: |\n          up == 0\n\n"
        "          and on() vector(1)\n        for: 5m\n        labels: {severity: page}\n")
    (dash / "My Board.json").write_text('{\n\t"title": "x",\n  "panels": []\n}')  # no final newline, a tab
    (dash / "b.json").write_text('{"title": "y"}\n\n')
    out = tmp_path / "out"
    assert sync("--source", str(src), "--out", str(out)).returncode == 0
    assert sync("--source", str(src), "--out", str(out), "--check").returncode == 0
    docs = {p.name: yaml.safe_load(p.read_text()) for p in out.glob("*.yaml")}
    rule = docs["prometheusrule-zufang-a-alerts.yaml"]
    assert rule["spec"]["groups"] == yaml.safe_load((rules / "a.alerts.yaml").read_text())["groups"]
    board = docs["dashboard-grafana-dashboard-team-space-my-board.yaml"]
    assert board["data"] == {"My Board.json": (dash / "My Board.json").read_text()}
    assert docs["dashboard-grafana-dashboard-team-space-b.yaml"]["data"]["b.json"] == '{"title": "y"}\n\n'
    assert sorted(docs["kustomization.yaml"]["resources"]) == sorted(n for n in docs if n != "kustomization.yaml")

    (rules / "a.alerts.yaml").write_text((rules / "a.alerts.yaml").read_text().replace("5m", "10m"))
    assert sync("--source", str(src), "--out", str(out), "--check").returncode == 1
    sync("--source", str(src), "--out", str(out))
    (dash / "b.json").unlink()
    proc = sync("--source", str(src), "--out", str(out), "--check")
    assert proc.returncode == 1 and "dashboard-grafana-dashboard-team-space-b.yaml" in proc.stderr
    bad = rules / "broken.yaml"
    bad.write_text("not_groups: []\n")
    assert sync("--source", str(src), "--out", str(out)).returncode != 0


def test_generator_works_without_monitoring_sources(tmp_path, workcopy):
    """Before monitoring/ exists the component is empty but still renders."""
    out = workcopy / "components/monitoring/generated"
    empty = tmp_path / "empty"
    empty.mkdir()
    saved = tmp_path / "saved"
    shutil.copytree(out, saved)
    try:
        assert sync("--source", str(empty), "--out", str(out)).returncode == 0
        assert yaml.safe_load((out / "kustomization.yaml").read_text())["resources"] == []
        from conftest import render
        objs = render(workcopy / "tests-render/base-monitoring")
        assert [o["kind"] for o in objs if o["apiVersion"].startswith("monitoring.coreos.com")] == ["ServiceMonitor"]
    finally:
        shutil.rmtree(out)
        shutil.copytree(saved, out)


def test_generator_has_help():
    proc = sync("--help")
    assert proc.returncode == 0 and "--check" in proc.stdout
