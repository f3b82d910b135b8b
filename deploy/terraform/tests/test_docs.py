"""docs/cloud: the network diagram is Mermaid and matches the subnets the environments carve; the
Alibaba Cloud table maps every kind of AWS resource the modules create."""

from __future__ import annotations

import re

from conftest import REPO, tfvars

DOCS = REPO / "docs" / "cloud"

# AWS resource types the modules create -> the words the mapping table uses for them.
AWS_TO_DOC = {
    "aws_vpc": "VPC", "aws_subnet": "subnet", "aws_internet_gateway": "internet gateway",
    "aws_nat_gateway": "NAT gateway", "aws_eip": "Elastic IP", "aws_route_table": "route table",
    "aws_flow_log": "flow logs", "aws_security_group": "security group", "aws_instance": "EC2 instance",
    "aws_launch_template": "launch template", "aws_autoscaling_group": "auto scaling group",
    "aws_db_instance": "RDS for MariaDB", "aws_elasticache_replication_group": "ElastiCache",
    "aws_secretsmanager_secret": "Secrets Manager", "aws_kms_key": "KMS", "aws_iam_role": "IAM role",
    "aws_s3_bucket": "S3 bucket", "aws_vpc_endpoint": "VPC endpoints",
    "aws_cloudwatch_metric_alarm": "CloudWatch alarm", "aws_autoscaling_policy": "target-tracking scaling",
    "aws_mq_broker": "Amazon MQ",
}


def test_network_diagram_is_mermaid_with_every_tier():
    text = (DOCS / "network.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block, "no mermaid block"
    diagram = block.group(1)
    assert diagram.lstrip().startswith("flowchart")
    for word in ["lb1", "lb2", "bastion", "NAT", "MariaDB", "Redis", "Elastic IP", "VRRP", "public", "private", "isolated"]:
        assert word in diagram, word


def test_diagram_addresses_are_the_ones_staging_carves(environments):
    text = (DOCS / "network.md").read_text()
    env = environments["stack"]
    assert tfvars("staging")["vpc_cidr"] == "10.20.0.0/16"
    assert env.locals["public_subnets"] == "${[for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, i)]}"
    assert env.locals["private_subnets"] == "${[for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 10 + i)]}"
    assert env.locals["isolated_subnets"] == "${[for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 20 + i)]}"
    for cidr in ["10.20.0.0/24", "10.20.1.0/24", "10.20.10.0/24", "10.20.11.0/24", "10.20.20.0/24", "10.20.21.0/24",
                 "10.20.0.11", "10.20.1.12"]:
        assert cidr in text, cidr


def test_alibaba_table_maps_every_kind_of_resource_the_modules_create(modules):
    text = (DOCS / "alibaba-cloud.md").read_text()
    rows = [l for l in text.splitlines() if l.startswith("| ") and not l.startswith("| tier")]
    aws_column = "\n".join(l.split("|")[2] for l in rows if l.count("|") >= 5)
    created = {t for cfg in modules.values() for (t, _) in cfg.resources}
    unmapped = [t for t in sorted(created) if t in AWS_TO_DOC and AWS_TO_DOC[t].lower() not in aws_column.lower()]
    assert unmapped == []
    # every main resource family of the modules is covered by the dictionary above
    families = {t for t in created if not re.search(r"_(association|attachment|policy|version|rotation|rule|block|configuration|controls|versioning|alias|object|subnet_group|parameter_group|profile|default_security_group)$", t)}
    assert families - set(AWS_TO_DOC) - {"aws_route", "aws_cloudwatch_log_group", "aws_default_security_group", "aws_elasticache_subnet_group", "aws_db_subnet_group"} == set()


def test_alibaba_table_names_the_products_the_issue_lists():
    text = (DOCS / "alibaba-cloud.md").read_text()
    for product in ["VPC", "vSwitch", "NAT Gateway", "EIP", "ECS", "SLB", "RDS", "Tair"]:
        assert product in text, product


def test_terraform_readme_covers_usage_access_and_cost():
    text = (REPO / "deploy" / "terraform" / "README.md").read_text()
    for needle in ["terraform -chdir=stack init", "-backend-config=../environments/", "plan -var-file=../environments/",
                   "ProxyJump", "aws ssm start-session", "single_nat_gateway", "Cost note", "tests/run.sh",
                   "terraform test", "VPC endpoints"]:
        assert needle in text, needle
