output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, in the order of azs."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private (app) subnets, in the order of azs."
  value       = aws_subnet.private[*].id
}

output "isolated_subnet_ids" {
  description = "IDs of the isolated (data) subnets, in the order of azs."
  value       = aws_subnet.isolated[*].id
}

output "public_subnet_cidrs" {
  description = "CIDR blocks of the public subnets (where the proxies live: the app trusts X-Forwarded-* from these)."
  value       = aws_subnet.public[*].cidr_block
}

output "private_subnet_cidrs" {
  description = "CIDR blocks of the private (app) subnets."
  value       = aws_subnet.private[*].cidr_block
}

output "isolated_subnet_cidrs" {
  description = "CIDR blocks of the isolated (data) subnets."
  value       = aws_subnet.isolated[*].cidr_block
}

output "nat_public_ips" {
  description = "Public addresses the private subnets leave through (allow-list these at third parties such as the SMS webhook)."
  value       = aws_eip.nat[*].public_ip
}

output "flow_log_group_name" {
  description = "CloudWatch Logs group holding the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "s3_endpoint_id" {
  description = "Gateway endpoint of S3 on the private route tables (null when endpoints are off)."
  value       = one(aws_vpc_endpoint.s3[*].id)
}

output "interface_endpoint_ids" {
  description = "Interface endpoint IDs by service name (empty when endpoints are off)."
  value       = { for svc, ep in aws_vpc_endpoint.interface : svc => ep.id }
}
