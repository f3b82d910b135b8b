"""Egress: the zufang pods reach exactly cluster DNS, MariaDB 3306, Redis 6379, the API pods and workers the
broker and the object store (photo-pipeline-egress), and, where an overlay uses
components/egress-external, the endpoints its EgressExternalSettings names (SMS gateway, Sentry, OTLP
collector) and nothing else; the app's configured URLs lie on those ports."""
from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import TARGETS, find, kubectl, one, pod_templates, render
from test_consistency import effective_env, selects, zufang_containers

COMPONENT = "../../components/egress-external"
ENDPOINTS = ("smsGateway", "sentry", "otlpCollector")
DNS = {("dns", 53, "UDP"), ("dns", 53, "TCP")}


def settings_of(target_dir: Path) -> dict | None:
    """The overlay's EgressExternalSettings spec, or None when it does not use the component."""
    kust = yaml.safe_load((target_dir / "kustomization.yaml").read_text())
    if COMPONENT not in kust.get("components", []):
        return None
    for res in kust["resources"]:
        path = target_dir / res
        if path.is_file():
            doc = yaml.safe_load(path.read_text())
            if doc.get("kind") == "EgressExternalSettings":
                return doc["spec"]
    raise AssertionError(f"{target_dir}: uses {COMPONENT} without an EgressExternalSettings resource")


def configured(spec: dict | None) -> set[tuple[str, int, str]]:
    return {(f"cidr:{spec[e]['cidr']}", spec[e]["port"], "TCP") for e in ENDPOINTS} if spec else set()


def peer_key(peer: dict) -> str:
    if "ipBlock" in peer:
        assert set(peer) == {"ipBlock"} and "except" not in peer["ipBlock"], peer
        ipaddress.ip_network(peer["ipBlock"]["cidr"])  # strict: host bits must be zero
        return f"cidr:{peer['ipBlock']['cidr']}"
    if peer.get("namespaceSelector"):
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
        assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        return "dns"
    return f"pod:{peer['podSelector']['matchLabels']['app.kubernetes.io/name']}"


def egress_of(objs: list[dict], labels: dict) -> set[tuple[str, int, str]]:
    """Every (destination, port, protocol) the NetworkPolicies allow a pod with these labels."""
    allowed = set()
    for pol in find(objs, "NetworkPolicy"):
        if not pol["spec"]["podSelector"] or not selects(pol["spec"]["podSelector"], labels):
            continue
        for rule in pol["spec"].get("egress", []):
            assert rule.get("to"), f"{pol['metadata']['name']}: an egress rule without `to` allows every destination"
            assert rule.get("ports"), f"{pol['metadata']['name']}: an egress rule without `ports` allows every port"
            allowed |= {(peer_key(peer), port["port"], port["protocol"]) for peer in rule["to"] for port in rule["ports"]}
    return allowed


@pytest.mark.parametrize("target", TARGETS)
def test_egress_is_dns_data_stores_and_exactly_the_configured_endpoints(rendered, target_dirs, target):
    objs = rendered[target]
    external = configured(settings_of(target_dirs[target]))
    assert (target == "prod") == bool(external), "prod (and only prod) uses components/egress-external"
    templates = [t for _, t in pod_templates(objs) if t["metadata"]["labels"].get("app.kubernetes.io/name") == "zufang"]
    assert {t["metadata"]["labels"]["app.kubernetes.io/component"] for t in templates} == {"api", "migrate", "worker"}
    pipeline = one(objs, "NetworkPolicy", "photo-pipeline-egress")
    for t in templates:
        labels = t["metadata"]["labels"]
        allowed = egress_of(objs, labels)
        # The broker and the store: exactly the API pods and the workers (test_photos.py checks where to).
        photo = egress_of([pipeline], labels)
        assert bool(photo) == (labels["app.kubernetes.io/component"] in ("api", "worker")), labels
        allowed -= photo
        assert DNS <= allowed
        stores = {a for a in allowed if a[1] in (3306, 6379)}
        assert {a[1:] for a in stores} == {(3306, "TCP"), (6379, "TCP")}
        for dest, port, _ in stores:
            if target == "prod":  # the managed services' private subnets
                net = ipaddress.ip_network(dest.removeprefix("cidr:"))
                assert net.is_private and net.prefixlen >= 16, dest
            else:
                assert dest == {3306: "pod:mysql", 6379: "pod:redis"}[port]
                if target == "dev":
                    assert find(objs, "StatefulSet", dest.removeprefix("pod:"))
        rest = allowed - DNS - stores
        # The API pods get the configured endpoints; the workers and the migration Job none of them.
        want = external if labels["app.kubernetes.io/component"] == "api" else set()
        assert rest == want, f"{target} {labels['app.kubernetes.io/component']}: unexpected egress {rest ^ want}"


