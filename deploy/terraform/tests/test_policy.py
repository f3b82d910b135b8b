"""Policy tests on the parsed configuration: who may talk to whom, what routes where, what is
encrypted. Each encodes a sentence of the issue; together with checkov they stand in for a plan."""

from __future__ import annotations

import re

import pytest

from conftest import MODULES, as_list, block

WORLD = {"0.0.0.0/0", "::/0"}
INSTANCE_TYPES = ("aws_instance", "aws_launch_template")


def rules(modules, kind):
    """(module, name, body) of every aws_vpc_security_group_{kind}_rule."""
    for m in MODULES:
        for name, body in modules[m].resources_of(f"aws_vpc_security_group_{kind}_rule").items():
            yield m, name, body


def test_security_groups_use_separate_rule_resources_only(modules):
    # Inline ingress/egress blocks or aws_security_group_rule would escape the tests below.
    offenders = []
    for m in MODULES:
        for name, body in modules[m].resources_of("aws_security_group").items():
            if "ingress" in body or "egress" in body:
                offenders.append(f"{m}: aws_security_group.{name} has inline rules")
        offenders += [f"{m}: aws_security_group_rule.{n}" for n in modules[m].resources_of("aws_security_group_rule")]
        offenders += [f"{m}: aws_default_security_group with rules" for b in modules[m].resources_of("aws_default_security_group").values() if "ingress" in b or "egress" in b]
    assert offenders == []


def test_only_the_edge_accepts_the_world_and_only_on_80_and_443(modules):
    open_rules = []
    for m, name, body in rules(modules, "ingress"):
        if body.get("cidr_ipv4") in WORLD or body.get("cidr_ipv6") in WORLD:
            open_rules.append((m, body.get("ip_protocol"), body.get("from_port"), body.get("to_port")))
    assert sorted(open_rules) == [("edge", "tcp", 80, 80), ("edge", "tcp", 443, 443)]


def test_no_ingress_rule_uses_a_prefix_list_or_an_ipv6_range(modules):
    odd = [f"{m}.{n}" for m, n, b in rules(modules, "ingress") if "prefix_list_id" in b or "cidr_ipv6" in b]
    assert odd == []


def test_every_ingress_rule_names_exactly_one_source(modules):
    bad = [f"{m}.{n}" for m, n, b in rules(modules, "ingress") if ("cidr_ipv4" in b) == ("referenced_security_group_id" in b)]
    assert bad == []


def test_no_egress_rule_opens_all_protocols(modules):
    wide = [f"{m}.{n}" for m, n, b in rules(modules, "egress") if str(b.get("ip_protocol")) in ("-1", "all")]
    assert wide == []


def test_data_tier_and_broker_have_no_egress_at_all(modules):
    assert [f"{m}.{n}" for m, n, b in rules(modules, "egress") if m in ("data", "broker")] == []


def test_the_broker_admits_amqps_from_the_app_tier_and_the_console_from_the_bastion_only(modules):
    ingress = sorted((b["from_port"], b["to_port"], b["referenced_security_group_id"]) for m, n, b in rules(modules, "ingress") if m == "broker")
    assert ingress == [(443, 443, "${var.bastion_security_group_id}"), (5671, 5671, "${var.app_security_group_id}")]


# --- routing --------------------------------------------------------------------------------------------
def test_route_tables_have_no_inline_routes(modules):
    for name, body in modules["network"].resources_of("aws_route_table").items():
        assert "route" not in body, f"aws_route_table.{name} has inline routes the tests cannot see"


def test_vpc_flow_logs_are_on(modules):
    flow = modules["network"].resources["aws_flow_log", "this"]
    assert flow["vpc_id"] == "${aws_vpc.this.id}"
    assert flow["traffic_type"] == "${var.flow_log_traffic_type}"


# --- instances --------------------------------------------------------------------------------------------
def all_of(modules, rtype):
    for m in MODULES:
        for name, body in modules[m].resources_of(rtype).items():
            yield m, name, body


