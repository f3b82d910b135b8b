"""The modules and the root module follow the layout of CONVENTIONS.md (terraform-aws-modules
style): standard files, typed and described variables, validated inputs, bounded provider versions,
a committed lock file, one variable file per environment. (Parsing and `terraform fmt` layout are
checked by Terraform itself, see test_terraform.py.)"""

from __future__ import annotations

import re

import pytest

from conftest import ENVIRONMENTS, MODULES, TF_ROOT, tf_files, tfvars

ALL_TF = tf_files()


def test_there_is_terraform_to_check():
    # 5 modules x 4 files + the root module's 4
    assert len(ALL_TF) >= 24, [str(p) for p in ALL_TF]


@pytest.mark.parametrize("module", MODULES)
def test_module_has_the_standard_files(module):
    d = TF_ROOT / "modules" / module
    for name in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]:
        assert (d / name).is_file(), f"modules/{module}/{name} is missing"


def test_root_module_has_the_standard_files():
    d = TF_ROOT / "stack"
    for name in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", ".terraform.lock.hcl", "README.md"]:
        assert (d / name).is_file(), f"stack/{name} is missing"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_is_a_variable_file_and_a_backend_file(env):
    d = TF_ROOT / "environments"
    assert (d / f"{env}.tfvars").is_file() and (d / f"{env}.s3.tfbackend").is_file()
    assert sorted(p.name for p in d.iterdir()) == sorted(
        ["README.md", *(f"{e}.tfvars" for e in ENVIRONMENTS), *(f"{e}.s3.tfbackend" for e in ENVIRONMENTS)]
    ), "an environment is a variable file, not a copy of the configuration"


def all_configs(modules, environments):
    return {**{f"modules/{k}": v for k, v in modules.items()}, **environments}


def test_every_variable_is_typed_and_described(modules, environments):
    missing = []
    for where, cfg in all_configs(modules, environments).items():
        for name, body in cfg.variables.items():
            if not body.get("type"):
                missing.append(f"{where}: var.{name} has no type")
            if not str(body.get("description", "")).strip():
                missing.append(f"{where}: var.{name} has no description")
    assert missing == []


def test_every_output_is_described(modules, environments):
    missing = [
        f"{where}: output {name}"
        for where, cfg in all_configs(modules, environments).items()
        for name, body in cfg.outputs.items()
        if not str(body.get("description", "")).strip()
    ]
    assert missing == []


def validations(body) -> list[str]:
    return [v["condition"] for v in body.get("validation", [])]


def test_every_cidr_variable_is_validated(modules, environments):
    unvalidated = []
    for where, cfg in all_configs(modules, environments).items():
        for name, body in cfg.variables.items():
            if "cidr" in name or name in ("public_subnets", "private_subnets", "isolated_subnets"):
                conds = validations(body)
                if not any("cidrhost" in c for c in conds):
                    unvalidated.append(f"{where}: var.{name}")
    assert unvalidated == []


# Variables with a closed set of values and the values the validation must name.
ENUMS = {
    ("modules/network", "flow_log_traffic_type"): ["ACCEPT", "REJECT", "ALL"],
    ("modules/edge", "http_mode"): ["serve", "redirect"],
    ("modules/app", "environment"): ["staging", "prod"],
    ("stack", "environment"): ["staging", "prod"],
    ("stack", "edge_http_mode"): ["serve", "redirect"],
}


@pytest.mark.parametrize("where, name", list(ENUMS), ids=lambda x: str(x))
def test_enum_variables_are_validated_with_their_values(modules, environments, where, name):
    cfg = all_configs(modules, environments)[where]
    conds = " ".join(validations(cfg.variables[name]))
    assert "contains(" in conds, f"{where}: var.{name} has no contains() validation"
    for value in ENUMS[(where, name)]:
        assert f'"{value}"' in conds, f"{where}: var.{name} validation does not list {value}"
    default = cfg.variables[name].get("default")
    if default is not None:
        assert default in ENUMS[(where, name)]


def provider_constraints(cfg) -> dict[str, str]:
    out = {}
    for block in cfg.terraform:
        for rp in block.get("required_providers", []):
            for name, spec in rp.items():
                out[name] = spec["version"]
    return out


def lower_upper(constraint: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    lower = re.search(r">=\s*(\d+\.\d+\.\d+)", constraint)
    upper = re.search(r"<\s*(\d+\.\d+\.\d+)", constraint)
    assert lower and upper, f"constraint {constraint!r} needs a lower and an upper bound"
    return tuple(int(x) for x in lower.group(1).split(".")), tuple(int(x) for x in upper.group(1).split("."))


def locked_versions() -> dict[str, str]:
    text = (TF_ROOT / "stack" / ".terraform.lock.hcl").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r'provider "registry\.terraform\.io/hashicorp/(\w+)" \{\s+version\s+= "([^"]+)"', text)}


def test_the_lock_file_pins_the_tested_aws_provider():
    assert locked_versions() == {"aws": "5.100.0"}, "only the aws provider, at the version CI tests"


@pytest.mark.parametrize("where", ["stack", *(f"modules/{m}" for m in MODULES)])
def test_provider_constraints_are_bounded_and_admit_the_locked_version(modules, environments, where):
    cfg = all_configs(modules, environments)[where]
    constraints = provider_constraints(cfg)
    assert set(constraints) == {"aws"}, f"{where}: providers {sorted(constraints)}"
    low, high = lower_upper(constraints["aws"])
    locked = tuple(int(x) for x in locked_versions()["aws"].split("."))
    assert low <= locked < high, f"{where}: {constraints['aws']} excludes the locked {locked}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_file_sets_every_required_variable_and_only_declared_ones(environments, env):
    cfg = environments["stack"]
    values = tfvars(env)
    required = {n for n, body in cfg.variables.items() if "default" not in body}
    assert {"environment", "name", "vpc_cidr", "region", "azs", "admin_cidrs", "app_image"} <= required
    assert required <= set(values), f"missing in {env}.tfvars: {required - set(values)}"
    assert set(values) <= set(cfg.variables), f"not declared: {set(values) - set(cfg.variables)}"
    assert values["environment"] == env


def test_environments_differ_only_in_values_not_in_keys():
    assert set(tfvars("staging")) == set(tfvars("prod")), "a key set in one environment only is a drift"


def test_no_state_or_real_tfvars_in_the_tree():
    stray = [
        str(p.relative_to(TF_ROOT))
        for p in TF_ROOT.rglob("*")
        if p.name.endswith((".tfstate", ".tfstate.backup")) or p.name == "terraform.tfvars" or p.name == ".terraform"
    ]
    assert stray == []


def test_every_folder_has_a_readme():
    folders = [TF_ROOT, *(p for p in TF_ROOT.rglob("*") if p.is_dir() and not ({".terraform", "__pycache__"} & set(p.parts)))]
    assert len(folders) >= 17  # root, tests (+ mocks), modules + 5 (+ tests) + 2 files/, environments, stack (+ tests)
    missing = [str(f.relative_to(TF_ROOT.parent.parent)) for f in folders if not (f / "README.md").is_file()]
    assert missing == []
