"""The manifests agree with the app and with each other: config keys, secrets, probes, ports, selectors,
shutdown timing, rollout and autoscaling settings, the edge's trust boundary."""
from __future__ import annotations

import base64
import ipaddress
import json
from pathlib import Path

import re

import pytest
import yaml

from conftest import REPO, TARGETS, all_containers, find, one, pod_templates

OVERLAYS = ("dev", "prod")
CONFIGURATION_RS = (REPO / "app/src/configuration.rs").read_text()


def rust_str_list(const: str) -> list[str]:
    """The string literals of `const NAME: &[...] = &[ ... ];` in app/src/configuration.rs."""
    m = re.search(const + r"\s*:[^=]*=\s*&\[(.*?)\];", CONFIGURATION_RS, flags=re.S)
    assert m, f"{const} not found in app/src/configuration.rs"
    return re.findall(r'"([^"]+)"', m.group(1))


# Secret files the app reads from ZUFANG_SECRETS_DIR (pairs file name, key in SECRET_FILES).
APP_SECRETS = set(rust_str_list("SECRET_FILES")[0::2])
# Keys whose variable is a comma-separated list.
LIST_KEYS = set(rust_str_list("LIST_KEYS"))
# Production refuses to start without these (jwt_secret >= 32 bytes); the worker signs no token and
# gets no JWT key, but its own broker password.
PROD_REQUIRED_SECRETS = {"database_password", "jwt_secret"}
WORKER_REQUIRED_SECRETS = {"database_password", "amqp_password"}


def env_key(name: str) -> tuple[str, str] | None:
    parts = name.split("__")
    if parts[0] != "ZUFANG" or len(parts) == 1:
        return None
    assert len(parts) == 3, f"{name}: expected ZUFANG__SECTION__KEY"
    return parts[1].lower(), parts[2].lower()


def effective_env(objs: list[dict], container: dict) -> dict[str, str]:
    """The variables a container sees: envFrom ConfigMaps, then env values."""
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        cm = one(objs, "ConfigMap", src["configMapRef"]["name"])
        env.update(cm.get("data", {}))
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    return env


def zufang_containers(objs: list[dict]) -> list[tuple[dict, dict]]:
    return [(owner, c) for owner, t in pod_templates(objs) for c in all_containers(t) if c["image"].split("/")[-1].startswith("zufang")]


def effective_config(default_config: dict, env: dict[str, str]) -> dict:
    """default.toml with the variables applied; a variable of a key the app does not have is left out
    here (test_every_zufang_variable_is_a_real_config_key_of_the_right_type fails on it by name)."""
    cfg = json.loads(json.dumps(default_config))
    for name, value in env.items():
        key = env_key(name)
        if key and key[1] in default_config.get(key[0], {}):
            default = default_config[key[0]][key[1]]
            cfg[key[0]][key[1]] = value.split(",") if isinstance(default, list) else type(default)(value)
    return cfg


# --- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_every_zufang_variable_is_a_real_config_key_of_the_right_type(rendered, default_config, target):
    objs = rendered[target]
    seen = 0
    for cm in find(objs, "ConfigMap"):
        for name, value in (cm.get("data") or {}).items():
            key = env_key(name)
            if key is None:
                continue
            seen += 1
            section, k = key
            assert section in default_config, f"{name}: no section [{section}] in app/config/default.toml"
            assert k in default_config[section], f"{name}: no key {section}.{k} in app/config/default.toml"
            default = default_config[section][k]
            assert not isinstance(default, dict), f"{name}: a table cannot be set as one variable"
            if isinstance(default, list):
                assert f"{section}.{k}" in LIST_KEYS, f"{name}: the app does not split this key on commas"
                for item in value.split(","):
                    if k == "allowed_hosts":
                        assert item and item != "*" and " " not in item, f"{name}: {item!r} is not a host name"
                    else:
                        ipaddress.ip_network(item)
            elif isinstance(default, bool):
                assert value in ("true", "false"), f"{name}={value!r} is not a boolean"
            elif isinstance(default, (int, float)):
                type(default)(value)  # raises on "5s" for an integer key
    for _, c in zufang_containers(objs):
        for e in c.get("env", []):
            if e["name"].startswith("ZUFANG__"):
                section, k = env_key(e["name"])
                assert k in default_config.get(section, {}), e["name"]
            else:
                assert e["name"] in {"ZUFANG_ENV", "ZUFANG_SECRETS_DIR", "ZUFANG_CONFIG_DIR", "RUST_LOG"}, e["name"]
    assert seen >= 10, "the ConfigMap should carry the non-secret configuration"


