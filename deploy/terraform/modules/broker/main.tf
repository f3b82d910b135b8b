# The message broker: Amazon MQ for RabbitMQ in the private subnets, for the app's background jobs
# (photo thumbnails and other domain events). Never publicly accessible; AMQPS (5671) from the app
# tier's security group only, the management console (443) from the bastion's only (operators tunnel
# through it). The broker user's password is generated here and written to Secrets Manager
# write-only, but aws_mq_broker's user password has no write-only form (aws provider 5.100), so a
# copy is in the state, which must sit in the encrypted, locked backend (see README).
locals {
  # SINGLE_INSTANCE takes exactly one subnet; a cluster spreads its three nodes over the AZs given.
  subnet_ids = var.deployment_mode == "SINGLE_INSTANCE" ? [var.subnet_ids[0]] : var.subnet_ids
}

# --- credentials -------------------------------------------------------------------------------------
# Amazon MQ takes 12..250 characters without commas, colons or equal signs, at least 4 distinct:
# 64 hex characters from uuid() (the OS's cryptographic random source, 244 bits). A local is
# evaluated once per run, so the secret and the broker get the same value. Write-only arguments are
# sent only when their version changes: bump password_version to set a new one.
locals {
  generated_password = replace("${uuid()}${uuid()}", "-", "")
}

resource "aws_secretsmanager_secret" "password" {
  #checkov:skip=CKV2_AWS_57:Amazon MQ cannot change a RabbitMQ user after creation; rotation is a management-API call on the broker plus a new secret version (var.password_version), see README, not a rotation Lambda
  name_prefix = "${var.name}/rabbitmq_password-"
  description = "Amazon MQ (RabbitMQ) password of user ${var.username}; written to /run/secrets/amqp_password on the app servers"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "password" {
  secret_id                = aws_secretsmanager_secret.password.id
  secret_string_wo         = local.generated_password
  secret_string_wo_version = var.password_version
}

# The broker takes the password as a plain argument: read it back from the secret (this copy is in
# the state; see the note at the top).
data "aws_secretsmanager_secret_version" "password" {
  secret_id  = aws_secretsmanager_secret.password.id
  version_id = aws_secretsmanager_secret_version.password.version_id
}

# --- security group: AMQPS from the app tier, the console from the bastion; nothing goes out -----------
resource "aws_security_group" "broker" {
  name_prefix = "${var.name}-rabbitmq-"
  description = "RabbitMQ: AMQPS 5671 from the app tier, console 443 from the bastion"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-rabbitmq" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "amqps_from_app" {
  security_group_id            = aws_security_group.broker.id
  description                  = "AMQP over TLS from the app servers"
  ip_protocol                  = "tcp"
  from_port                    = 5671
  to_port                      = 5671
  referenced_security_group_id = var.app_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "console_from_bastion" {
  security_group_id            = aws_security_group.broker.id
  description                  = "RabbitMQ management console (HTTPS) from the bastion only"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.bastion_security_group_id
}

# --- the broker ------------------------------------------------------------------------------------------
resource "aws_mq_broker" "rabbitmq" {
  #checkov:skip=CKV_AWS_209:Amazon MQ for RabbitMQ encrypts at rest with an AWS-owned key only; it accepts no customer-managed key
  #checkov:skip=CKV_AWS_197:audit logs exist for the ActiveMQ engine only; RabbitMQ's general log is on
  broker_name         = "${var.name}-rabbitmq"
  engine_type         = "RabbitMQ"
  engine_version      = var.engine_version
  host_instance_type  = var.instance_type
  deployment_mode     = var.deployment_mode
  publicly_accessible = false
  subnet_ids          = local.subnet_ids
  security_groups     = [aws_security_group.broker.id]

  # RabbitMQ 3.13 and later require it; patches arrive in the maintenance window below.
  auto_minor_version_upgrade = true
  apply_immediately          = false

  maintenance_window_start_time {
    day_of_week = var.maintenance_day
    time_of_day = var.maintenance_time
    time_zone   = "UTC"
  }

  logs {
    general = true
  }

  encryption_options {
    use_aws_owned_key = true
  }

  # The one user Amazon MQ creates with a RabbitMQ broker (an administrator): the app and the worker
  # connect as it until per-role users are made through the management API (see README).
  user {
    username = var.username
    password = data.aws_secretsmanager_secret_version.password.secret_string
  }

  tags = merge(var.tags, { Name = "${var.name}-rabbitmq" })

  lifecycle {
    # Amazon MQ sets a RabbitMQ broker's user at creation only: its API neither returns nor updates
    # it afterwards, so a changed password here would plan an update that changes nothing on the
    # broker. Rotation goes through RabbitMQ's management API (README); this keeps Terraform from
    # claiming otherwise.
    ignore_changes = [user]

    precondition {
      condition     = var.deployment_mode == "SINGLE_INSTANCE" || var.instance_type != "mq.t3.micro"
      error_message = "deployment_mode CLUSTER_MULTI_AZ needs an mq.m5 (or larger) instance type: Amazon MQ offers mq.t3.micro for SINGLE_INSTANCE only."
    }
    precondition {
      condition     = var.deployment_mode == "SINGLE_INSTANCE" || length(var.subnet_ids) >= 2
      error_message = "deployment_mode CLUSTER_MULTI_AZ needs subnets in at least two AZs."
    }
  }
}
