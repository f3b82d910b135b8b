output "endpoint" {
  description = "AMQPS endpoint of the broker, amqps://<host>:5671 (the app servers get its host and port as ZUFANG__AMQP__HOST/PORT; no credentials in it)."
  value       = aws_mq_broker.rabbitmq.instances[0].endpoints[0]
}

output "console_url" {
  description = "The RabbitMQ management console (reachable from the bastion only)."
  value       = aws_mq_broker.rabbitmq.instances[0].console_url
}

output "username" {
  description = "The broker user (ZUFANG__AMQP__USERNAME)."
  value       = var.username
}

output "password_secret_arn" {
  description = "Secrets Manager secret holding the broker user's password (file amqp_password)."
  value       = aws_secretsmanager_secret.password.arn
}

output "security_group_id" {
  description = "Security group of the broker; the app tier's egress to 5671 names it."
  value       = aws_security_group.broker.id
}

output "deployment_mode" {
  description = "SINGLE_INSTANCE or CLUSTER_MULTI_AZ, as deployed."
  value       = aws_mq_broker.rabbitmq.deployment_mode
}