def test_key_check_catches_an_unknown_key(default_config):
    """The check above can fail: a misspelt key is not in default.toml."""
    section, k = env_key("ZUFANG__DATABASE__HOSTNAME")
    assert k not in default_config[section]
    assert APP_SECRETS >= {"database_password", "jwt_secret", "redis_password"}
    assert "application.trusted_proxies" in LIST_KEYS


def trusted_proxies(rendered, default_config, target) -> list:
    env = effective_env(rendered[target], zufang_containers(rendered[target])[0][1])
    return [ipaddress.ip_network(c) for c in effective_config(default_config, env)["application"]["trusted_proxies"]]


@pytest.mark.parametrize("target", OVERLAYS)
def test_ingress_controller_is_a_trusted_proxy(rendered, default_config, target):
    """X-Forwarded-For from ingress-nginx is believed only if its pods' addresses are in trusted_proxies."""
    proxies = trusted_proxies(rendered, default_config, target)
    assert any(not n.is_loopback for n in proxies), "only loopback trusted: every client would look like the ingress pod"


# The widest block an overlay may trust: the ingress controller's own pool, not the pod network.
NARROWEST_TRUSTED_PREFIX = 24


@pytest.mark.parametrize("target", TARGETS)
def test_trusted_proxies_are_the_ingress_pods_not_the_pod_network(rendered, default_config, target):
    """Any pod trusted as a proxy can forge client addresses (and dodge per-IP limits)."""
    proxies = trusted_proxies(rendered, default_config, target)
    wide = [str(n) for n in proxies if n.version == 4 and n.prefixlen < NARROWEST_TRUSTED_PREFIX]
    assert wide == [], f"{target}: trusted_proxies wider than /{NARROWEST_TRUSTED_PREFIX}"
    assert not any(n.overlaps(ipaddress.ip_network("10.0.0.0/8")) and n.prefixlen <= 8 for n in proxies)
    if "+" in target or target == "base":
        # base alone (and a component on base) names no controller: loopback only.
        assert all(n.is_loopback for n in proxies), f"{target}: {proxies}"


@pytest.mark.parametrize("target", TARGETS)
def test_the_app_answers_every_ingress_host(rendered, default_config, target):
    """application.allowed_hosts covers each Ingress rule's host (else every request gets a 400)."""
    env = effective_env(rendered[target], zufang_containers(rendered[target])[0][1])
    allowed = effective_config(default_config, env)["application"]["allowed_hosts"]
    hosts = {r["host"] for ing in find(rendered[target], "Ingress") for r in ing["spec"].get("rules", []) if "host" in r}
    assert hosts, f"{target}: no Ingress host"
    assert hosts <= set(allowed), f"{target}: Ingress hosts {sorted(hosts)} not all in allowed_hosts {allowed}"
    assert "*" not in allowed


def test_dev_trusts_the_kind_nodes_pod_range():
    """dev's trusted range lies in the pod subnet kind.yaml pins (else ingress-nginx would not be trusted)."""
    kind = yaml.safe_load((REPO / "k8s/overlays/dev/kind.yaml").read_text())
    pod_subnet = ipaddress.ip_network(kind["networking"]["podSubnet"])
    kust = (REPO / "k8s/overlays/dev/kustomization.yaml").read_text()
    value = re.search(r"ZUFANG__APPLICATION__TRUSTED_PROXIES=(\S+)", kust).group(1)
    assert all(ipaddress.ip_network(c).subnet_of(pod_subnet) for c in value.split(","))


