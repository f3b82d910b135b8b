output "security_group_id" {
  description = "Security group of the bastion; private tiers allow SSH from this group only."
  value       = aws_security_group.bastion.id
}

output "instance_id" {
  description = "Instance ID of the bastion (target of `aws ssm start-session`)."
  value       = aws_instance.bastion.id
}

output "public_ip" {
  description = "Elastic IP of the bastion."
  value       = aws_eip.bastion.public_ip
}

output "private_ip" {
  description = "Private address of the bastion."
  value       = aws_instance.bastion.private_ip
}

output "ssh_user" {
  description = "Login user of the bastion's AMI."
  value       = var.ssh_user
}

output "ssh_config" {
  description = "SSH client configuration: append to ~/.ssh/config, then `ssh <private-ip>` jumps through the bastion."
  value       = <<-EOT
    Host ${var.name}-bastion
      HostName ${aws_eip.bastion.public_ip}
      User ${var.ssh_user}
      IdentitiesOnly yes
      ServerAliveInterval 30

    # Every private address of the VPC is reached only through the bastion.
    Host ${local.private_host_pattern}
      User ${var.ssh_user}
      ProxyJump ${var.name}-bastion
  EOT
}
