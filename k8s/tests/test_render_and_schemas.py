"""Every kustomization renders, and every rendered object satisfies a pinned Kubernetes release's schemas
(kubernetes-validate, strict: unknown fields are errors) or, for prometheus-operator and Gateway API kinds,
the vendored CRD schemas in crd-schemas/."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from conftest import KUBERNETES_VERSION, TARGETS

CRD_SCHEMAS = Path(__file__).parent / "crd-schemas"
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateway-gateway-v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-gateway-v1.json",
}


def validate(obj: dict) -> None:
    crd = CRD_KINDS.get((obj["apiVersion"], obj["kind"]))
    if crd:
        schema = json.loads((CRD_SCHEMAS / crd).read_text())
        jsonschema.Draft202012Validator(schema).validate(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_kustomization_renders_the_core_objects(rendered, target):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered[target]}
    for expected in [("Namespace", "zufang"), ("ServiceAccount", "zufang"), ("Deployment", "app"),
                     ("Service", "app"), ("Ingress", "app"), ("PodDisruptionBudget", "app"),
                     ("NetworkPolicy", "default-deny"), ("Job", "zufang-migrate")]:
        assert expected in kinds, f"{target}: {expected} missing"
    assert all(o["metadata"].get("namespace") == "zufang" for o in rendered[target] if o["kind"] != "Namespace")


@pytest.mark.parametrize("target", TARGETS)
def test_every_object_validates_against_pinned_schemas(rendered, target):
    errors = []
    for obj in rendered[target]:
        try:
            validate(obj)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as err:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {err.message} at {list(err.absolute_path)}")
        except kubernetes_validate.SchemaNotFoundError as err:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: no schema ({err})")
    assert not errors, f"{target} (Kubernetes {KUBERNETES_VERSION}):\n" + "\n".join(errors)


def test_validator_rejects_a_broken_object(rendered):
    """The validation above can fail: a misspelt field and a wrong type are both caught."""
    dep = json.loads(json.dumps(next(o for o in rendered["prod"] if o["kind"] == "Deployment")))
    dep["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(dep)
    rule = json.loads(json.dumps(next(o for o in rendered["prod"] if o["kind"] == "PrometheusRule")))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    with pytest.raises(jsonschema.ValidationError):
        validate(rule)


def test_base_renders_without_any_secret_file(target_dirs):
    """base/ is complete alone: it needs no credentials file (overlays generate zufang-secrets)."""
    assert not list(target_dirs["base"].rglob("*.txt"))
