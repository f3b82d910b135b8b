"""The photo pipeline on the cluster: the worker Deployment (hardened like the app, its own account and
Secret, probes and metrics on worker.port), the broker and the store in dev (rabbitmq/ and s3/ as
compose runs them), Amazon MQ and AWS S3 through the pods' IAM role in prod, who may reach them, and the
broker/outbox/worker alerts in each overlay's rules."""
from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import REPO, TARGETS, all_containers, find, one, pod_templates
from test_consistency import effective_env, selects

OVERLAYS = ("dev", "prod")
DOTENV = dict(line.split("=", 1) for line in (REPO / ".env").read_text().splitlines()
              if line and not line.startswith("#") and "=" in line)
DEFINITIONS = json.loads((REPO / "rabbitmq/definitions.json").read_text())
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
              "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}


def generated(objs: list[dict], kind: str, name: str) -> dict:
    """A generator's object by its name before kustomize appends the content hash."""
    found = [o for o in find(objs, kind) if re.fullmatch(re.escape(name) + r"(-[a-z0-9]{10})?", o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def secret_data(objs: list[dict], name: str) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in generated(objs, "Secret", name)["data"].items()}


def container(objs: list[dict], deployment: str) -> tuple[dict, dict]:
    dep = one(objs, "Deployment", deployment)
    return dep, dep["spec"]["template"]["spec"]["containers"][0]


def mounted_secret(objs: list[dict], dep: dict, c: dict) -> str:
    secrets_dir = effective_env(objs, c)["ZUFANG_SECRETS_DIR"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == secrets_dir)
    volume = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    return volume["secret"]["secretName"]


# --- the worker -----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_worker_runs_the_app_image_as_zufang_worker_with_its_own_account(rendered, target):
    objs = rendered[target]
    app, app_c = container(objs, "app")
    dep, c = container(objs, "worker")
    spec = dep["spec"]["template"]["spec"]
    assert c["image"] == app_c["image"] and c["args"] == ["worker"] and "command" not in c
    assert spec["securityContext"] == app["spec"]["template"]["spec"]["securityContext"], "hardened like the app"
    assert c["securityContext"] == app_c["securityContext"]
    assert spec["serviceAccountName"] == "zufang-worker" != app["spec"]["template"]["spec"]["serviceAccountName"]
    assert spec["automountServiceAccountToken"] is False
    assert one(objs, "ServiceAccount", "zufang-worker")["automountServiceAccountToken"] is False
    env = effective_env(objs, c)
    assert env["ZUFANG__AMQP__USERNAME"] == "zufang-worker"
    assert effective_env(objs, app_c)["ZUFANG__AMQP__USERNAME"] == "zufang-app"
    users = {u["name"] for u in DEFINITIONS["users"]}
    assert {"zufang-worker", "zufang-app"} <= users, "the broker's definitions must have both accounts"
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]


