# The data tier: MariaDB (RDS) and Redis (ElastiCache) in the isolated subnets, reachable from the
# app tier's security group only. Credentials live in Secrets Manager; the app fetches them at boot.
# The MariaDB password is RDS's own (manage_master_user_password): generated and rotated by RDS in
# Secrets Manager, never seen by Terraform. The Redis AUTH token is generated here and written
# write-only, but ElastiCache's auth_token has no write-only form (aws provider 5.100), so a copy is
# in the state, which must sit in the encrypted, locked backend (see README).
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # RDS offers no Performance Insights for MariaDB on the micro and small burstable classes; asking
  # for it there fails the apply.
  performance_insights = !can(regex("^db\\.(t2|t3|t4g)\\.(micro|small)$", var.db_instance_class))
}

# --- one customer-managed key for everything at rest in this tier (and the app/edge secrets) -------
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:a key policy's "*" resource is the key itself; the root principal must administer it or the key becomes unmanageable
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is the key itself, not every resource in the account
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is the key itself, not every resource in the account
  statement {
    sid       = "AccountAdministersKeyAndDelegatesToIAM"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${var.name}: RDS, ElastiCache and Secrets Manager"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

# --- credentials -------------------------------------------------------------------------------------
# ElastiCache AUTH tokens take 16..128 characters and no special characters beyond ! & # $ ^ < > -.
# Generated during the apply: uuid() reads the OS's cryptographic random source (244 bits in 64 hex
# characters). A local is evaluated once per run, so the secret and ElastiCache get the same value.
# Write-only arguments are sent only when their version changes: bump redis_password_version to set a
# new one. (Not the provider's ephemeral aws_secretsmanager_random_password: `terraform test` cannot
# mock ephemeral resources yet, and auth_token could not take an ephemeral value anyway.)
locals {
  generated_redis_token = replace("${uuid()}${uuid()}", "-", "")
}

resource "aws_secretsmanager_secret" "redis_password" {
  #checkov:skip=CKV2_AWS_57:ElastiCache AUTH rotation is a two-step token change (ROTATE then SET) plus an app restart; done by bumping var.redis_password_version and re-applying, not by a rotation Lambda
  name_prefix = "${var.name}/redis_password-"
  description = "ElastiCache AUTH token; written to /run/secrets/redis_password on the app servers"
  kms_key_id  = aws_kms_key.data.arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "redis_password" {
  secret_id                = aws_secretsmanager_secret.redis_password.id
  secret_string_wo         = local.generated_redis_token
  secret_string_wo_version = var.redis_password_version
}

# ElastiCache takes the token as a plain argument: read it back from the secret (this copy is in the
# state; see the note at the top).
data "aws_secretsmanager_secret_version" "redis_password" {
  secret_id  = aws_secretsmanager_secret.redis_password.id
  version_id = aws_secretsmanager_secret_version.redis_password.version_id
}

# --- security groups: only the app tier gets in; nothing goes out --------------------------------------
resource "aws_security_group" "db" {
  name_prefix = "${var.name}-db-"
  description = "MariaDB: 3306 from the app tier only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "MariaDB from the app servers"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = var.app_security_group_id
}

resource "aws_security_group" "redis" {
  name_prefix = "${var.name}-redis-"
  description = "Redis: 6379 from the app tier only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-redis" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_app" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the app servers"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = var.app_security_group_id
}

# --- MariaDB -------------------------------------------------------------------------------------------
resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "${var.name}: isolated subnets"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_db_parameter_group" "mariadb" {
  name_prefix = "${var.name}-mariadb-"
  family      = "mariadb${var.db_engine_version}"
  description = "${var.name}: zufang settings"
  tags        = var.tags

  # The schema stores Chinese text: utf8mb4 everywhere (the server default latin1 would mangle it).
  parameter {
    name  = "character_set_server"
    value = "utf8mb4"
  }

  parameter {
    name  = "collation_server"
    value = "utf8mb4_unicode_ci"
  }

  # The server refuses every connection that is not TLS: passwords and personal data never cross
  # the VPC in clear, whatever a client is configured to do. The app verifies the server against the
  # RDS CA bundle (database.ssl_mode = verify_identity, see modules/app).
  parameter {
    name  = "require_secure_transport"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name_prefix        = "${var.name}-rds-mon-"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "mariadb" {
  #checkov:skip=CKV_AWS_157:multi-AZ is a per-environment cost decision (var.db_multi_az): prod sets true, staging false
  identifier_prefix = "${var.name}-"
  engine            = "mariadb"
  engine_version    = var.db_engine_version
  instance_class    = var.db_instance_class

  db_name  = var.db_name
  username = var.db_username
  # RDS generates the password into a Secrets Manager secret of its own (JSON {"username",
  # "password"}, encrypted with the tier's key) and rotates it: it is in no plan, state or
  # Terraform process. The app servers read its "password" field (modules/app fetch-secrets.sh).
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.data.arn
  port                          = 3306

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.data.arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.mariadb.name

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "18:00-19:00" # 02:00-03:00 in China Standard Time, the quietest hour
  maintenance_window        = "sun:19:00-sun:20:00"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"
  delete_automated_backups  = false

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["audit", "error", "general", "slowquery"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled        = local.performance_insights
  performance_insights_kms_key_id     = local.performance_insights ? aws_kms_key.data.arn : null

  tags = merge(var.tags, { Name = "${var.name}-mariadb" })

  depends_on = [aws_iam_role_policy_attachment.rds_monitoring]
}

# RDS rotates its secret every 7 days unless told otherwise. The app reads the password when it
# starts, and each app server restarts itself when the secret changes (modules/app
# zufang-secrets-refresh.timer, within 15 minutes, servers at random moments): a longer period
# means fewer such restarts.
resource "aws_secretsmanager_secret_rotation" "db_password" {
  secret_id = aws_db_instance.mariadb.master_user_secret[0].secret_arn

  rotation_rules {
    automatically_after_days = var.db_password_rotation_days
  }
}

# --- Redis ---------------------------------------------------------------------------------------------
resource "aws_elasticache_subnet_group" "this" {
  name        = "${var.name}-redis"
  description = "${var.name}: isolated subnets"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_elasticache_replication_group" "redis" {
  #checkov:skip=CKV2_AWS_50:Multi-AZ failover follows var.redis_num_cache_clusters (prod: 2 nodes, on; staging: 1 node, off to save cost); the app degrades, not fails, without Redis
  replication_group_id = "${var.name}-redis"
  description          = "${var.name}: zufang cache (cache-aside; the app degrades, not fails, without it)"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  num_cache_clusters   = var.redis_num_cache_clusters
  # Failover needs a replica to promote.
  automatic_failover_enabled = var.redis_num_cache_clusters > 1
  multi_az_enabled           = var.redis_num_cache_clusters > 1

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.data.arn
  # TLS only: plain connections are refused (the app connects with redis.tls = true). An existing
  # group moves from preferred to required in one modification once its clients speak TLS.
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = data.aws_secretsmanager_secret_version.redis_password.secret_string

  snapshot_retention_limit   = 3
  snapshot_window            = "17:00-18:00"
  maintenance_window         = "sun:20:00-sun:21:00"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  tags = merge(var.tags, { Name = "${var.name}-redis" })
}
