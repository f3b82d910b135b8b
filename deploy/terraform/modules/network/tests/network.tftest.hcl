# The network's contract: subnets and NAT per AZ, no way out of the isolated tier, VPC endpoints.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name             = "zufang-test"
  cidr             = "10.20.0.0/16"
  azs              = ["ap-east-1a", "ap-east-1b"]
  public_subnets   = ["10.20.0.0/24", "10.20.1.0/24"]
  private_subnets  = ["10.20.10.0/24", "10.20.11.0/24"]
  isolated_subnets = ["10.20.20.0/24", "10.20.21.0/24"]
}

run "one_nat_per_az" {
  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2 && length(aws_subnet.isolated) == 2
    error_message = "one public, one private and one isolated subnet per AZ"
  }
  assert {
    condition     = alltrue([for i, s in aws_subnet.private : s.availability_zone == var.azs[i] && aws_subnet.public[i].availability_zone == var.azs[i]])
    error_message = "public and private subnet i lie in azs[i]"
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 2
    error_message = "one NAT gateway per AZ when single_nat_gateway is false"
  }
  assert {
    condition     = alltrue([for i in range(2) : aws_nat_gateway.this[i].subnet_id == aws_subnet.public[i].id])
    error_message = "NAT gateway i sits in the public subnet of AZ i"
  }
  assert {
    condition     = alltrue([for i in range(2) : aws_route.private_nat[i].nat_gateway_id == aws_nat_gateway.this[i].id])
    error_message = "a private subnet leaves through the NAT of its own AZ"
  }
  assert {
    condition     = alltrue([for i in range(2) : aws_route_table_association.private[i].route_table_id == aws_route_table.private[i].id])
    error_message = "private subnet i uses private route table i"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "no automatic public addresses"
  }
}

run "isolated_tier_has_no_route_out" {
  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.route_table_id != aws_route_table.isolated.id]) && aws_route.public_internet.route_table_id != aws_route_table.isolated.id
    error_message = "no route may point at the isolated route table"
  }
  assert {
    condition     = alltrue([for a in aws_route_table_association.isolated : a.route_table_id == aws_route_table.isolated.id])
    error_message = "every isolated subnet uses the isolated route table"
  }
  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "the default security group admits nothing"
  }
}

run "three_azs_single_nat" {
  variables {
    azs                = ["ap-east-1a", "ap-east-1b", "ap-east-1c"]
    public_subnets     = ["10.20.0.0/24", "10.20.1.0/24", "10.20.2.0/24"]
    private_subnets    = ["10.20.10.0/24", "10.20.11.0/24", "10.20.12.0/24"]
    isolated_subnets   = ["10.20.20.0/24", "10.20.21.0/24", "10.20.22.0/24"]
    single_nat_gateway = true
  }
  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_nat_gateway.this) == 1 && length(aws_eip.nat) == 1
    error_message = "three private subnets share one NAT gateway (and one address)"
  }
  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.nat_gateway_id == aws_nat_gateway.this[0].id])
    error_message = "every private route table points at the single NAT gateway"
  }
  assert {
    condition     = length(output.nat_public_ips) == 1 && length(output.private_subnet_ids) == 3
    error_message = "outputs follow the layout"
  }
}

run "endpoints_keep_aws_traffic_off_the_nat" {
  assert {
    condition     = aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3[0].service_name == "com.amazonaws.ap-east-1.s3"
    error_message = "S3 through a gateway endpoint"
  }
  assert {
    condition     = toset(aws_vpc_endpoint.s3[0].route_table_ids) == toset(aws_route_table.private[*].id)
    error_message = "the S3 gateway endpoint serves every private route table"
  }
  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["secretsmanager", "ecr.api", "ecr.dkr", "ssm", "ssmmessages", "ec2messages", "logs"])
    error_message = "interface endpoints for Secrets Manager, ECR, SSM and CloudWatch Logs"
  }
  assert {
    condition     = alltrue([for ep in aws_vpc_endpoint.interface : ep.private_dns_enabled && toset(ep.subnet_ids) == toset(aws_subnet.private[*].id)])
    error_message = "interface endpoints sit in the private subnets with private DNS"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.endpoints_https) == 1 && aws_vpc_security_group_ingress_rule.endpoints_https[0].cidr_ipv4 == var.cidr && aws_vpc_security_group_ingress_rule.endpoints_https[0].from_port == 443 && aws_vpc_security_group_ingress_rule.endpoints_https[0].to_port == 443
    error_message = "the endpoints admit HTTPS from the VPC (private DNS sends every host there), nothing else"
  }
  assert {
    condition     = output.interface_endpoint_ids["secretsmanager"] == aws_vpc_endpoint.interface["secretsmanager"].id
    error_message = "interface_endpoint_ids output maps service to endpoint"
  }
}

run "endpoints_opt_out" {
  variables {
    enable_vpc_endpoints = false
  }
  assert {
    condition     = length(aws_vpc_endpoint.s3) == 0 && length(aws_vpc_endpoint.interface) == 0 && length(aws_security_group.endpoints) == 0
    error_message = "enable_vpc_endpoints = false creates no endpoint"
  }
  assert {
    condition     = output.s3_endpoint_id == null && length(output.interface_endpoint_ids) == 0
    error_message = "outputs are empty without endpoints"
  }
}

run "subnet_lists_must_match_the_azs" {
  command = plan
  variables {
    private_subnets = ["10.20.10.0/24"]
  }
  expect_failures = [aws_vpc.this]
}