@pytest.mark.parametrize("target", TARGETS)
def test_worker_probes_and_metrics_use_worker_port(rendered, target):
    objs = rendered[target]
    dep, c = container(objs, "worker")
    env = effective_env(objs, c)
    port = int(env["ZUFANG__WORKER__PORT"])
    assert port == 9102
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": port}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    svc = one(objs, "Service", "worker")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(port, "metrics")]
    monitors = [sm for sm in find(objs, "ServiceMonitor")
                if selects(sm["spec"]["selector"], svc["metadata"]["labels"])]
    if find(objs, "PrometheusRule") or "monitoring" in target:
        assert [ep["port"] for sm in monitors for ep in sm["spec"]["endpoints"]] == ["metrics"]
        assert one(objs, "ServiceMonitor", "worker")["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@pytest.mark.parametrize("target", TARGETS)
def test_worker_grace_period_covers_its_shutdown_timeout(rendered, target):
    """SIGTERM: the job in hand gets worker.shutdown_timeout_seconds; the kubelet must not SIGKILL first."""
    objs = rendered[target]
    dep, c = container(objs, "worker")
    timeout = int(effective_env(objs, c)["ZUFANG__WORKER__SHUTDOWN_TIMEOUT_SECONDS"])
    assert timeout == 25
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > timeout + 5


MEBI = 1024 * 1024


def quantity_bytes(q: str) -> int:
    m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
    assert m, f"memory {q!r}: write it in Mi or Gi"
    return int(m.group(1)) * {"Mi": MEBI, "Gi": 1024 * MEBI}[m.group(2)]


@pytest.mark.parametrize("target", TARGETS)
def test_worker_memory_limit_holds_its_decode_budget(rendered, target):
    """prefetch images decode at once, each within max_decode_bytes: the limit must hold them all plus
    room for the process, or the kernel kills a worker that stayed within its own budget."""
    objs = rendered[target]
    _, c = container(objs, "worker")
    env = effective_env(objs, c)
    budget = int(env["ZUFANG__WORKER__PREFETCH"]) * int(env["ZUFANG__WORKER__MAX_DECODE_BYTES"])
    assert quantity_bytes(c["resources"]["limits"]["memory"]) >= budget + 256 * MEBI


@pytest.mark.parametrize("target", TARGETS)
def test_worker_has_a_disruption_budget_and_never_autoscales_to_nothing(rendered, target):
    objs = rendered[target]
    dep = one(objs, "Deployment", "worker")
    pdb = one(objs, "PodDisruptionBudget", "worker")["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert dep["spec"]["replicas"] == (1 if target == "dev" else 2)


@pytest.mark.parametrize("target", OVERLAYS)
def test_each_service_has_its_own_broker_password_and_no_jwt_key_in_the_worker(rendered, target):
    objs = rendered[target]
    app = secret_data(objs, mounted_secret(objs, *container(objs, "app")))
    worker = secret_data(objs, mounted_secret(objs, *container(objs, "worker")))
    assert app["amqp_password"] and worker["amqp_password"] and app["amqp_password"] != worker["amqp_password"]
    assert "jwt_secret" not in worker and "redis_password" not in worker
    if target == "dev":
        broker = secret_data(objs, "rabbitmq-secrets")
        assert (app["amqp_password"], worker["amqp_password"]) == (broker["app_password"], broker["worker_password"])
        store = secret_data(objs, "s3-secrets")
        for name, data in (("app", app), ("worker", worker)):
            assert data["s3_access_key_id"] == store[f"{name}_access_key_id"]
            assert data["s3_secret_access_key"] == store[f"{name}_secret_access_key"]
        assert app["s3_access_key_id"] != worker["s3_access_key_id"]
    else:
        assert not {k for k in {**app, **worker} if k.startswith("s3_")}, "prod: the pods' IAM role, no static keys"


# --- dev: the broker and the store in the cluster ----------------------------------------------------

def test_dev_runs_the_images_of_dotenv(rendered):
    objs = rendered["dev"]
    images = {c["name"]: c["image"] for _, t in pod_templates(objs) for c in all_containers(t)}
    assert images["rabbitmq"] == DOTENV["RABBITMQ_IMAGE"]
    assert images["garage"] == DOTENV["GARAGE_IMAGE"]
    assert images["s3-init"].split(":")[0] == DOTENV["S3_INIT_IMAGE"].split(":")[0]


def test_dev_configmaps_are_the_files_of_rabbitmq_and_s3(rendered):
    """One source: the ConfigMaps carry rabbitmq/ and s3/ byte for byte."""
    objs = rendered["dev"]
    expected = {"rabbitmq-config": ("rabbitmq", ["rabbitmq.conf", "enabled_plugins"]),
                "rabbitmq-definitions": ("rabbitmq", ["definitions.json", "entrypoint.sh"]),
                "garage-config": ("s3", ["garage.toml"]), "s3-init": ("s3", ["init.py"])}
    for prefix, (folder, files) in expected.items():
        cm = generated(objs, "ConfigMap", prefix)
        assert cm["data"] == {f: (REPO / folder / f).read_text() for f in files}, prefix


def mounts(objs: list[dict], workload: str, kind: str = "StatefulSet") -> dict[str, dict]:
    template = one(objs, kind, workload)["spec"]["template"]
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    c = template["spec"]["containers"][0]
    return {m["mountPath"]: volumes.get(m["name"], {"pvc": m["name"]}) for m in c["volumeMounts"]}


def test_dev_rabbitmq_is_run_as_compose_runs_it(rendered):
    objs = rendered["dev"]
    sts = one(objs, "StatefulSet", "rabbitmq")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["bash", "/etc/zufang-rabbitmq/entrypoint.sh"] and c["args"] == ["rabbitmq-server"]
    m = mounts(objs, "rabbitmq")
    conf = (REPO / "rabbitmq/rabbitmq.conf").read_text()
    definitions_dir = str(Path(re.search(r"^load_definitions = (\S+)", conf, re.M).group(1)).parent)
    assert m[definitions_dir]["emptyDir"]["medium"] == "Memory", "the rendered hashes stay in memory"
    assert m["/var/lib/rabbitmq"] == {"pvc": "data"} and sts["spec"]["volumeClaimTemplates"]
    for f in ("rabbitmq.conf", "enabled_plugins"):
        assert m[f"/etc/rabbitmq/{f}"]["configMap"]["name"].startswith("rabbitmq-config-"), f
    assert m["/etc/zufang-rabbitmq"]["configMap"]["name"].startswith("rabbitmq-definitions-")
    secret = m["/run/stack-secrets/rabbitmq"]["secret"]["secretName"]
    markers = set(re.findall(r"@secret:([A-Za-z0-9_.-]+)@", (REPO / "rabbitmq/definitions.json").read_text()))
    assert markers == set(one(objs, "Secret", secret)["data"]), "every password marker has its file"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"amqp": 5672, "prometheus": 15692}, "the management UI stays unpublished (port-forward)"
    assert re.search(r"^listeners\.tcp\.default = 5672$", conf, re.M) and re.search(r"^prometheus\.tcp\.port = 15692$", conf, re.M)


def test_dev_garage_and_its_init_job_use_s3s_files(rendered):
    objs = rendered["dev"]
    toml = (REPO / "s3/garage.toml").read_text()
    c = one(objs, "StatefulSet", "s3")["spec"]["template"]["spec"]["containers"][0]
    config = c["command"][c["command"].index("-c") + 1]
    m = mounts(objs, "s3")
    assert m[str(Path(config).parent)]["configMap"]["name"].startswith("garage-config-")
    for key in ("metadata_dir", "data_dir"):
        assert m[re.search(rf'^{key} = "([^"]+)"', toml, re.M).group(1)].get("pvc"), key
    node_secret = m["/run/stack-secrets/s3"]["secret"]
    files = {i["path"] for i in node_secret["items"]}
    assert files == {Path(p).name for p in re.findall(r'_file = "(/run/stack-secrets/s3/[^"]+)"', toml)}
    job = mounts(objs, "s3-init", "Job")
    keys = {i["path"] for i in job["/run/stack-secrets/s3"]["secret"]["items"]}
    assert keys == {"admin_token"} | {f"{n}_{k}" for n in ("app", "worker") for k in ("access_key_id", "secret_access_key")}
    assert "rpc_secret" not in keys
    env = {e["name"]: e["value"] for e in one(objs, "Job", "s3-init")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert urlsplit(env["GARAGE_ADMIN_URL"]).hostname == "s3" and urlsplit(env["GARAGE_ADMIN_URL"]).port == 3903


def test_dev_app_and_worker_point_at_the_in_cluster_broker_and_store(rendered):
    objs = rendered["dev"]
    services = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in find(objs, "Service")}
    toml = (REPO / "s3/garage.toml").read_text()
    for name in ("app", "worker"):
        env = effective_env(objs, container(objs, name)[1])
        assert int(env["ZUFANG__AMQP__PORT"]) in services[env["ZUFANG__AMQP__HOST"]]
        assert env["ZUFANG__AMQP__TLS"] == "false" and env["ZUFANG__AMQP__VHOST"] == DEFINITIONS["vhosts"][0]["name"]
        url = urlsplit(env["ZUFANG__S3__ENDPOINT"])
        assert url.scheme == "http" and url.port in services[url.hostname]
        assert env["ZUFANG__S3__PATH_STYLE"] == "true", "Garage needs path-style requests"
        assert f's3_region = "{env["ZUFANG__S3__REGION"]}"' in toml
        assert env["ZUFANG__S3__BUCKET"] == re.search(r'"S3_BUCKET", "([^"]+)"', (REPO / "s3/init.py").read_text()).group(1)


def ingress_rules(objs: list[dict], workload: str) -> list[tuple[list[dict], list[int]]]:
    labels = one(objs, "StatefulSet", workload)["spec"]["template"]["metadata"]["labels"]
    return [(r["from"], sorted(p["port"] for p in r["ports"])) for p in find(objs, "NetworkPolicy")
            if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels) for r in p["spec"].get("ingress", [])]