def write_kustomization(workcopy: Path, name: str, settings: dict | None) -> Path:
    d = workcopy / "tests-render" / name
    d.mkdir(parents=True, exist_ok=True)
    resources = ["../../base"]
    if settings is not None:
        (d / "egress-external.yaml").write_text(yaml.safe_dump({
            "apiVersion": "zufang.io/v1", "kind": "EgressExternalSettings",
            "metadata": {"name": "egress-external", "annotations": {"config.kubernetes.io/local-config": "true"}},
            "spec": settings}))
        resources.append("egress-external.yaml")
    (d / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "zufang",
        "resources": resources, "components": [COMPONENT]}))
    return d


def test_the_settings_alone_decide_the_external_endpoints(workcopy):
    """Other settings give exactly those endpoints, and the settings object itself is never emitted."""
    spec = {"smsGateway": {"cidr": "192.0.2.64/26", "port": 8443},
            "sentry": {"cidr": "198.51.100.7/32", "port": 443},
            "otlpCollector": {"cidr": "10.99.0.0/16", "port": 4317}}
    objs = render(write_kustomization(workcopy, "egress-settings", spec))
    assert not find(objs, "EgressExternalSettings")
    api = one(objs, "Deployment", "app")["spec"]["template"]["metadata"]["labels"]
    policy = one(objs, "NetworkPolicy", "zufang-egress-external")
    assert egress_of([policy], api) == configured(spec)
    assert all(isinstance(p["port"], int) for r in policy["spec"]["egress"] for p in r["ports"]), "a string port is a named port"


def test_the_component_refuses_to_render_without_settings(workcopy):
    d = write_kustomization(workcopy, "egress-no-settings", None)
    proc = subprocess.run([kubectl(), "kustomize", str(d)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "EgressExternalSettings" in proc.stderr, proc.stderr


def test_prod_sends_to_the_allowed_endpoints_with_its_secrets(rendered, target_dirs):
    """prod's app configuration uses the gateway over HTTPS on the allowed ports, and its Secret carries
    the gateway token and the Sentry DSN file."""
    spec = settings_of(target_dirs["prod"])
    objs = rendered["prod"]
    owner, container = zufang_containers(objs)[-1]
    env = effective_env(objs, container)
    assert env["ZUFANG__SMS__SENDER"] == "http"
    assert "ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION" not in env
    for endpoint, url in (("smsGateway", env["ZUFANG__SMS__WEBHOOK_URL"]), ("otlpCollector", env["ZUFANG__OTEL__ENDPOINT"])):
        parts = urlsplit(url)
        assert parts.scheme == "https", f"{url}: leaves the cluster unencrypted"
        assert (parts.port or 443) == spec[endpoint]["port"], f"{url} vs egress-external.yaml {endpoint}"
    assert spec["sentry"]["port"] == 443, "Sentry ingests over HTTPS"
    volume = next(v for v in owner["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    keys = set(one(objs, "Secret", volume["secret"]["secretName"])["data"])
    assert {"sms_webhook_token", "sentry_dsn"} <= keys


def test_egress_check_catches_an_extra_destination(rendered, target_dirs):
    """The exact-set check can fail: one more allowed port shows up as unexpected egress."""
    cidr = settings_of(target_dirs["prod"])["smsGateway"]["cidr"]
    objs = rendered["prod"]
    policy = yaml.safe_load(yaml.safe_dump(one(objs, "NetworkPolicy", "zufang-egress-external")))
    policy["spec"]["egress"][0]["ports"].append({"port": 80, "protocol": "TCP"})
    api = one(objs, "Deployment", "app")["spec"]["template"]["metadata"]["labels"]
    others = [o for o in objs if o["metadata"]["name"] != "zufang-egress-external"]
    assert egress_of(others + [policy], api) - egress_of(objs, api) == {(f"cidr:{cidr}", 80, "TCP")}
