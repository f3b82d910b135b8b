"""Monitoring from one source: the component's PrometheusRules and dashboard ConfigMaps are rendered by
monitoring/generate.py (from monitoring/alerts.yaml, the recording rules, the dashboards and
components/monitoring/targets.yaml), each overlay gets only rules for the jobs it scrapes, and the cluster
rules pass their own promtool unit tests with series named as kube-prometheus names them."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import K8S, REPO, find, render

GENERATE = REPO / "monitoring/generate.py"
SYNC = K8S / "tools/sync-monitoring.py"
TARGETS = yaml.safe_load((K8S / "components/monitoring/targets.yaml").read_text())
OVERLAYS = sorted(TARGETS["overlays"])
DASHBOARDS_PY = REPO / "monitoring/grafana/dashboards.py"
PROMTOOL_TESTS = K8S / "tests/promtool"
# Alert names of kube-prometheus (kubernetes-mixin, node-mixin, prometheus-mixin, alertmanager-mixin,
# general.rules) that a generic zufang name could shadow; every cluster alert is prefixed Zufang anyway.
KUBE_PROMETHEUS_ALERTS = {"TargetDown", "Watchdog", "InfoInhibitor", "KubeDeploymentReplicasMismatch",
                          "KubePodNotReady", "KubePodCrashLooping", "NodeFilesystemSpaceFillingUp",
                          "NodeHighNumberConntrackEntriesUsed", "PrometheusRuleFailures",
                          "PrometheusNotConnectedToAlertmanagers", "PrometheusErrorSendingAlertsToAnyAlertmanager"}
SELECTOR = re.compile(r"\{([^{}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def overlay_renders(workcopy, rendered) -> dict[str, list[dict]]:
    """Each overlay as it is, plus, where the overlay does not use the monitoring component yet, the overlay
    with the component and its rule variant added (so every variant is rendered against its overlay)."""
    out = {}
    for overlay in OVERLAYS:
        objs = rendered[overlay]
        if not find(objs, "PrometheusRule"):
            d = workcopy / "tests-render" / f"{overlay}-monitoring"
            d.mkdir(parents=True, exist_ok=True)
            (d / "kustomization.yaml").write_text(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                f"resources: [../../overlays/{overlay}]\n"
                f"components: [../../components/monitoring, ../../components/monitoring/rules/{overlay}]\n")
            objs = render(d)
        out[overlay] = objs
    return out


def endpoint_job(endpoint: dict, default: str) -> str:
    """An endpoint's job: the operator's (Service name or jobLabel), unless a relabeling sets `job` to a
    fixed value (the broker's second endpoint, /metrics/detailed, is job rabbitmq-queues)."""
    job = default
    for r in endpoint.get("relabelings", []):
        if r.get("targetLabel") == "job":
            assert not r.get("sourceLabels") and r.get("action", "replace") == "replace" and "replacement" in r, r
            job = r["replacement"]
    return job


def scraped_jobs(objs: list[dict]) -> set[str]:
    """Job labels prometheus-operator gives the ServiceMonitors' targets: the Service's name, or the value of
    its `jobLabel` label, or what an endpoint's relabeling sets."""
    jobs = set()
    for sm in find(objs, "ServiceMonitor"):
        match = sm["spec"]["selector"].get("matchLabels", {})
        for svc in find(objs, "Service"):
            labels = svc["metadata"].get("labels", {})
            if all(labels.get(k) == v for k, v in match.items()):
                job_label = sm["spec"].get("jobLabel")
                default = labels[job_label] if job_label else svc["metadata"]["name"]
                jobs |= {endpoint_job(ep, default) for ep in sm["spec"]["endpoints"]}
    return jobs


def cluster_rules(objs: list[dict]) -> list[dict]:
    return [r for o in find(objs, "PrometheusRule") for g in o["spec"]["groups"] for r in g["rules"]]


def test_generated_outputs_are_up_to_date():
    proc = run(str(GENERATE), "--check")
    assert proc.returncode == 0, proc.stderr + "\nrun: monitoring/generate.py"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_exactly_its_rule_variant(overlay, overlay_renders):
    folder = K8S / "components/monitoring/rules" / overlay
    generated = {p.name: yaml.safe_load(p.read_text()) for p in folder.glob("prometheusrule-*.yaml")}
    rules = find(overlay_renders[overlay], "PrometheusRule")
    assert generated and len(rules) == len(generated)
    by_name = {d["metadata"]["name"]: d for d in generated.values()}
    for o in rules:
        assert o["metadata"]["annotations"]["zufang.io/overlay"] == overlay
        assert o["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert o["spec"] == by_name[o["metadata"]["name"]]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_targets_list_the_jobs_the_overlay_scrapes(overlay, overlay_renders):
    """targets.yaml is the generator's input: it must say what the overlay's ServiceMonitors really make."""
    settings = TARGETS["overlays"][overlay]
    assert scraped_jobs(overlay_renders[overlay]) == set(settings["jobs"].values()), (
        f"{overlay}: its ServiceMonitors make jobs {sorted(scraped_jobs(overlay_renders[overlay]))}; update "
        "k8s/components/monitoring/targets.yaml and run monitoring/generate.py")
    app = [o for o in find(overlay_renders[overlay], "Deployment")
           if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "api"]
    assert [(o["metadata"]["name"], o["metadata"].get("namespace")) for o in app] == \
        [(settings["deployment"], settings["namespace"])]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_selector_names_a_job_of_the_overlay(overlay, overlay_renders):
    """Walk every selector of every rendered rule: a job matcher names only jobs scraped in this overlay (or
    by kube-prometheus itself) and comes with the overlay's namespace."""
    objs = overlay_renders[overlay]
    known = scraped_jobs(objs) | set(TARGETS["provided"].values())
    namespace = TARGETS["overlays"][overlay]["namespace"]
    walked = 0
    for rule in cluster_rules(objs):
        for sel in SELECTOR.findall(rule["expr"]):
            matchers = {name: (op, value) for name, op, value in MATCHER.findall(sel)}
            if "job" not in matchers:
                continue
            walked += 1
            op, value = matchers["job"]
            assert op in ("=", "=~"), f"{rule}: job{op} selects jobs of other namespaces' owners"
            jobs = set(value.split("|")) if op == "=~" else {value}
            assert jobs <= known, f"{overlay}: {rule.get('alert') or rule.get('record')} selects {jobs - known}"
            assert matchers.get("namespace") == ("=", namespace), f"{overlay}: {sel} lacks namespace={namespace}"
    assert walked > 20


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cluster_alerts_do_not_collide_with_kube_prometheus(overlay, overlay_renders):
    alerts = {r["alert"] for r in cluster_rules(overlay_renders[overlay]) if "alert" in r}
    assert {"ZufangTargetDown", "ZufangAppAbsent", "ZufangReplicaNotReady"} <= alerts
    assert all(a.startswith("Zufang") for a in alerts), alerts
    assert not alerts & KUBE_PROMETHEUS_ALERTS
    ready = next(r for r in cluster_rules(overlay_renders[overlay]) if r.get("alert") == "ZufangReplicaNotReady")
    assert "kube_deployment_status_replicas_available" in ready["expr"] and "probe_success" not in ready["expr"]


def promtool_cases(groups: list[dict], jobs: dict[str, str], tmp_path: Path) -> None:
    """Run k8s/tests/promtool/<job>.test.yaml for every job of a variant against its rule groups (series
    written with the logical job name get the overlay's), and require a firing and a silent case for every
    alert of the variant."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing (k8s/tests/run.sh installs Debian's prometheus)"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    files = [PROMTOOL_TESTS / f"{job}.test.yaml" for job in sorted(jobs)]
    assert files and all(f.is_file() for f in files), f"missing {[str(f) for f in files if not f.is_file()]}"
    firing, silent = set(), set()
    for f, job in zip(files, sorted(jobs)):
        text = f.read_text().replace(f'job="{job}"', f'job="{jobs[job]}"').replace(f"job: {job},", f"job: {jobs[job]},")
        (tmp_path / f.name).write_text(text)
        for test in yaml.safe_load(text)["tests"]:
            for case in test.get("alert_rule_test", []):
                for exp in case.get("exp_alerts") or []:
                    firing.add((case["alertname"], exp["exp_labels"]["severity"]))
                if not case.get("exp_alerts"):
                    silent.add(case["alertname"])
    proc = subprocess.run([promtool, "test", "rules", *(f.name for f in files)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wanted = {(r["alert"], r["labels"]["severity"]) for g in groups for r in g["rules"] if "alert" in r}
    assert wanted - firing == set(), "no firing test"
    assert {a for a, _ in wanted} - silent == set(), "no silent test"
    assert {a for a, _ in firing} <= {a for a, _ in wanted}, "a test names an alert the variant does not have"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cluster_rules_pass_their_promtool_tests(overlay, overlay_renders, tmp_path):
    """promtool test rules on the rendered rules, with series named as kube-prometheus names them."""
    groups = [g for o in find(overlay_renders[overlay], "PrometheusRule") for g in o["spec"]["groups"]]
    promtool_cases(groups, TARGETS["overlays"][overlay]["jobs"], tmp_path)


def test_dashboards_are_the_k8s_variant_of_the_monitoring_dashboards(rendered, tmp_path):
    """Each dashboard ConfigMap holds exactly what `dashboards.py --variant k8s` renders: a datasource
    variable, cluster and namespace variables, and the app selected by job and namespace."""
    proc = run(str(DASHBOARDS_PY), "--variant", "k8s", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    boards = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    cms = [o for o in find(rendered["prod"], "ConfigMap") if o["metadata"].get("labels", {}).get("grafana_dashboard")]
    assert boards and {n for cm in cms for n in cm["data"]} == set(boards)
    for cm in cms:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "zufang"
        (fname, text), = cm["data"].items()
        assert text == boards[fname], fname
        # kubectl apply (client side) keeps a copy in an annotation limited to 256 KiB.
        assert len(text.encode()) < 256 * 1024, f"{fname}: too large for `kubectl apply` (use --server-side)"
        board = json.loads(text)
        variables = [v["name"] for v in board["templating"]["list"]]
        assert variables[:3] == ["datasource", "cluster", "namespace"], (fname, variables)
        exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
        assert exprs and all('namespace=~"$namespace"' in e for e in exprs if 'job="app"' in e), fname
        assert not [e for e in exprs if re.search(r'job="(?!app")', e)], f"{fname}: exporter selected by a compose job"


@pytest.fixture
def source_copy(tmp_path) -> Path:
    """The generator's inputs and outputs in a throwaway repository root."""
    src = tmp_path / "repo"
    for rel in ("monitoring/alerts.yaml", "monitoring/generate.py", "monitoring/grafana/dashboards.py",
                "k8s/components/monitoring/targets.yaml"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, src / rel)
    for rel in ("monitoring/prometheus/rules", "monitoring/grafana/dashboards", "monitoring/zabbix/templates",
                "docs/runbooks", "k8s/components/monitoring/generated", "k8s/components/monitoring/rules"):
        shutil.copytree(REPO / rel, src / rel)
    return src


def test_generator_detects_every_kind_of_drift(source_copy):
    """The check can fail: a changed threshold, a stale dashboard copy, a leftover file, a missing runbook."""
    gen = [str(source_copy / "monitoring/generate.py"), "--root", str(source_copy)]
    assert run(*gen, "--check").returncode == 0
    table = source_copy / "monitoring/alerts.yaml"
    original = table.read_text()
    warning_5xx = "ratio: 0.01\n          - {severity: critical, ratio: 0.05}"
    assert original.count(warning_5xx) == 1
    table.write_text(original.replace(warning_5xx, warning_5xx.replace("0.01", "0.02")))
    proc = run(*gen, "--check")
    assert proc.returncode == 1
    for out in ("monitoring/prometheus/rules/zufang.alerts.yaml", "k8s/components/monitoring/rules/prod/",
                "monitoring/zabbix/templates/zufang_by_http.yaml",
                "generated/dashboard-grafana-dashboard-zufang-service-overview.yaml"):
        assert out in proc.stderr, (out, proc.stderr)
    assert run(*gen).returncode == 0 and run(*gen, "--check").returncode == 0
    assert "value: '2'" in (source_copy / "monitoring/zabbix/templates/zufang_by_http.yaml").read_text()
    assert "more than 2 % of requests" in (source_copy / "monitoring/prometheus/rules/zufang.alerts.yaml").read_text()
    table.write_text(original)

    boards = source_copy / "monitoring/grafana/dashboards.py"
    boards.write_text(boards.read_text().replace('"zufang / Redis"', '"zufang / Redis cache"'))
    proc = run(*gen, "--check")
    assert proc.returncode == 1 and "dashboard-grafana-dashboard-zufang-redis.yaml" in proc.stderr
    run(*gen)

    (source_copy / "k8s/components/monitoring/rules/prod/prometheusrule-zufang-old.yaml").write_text("x: 1\n")
    proc = run(*gen, "--check")
    assert proc.returncode == 1 and "prometheusrule-zufang-old.yaml" in proc.stderr
    run(*gen)
    assert not (source_copy / "k8s/components/monitoring/rules/prod/prometheusrule-zufang-old.yaml").exists()

    (source_copy / "docs/runbooks/NginxDown.md").unlink()
    proc = run(*gen, "--check")
    assert proc.returncode == 2 and "NginxDown.md does not exist" in proc.stderr


def test_overlay_without_a_job_gets_none_of_its_rules(source_copy, tmp_path):
    """The target list decides: with mysql scraped in dev, dev gains the MariaDB rules (prefixed) and prod
    does not; with the exporters' own job names, the data-store rules pass their promtool cases too."""
    targets = source_copy / "k8s/components/monitoring/targets.yaml"
    doc = yaml.safe_load(targets.read_text())
    doc["overlays"]["dev"]["jobs"].update({"mysql": "mysqld-exporter", "redis": "redis-exporter"})
    targets.write_text(yaml.safe_dump(doc))
    assert run(str(source_copy / "monitoring/generate.py"), "--root", str(source_copy), "--only", "k8s").returncode == 0
    dev = yaml.safe_load((source_copy / "k8s/components/monitoring/rules/dev/prometheusrule-zufang-mysql-alerts.yaml").read_text())
    exprs = [r["expr"] for g in dev["spec"]["groups"] for r in g["rules"]]
    names = {r["alert"] for g in dev["spec"]["groups"] for r in g["rules"]}
    assert names == {"ZufangMySQLDown", "ZufangMySQLConnectionsNearMax", "ZufangMySQLSlowQueriesRising"}
    assert all('job="mysqld-exporter", namespace="zufang"' in e for e in exprs)
    assert not (source_copy / "k8s/components/monitoring/rules/prod/prometheusrule-zufang-mysql-alerts.yaml").exists()
    down = yaml.safe_load((source_copy / "k8s/components/monitoring/rules/dev/prometheusrule-zufang-prometheus-alerts.yaml").read_text())
    target_down = next(r for g in down["spec"]["groups"] for r in g["rules"] if r["alert"] == "ZufangTargetDown")
    assert target_down["expr"] == ('up{job=~"app|mysqld-exporter|rabbitmq|rabbitmq-queues|redis-exporter|s3|worker", '
                                   'namespace="zufang"} == 0')
    groups = [g for p in sorted((source_copy / "k8s/components/monitoring/rules/dev").glob("prometheusrule-*.yaml"))
              for g in yaml.safe_load(p.read_text())["spec"]["groups"]]
    promtool_cases(groups, doc["overlays"]["dev"]["jobs"], tmp_path)


def test_generators_have_help():
    for script in (GENERATE, SYNC):
        proc = run(str(script), "--help")
        assert proc.returncode == 0 and "--check" in proc.stdout, script


def test_generator_names_a_bad_table_entry(source_copy):
    """Bad input gets a clear error, not a traceback or a half-written tree."""
    table = source_copy / "monitoring/alerts.yaml"
    original = table.read_text()
    gen = [str(source_copy / "monitoring/generate.py"), "--root", str(source_copy)]
    for broken, message in (
        (original.replace("[[ratio|percent]] % of max_connections", "[[ratoi|percent]] % of max_connections"),
         "MySQLConnectionsNearMax/warning: [[ratoi]] has no value"),
        (original.replace("[[ratio|percent]] % of max_connections", "[[ratio|percentage]] % of max_connections"),
         "no filter percentage"),
        (original.replace("severity: warning, ratio: 0.8", "severity: page, ratio: 0.8"),
         "MySQLConnectionsNearMax: severity 'page' is not warning|critical"),
    ):
        table.write_text(broken)
        proc = run(*gen)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    table.write_text(original)
    assert run(*gen, "--check").returncode == 0