def test_there_are_instances_to_check(modules):
    found = {(m, t) for t in INSTANCE_TYPES for m, _, _ in all_of(modules, t)}
    assert found == {("bastion", "aws_instance"), ("edge", "aws_instance"), ("app", "aws_launch_template")}


@pytest.mark.parametrize("rtype", INSTANCE_TYPES)
def test_imdsv2_is_required_everywhere(modules, rtype):
    for m, name, body in all_of(modules, rtype):
        meta = block(body, "metadata_options")
        assert meta.get("http_tokens") == "required", f"{m}: {rtype}.{name}"
        assert meta.get("http_endpoint") == "enabled", f"{m}: {rtype}.{name}"
        # The app tier's containers (serve, worker) take the instance role for the photo bucket: 2 hops
        # (docker's bridge). Everywhere else no container may reach IMDS.
        hops = 2 if m == "app" else 1
        assert meta.get("http_put_response_hop_limit") == hops, f"{m}: {rtype}.{name}: hop limit {hops}"


def test_root_volumes_are_encrypted(modules):
    for m, name, body in all_of(modules, "aws_instance"):
        assert block(body, "root_block_device")["encrypted"] is True, f"{m}: {name}"
    for m, name, body in all_of(modules, "aws_launch_template"):
        for bdm in as_list(body["block_device_mappings"]):
            assert block(bdm, "ebs")["encrypted"] is True, f"{m}: {name}"


def test_only_the_edge_proxies_get_automatic_public_addresses(modules):
    for m, name, body in all_of(modules, "aws_instance"):
        expected = m == "edge"
        assert body.get("associate_public_ip_address") is expected, f"{m}: {name}"
    for m, name, body in all_of(modules, "aws_launch_template"):
        assert block(body, "network_interfaces")["associate_public_ip_address"] is False


# --- data stores ------------------------------------------------------------------------------------------
def test_rds_is_private_encrypted_and_backed_up(modules):
    db = modules["data"].resources["aws_db_instance", "mariadb"]
    assert db["engine"] == "mariadb"
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    assert db["kms_key_id"] == "${aws_kms_key.data.arn}"
    assert db["backup_retention_period"] == "${var.db_backup_retention_days}"
    assert db["skip_final_snapshot"] is False
    assert db["multi_az"] == "${var.db_multi_az}"
    cond = modules["data"].variables["db_backup_retention_days"]["validation"][0]["condition"]
    assert ">= 1" in cond, "backups must not be switchable off"


def test_every_secret_is_encrypted_with_the_customer_key(modules):
    secrets = list(all_of(modules, "aws_secretsmanager_secret"))
    # The edge creates none: VRRPv3 has no password, and the certificate secret is the operator's.
    assert {m for m, _, _ in secrets} == {"data", "app", "broker"}
    for m, name, body in secrets:
        assert body.get("kms_key_id") in ("${aws_kms_key.data.arn}", "${var.kms_key_arn}"), f"{m}: {name}"


def test_no_literal_secret_anywhere(modules, environments):
    pattern = re.compile(r'\b\w*(password|secret|auth_token|auth_pass)\w*\s*=\s*"(?!\$\{)[^"]+"', re.I)
    hits = [f"{where}: {m.group(0)}" for where, cfg in {**modules, **environments}.items() for m in pattern.finditer(cfg.text)]
    assert hits == []


def test_secret_values_are_write_only(modules, environments):
    """No generated secret value in the plan or the state: every secret version is written with the
    write-only argument, and nothing uses the random provider (whose results live in the state)."""
    versions = list(all_of(modules, "aws_secretsmanager_secret_version"))
    assert {m for m, _, _ in versions} == {"data", "app", "broker"}
    for m, name, body in versions:
        assert "secret_string" not in body and "secret_string_wo" in body, f"{m}: {name}"
        assert body["secret_string_wo_version"].startswith("${var."), f"{m}: {name}: rotation by a version variable"
    # MariaDB's password: RDS generates and rotates it in its own secret; Terraform never has it.
    db = modules["data"].resources["aws_db_instance", "mariadb"]
    assert "password" not in db and "password_wo" not in db and db["manage_master_user_password"] is True
    assert db["master_user_secret_kms_key_id"] == "${aws_kms_key.data.arn}"
    for where, cfg in {**modules, **environments}.items():
        assert not re.search(r'resource "random_|hashicorp/random', cfg.text), where


