output "security_group_id" {
  description = "Security group of the app servers; the data tier accepts connections from this group only."
  value       = aws_security_group.app.id
}

output "asg_name" {
  description = "Name of the app auto scaling group (the edge proxies follow its instances)."
  value       = aws_autoscaling_group.app.name
}

output "launch_template_id" {
  description = "ID of the app launch template."
  value       = aws_launch_template.app.id
}

output "jwt_secret_arn" {
  description = "Secrets Manager secret holding the JWT signing key (file jwt_secret)."
  value       = aws_secretsmanager_secret.jwt.arn
}

output "role_name" {
  description = "IAM role of the app servers."
  value       = aws_iam_role.app.name
}

output "trusted_proxies" {
  description = "application.trusted_proxies of the app servers: the only peers whose X-Forwarded-* headers the app believes."
  value       = var.trusted_proxy_cidrs
}

output "photo_bucket" {
  description = "The photo bucket the app servers are configured with (s3.bucket in /etc/zufang/photos.env)."
  value       = local.photo_env["ZUFANG__S3__BUCKET"]
}

output "user_data" {
  description = "The cloud-config the app servers boot with, uncompressed (the launch template carries it gzipped). No secret in it: ARNs and settings only."
  value       = local.user_data
}