@pytest.mark.parametrize("target", OVERLAYS)
def test_production_secrets_are_files_in_the_secrets_dir(rendered, default_config, target):
    objs = rendered[target]
    for owner, c in zufang_containers(objs):
        env = effective_env(objs, c)
        assert env.get("ZUFANG_ENV") == "production", f"{owner['kind']}/{c['name']}"
        secrets_dir = env["ZUFANG_SECRETS_DIR"]
        template = owner["spec"]["template"]
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == secrets_dir)
        volume = next(v for v in template["spec"]["volumes"] if v["name"] == mount["name"])
        secret = one(objs, "Secret", volume["secret"]["secretName"])
        keys = set(secret["data"])
        assert keys <= APP_SECRETS, f"unknown secret files {keys - APP_SECRETS}"
        for key in keys:
            section, k = key.split("_", 1)
            assert k in default_config.get(section, {}), f"secret {key} is no config key"
        if template["metadata"]["labels"]["app.kubernetes.io/component"] == "worker":
            assert WORKER_REQUIRED_SECRETS <= keys and "jwt_secret" not in keys, (owner["metadata"]["name"], keys)
        else:
            assert PROD_REQUIRED_SECRETS <= keys, f"production needs {PROD_REQUIRED_SECRETS - keys}"
            assert len(base64.b64decode(secret["data"]["jwt_secret"])) >= 32, "jwt_secret shorter than 32 bytes"
        # Secrets never travel as variables or ConfigMap values.
        assert not any(env_key(n) and env_key(n)[1] in {"password", "secret", "dsn", "webhook_token"} for n in env)


def test_generated_secret_files_are_gitignored():
    ignore = (REPO / "k8s/.gitignore").read_text()
    assert "overlays/*/secrets/*" in ignore
    import subprocess
    for env in OVERLAYS:
        probe = f"k8s/overlays/{env}/secrets/database_password.txt"
        assert subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", probe]).returncode == 0, probe


@pytest.mark.parametrize("target", OVERLAYS)
def test_databases_endpoints(rendered, target):
    env = effective_env(rendered[target], zufang_containers(rendered[target])[0][1])
    in_cluster = {s["metadata"]["name"] for s in find(rendered[target], "Service")}
    db, redis = env["ZUFANG__DATABASE__HOST"], env["ZUFANG__REDIS__HOST"]
    if target == "dev":
        assert {db, redis} <= in_cluster and find(rendered[target], "StatefulSet", db) and find(rendered[target], "StatefulSet", redis)
        for sts in find(rendered[target], "StatefulSet"):
            assert sts["spec"]["volumeClaimTemplates"], f"{sts['metadata']['name']} has no persistent volume"
    else:
        assert db not in in_cluster and redis not in in_cluster, "prod uses managed, external endpoints"
        assert not find(rendered[target], "StatefulSet")


# --- probes, ports, shutdown --------------------------------------------------------------------

@pytest.fixture(scope="session")
def openapi_paths() -> set[str]:
    path = REPO / "app/openapi.json"
    assert path.is_file(), "app/openapi.json is missing: the probe paths cannot be checked against the app"
    return set(json.loads(path.read_text())["paths"])


def test_probe_paths_exist_in_the_app(rendered, openapi_paths):
    dep = one(rendered["prod"], "Deployment", "app")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] in {"/healthz", "/readyz"}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["path"] in openapi_paths, f"{probe} path not served by the app"
    for sm in find(rendered["prod"], "ServiceMonitor"):
        for ep in sm["spec"]["endpoints"]:
            assert ep["path"] in openapi_paths, "scrape path not served by the app"


