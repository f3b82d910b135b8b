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


def test_bastion_allows_ssh_only_from_admin_cidrs(modules):
    ingress = [(n, b) for m, n, b in rules(modules, "ingress") if m == "bastion"]
    assert len(ingress) == 1
    name, rule = ingress[0]
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 22, 22)
    assert rule["for_each"] == "${toset(var.admin_cidrs)}"
    assert rule["cidr_ipv4"] == "${each.value}"


def test_admin_cidrs_validation_rejects_the_internet(modules, environments):
    conditions = " ".join(v["condition"] for v in modules["bastion"].variables["admin_cidrs"]["validation"])
    # Every entry's prefix length must be at least /8: 0.0.0.0/0 (and /1../7) fail validation.
    assert re.search(r'tonumber\(split\("/", c\)\[1\]\) >= 8', conditions), conditions
    for env, cfg in environments.items():
        cond = " ".join(v["condition"] for v in cfg.variables["admin_cidrs"]["validation"])
        assert 'c != "0.0.0.0/0"' in cond, env
        assert "default" not in cfg.variables["admin_cidrs"], f"{env}: admin_cidrs must be chosen by the operator"


def sources(modules, module):
    return {(b.get("ip_protocol"), b.get("from_port")): b.get("referenced_security_group_id") or b.get("cidr_ipv4")
            for m, n, b in rules(modules, "ingress") if m == module}


def test_app_tier_accepts_only_the_edge_and_the_bastion(modules):
    assert sources(modules, "app") == {
        ("tcp", "${var.app_port}"): "${var.edge_security_group_id}",
        ("tcp", 22): "${var.bastion_security_group_id}",
    }


def test_data_tier_accepts_only_the_app_tier(modules):
    assert sources(modules, "data") == {
        ("tcp", 3306): "${var.app_security_group_id}",
        ("tcp", 6379): "${var.app_security_group_id}",
    }


def test_edge_speaks_vrrp_only_with_itself_and_ssh_only_from_the_bastion(modules):
    src = sources(modules, "edge")
    assert src[("112", None)] == "${aws_security_group.edge.id}"
    assert src[("tcp", 22)] == "${var.bastion_security_group_id}"
    egress = {(b.get("ip_protocol"), b.get("from_port")): b.get("referenced_security_group_id") or b.get("cidr_ipv4")
              for m, n, b in rules(modules, "egress") if m == "edge"}
    assert egress[("112", None)] == "${aws_security_group.edge.id}"
    assert egress[("tcp", "${var.app_port}")] == "${each.value}"  # for_each over the app subnets


def test_no_egress_rule_opens_all_protocols(modules):
    wide = [f"{m}.{n}" for m, n, b in rules(modules, "egress") if str(b.get("ip_protocol")) in ("-1", "all")]
    assert wide == []


def test_data_tier_has_no_egress_at_all(modules):
    assert [n for m, n, b in rules(modules, "egress") if m == "data"] == []


# --- routing --------------------------------------------------------------------------------------------
def test_route_tables_have_no_inline_routes(modules):
    for name, body in modules["network"].resources_of("aws_route_table").items():
        assert "route" not in body, f"aws_route_table.{name} has inline routes the tests cannot see"


def routes(modules):
    return modules["network"].resources_of("aws_route")


def test_public_subnets_route_to_the_internet_gateway(modules):
    public = [b for b in routes(modules).values() if "aws_route_table.public" in b["route_table_id"]]
    assert len(public) == 1
    assert public[0]["destination_cidr_block"] == "0.0.0.0/0"
    assert public[0]["gateway_id"] == "${aws_internet_gateway.this.id}"


def test_private_subnets_reach_the_internet_only_through_nat(modules):
    private = [b for b in routes(modules).values() if "aws_route_table.private" in b["route_table_id"]]
    assert len(private) == 1
    route = private[0]
    assert route["nat_gateway_id"].startswith("${aws_nat_gateway.this[")
    targets = {"gateway_id", "egress_only_gateway_id", "transit_gateway_id", "vpc_peering_connection_id",
               "network_interface_id", "vpc_endpoint_id", "carrier_gateway_id", "local_gateway_id", "core_network_arn"}
    assert not (targets & set(route)), f"private route has another target: {targets & set(route)}"


def test_isolated_subnets_have_no_route_out(modules):
    isolated = [n for n, b in routes(modules).items() if "aws_route_table.isolated" in b["route_table_id"]]
    assert isolated == []
    assert "route" not in modules["network"].resources["aws_route_table", "isolated"]


def test_every_route_belongs_to_the_public_or_a_private_table(modules):
    tables = {re.search(r"aws_route_table\.(\w+)", b["route_table_id"]).group(1) for b in routes(modules).values()}
    assert tables == {"public", "private"}


@pytest.mark.parametrize("tier", ["public", "private", "isolated"])
def test_each_subnet_tier_is_associated_with_its_own_table(modules, tier):
    assoc = modules["network"].resources["aws_route_table_association", tier]
    assert f"aws_subnet.{tier}[" in assoc["subnet_id"]
    assert f"aws_route_table.{tier}" in assoc["route_table_id"]


def test_nat_gateways_live_in_public_subnets_and_single_nat_is_a_switch(modules):
    net = modules["network"]
    nat = net.resources["aws_nat_gateway", "this"]
    assert "aws_subnet.public[" in nat["subnet_id"]
    assert nat["count"] == "${local.nat_count}"
    assert net.locals["nat_count"] == "${var.single_nat_gateway ? 1 : length(var.azs)}"
    assert net.variables["single_nat_gateway"]["type"] == "${bool}" or net.variables["single_nat_gateway"]["type"] == "bool"


