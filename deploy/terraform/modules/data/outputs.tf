output "db_address" {
  description = "Host name of the MariaDB endpoint (ZUFANG__DATABASE__HOST)."
  value       = aws_db_instance.mariadb.address
}

output "db_port" {
  description = "Port of the MariaDB endpoint (ZUFANG__DATABASE__PORT)."
  value       = aws_db_instance.mariadb.port
}

output "db_name" {
  description = "Database name (ZUFANG__DATABASE__NAME)."
  value       = aws_db_instance.mariadb.db_name
}

output "db_username" {
  description = "Database user (ZUFANG__DATABASE__USERNAME)."
  value       = aws_db_instance.mariadb.username
}

output "db_password_secret_arn" {
  description = "RDS-managed Secrets Manager secret of the MariaDB master user (JSON {\"username\", \"password\"}); its password field becomes the file database_password."
  value       = aws_db_instance.mariadb.master_user_secret[0].secret_arn
}

output "redis_host" {
  description = "Primary endpoint of the Redis replication group (ZUFANG__REDIS__HOST)."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "redis_port" {
  description = "Port of the Redis endpoint (ZUFANG__REDIS__PORT)."
  value       = aws_elasticache_replication_group.redis.port
}

output "redis_password_secret_arn" {
  description = "Secrets Manager secret holding the Redis AUTH token (file redis_password)."
  value       = aws_secretsmanager_secret.redis_password.arn
}

output "kms_key_arn" {
  description = "Customer-managed KMS key of the data tier; the app and edge modules encrypt their secrets with it."
  value       = aws_kms_key.data.arn
}

output "db_security_group_id" {
  description = "Security group of MariaDB."
  value       = aws_security_group.db.id
}

output "redis_security_group_id" {
  description = "Security group of Redis."
  value       = aws_security_group.redis.id
}