@pytest.mark.parametrize("target", TARGETS)
def test_ports_match_the_container_and_the_app(rendered, default_config, target):
    objs = rendered[target]
    dep = one(objs, "Deployment", "app")
    template = dep["spec"]["template"]
    c = template["spec"]["containers"][0]
    cfg = effective_config(default_config, effective_env(objs, c))
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": cfg["application"]["port"]} == {"http": 8080}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ports
    svc = one(objs, "Service", "app")
    labels = template["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items(), "Service selects no app pod"
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    for p in svc_ports.values():
        assert p["targetPort"] in ports or p["targetPort"] in ports.values()
    ing = one(objs, "Ingress", "app")
    for rule in ing["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "app"
            assert backend["port"].get("name") in svc_ports or backend["port"].get("number") in {p["port"] for p in svc_ports.values()}
    # Every ServiceMonitor selects a Service that has the port it scrapes (the app's, the worker's, the dev
    # exporters' and stores'); only the broker's plugin has a second path, its per-queue families.
    for sm in find(objs, "ServiceMonitor"):
        selected = [x for x in find(objs, "Service") if sm["spec"]["selector"]["matchLabels"].items() <= x["metadata"]["labels"].items()]
        assert selected, f"ServiceMonitor/{sm['metadata']['name']} selects no Service"
        paths = {"/metrics", "/metrics/detailed"} if sm["metadata"]["name"] == "rabbitmq" else {"/metrics"}
        for x in selected:
            for ep in sm["spec"]["endpoints"]:
                assert ep["port"] in {p["name"] for p in x["spec"]["ports"]} and ep["path"] in paths


@pytest.mark.parametrize("target", TARGETS)
def test_grace_period_covers_prestop_drain_and_shutdown(rendered, default_config, target):
    objs = rendered[target]
    spec = one(objs, "Deployment", "app")["spec"]["template"]["spec"]
    c = spec["containers"][0]
    cfg = effective_config(default_config, effective_env(objs, c))["application"]
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + cfg["shutdown_drain_seconds"] + cfg["shutdown_timeout_seconds"]
    assert pre_stop >= 3, "too short for endpoint removal to reach the ingress controllers"
    assert spec["terminationGracePeriodSeconds"] > needed, f"{spec['terminationGracePeriodSeconds']} <= {needed}"


# --- rollout, security, scheduling --------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_rollout_never_drops_below_the_wanted_count_and_migrates_first(rendered, target):
    dep = one(rendered[target], "Deployment", "app")
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    init = dep["spec"]["template"]["spec"]["initContainers"]
    assert [c["args"] for c in init] == [["migrate"]] and init[0]["image"] == dep["spec"]["template"]["spec"]["containers"][0]["image"]
    job = one(rendered[target], "Job", "zufang-migrate")
    jc = job["spec"]["template"]["spec"]["containers"][0]
    assert jc["args"] == ["migrate"] and jc["image"] == init[0]["image"]


@pytest.mark.parametrize("target", TARGETS)
def test_pods_meet_the_restricted_pod_security_standard(rendered, target):
    ns = one(rendered[target], "Namespace", "zufang")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for owner, template in pod_templates(rendered[target]):
        spec = template["spec"]
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec.get("automountServiceAccountToken") is False, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), where
        # The restricted profile's volume types (PVCs come from volumeClaimTemplates).
        allowed = {"name", "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret"}
        for v in spec.get("volumes", []):
            assert set(v) <= allowed, (where, v["name"])
        for c in all_containers(template):
            assert not c.get("ports") or all("hostPort" not in p for p in c["ports"]), where
        for c in all_containers(template):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), (where, c["name"])
            assert not sc.get("privileged"), (where, c["name"])
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], (where, c["name"])
    for sa in find(rendered[target], "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_zufang_pods_get_a_writable_tmp(rendered):
    for owner, template in pod_templates(rendered["prod"]):
        for c in all_containers(template):
            mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
            vol = next(v for v in template["spec"]["volumes"] if v["name"] == mount["name"])
            assert "emptyDir" in vol


def test_pods_spread_across_zones_and_nodes(rendered):
    spec = one(rendered["prod"], "Deployment", "app")["spec"]["template"]["spec"]
    keys = {t["topologyKey"] for t in spec["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_replicas_per_environment(rendered):
    dev = one(rendered["dev"], "Deployment", "app")
    assert dev["spec"]["replicas"] == 1 and not find(rendered["dev"], "HorizontalPodAutoscaler")
    assert all(s["spec"]["replicas"] == 1 for s in find(rendered["dev"], "StatefulSet"))
    prod = one(rendered["prod"], "Deployment", "app")
    # The autoscaler owns the count in prod; a fixed replicas field would fight it on every apply.
    assert "replicas" not in prod["spec"]
    assert one(rendered["prod"], "HorizontalPodAutoscaler", "app")["spec"]["minReplicas"] >= 3


def test_prod_resources_are_stricter_than_base(rendered):
    def res(target):
        return one(rendered[target], "Deployment", "app")["spec"]["template"]["spec"]["containers"][0]["resources"]
    prod, base = res("prod"), res("base")
    assert prod["requests"] == prod["limits"], "prod: Guaranteed QoS (requests = limits)"
    assert base["requests"] != base["limits"]
    prod_pdb = one(rendered["prod"], "PodDisruptionBudget", "app")["spec"]
    base_pdb = one(rendered["base"], "PodDisruptionBudget", "app")["spec"]
    assert prod_pdb["maxUnavailable"] == 1 and base_pdb["maxUnavailable"] == "25%"


@pytest.mark.parametrize("target", ("base", "prod"))
def test_autoscaler(rendered, target):
    hpa = one(rendered[target], "HorizontalPodAutoscaler", "app")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 20)
    metrics = {m["type"]: m for m in spec["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "http_requests_per_second"
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
    for name in ("app", "worker"):
        pdb = one(rendered[target], "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"].items() <= one(rendered[target], "Deployment", name)["spec"]["template"]["metadata"]["labels"].items()


def test_adapter_rule_documented_from_the_app_metric():
    readme = (REPO / "k8s/README.md").read_text()
    assert "http_requests_total" in readme and "http_requests_per_second" in readme


# --- network policies ---------------------------------------------------------------------------

def selects(selector: dict, labels: dict) -> bool:
    assert not selector.get("matchExpressions"), "tests only understand matchLabels"
    return selector.get("matchLabels", {}).items() <= labels.items()


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_select_real_pods(rendered, target):
    objs = rendered[target]
    pods = [t["metadata"]["labels"] for _, t in pod_templates(objs)]
    policies = find(objs, "NetworkPolicy")
    deny = one(objs, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for pol in policies:
        sel = pol["spec"]["podSelector"]
        if sel:
            assert any(selects(sel, p) for p in pods), f"{pol['metadata']['name']} selects no pod"
    # Every pod is covered by at least one ingress and one egress policy (default-deny at least).
    for labels in pods:
        for kind in ("Ingress", "Egress"):
            assert any(kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels) for p in policies)


def app_ingress_peers(objs):
    api = one(objs, "Deployment", "app")["spec"]["template"]["metadata"]["labels"]
    peers = []
    for pol in find(objs, "NetworkPolicy"):
        if selects(pol["spec"]["podSelector"], api) and pol["spec"]["podSelector"]:
            for rule in pol["spec"].get("ingress", []):
                for peer in rule["from"]:
                    peers.append((peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                                  peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
                                  tuple(p["port"] for p in rule["ports"])))
    return sorted(peers)


@pytest.mark.parametrize("target", TARGETS)
def test_only_ingress_nginx_and_prometheus_reach_the_app_port(rendered, target):
    # With the gateway-api component, the Gateway's proxies (Envoy Gateway's defaults) as well.
    gateway = [("envoy-gateway-system", "envoy", (8080,))] if "gateway-api" in target else []
    assert app_ingress_peers(rendered[target]) == sorted([("ingress-nginx", "ingress-nginx", (8080,)),
                                                          ("monitoring", "prometheus", (8080,)), *gateway])


def test_dev_data_stores_accept_only_zufang_pods_and_prometheus_on_the_exporter(rendered):
    objs = rendered["dev"]
    zufang = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "zufang"}}}]
    prometheus = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    for name, port, metrics in (("mysql", 3306, 9104), ("redis", 6379, 9121)):
        labels = one(objs, "StatefulSet", name)["spec"]["template"]["metadata"]["labels"]
        rules = [r for p in find(objs, "NetworkPolicy") if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels)
                 for r in p["spec"].get("ingress", [])]
        got = sorted((r["from"] == zufang, r["from"] == prometheus, [p["port"] for p in r["ports"]]) for r in rules)
        assert got == sorted([(True, False, [port]), (False, True, [metrics])]), (name, got)


