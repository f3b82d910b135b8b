# The bastion's contract: SSM Session Manager without any inbound rule, SSH only from admin_cidrs.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name        = "zufang-test"
  vpc_id      = "vpc-0123456789abcdef0"
  vpc_cidr    = "10.20.0.0/16"
  subnet_id   = "subnet-0123456789abcdef0"
  admin_cidrs = ["203.0.113.0/24", "198.51.100.7/32"]
}

run "ssh_only_from_admin_cidrs" {
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.bastion_ssh : r.cidr_ipv4]) == toset(var.admin_cidrs)
    error_message = "one SSH rule per admin CIDR, nothing else"
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.bastion_ssh : r.from_port == 22 && r.to_port == 22 && r.ip_protocol == "tcp"])
    error_message = "the bastion admits SSH only"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.bastion_ssh_vpc.cidr_ipv4 == var.vpc_cidr && aws_vpc_security_group_egress_rule.bastion_ssh_vpc.to_port == 22
    error_message = "SSH out stays inside the VPC"
  }
}

run "session_manager_first" {
  assert {
    condition     = aws_iam_role_policy_attachment.ssm.policy_arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    error_message = "the bastion runs the SSM agent with the managed core policy"
  }
  assert {
    condition     = aws_instance.bastion.metadata_options[0].http_tokens == "required" && aws_instance.bastion.root_block_device[0].encrypted
    error_message = "IMDSv2 only and an encrypted root volume"
  }
  assert {
    condition     = output.instance_id == aws_instance.bastion.id && output.public_ip == aws_eip.bastion.public_ip && aws_eip.bastion.instance == aws_instance.bastion.id
    error_message = "outputs: the instance for `aws ssm start-session`, its Elastic IP"
  }
  assert {
    condition     = strcontains(output.ssh_config, "Host 10.20.*") && strcontains(output.ssh_config, "ProxyJump zufang-test-bastion")
    error_message = "ssh_config jumps to every VPC address through the bastion"
  }
}

run "world_open_ssh_is_rejected" {
  command = plan
  variables {
    admin_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.admin_cidrs]
}

run "half_the_internet_is_rejected" {
  command = plan
  variables {
    admin_cidrs = ["203.0.113.0/24", "0.0.0.0/1"]
  }
  expect_failures = [var.admin_cidrs]
}

run "a_block_wider_than_the_configured_prefix_is_rejected" {
  command = plan
  variables {
    admin_cidrs = ["198.51.0.0/16"]
  }
  expect_failures = [var.admin_cidrs]
}

run "the_widest_allowed_block_is_configurable" {
  command = plan
  variables {
    admin_min_prefix_length = 28
    admin_cidrs             = ["203.0.113.0/24"]
  }
  expect_failures = [var.admin_cidrs]
}

run "a_slash_24_passes_by_default" {
  command = plan
  variables {
    admin_cidrs = ["203.0.113.0/24", "198.51.100.7/32"]
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.bastion_ssh) == 2
    error_message = "/24 and narrower are admitted"
  }
}
