"""Repository hygiene for k8s/: kustomize conventions, scripts, READMEs."""
from __future__ import annotations

import shutil
import subprocess
import sys

import yaml

from conftest import K8S

KUSTOMIZATIONS = sorted(p for p in K8S.rglob("kustomization.yaml") if "tests" not in p.parts)


def test_kustomizations_use_labels_not_common_labels():
    assert len(KUSTOMIZATIONS) >= 5
    for path in KUSTOMIZATIONS:
        doc = yaml.safe_load(path.read_text())
        assert "commonLabels" not in doc and "bases" not in doc and "patchesStrategicMerge" not in doc, path


def test_overlays_are_small_patches_on_base():
    for env in ("dev", "prod"):
        doc = yaml.safe_load((K8S / "overlays" / env / "kustomization.yaml").read_text())
        assert "../../base" in doc["resources"]
        for patch in (K8S / "overlays" / env / "patches").glob("*.yaml"):
            assert len(patch.read_text().splitlines()) <= 40, f"{patch} is no longer a small patch"


def test_scripts_have_help_and_are_shellcheck_clean():
    scripts = sorted(K8S.rglob("*.sh"))
    assert scripts
    for script in scripts:
        proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0 and "usage" in proc.stdout.lower(), script
    assert shutil.which("shellcheck"), "shellcheck missing (run.sh installs it)"
    proc = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    for tool in ("sync-monitoring.py", "vendor-crd-schema.py"):
        py = subprocess.run([sys.executable, str(K8S / "tools" / tool), "--help"], capture_output=True, text=True)
        assert py.returncode == 0 and "usage" in py.stdout.lower(), tool


def test_every_folder_has_a_readme():
    skip = {"patches", "generated", "__pycache__", ".pytest_cache"}
    for folder in [K8S, *[p for p in K8S.rglob("*") if p.is_dir()]]:
        if folder.name in skip:
            continue
        assert (folder / "README.md").is_file(), f"{folder} has no README.md"