# --- ingress: the edge inside the cluster -------------------------------------------------------

NGINX = REPO / "nginx"


def nginx_directive(name: str) -> list[str]:
    """Arguments of every `name ...;` in nginx/**/*.conf (comments ignored)."""
    found = []
    for conf in sorted(NGINX.rglob("*.conf")):
        for line in conf.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith(name + " ") and line.endswith(";"):
                found.append(line[len(name):-1].strip())
    assert found, f"nginx/: no {name} directive"
    return found


def seconds(value: str) -> int:
    m = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    n, unit = int(m.group(1)), m.group(2) or "s"
    return {"ms": n // 1000, "s": n, "m": n * 60}[unit]


EDGE_LOCATIONS = NGINX / "snippets/edge-locations.conf"
PREFIX = "nginx.ingress.kubernetes.io/"


def edge_regex_locations() -> dict[str, dict[str, list[str]]]:
    """The edge's `location ~ REGEX { ... }` blocks: regex -> directive name -> arguments (comments ignored)."""
    text = "\n".join(line.split("#", 1)[0] for line in EDGE_LOCATIONS.read_text().splitlines())
    blocks = {}
    for m in re.finditer(r'location ~ ("[^"]+"|\S+) \{(.*?)\n\}', text, flags=re.S):
        directives: dict[str, list[str]] = {}
        for stmt in m.group(2).split(";"):
            words = stmt.split()
            if words:
                directives.setdefault(words[0], []).append(" ".join(words[1:]))
        blocks[m.group(1).strip('"')] = directives
    return blocks


def edge_location(first_segment: str) -> tuple[str, dict[str, list[str]]]:
    """The one regex location of the edge whose path starts with first_segment (e.g. "/media/")."""
    [(regex, directives)] = [(r, d) for r, d in edge_regex_locations().items() if r.startswith("^" + first_segment)]
    return regex, directives


UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
# Paths whose routing must be the edge's: (path, the edge passes it on to the app).
PHOTO_PATHS = [
    ("/api/houses/7/photos/", True), ("/api/houses/12345/photos/", True), ("/api/houses/7/photos", False),
    ("/api/houses/x/photos/", False), ("/api/houses//photos/", False), ("/api/houses/7/photos/3/", False),
    ("/api/houses/7/", False), ("/x/api/houses/7/photos/", False),
]
MEDIA_PATHS = [
    (f"/media/derived/{UUID}/large-0123456789abcdef.jpg", True),
    (f"/media/derived/{UUID}/small-fedcba9876543210.jpg", True),
    (f"/media/originals/{UUID}", False), (f"/media/derived/{UUID}/medium-0123456789abcdef.jpg", False),
    (f"/media/derived/{UUID}/large-0123456789abcde.jpg", False), (f"/media/derived/{UUID}/large-0123456789abcdefg.jpg", False),
    (f"/media/derived/{UUID}/large-0123456789abcdef.jpg/x", False), (f"/media/derived/{UUID}/large-0123456789abcdefXjpg", False),
    (f"/media/derived/{UUID}/large-0123456789abcdef.png", False), (f"/media/derived/{UUID[:-1]}/large-0123456789abcdef.jpg", False),
    (f"/media/derived/../originals/{UUID}", False), ("/media/", False), ("/media/derived/", False),
]


def routes_like_the_edge(regex: str, samples: list[tuple[str, bool]], flags: int = 0) -> None:
    """regex (searched, as nginx does) passes exactly the sample paths the edge passes."""
    got = [(path, re.search(regex, path, flags) is not None) for path, _ in samples]
    assert got == samples, f"{regex}: differs from the edge on {[p for (p, g), (_, w) in zip(got, samples) if g != w]}"


def test_the_route_samples_are_the_edge_locations():
    """The sample paths hold for the edge's own regexes (so a changed edge changes what is expected)."""
    routes_like_the_edge(edge_location("/api/houses/")[0], PHOTO_PATHS)
    routes_like_the_edge(edge_location("/media/")[0], MEDIA_PATHS)
    # Case matters at the edge (`~`); ingress-nginx matches regex paths case-insensitively (README.md).
    assert not re.search(edge_location("/media/")[0], f"/media/derived/{UUID.upper()}/large-0123456789abcdef.jpg")


def ingress_paths(ingress: dict) -> list[dict]:
    return [p for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]


@pytest.mark.parametrize("target", TARGETS)
def test_ingresses_route_only_the_api_and_media(rendered, target):
    ingresses = find(rendered[target], "Ingress")
    assert {i["metadata"]["name"] for i in ingresses} == {"app", "app-login", "app-sms", "app-uploads", "app-media"}
    plain = sorted(p["path"] for i in ingresses for p in ingress_paths(i) if p["pathType"] != "ImplementationSpecific")
    # Trust boundary: /metrics, /readyz, /healthz answer 404 at the edge; only the API is routed.
    assert plain == ["/api/", "/api/mobile-codes/", "/api/tokens/"]
    regexes = {i["metadata"]["name"]: [p["path"] for p in ingress_paths(i) if p["pathType"] == "ImplementationSpecific"]
               for i in ingresses}
    assert {n: r for n, r in regexes.items() if r} == {"app-uploads": regexes["app-uploads"], "app-media": regexes["app-media"]}
    assert len(regexes["app-uploads"]) == len(regexes["app-media"]) == 1
    # ingress-nginx anchors a regex path with `^` and matches it case-insensitively (`~*`).
    routes_like_the_edge("^" + regexes["app-uploads"][0], PHOTO_PATHS, re.I)
    routes_like_the_edge("^" + regexes["app-media"][0], MEDIA_PATHS, re.I)
    for name in ("app-uploads", "app-media"):
        ann = one(rendered[target], "Ingress", name)["metadata"]["annotations"]
        assert ann[PREFIX + "use-regex"] == "true", name
        # ingress-nginx's path validation allows only these besides letters, digits and -_~./
        assert set(regexes[name][0]) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~./^%$[](){}*+?|"), name
    for regex in regexes["app-uploads"] + regexes["app-media"]:
        assert not any(re.search("^" + regex, p, re.I) for p in ("/metrics", "/readyz", "/healthz"))
    for ing in ingresses:
        assert ing["spec"]["ingressClassName"] == "nginx"
        tls = ing["spec"].get("tls")
        if target == "dev":
            assert tls is None and ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "false"
        else:
            assert tls and tls[0]["hosts"] == [r["host"] for r in ing["spec"]["rules"]]
            assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    issuers = [i["metadata"]["name"] for i in ingresses if "cert-manager.io/cluster-issuer" in i["metadata"]["annotations"]]
    # One Ingress asks cert-manager for the certificate; the others share its Secret (two would fight).
    assert issuers == (["app"] if target == "prod" else [])


def size_bytes(value: str) -> int:
    m = re.fullmatch(r"(\d+)([km]?)", value)
    assert m, f"{value}: expected an nginx size"
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)]


