"""Every .tf file parses and is laid out as `terraform fmt` would; modules and environments follow
the layout of CONVENTIONS.md (terraform-aws-modules style)."""

from __future__ import annotations

import re

import pytest

import hclfmt
from conftest import ENVIRONMENTS, MODULES, TF_ROOT, parse_file, tf_files

ALL_TF = tf_files()
TFVARS_EXAMPLES = sorted(TF_ROOT.glob("environments/*/terraform.tfvars.example"))


def test_there_is_terraform_to_check():
    # 5 modules x 4 files + 2 environments x 4 files
    assert len(ALL_TF) >= 28, [str(p) for p in ALL_TF]


@pytest.mark.parametrize("path", ALL_TF, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_every_tf_file_parses(path):
    doc = parse_file(path)
    assert isinstance(doc, dict) and doc, f"{path} parsed to nothing"


@pytest.mark.parametrize("path", ALL_TF + TFVARS_EXAMPLES, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_every_tf_file_is_laid_out_like_terraform_fmt(path):
    problems = hclfmt.check(path.read_text(encoding="utf-8"), str(path.relative_to(TF_ROOT)))
    assert problems == []


# The checker itself must catch each kind of layout error (otherwise the test above proves nothing).
GOOD = '''resource "aws_vpc" "this" {
  cidr_block           = var.cidr # the VPC
  enable_dns_hostnames = true     # endpoints are names

  tags = merge(var.tags, {
    Name = "x"
  })

  user_data = <<-EOT
      indented freely = inside a heredoc
  EOT
}
'''


def test_format_checker_accepts_terraform_fmt_output():
    assert hclfmt.check(GOOD) == []


@pytest.mark.parametrize(
    "bad, problem",
    [
        (GOOD.replace("  cidr_block   ", "    cidr_block "), "indented"),
        (GOOD.replace("    Name = ", "  Name = "), "indented"),
        (GOOD.replace("  })\n", "})\n"), "indented"),
        (GOOD.replace("cidr_block           =", "cidr_block ="), "'=' at column"),
        (GOOD.replace("  tags = merge", "  tags  = merge"), "one space around"),
        (GOOD.replace("true     # endpoints", "true # endpoints"), "comment at column"),
        (GOOD.replace("    Name", "\tName"), "tab"),
        (GOOD.replace("var.cidr #", "var.cidr  #").replace("the VPC", "the VPC "), "trailing whitespace"),
        (GOOD.rstrip("\n"), "no newline"),
        (GOOD + "\n", "blank lines at the end"),
        (GOOD.replace("\n", "\r\n"), "CR characters"),
        (GOOD[: GOOD.rindex("}")], "unbalanced"),
    ],
)
def test_format_checker_rejects(bad, problem):
    problems = hclfmt.check(bad)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("module", MODULES)
def test_module_has_the_standard_files(module):
    d = TF_ROOT / "modules" / module
    for name in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]:
        assert (d / name).is_file(), f"modules/{module}/{name} is missing"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_has_the_standard_files(env):
    d = TF_ROOT / "environments" / env
    for name in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "terraform.tfvars.example", "README.md"]:
        assert (d / name).is_file(), f"environments/{env}/{name} is missing"


def all_configs(modules, environments):
    return {**{f"modules/{k}": v for k, v in modules.items()}, **{f"environments/{k}": v for k, v in environments.items()}}


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
    ("modules/data", "redis_transit_encryption_mode"): ["required", "preferred"],
    ("modules/app", "environment"): ["staging", "prod"],
    ("environments/staging", "environment"): ["staging", "prod"],
    ("environments/prod", "environment"): ["staging", "prod"],
    ("environments/staging", "edge_http_mode"): ["serve", "redirect"],
    ("environments/prod", "edge_http_mode"): ["serve", "redirect"],
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


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environments_pin_exact_provider_versions(environments, env):
    constraints = provider_constraints(environments[env])
    assert "aws" in constraints
    for name, version in constraints.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{env}: provider {name} is not pinned: {version!r}"


def test_environments_pin_the_same_versions(environments):
    assert provider_constraints(environments["staging"]) == provider_constraints(environments["prod"])


@pytest.mark.parametrize("module", MODULES)
def test_modules_bound_provider_versions_and_admit_the_pinned_ones(modules, environments, module):
    pinned = provider_constraints(environments["prod"])
    for name, constraint in provider_constraints(modules[module]).items():
        lower = re.search(r">=\s*(\d+\.\d+\.\d+)", constraint)
        upper = re.search(r"<\s*(\d+\.\d+\.\d+)", constraint)
        assert lower and upper, f"{module}: {name} constraint {constraint!r} needs a lower and an upper bound"
        v = tuple(int(x) for x in pinned[name].split("."))
        assert tuple(int(x) for x in lower.group(1).split(".")) <= v < tuple(int(x) for x in upper.group(1).split("."))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tfvars_example_sets_every_required_variable_and_only_declared_ones(environments, env):
    cfg = environments[env]
    example = parse_file_text((TF_ROOT / "environments" / env / "terraform.tfvars.example").read_text())
    required = {n for n, body in cfg.variables.items() if "default" not in body}
    assert required, "an environment without required variables would apply to nobody's account"
    assert required <= set(example), f"missing in the example: {required - set(example)}"
    assert set(example) <= set(cfg.variables), f"not declared: {set(example) - set(cfg.variables)}"


def parse_file_text(text: str) -> dict:
    import hcl2

    from conftest import OPTIONS, normalize

    return normalize(hcl2.loads(text, serialization_options=OPTIONS))


def test_no_state_or_real_tfvars_in_the_tree():
    stray = [
        str(p.relative_to(TF_ROOT))
        for p in TF_ROOT.rglob("*")
        if p.name.endswith((".tfstate", ".tfstate.backup")) or p.name == "terraform.tfvars" or p.name == ".terraform"
    ]
    assert stray == []


def test_every_folder_has_a_readme():
    folders = [TF_ROOT, *(p for p in TF_ROOT.rglob("*") if p.is_dir() and not ({".terraform", "__pycache__"} & set(p.parts)))]
    assert len(folders) >= 13  # root, tests, modules + 5 + 2 files/, environments + 2
    missing = [str(f.relative_to(TF_ROOT.parent.parent)) for f in folders if not (f / "README.md").is_file()]
    assert missing == []
