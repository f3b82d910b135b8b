output "public_ip" {
  description = "The shared Elastic IP (the VIP): point the DNS name of the site here."
  value       = aws_eip.edge.public_ip
}

output "eip_allocation_id" {
  description = "Allocation ID of the shared Elastic IP."
  value       = aws_eip.edge.allocation_id
}

output "security_group_id" {
  description = "Security group of the proxies; the app tier accepts app_port from this group only."
  value       = aws_security_group.edge.id
}

output "private_ips" {
  description = "Private address of each proxy, by node name (lb1, lb2)."
  value       = { for node, n in local.nodes : node => n.private_ip }
}

output "instance_ids" {
  description = "Instance ID of each proxy, by node name."
  value       = { for node, i in aws_instance.edge : node => i.id }
}

output "config_bucket" {
  description = "Bucket holding the nginx/ files the proxies fetch at boot."
  value       = aws_s3_bucket.config.id
}

output "ssh_user" {
  description = "Login user of the proxies' AMI (admin on the official Debian images)."
  value       = "admin"
}