def reachers(objs: list[dict], peers: list[dict]) -> set[str]:
    """Workloads of the namespace a list of `from` peers admits (namespace peers are named as such)."""
    out = set()
    for peer in peers:
        if "namespaceSelector" in peer:
            out.add(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] + "/"
                    + peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
            continue
        out |= {o["metadata"]["name"] for o, t in pod_templates(objs) if selects(peer["podSelector"], t["metadata"]["labels"])}
    return out


def test_dev_exactly_app_and_worker_reach_the_broker_and_the_store(rendered):
    objs = rendered["dev"]
    for workload, port, metrics in (("rabbitmq", 5672, 15692), ("s3", 3900, 3903)):
        got = {(tuple(ports), frozenset(reachers(objs, peers))) for peers, ports in ingress_rules(objs, workload)}
        extra = {"s3-init"} if workload == "s3" else set()
        assert got == {((port,), frozenset({"app", "worker"})),
                       ((metrics,), frozenset({"monitoring/prometheus"} | extra))}, (workload, got)
        assert all(PROMETHEUS in peers for peers, ports in ingress_rules(objs, workload) if ports == [metrics])


@pytest.mark.parametrize("target", TARGETS)
def test_prometheus_alone_reaches_the_workers_metrics(rendered, target):
    objs = rendered[target]
    labels = one(objs, "Deployment", "worker")["spec"]["template"]["metadata"]["labels"]
    rules = [(r["from"], [p["port"] for p in r["ports"]]) for p in find(objs, "NetworkPolicy")
             if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels) for r in p["spec"].get("ingress", [])]
    assert rules == [([PROMETHEUS], [9102])]


