# The edge's contract: two proxies in two AZs sharing one Elastic IP that keepalived's MASTER moves
# to itself; world-open on 80/443 only, SSH from the bastion only, app port to the app subnets only.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                      = "zufang-test"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0ccccccccccccccc1", "subnet-0ccccccccccccccc2"]
  subnet_cidrs              = ["10.20.0.0/24", "10.20.1.0/24"]
  app_subnet_cidrs          = ["10.20.10.0/24", "10.20.11.0/24"]
  app_asg_name              = "zufang-test-app"
  bastion_security_group_id = "sg-0bastion000000000"
  kms_key_arn               = "arn:aws:kms:ap-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
  tls_secret_arn            = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:zufang/edge-tls-AbCdEf"
}

run "eip_failover_wiring" {
  assert {
    condition     = aws_instance.edge["lb1"].subnet_id == var.subnet_ids[0] && aws_instance.edge["lb2"].subnet_id == var.subnet_ids[1]
    error_message = "lb1 and lb2 in different AZs"
  }
  assert {
    condition     = alltrue([for n in ["lb1", "lb2"] : strcontains(aws_instance.edge[n].user_data, "EIP_ALLOCATION_ID=${aws_eip.edge.allocation_id}")])
    error_message = "both proxies know the shared address keepalived moves"
  }
  assert {
    condition     = strcontains(aws_instance.edge["lb1"].user_data, "PRIORITY=150") && strcontains(aws_instance.edge["lb2"].user_data, "PRIORITY=100")
    error_message = "lb1 is the preferred MASTER"
  }
  assert {
    condition     = strcontains(aws_instance.edge["lb1"].user_data, "PEER_IP=10.20.1.12") && strcontains(aws_instance.edge["lb2"].user_data, "PEER_IP=10.20.0.11")
    error_message = "each proxy's unicast peer is the other one"
  }
  assert {
    condition     = data.aws_iam_policy_document.edge.statement[0].actions == toset(["ec2:AssociateAddress"]) && data.aws_iam_policy_document.edge.statement[0].resources == toset(["arn:aws:ec2:ap-east-1:123456789012:elastic-ip/${aws_eip.edge.allocation_id}"])
    error_message = "the proxies may move exactly this Elastic IP"
  }
  assert {
    condition     = output.public_ip == aws_eip.edge.public_ip && output.eip_allocation_id == aws_eip.edge.allocation_id
    error_message = "outputs: the site's address"
  }
}

run "edge_reachability" {
  assert {
    condition     = aws_vpc_security_group_ingress_rule.edge_http.from_port == 80 && aws_vpc_security_group_ingress_rule.edge_https.from_port == 443 && aws_vpc_security_group_ingress_rule.edge_https.cidr_ipv4 == "0.0.0.0/0"
    error_message = "HTTP and HTTPS from the world"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.edge_ssh.referenced_security_group_id == var.bastion_security_group_id && aws_vpc_security_group_ingress_rule.edge_ssh.cidr_ipv4 == null
    error_message = "SSH from the bastion security group only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.edge_vrrp.ip_protocol == "112" && aws_vpc_security_group_ingress_rule.edge_vrrp.referenced_security_group_id == aws_security_group.edge.id
    error_message = "VRRP only between the two proxies"
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_egress_rule.edge_app : r.cidr_ipv4]) == toset(var.app_subnet_cidrs)
    error_message = "upstream traffic goes to the app subnets"
  }
}

run "upstream_pool_follows_the_app_group" {
  assert {
    condition     = alltrue([for n in ["lb1", "lb2"] : strcontains(aws_instance.edge[n].user_data, "APP_ASG_NAME=zufang-test-app")])
    error_message = "the refresh timer reads the app group's InService instances"
  }
  assert {
    condition     = contains(tolist(data.aws_iam_policy_document.edge.statement[3].actions), "autoscaling:DescribeAutoScalingGroups")
    error_message = "the proxies may read the group's lifecycle states"
  }
}

# Plain HTTP carries passwords and bearer tokens in clear: by default port 80 only redirects, and the
# proxies get a real certificate (never the self-signed fallback) unless a test stack says otherwise.
run "https_only_by_default" {
  assert {
    condition     = alltrue([for n in ["lb1", "lb2"] : strcontains(aws_instance.edge[n].user_data, "EDGE_HTTP_MODE=redirect")])
    error_message = "port 80 redirects to HTTPS unless told to serve"
  }
  assert {
    condition     = alltrue([for n in ["lb1", "lb2"] : strcontains(aws_instance.edge[n].user_data, "TLS_REQUIRED=true") && strcontains(aws_instance.edge[n].user_data, "TLS_SECRET_ARN=${var.tls_secret_arn}")])
    error_message = "the proxies fetch the certificate secret and refuse to boot without it"
  }
  assert {
    condition     = data.aws_iam_policy_document.edge.statement[4].actions == toset(["secretsmanager:GetSecretValue"]) && data.aws_iam_policy_document.edge.statement[4].resources == toset([var.tls_secret_arn])
    error_message = "the proxies may read the certificate secret and no other"
  }
  assert {
    condition     = alltrue([for n in ["lb1", "lb2"] : strcontains(aws_instance.edge[n].user_data, "EDGE_HSTS_INCLUDE_SUBDOMAINS=false")])
    error_message = "HSTS covers subdomains only when asked"
  }
}

# Own state: the proxies ignore later user data changes (a roll is one node at a time, see main.tf).
run "hsts_include_subdomains_when_the_domain_allows" {
  state_key = "hsts"
  variables {
    hsts_include_subdomains = true
  }
  assert {
    condition     = alltrue([for n in ["lb1", "lb2"] : strcontains(aws_instance.edge[n].user_data, "EDGE_HSTS_INCLUDE_SUBDOMAINS=true")])
    error_message = "the render gets includeSubDomains"
  }
}

run "a_required_certificate_cannot_be_left_out" {
  command = plan
  variables {
    tls_secret_arn = null
  }
  expect_failures = [var.tls_secret_arn]
}

run "the_certificate_is_a_secrets_manager_secret" {
  command = plan
  variables {
    tls_secret_arn = "arn:aws:acm:ap-east-1:123456789012:certificate/0000"
  }
  expect_failures = [var.tls_secret_arn]
}

run "a_test_stack_may_use_a_self_signed_certificate" {
  state_key = "self_signed"
  variables {
    tls_secret_arn          = null
    require_tls_certificate = false
  }
  assert {
    condition     = strcontains(aws_instance.edge["lb1"].user_data, "TLS_REQUIRED=false") && strcontains(aws_instance.edge["lb1"].user_data, "TLS_SECRET_ARN=\n")
    error_message = "without a required certificate the proxy makes a self-signed one"
  }
  # VRRPv3 has no password, so the certificate was the proxies' only secret: without it they may read none.
  assert {
    condition     = length([for s in data.aws_iam_policy_document.edge.statement : s if contains(tolist(s.actions), "secretsmanager:GetSecretValue")]) == 0
    error_message = "a proxy without a certificate secret may read no secret"
  }
}