def test_no_subnet_hands_out_public_addresses(modules):
    for name, body in modules["network"].resources_of("aws_subnet").items():
        assert body.get("map_public_ip_on_launch") is False, f"aws_subnet.{name}"


def test_vpc_flow_logs_are_on(modules):
    flow = modules["network"].resources["aws_flow_log", "this"]
    assert flow["vpc_id"] == "${aws_vpc.this.id}"
    assert flow["traffic_type"] == "${var.flow_log_traffic_type}"


def test_default_security_group_is_emptied(modules):
    default = modules["network"].resources["aws_default_security_group", "this"]
    assert "ingress" not in default and "egress" not in default


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
        assert meta.get("http_put_response_hop_limit") == 1, f"{m}: {rtype}.{name}: containers must not reach IMDS"


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


def test_app_servers_live_in_private_subnets(environments):
    for env, cfg in environments.items():
        assert cfg.modules["app"]["subnet_ids"] == "${module.network.private_subnet_ids}", env


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


def test_rds_password_is_generated_not_a_variable(modules):
    db = modules["data"].resources["aws_db_instance", "mariadb"]
    assert db["password"] == "${random_password.db.result}"
    assert not [v for v in modules["data"].variables if "password" in v or "token" in v]


def test_redis_is_encrypted_with_auth_in_isolated_subnets(modules):
    redis = modules["data"].resources["aws_elasticache_replication_group", "redis"]
    assert redis["at_rest_encryption_enabled"] is True
    assert redis["transit_encryption_enabled"] is True
    assert redis["auth_token"] == "${random_password.redis.result}"
    subnet_group = modules["data"].resources["aws_elasticache_subnet_group", "this"]
    assert subnet_group["subnet_ids"] == "${var.subnet_ids}"


def test_every_secret_is_encrypted_with_the_customer_key(modules):
    secrets = list(all_of(modules, "aws_secretsmanager_secret"))
    assert {m for m, _, _ in secrets} == {"data", "app", "edge"}
    for m, name, body in secrets:
        assert body.get("kms_key_id") in ("${aws_kms_key.data.arn}", "${var.kms_key_arn}"), f"{m}: {name}"


def test_no_literal_secret_anywhere(modules, environments):
    pattern = re.compile(r'\b\w*(password|secret|auth_token|auth_pass)\w*\s*=\s*"(?!\$\{)[^"]+"', re.I)
    hits = [f"{where}: {m.group(0)}" for where, cfg in {**modules, **environments}.items() for m in pattern.finditer(cfg.text)]
    assert hits == []


def test_kms_keys_rotate(modules):
    keys = list(all_of(modules, "aws_kms_key"))
    assert keys
    for m, name, body in keys:
        assert body["enable_key_rotation"] is True, f"{m}: {name}"


# --- IAM ---------------------------------------------------------------------------------------------------
# Actions without resource-level permissions, for which "*" is the only valid resource.
READ_ONLY_WILDCARD_OK = re.compile(r"^(ec2:Describe\w+|ecr:GetAuthorizationToken)$")


def test_iam_policies_grant_no_wildcards_beyond_describe_calls(modules):
    problems = []
    for m, name, doc in all_of(modules, "aws_iam_policy_document"):
        if name.endswith("kms"):
            continue  # key policies: "*" is the key itself (checked by checkov, skips justified inline)
        for st in as_list(doc.get("statement", [])):
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


def test_edge_may_move_only_its_own_elastic_ip(modules):
    doc = modules["edge"].data["aws_iam_policy_document", "edge"]
    associate = [st for st in doc["statement"] if "ec2:AssociateAddress" in st["actions"]]
    eip = [st for st in associate if "elastic-ip" in st["resources"][0]]
    assert len(eip) == 1 and eip[0]["resources"] == ["${local.arn_prefix}:elastic-ip/${aws_eip.edge.allocation_id}"]
    for st in associate:
        if st is not eip[0]:
            assert "condition" in st, f"{st['sid']}: association targets must be constrained"


def test_app_role_reads_exactly_its_three_secrets(modules):
    doc = modules["app"].data["aws_iam_policy_document", "app"]
    read = [st for st in doc["statement"] if "secretsmanager:GetSecretValue" in st["actions"]]
    assert len(read) == 1 and read[0]["resources"] == "${values(local.secret_arns)}"
    assert set(modules["app"].locals["secret_arns"]) == {"database_password", "redis_password", "jwt_secret"}


def test_generated_credentials_fit_what_rds_and_elasticache_accept(modules):
    db = modules["data"].resources["random_password", "db"]
    redis = modules["data"].resources["random_password", "redis"]
    assert not set(db["override_special"]) & set('/"@ '), "RDS rejects / \" @ and spaces"
    assert set(redis["override_special"]) <= set("!&#$^<>-"), "ElastiCache AUTH allows only ! & # $ ^ < > -"
    assert 16 <= redis["length"] <= 128
    vrrp = modules["edge"].resources["random_password", "vrrp"]
    assert vrrp["length"] == 8 and vrrp["special"] is False  # render.sh accepts [A-Za-z0-9._-]{1,8}
    jwt = modules["app"].resources["random_password", "jwt"]
    assert jwt["length"] >= 32  # production refuses a shorter jwt_secret