@pytest.mark.parametrize("target", TARGETS)
def test_ingress_annotations_match_the_edge(rendered, default_config, target):
    # The server-wide body limit (basics.conf); the upload location raises it for its path alone.
    upload_regex, upload = edge_location("/api/houses/")
    [upload_body] = upload["client_max_body_size"]
    [body] = [v for v in nginx_directive("client_max_body_size") if v != upload_body]
    assert size_bytes(body) == default_config["application"]["max_body_bytes"]
    assert size_bytes(upload_body) > size_bytes(body)
    rates = {z.split("zone=")[1].split(":")[0]: z.split("rate=")[1] for z in nginx_directive("limit_req_zone")}
    conn = max(int(v.split()[-1]) for v in nginx_directive("limit_conn"))
    bodies = {}
    for ing in find(rendered[target], "Ingress"):
        ann = {k[len(PREFIX):]: v for k, v in ing["metadata"]["annotations"].items() if k.startswith(PREFIX)}
        name = ing["metadata"]["name"]
        bodies[name] = ann["proxy-body-size"]
        for key in ("connect", "send", "read"):
            assert int(ann[f"proxy-{key}-timeout"]) == seconds(nginx_directive(f"proxy_{key}_timeout")[0]), (name, key)
        assert int(ann["limit-connections"]) == conn
        if name in ("app", "app-media"):
            # proxy.conf's setting; edge-locations.conf turns it "off" for writes, like the write Ingresses.
            assert ann["proxy-next-upstream"] in [v for v in nginx_directive("proxy_next_upstream") if v != "off"]
            assert ann["proxy-next-upstream-tries"] == nginx_directive("proxy_next_upstream_tries")[0]
            assert int(ann["proxy-next-upstream-timeout"]) == seconds(nginx_directive("proxy_next_upstream_timeout")[0])
            assert "limit-rpm" not in ann and "limit-rps" not in ann
        elif name == "app-uploads":
            [limit] = upload["limit_req"]
            zone, burst = re.fullmatch(r"zone=(\w+) burst=(\d+) nodelay", limit).groups()
            assert rates[zone] == f"{int(ann['limit-rps']) * 60}r/m", (name, rates[zone])
            assert int(ann["limit-rps"]) * int(ann["limit-burst-multiplier"]) == int(burst)
            assert "limit-rpm" not in ann
            assert ann["proxy-request-buffering"] == "on"
            assert ann["proxy-next-upstream"] == "off", "writes are never replayed"
        else:
            zone = {"app-login": "login", "app-sms": "sms"}[name]
            assert rates[zone] == f"{ann['limit-rpm']}r/m", (name, rates[zone])
            assert ann["proxy-next-upstream"] == "off", "writes are never replayed"
    # The upload path allows the edge's upload limit; every other path keeps the server-wide one.
    assert bodies.pop("app-uploads") == upload_body
    assert set(bodies.values()) == {body}, bodies
    # No per-Ingress annotation sets it: the controller-wide setting (README.md) gives uploads the edge's time.
    [body_timeout] = upload["client_body_timeout"]
    assert f'`client-body-timeout: "{seconds(body_timeout)}"`' in (REPO / "k8s/README.md").read_text()
    # The app keeps idle connections longer than the proxies' read timeout and upstream keep-alive.
    assert default_config["application"]["keep_alive_seconds"] > seconds(nginx_directive("proxy_read_timeout")[0])


