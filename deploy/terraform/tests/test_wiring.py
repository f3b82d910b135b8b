"""Wiring: what `terraform validate` would catch between modules, checked on the parsed files
(terraform cannot download providers here, so it cannot validate)."""

from __future__ import annotations

import re

import pytest

from conftest import ENVIRONMENTS, MODULES, TF_ROOT, load_dir, refs

META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}


def module_calls(environments):
    for env in ENVIRONMENTS:
        for name, call in environments[env].modules.items():
            yield env, name, call


def callee(env: str, call: dict):
    source = call["source"]
    assert source.startswith("../../modules/"), f"{env}: unexpected module source {source}"
    path = (TF_ROOT / "environments" / env / source).resolve()
    assert path.is_dir(), f"{env}: module source {source} does not exist"
    return load_dir(path)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_composes_all_five_modules(environments, env):
    sources = sorted(call["source"].rsplit("/", 1)[-1] for call in environments[env].modules.values())
    assert sources == sorted(MODULES)


def test_every_module_argument_is_a_variable_of_that_module(environments):
    unknown = []
    for env, name, call in module_calls(environments):
        target = callee(env, call)
        for arg in call:
            if arg not in META_ARGUMENTS and arg not in target.variables:
                unknown.append(f"{env}: module.{name} passes {arg}, which {call['source']} does not declare")
    assert unknown == []


def test_every_required_variable_is_passed(environments):
    missing = []
    for env, name, call in module_calls(environments):
        target = callee(env, call)
        for var, body in target.variables.items():
            if "default" not in body and var not in call:
                missing.append(f"{env}: module.{name} does not pass required variable {var}")
    assert missing == []


def module_output_refs(cfg):
    """(module name, output name) for every module.X.Y in a configuration's text."""
    return set(re.findall(r"(?<![\w.])module\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)", cfg.text))


def test_every_referenced_module_output_exists(environments):
    problems = []
    for env in ENVIRONMENTS:
        cfg = environments[env]
        found = module_output_refs(cfg)
        assert found, f"{env}: no module outputs referenced at all?"
        for mod, out in found:
            if mod not in cfg.modules:
                problems.append(f"{env}: module.{mod} is not declared")
                continue
            target = callee(env, cfg.modules[mod])
            if out not in target.outputs:
                problems.append(f"{env}: module.{mod}.{out} is not an output of {cfg.modules[mod]['source']}")
    assert problems == []


def test_every_var_and_local_reference_is_declared(modules, environments):
    problems = []
    for where, cfg in [*(("modules/" + k, v) for k, v in modules.items()), *(("environments/" + k, v) for k, v in environments.items())]:
        doc_parts = [cfg.resources, cfg.data, cfg.outputs, cfg.modules, cfg.locals, cfg.variables, cfg.providers]
        used_vars = set().union(*(refs(p, "var") for p in doc_parts))
        used_locals = set().union(*(refs(p, "local") for p in doc_parts))
        problems += [f"{where}: var.{v} is not declared" for v in sorted(used_vars - set(cfg.variables))]
        problems += [f"{where}: local.{v} is not defined" for v in sorted(used_locals - set(cfg.locals))]
    assert problems == []


def test_every_declared_variable_is_used(modules, environments):
    unused = []
    for where, cfg in [*(("modules/" + k, v) for k, v in modules.items()), *(("environments/" + k, v) for k, v in environments.items())]:
        parts = [cfg.resources, cfg.data, cfg.outputs, cfg.modules, cfg.locals, cfg.providers]
        used = set().union(*(refs(p, "var") for p in parts))
        # validation blocks refer to their own variable: that is not a use
        unused += [f"{where}: var.{v}" for v in sorted(set(cfg.variables) - used)]
    assert unused == []


def test_every_resource_reference_points_at_a_declared_resource(modules):
    problems = []
    for name, cfg in modules.items():
        declared = {f"{t}.{n}" for (t, n) in cfg.resources} | {f"data.{t}.{n}" for (t, n) in cfg.data}
        for m in re.finditer(r"(?<![\w.\"/-])((?:data\.)?aws_[a-z0-9_]+\.[a-z0-9_]+|random_[a-z_]+\.[a-z0-9_]+)", cfg.text):
            ref = m.group(1)
            # skip resource type declarations: resource "aws_x" "y" never matches type.name form
            if ref not in declared:
                problems.append(f"modules/{name}: {ref} is referenced but not declared")
    assert sorted(set(problems)) == []


# The tiers are wired to each other through security groups: these are the edges of the diagram.
EXPECTED_WIRING = {
    ("app", "edge_security_group_id"): "module.edge.security_group_id",
    ("app", "bastion_security_group_id"): "module.bastion.security_group_id",
    ("app", "subnet_ids"): "module.network.private_subnet_ids",
    ("app", "db_host"): "module.data.db_address",
    ("app", "redis_host"): "module.data.redis_host",
    ("app", "db_password_secret_arn"): "module.data.db_password_secret_arn",
    ("app", "redis_password_secret_arn"): "module.data.redis_password_secret_arn",
    ("app", "trusted_proxy_cidrs"): "module.network.public_subnet_cidrs",
    ("data", "app_security_group_id"): "module.app.security_group_id",
    ("data", "subnet_ids"): "module.network.isolated_subnet_ids",
    ("edge", "subnet_ids"): "module.network.public_subnet_ids",
    ("edge", "bastion_security_group_id"): "module.bastion.security_group_id",
    ("edge", "app_asg_name"): "module.app.asg_name",
    ("edge", "app_subnet_cidrs"): "module.network.private_subnet_cidrs",
    ("bastion", "subnet_id"): "module.network.public_subnet_ids[0]",
    ("bastion", "admin_cidrs"): "var.admin_cidrs",
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("module, arg", list(EXPECTED_WIRING), ids=lambda x: str(x))
def test_tiers_are_wired_as_in_the_architecture(environments, env, module, arg):
    call = environments[env].modules[module]
    assert call.get(arg) == "${" + EXPECTED_WIRING[(module, arg)] + "}"
