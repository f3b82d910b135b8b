# The whole stack as an environment applies it. tests/run.sh runs this file once per environment:
#   terraform test -var-file=../environments/<env>.tfvars
# so the assertions follow the variables, and prod's guarantees are checked on prod's own file.
mock_provider "aws" {
  source = "../tests/mocks"
}

run "stack" {
  assert {
    condition     = length(module.network.private_subnet_ids) == length(var.azs) && length(module.network.isolated_subnet_ids) == length(var.azs)
    error_message = "one private and one isolated subnet per AZ"
  }
  assert {
    condition     = length(output.nat_public_ips) == (var.single_nat_gateway ? 1 : length(var.azs))
    error_message = "NAT gateways: one, or one per AZ"
  }
  assert {
    condition     = module.network.private_subnet_cidrs == [for i, _ in var.azs : cidrsubnet(var.vpc_cidr, 8, 10 + i)]
    error_message = "private subnets are the /24s 10-12 of the VPC"
  }
  assert {
    condition     = length(module.network.interface_endpoint_ids) == (var.enable_vpc_endpoints ? 7 : 0)
    error_message = "VPC endpoints follow enable_vpc_endpoints"
  }
  assert {
    condition     = output.app_asg_name == "${var.name}-app"
    error_message = "the edge follows the app group by this name"
  }
  assert {
    condition     = output.edge_public_ip == module.edge.public_ip && output.bastion_instance_id == module.bastion.instance_id
    error_message = "outputs: the site's address, the bastion for Session Manager"
  }
  assert {
    condition     = strcontains(output.ssh_config, "Host ${var.name}-lb1") && strcontains(output.ssh_config, "ProxyJump ${var.name}-bastion")
    error_message = "ssh_config reaches the proxies through the bastion"
  }
  assert {
    condition     = var.environment != "prod" || (var.db_multi_az && var.db_deletion_protection && !var.single_nat_gateway && var.redis_num_cache_clusters >= 2 && var.app_min_size >= 2)
    error_message = "prod: multi-AZ database with deletion protection, a NAT per AZ, Redis failover, at least two app servers"
  }
  assert {
    condition     = var.environment != "prod" || can(regex("@sha256:[0-9a-f]{64}$", var.app_image))
    error_message = "prod pins the app image by digest"
  }
  assert {
    condition     = var.environment != "prod" || (startswith(var.sms_webhook_url, "https://") && !var.allow_log_sms_sender)
    error_message = "prod sends verification codes through the SMS gateway (HTTPS), never the log sender"
  }
  assert {
    condition     = var.environment != "prod" || (var.edge_http_mode == "redirect" && var.tls_secret_arn != null)
    error_message = "prod: port 80 only redirects; the proxies serve the certificate from tls_secret_arn and refuse a self-signed one"
  }
  assert {
    condition     = toset(module.app.trusted_proxies) == toset([for ip in values(module.edge.private_ips) : "${ip}/32"]) && length(module.app.trusted_proxies) == 2
    error_message = "the app trusts X-Forwarded-For from the two edge proxies' addresses only, not the public subnets"
  }
  assert {
    condition     = module.app.photo_bucket == module.storage.bucket_name && output.photo_bucket_name == module.storage.bucket_name
    error_message = "the app servers are given this environment's photo bucket"
  }
  assert {
    condition     = module.broker.deployment_mode == (var.environment == "prod" ? "CLUSTER_MULTI_AZ" : "SINGLE_INSTANCE")
    error_message = "the broker: a three-node cluster across AZs in prod, one node in staging"
  }
  assert {
    condition     = var.name == "zufang-${var.environment}"
    error_message = "resource names carry the environment"
  }
}

# prod's edge: no API in clear on port 80, and a real certificate. Refused at plan time whatever the
# environment file says (these runs override it, and set prod's broker so that only the edge is wrong).
run "prod_refuses_plain_http" {
  command = plan
  variables {
    environment            = "prod"
    name                   = "zufang-prod"
    edge_http_mode         = "serve"
    tls_secret_arn         = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:zufang/edge-tls-AbCdEf"
    broker_deployment_mode = "CLUSTER_MULTI_AZ"
    broker_instance_type   = "mq.m5.large"
  }
  expect_failures = [var.edge_http_mode]
}

run "prod_refuses_to_run_without_a_certificate" {
  command = plan
  variables {
    environment            = "prod"
    name                   = "zufang-prod"
    edge_http_mode         = "redirect"
    tls_secret_arn         = null
    broker_deployment_mode = "CLUSTER_MULTI_AZ"
    broker_instance_type   = "mq.m5.large"
  }
  expect_failures = [var.tls_secret_arn]
}

# prod's broker: a single node would take the queue, and every job in it, down with its AZ.
run "prod_refuses_a_single_broker" {
  command = plan
  variables {
    environment            = "prod"
    name                   = "zufang-prod"
    broker_deployment_mode = "SINGLE_INSTANCE"
    tls_secret_arn         = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:zufang/edge-tls-AbCdEf"
  }
  expect_failures = [var.broker_deployment_mode]
}