def test_kms_keys_rotate(modules):
    keys = list(all_of(modules, "aws_kms_key"))
    assert keys
    for m, name, body in keys:
        assert body["enable_key_rotation"] is True, f"{m}: {name}"


def test_the_broker_is_private_and_patched(modules):
    broker = modules["broker"].resources["aws_mq_broker", "rabbitmq"]
    assert broker["engine_type"] == "RabbitMQ"
    assert broker["publicly_accessible"] is False
    assert broker["auto_minor_version_upgrade"] is True
    assert block(broker, "logs")["general"] is True
    assert broker["security_groups"] == ["${aws_security_group.broker.id}"]
    # Its password: generated, stored write-only, read back for the broker (no write-only form there).
    assert block(broker, "user")["password"] == "${data.aws_secretsmanager_secret_version.password.secret_string}"
    # Amazon MQ cannot change a RabbitMQ user after creation: Terraform must not plan as if it could.
    assert block(broker, "lifecycle")["ignore_changes"] == ["user"]


def test_the_photo_bucket_is_private_encrypted_versioned_and_tls_only(modules):
    storage = modules["storage"]
    pab = storage.resources["aws_s3_bucket_public_access_block", "photos"]
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    assert block(storage.resources["aws_s3_bucket_ownership_controls", "photos"], "rule")["object_ownership"] == "BucketOwnerEnforced"
    sse = block(block(storage.resources["aws_s3_bucket_server_side_encryption_configuration", "photos"], "rule"), "apply_server_side_encryption_by_default")
    assert sse == {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.photos.arn}"}
    assert block(storage.resources["aws_s3_bucket_versioning", "photos"], "versioning_configuration")["status"] == "Enabled"
    deny = block(storage.data["aws_iam_policy_document", "bucket"], "statement")
    assert deny["effect"] == "Deny" and block(deny, "condition") == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}


# --- IAM ---------------------------------------------------------------------------------------------------
# Actions without resource-level permissions, for which "*" is the only valid resource.
READ_ONLY_WILDCARD_OK = re.compile(r"^(ec2:Describe\w+|autoscaling:Describe\w+|ecr:GetAuthorizationToken)$")


def test_iam_policies_grant_no_wildcards_beyond_describe_calls(modules):
    problems = []
    for m, name, doc in all_of(modules, "aws_iam_policy_document"):
        if name.endswith("kms"):
            continue  # key policies: "*" is the key itself (checked by checkov, skips justified inline)
        for st in as_list(doc.get("statement", [])):
            if st.get("effect") == "Deny":
                continue  # a wildcard in a Deny only takes away (the photo bucket's TLS-only policy)
            actions = as_list(st.get("actions", []))
            resources = as_list(st.get("resources", []))
            if any(a == "*" or a.endswith(":*") for a in actions):
                problems.append(f"{m}: {name}: wildcard action {actions}")
            if "*" in resources and not all(READ_ONLY_WILDCARD_OK.match(a) for a in actions):
                problems.append(f"{m}: {name}: resource * for {actions}")
    assert problems == []


def test_instance_roles_attach_no_broad_managed_policies(modules):
    allowed = {"AmazonSSMManagedInstanceCore", "service-role/AmazonRDSEnhancedMonitoringRole"}
    for m, name, body in all_of(modules, "aws_iam_role_policy_attachment"):
        policy = body["policy_arn"].split(":policy/")[-1]
        assert policy in allowed, f"{m}: {name} attaches {policy}"

