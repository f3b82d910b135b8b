output "edge_public_ip" {
  description = "The site's address (the Elastic IP held by the MASTER proxy): point DNS here."
  value       = module.edge.public_ip
}

output "edge_private_ips" {
  description = "Private addresses of lb1 and lb2 (SSH through the bastion)."
  value       = module.edge.private_ips
}

output "bastion_public_ip" {
  description = "Public address of the bastion."
  value       = module.bastion.public_ip
}

output "bastion_instance_id" {
  description = "Bastion instance ID, for `aws ssm start-session --target`."
  value       = module.bastion.instance_id
}

output "ssh_config" {
  description = "Append to ~/.ssh/config: private hosts are reached only through the bastion (ProxyJump); `ssh <name>-lb1` for the proxies."
  value = join("\n", concat([module.bastion.ssh_config], [
    for node, ip in module.edge.private_ips :
    "Host ${var.name}-${node}\n  HostName ${ip}\n  User ${module.edge.ssh_user}\n  ProxyJump ${var.name}-bastion\n"
  ]))
}

output "nat_public_ips" {
  description = "Addresses the app servers' outbound traffic leaves from."
  value       = module.network.nat_public_ips
}

output "app_asg_name" {
  description = "Auto scaling group of the app servers."
  value       = module.app.asg_name
}

output "db_address" {
  description = "MariaDB endpoint (reachable from the app tier only; from a laptop, tunnel through the bastion)."
  value       = module.data.db_address
}

output "redis_host" {
  description = "Redis primary endpoint (reachable from the app tier only)."
  value       = module.data.redis_host
}

output "photo_bucket_name" {
  description = "The house-photo bucket (the app servers get it as ZUFANG__S3__BUCKET)."
  value       = module.storage.bucket_name
}

output "broker_endpoint" {
  description = "AMQPS endpoint of the RabbitMQ broker (the app servers get its host and port as ZUFANG__AMQP__HOST/PORT)."
  value       = module.broker.endpoint
}

output "broker_console_url" {
  description = "RabbitMQ management console: from the bastion only (Session Manager port forwarding, see README)."
  value       = module.broker.console_url
}