# --- the image ----------------------------------------------------------------------------------

def test_pods_run_the_image_as_its_own_user_with_real_subcommands(rendered):
    """runAsUser/runAsGroup equal the Dockerfile's numeric USER (so file permissions hold), the
    entrypoint is the zufang binary, and every `args` is a subcommand of app/src/cli.rs."""
    dockerfile = (REPO / "app/Dockerfile").read_text()
    user = re.search(r"^USER\s+(\d+):(\d+)\s*$", dockerfile, flags=re.M)
    assert user, "app/Dockerfile: expected a numeric USER uid:gid"
    assert re.search(r'^ENTRYPOINT\s+\["zufang"\]', dockerfile, flags=re.M)
    cli = (REPO / "app/src/cli.rs").read_text()
    enum = re.search(r"pub enum Command \{(.*?)\n\}", cli, flags=re.S).group(1)
    subcommands = {re.sub(r"(?<!^)([A-Z])", r"-\1", v).lower() for v in re.findall(r"^\s{4}([A-Z]\w*)", enum, flags=re.M)}
    assert {"serve", "migrate"} <= subcommands, subcommands
    for target in ("base", "dev", "prod"):
        for owner, template in pod_templates(rendered[target]):
            if owner["metadata"]["labels"].get("app.kubernetes.io/name") != "zufang":
                continue
            sc = template["spec"]["securityContext"]
            assert (str(sc["runAsUser"]), str(sc["runAsGroup"])) == user.groups(), owner["metadata"]["name"]
            for c in all_containers(template):
                assert "command" not in c, "keep the image's ENTRYPOINT"
                assert c["args"][0] in subcommands, c["args"]


