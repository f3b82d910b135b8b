"""Terraform itself: `terraform fmt -check`, `terraform init -backend=false` + `terraform validate` for
every module and the root module, and `terraform test` (mocked aws provider) for every module and for
the root module once per environment file. Providers come from the filesystem mirror named in
../terraformrc.hcl (run.sh exports TF_CLI_CONFIG_FILE); nothing is downloaded, nothing reaches AWS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ENVIRONMENTS, MODULES, REPO, TF_ROOT

DIRS = ["stack", *(f"modules/{m}" for m in MODULES)]
# Where `terraform init` keeps its working data: outside the tree (nothing to clean, nothing to commit).
DATA_ROOT = REPO / ".cache" / "terraform"


@pytest.fixture(scope="session")
def terraform() -> str:
    binary = shutil.which("terraform")
    assert binary, "terraform is not on PATH: install Terraform >= 1.11 (CI machines carry 1.11.4)"
    cli_config = os.environ.get("TF_CLI_CONFIG_FILE", "")
    assert cli_config and Path(cli_config).is_file(), (
        "TF_CLI_CONFIG_FILE must name the project's CLI config (deploy/terraform/tests/run.sh sets it)")
    return binary


def tf(terraform: str, where: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
           "TF_DATA_DIR": str(DATA_ROOT / where.replace("/", "-"))}
    return subprocess.run(["nice", "-n", "10", terraform, *args, "-no-color"], cwd=TF_ROOT / where, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def initialised(terraform) -> dict[str, subprocess.CompletedProcess]:
    """`terraform init -backend=false` in every directory, once; the root module must match its lock file."""
    out = {}
    for where in DIRS:
        lock = ["-lockfile=readonly"] if where == "stack" else []
        out[where] = tf(terraform, where, "init", "-backend=false", *lock)
    return out


def test_fmt_check(terraform):
    out = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"], cwd=TF_ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, f"not formatted (run `terraform fmt -recursive deploy/terraform`):\n{out.stdout}{out.stderr}"


@pytest.mark.parametrize("where", DIRS)
def test_init_offline_from_the_mirror(initialised, where):
    out = initialised[where]
    assert out.returncode == 0, out.stdout + out.stderr
    assert "hashicorp/aws v5.100.0" in out.stdout, out.stdout


@pytest.mark.parametrize("where", DIRS)
def test_validate(terraform, initialised, where):
    assert initialised[where].returncode == 0, "init failed"
    out = tf(terraform, where, "validate")
    assert out.returncode == 0 and "The configuration is valid" in out.stdout, out.stdout + out.stderr


def summary(out: subprocess.CompletedProcess) -> tuple[int, int]:
    m = re.search(r"(Success|Failure)! (\d+) passed, (\d+) failed", out.stdout)
    assert m, out.stdout + out.stderr
    return int(m.group(2)), int(m.group(3))


def tftest_files(where: str) -> list[Path]:
    return sorted((TF_ROOT / where / "tests").glob("*.tftest.hcl"))


def count_runs(where: str) -> int:
    return sum(len(re.findall(r'^run "', p.read_text(), re.M)) for p in tftest_files(where))


@pytest.mark.parametrize("module", MODULES)
def test_module_contract(terraform, initialised, module):
    where = f"modules/{module}"
    assert tftest_files(where), f"{where} has no tests/*.tftest.hcl"
    out = tf(terraform, where, "test")
    passed, failed = summary(out)
    assert out.returncode == 0 and failed == 0, out.stdout + out.stderr
    assert passed == count_runs(where) >= 1, "every run block ran and passed"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_root_module_with_each_environment_file(terraform, initialised, env):
    out = tf(terraform, "stack", "test", f"-var-file=../environments/{env}.tfvars")
    passed, failed = summary(out)
    assert out.returncode == 0 and failed == 0, out.stdout + out.stderr
    assert passed == count_runs("stack") >= 1


def test_a_broken_contract_fails(terraform, tmp_path):
    """The runner reports a failing assertion as a failure (guards against a setup that cannot fail):
    a copy of the bastion module with one wrong assertion."""
    copy = tmp_path / "bastion"
    shutil.copytree(TF_ROOT / "modules" / "bastion", copy, ignore=shutil.ignore_patterns("tests", ".terraform*"))
    (copy / "tests").mkdir()
    good = (TF_ROOT / "modules" / "bastion" / "tests" / "bastion.tftest.hcl").read_text()
    mocks = os.path.relpath(TF_ROOT / "tests" / "mocks", copy)
    assert good.count("== toset(var.admin_cidrs)") == 1
    bad = good.replace('"../../tests/mocks"', f'"{mocks}"').replace("== toset(var.admin_cidrs)", "== toset([])")
    (copy / "tests" / "bastion.tftest.hcl").write_text(bad)
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "TF_DATA_DIR": str(tmp_path / "data")}
    for args in (["init", "-backend=false"], ["test"]):
        out = subprocess.run(["nice", "-n", "10", terraform, *args, "-no-color"], cwd=copy, env=env,
                             capture_output=True, text=True, timeout=600)
    assert out.returncode != 0, out.stdout
    assert summary(out) == (count_runs("modules/bastion") - 1, 1), out.stdout + out.stderr