# --- prod: Amazon MQ and AWS S3 ----------------------------------------------------------------------

def test_prod_uses_amazon_mq_over_tls_and_s3_through_the_pods_role(rendered):
    objs = rendered["prod"]
    services = {s["metadata"]["name"] for s in find(objs, "Service")}
    assert not find(objs, "StatefulSet") and not find(objs, "Job", "s3-init")
    for name, account in (("app", "zufang"), ("worker", "zufang-worker")):
        dep, c = container(objs, name)
        env = effective_env(objs, c)
        assert env["ZUFANG__AMQP__HOST"] not in services and env["ZUFANG__AMQP__HOST"].endswith(".on.aws")
        assert (env["ZUFANG__AMQP__PORT"], env["ZUFANG__AMQP__TLS"]) == ("5671", "true"), "Amazon MQ takes AMQPS only"
        assert env["ZUFANG__S3__ENDPOINT"] == "" and env["ZUFANG__S3__PATH_STYLE"] == "false"
        assert env["ZUFANG__S3__REGION"] != "garage"
        sa = one(objs, "ServiceAccount", dep["spec"]["template"]["spec"]["serviceAccountName"])
        assert sa["metadata"]["name"] == account
        arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", arn), arn
        assert sa["automountServiceAccountToken"] is False, "IRSA brings its own projected token"
    arns = {one(objs, "ServiceAccount", n)["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for n in ("zufang", "zufang-worker")}
    assert len(arns) == 2, "one role per service account"


@pytest.mark.parametrize("target", ("base", "dev"))
def test_no_iam_role_outside_prod(rendered, target):
    assert not [sa for sa in find(rendered[target], "ServiceAccount") if sa["metadata"].get("annotations")]


def test_prod_photo_egress_is_the_broker_subnets_and_https(rendered):
    pol = one(rendered["prod"], "NetworkPolicy", "photo-pipeline-egress")
    ports = sorted(p["port"] for r in pol["spec"]["egress"] for p in r["ports"])
    assert ports == [443, 5671], "AMQPS to Amazon MQ, HTTPS to S3 and STS; no 5672, no 3900"
    broker = next(r for r in pol["spec"]["egress"] if r["ports"][0]["port"] == 5671)
    import ipaddress
    assert all(ipaddress.ip_network(p["ipBlock"]["cidr"]).is_private for p in broker["to"])


# --- alerts ----------------------------------------------------------------------------------------

def cluster_alerts(objs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in find(objs, "PrometheusRule"):
        for g in o["spec"]["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    out.setdefault(r["alert"], []).append(r)
    return out


def test_the_broker_alerts_are_the_compose_expressions_in_the_namespace(rendered):
    compose = yaml.safe_load((REPO / "monitoring/prometheus/rules/rabbitmq.alerts.yaml").read_text())
    dev = cluster_alerts(rendered["dev"])
    rules = [r for g in compose["groups"] for r in g["rules"]]
    assert len(rules) == 5
    for r in rules:
        got, = dev["Zufang" + r["alert"]]
        assert got["expr"].replace(', namespace="zufang"', "") == r["expr"], r["alert"]
        assert (got["for"], got["labels"]) == (r["for"], r["labels"])
    assert not [a for a in cluster_alerts(rendered["prod"]) if "RabbitMQ" in a], "prod's Amazon MQ is CloudWatch's"


@pytest.mark.parametrize("target", OVERLAYS)
def test_outbox_and_worker_alerts_exist_in_every_overlay(rendered, target):
    alerts = cluster_alerts(rendered[target])
    outbox, = alerts["ZufangOutboxNotDraining"]
    assert "zufang_outbox_oldest_age_seconds" in outbox["expr"] and outbox["expr"].endswith("> 300")
    assert outbox["for"] == "10m"
    unavailable, = alerts["ZufangWorkerUnavailable"]
    assert 'deployment="worker"' in unavailable["expr"] and one(rendered[target], "Deployment", "worker")
    disconnected, = alerts["ZufangWorkerBrokerDisconnected"]
    assert disconnected["expr"] == 'zufang_worker_broker_connected{job="worker", namespace="zufang"} == 0'


def test_make_secrets_writes_garage_formats(workcopy):
    secrets = workcopy / "overlays/dev/secrets"
    for name in ("app", "worker"):
        assert re.fullmatch(r"GK[0-9a-f]{24}", (secrets / f"s3_{name}_access_key_id.txt").read_text())
        assert re.fullmatch(r"[0-9a-f]{64}", (secrets / f"s3_{name}_secret_access_key.txt").read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", (secrets / "s3_rpc_secret.txt").read_text())
    for name in ("app", "worker", "admin"):
        # rabbitmq/entrypoint.sh refuses passwords shorter than 16 characters.
        assert len((secrets / f"rabbitmq_{name}_password.txt").read_text()) >= 16
    assert not (workcopy / "overlays/prod/secrets/s3_app_access_key_id.txt").exists()


def test_entrypoint_renders_the_definitions_from_the_secret_files(rendered, tmp_path):
    """The broker pod's start, without a broker: rabbitmq/entrypoint.sh --render-only on the rendered
    Secret's files writes one salted hash per user and no password."""
    objs = rendered["dev"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    data = secret_data(objs, "rabbitmq-secrets")
    for k, v in data.items():
        (secrets / k).write_bytes(v)
    out = tmp_path / "defs" / "definitions.json"
    env = {"PATH": "/usr/bin:/bin", "ZUFANG_RABBITMQ_SECRETS_DIR": str(secrets),
           "ZUFANG_RABBITMQ_DEFINITIONS_TEMPLATE": str(REPO / "rabbitmq/definitions.json"),
           "ZUFANG_RABBITMQ_DEFINITIONS": str(out)}
    proc = subprocess.run(["bash", str(REPO / "rabbitmq/entrypoint.sh"), "--render-only"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "@secret:" not in text and not any(v.decode() in text for v in data.values())
    users = {u["name"]: u for u in json.loads(text)["users"]}
    assert all(len(base64.b64decode(u["password_hash"])) == 36 for u in users.values())