def test_dev_mariadb_accepts_every_pool(rendered, default_config):
    objs = rendered["dev"]
    env = effective_env(objs, zufang_containers(objs)[0][1])
    pool = effective_config(default_config, env)["database"]["max_connections"]
    pods = one(objs, "Deployment", "app")["spec"]["replicas"] + 2  # + surge pod + migration Job
    args = one(objs, "StatefulSet", "mysql")["spec"]["template"]["spec"]["containers"][0]["args"]
    limit = int(next(a.split("=", 1)[1] for a in args if a.startswith("--max-connections=")))
    assert pods * pool < limit


def test_prod_connection_budget_is_documented(rendered, default_config):
    objs = rendered["prod"]
    env = effective_env(objs, zufang_containers(objs)[0][1])
    pool = effective_config(default_config, env)["database"]["max_connections"]
    budget = one(objs, "HorizontalPodAutoscaler", "app")["spec"]["maxReplicas"] * pool
    assert f"= {budget}" in (REPO / "k8s/README.md").read_text(), f"README must state the {budget}-connection budget"


@pytest.mark.parametrize("target", TARGETS)
def test_every_referenced_configmap_secret_and_account_exists(rendered, target):
    objs = rendered[target]
    have = {(o["kind"], o["metadata"]["name"]) for o in objs}
    missing = set()
    for owner, template in pod_templates(objs):
        spec = template["spec"]
        refs = {("ServiceAccount", spec.get("serviceAccountName", "default"))} - {("ServiceAccount", "default")}
        for v in spec.get("volumes", []):
            if "secret" in v:
                refs.add(("Secret", v["secret"]["secretName"]))
            if "configMap" in v:
                refs.add(("ConfigMap", v["configMap"]["name"]))
        for c in all_containers(template):
            for src in c.get("envFrom", []):
                refs.add(("ConfigMap", src["configMapRef"]["name"]))
        missing |= refs - have
    # base leaves the credentials to the overlays; everything else must resolve everywhere.
    assert missing == ({("Secret", "zufang-secrets"), ("Secret", "zufang-worker-secrets")} if target.startswith("base") else set())
