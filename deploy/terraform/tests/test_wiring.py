"""Wiring that `terraform validate` does not judge: the root module composes every module as in
the architecture, and no module declares a variable it never uses. (Unknown arguments, missing
required variables and undeclared references are left to `terraform validate`, see test_terraform.py.)"""

from __future__ import annotations

import pytest

from conftest import MODULES, refs


def test_the_root_module_composes_every_module(environments):
    calls = environments["stack"].modules.values()
    assert sorted(call["source"] for call in calls) == sorted(f"../modules/{m}" for m in MODULES)


def test_every_declared_variable_is_used(modules, environments):
    unused = []
    for where, cfg in [*(("modules/" + k, v) for k, v in modules.items()), *environments.items()]:
        parts = [cfg.resources, cfg.data, cfg.outputs, cfg.modules, cfg.locals, cfg.providers]
        used = set().union(*(refs(p, "var") for p in parts))
        # validation blocks refer to their own variable: that is not a use; a limit that another
        # variable's validation reads (e.g. the bastion's admin_min_prefix_length) is one
        for name, body in cfg.variables.items():
            used |= refs(body.get("validation", []), "var") - {name}
        unused += [f"{where}: var.{v}" for v in sorted(set(cfg.variables) - used)]
    assert unused == []


# The tiers are wired to each other through security groups: these are the edges of the diagram.
EXPECTED_WIRING = {
    ("app", "edge_security_group_id"): "module.edge.security_group_id",
    ("app", "bastion_security_group_id"): "module.bastion.security_group_id",
    ("app", "subnet_ids"): "module.network.private_subnet_ids",
    ("app", "db_host"): "module.data.db_address",
    ("app", "redis_host"): "module.data.redis_host",
    ("app", "db_password_secret_arn"): "module.data.db_password_secret_arn",
    ("app", "redis_password_secret_arn"): "module.data.redis_password_secret_arn",
    # The proxies' own addresses, not the public subnets they sit in.
    ("app", "trusted_proxy_cidrs"): '[for ip in values(module.edge.private_ips) : "${ip}/32"]',
    # The photo bucket: the app role's grants name this bucket and its key.
    ("app", "photo_bucket_arn"): "module.storage.bucket_arn",
    ("app", "photo_kms_key_arn"): "module.storage.kms_key_arn",
    # The broker: in the private subnets, AMQPS from the app tier, the console from the bastion.
    ("app", "broker_endpoint"): "module.broker.endpoint",
    ("app", "broker_password_secret_arn"): "module.broker.password_secret_arn",
    ("app", "broker_security_group_id"): "module.broker.security_group_id",
    ("broker", "subnet_ids"): "module.network.private_subnet_ids",
    ("broker", "app_security_group_id"): "module.app.security_group_id",
    ("broker", "bastion_security_group_id"): "module.bastion.security_group_id",
    ("data", "app_security_group_id"): "module.app.security_group_id",
    ("data", "subnet_ids"): "module.network.isolated_subnet_ids",
    ("edge", "subnet_ids"): "module.network.public_subnet_ids",
    ("edge", "bastion_security_group_id"): "module.bastion.security_group_id",
    ("edge", "app_asg_name"): "module.app.asg_name",
    ("edge", "app_subnet_cidrs"): "module.network.private_subnet_cidrs",
    ("bastion", "subnet_id"): "module.network.public_subnet_ids[0]",
    ("bastion", "admin_cidrs"): "var.admin_cidrs",
}


@pytest.mark.parametrize("module, arg", list(EXPECTED_WIRING), ids=lambda x: str(x))
def test_tiers_are_wired_as_in_the_architecture(environments, module, arg):
    call = environments["stack"].modules[module]
    assert call.get(arg) == "${" + EXPECTED_WIRING[(module, arg)] + "}"
