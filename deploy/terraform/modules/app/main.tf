# The app tier: an auto scaling group of app servers in the private subnets, each running the zufang
# image under systemd. Configuration is the app's own key set (app/config/default.toml) given as
# ZUFANG__<SECTION>__<KEY> variables; secrets are files in /run/secrets fetched from Secrets Manager at
# every start. The edge proxies discover the group's instances themselves (edge-upstreams.sh).
data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  asg_name = "${var.name}-app"
  # The RDS CA bundle: on the host (fetch-rds-ca.sh) and where the container sees it (zufang.service).
  rds_ca_host_path      = "/etc/zufang/tls/rds-global-bundle.pem"
  rds_ca_container_path = "/etc/ssl/certs/rds-global-bundle.pem"
  # The public roots Redis's TLS client checks ElastiCache against: the host's trust store (Amazon
  # Linux keeps it patched), mounted where the container's rustls-native-certs reads it
  # (SSL_CERT_FILE), over the image's own Debian store: the host's follows the host's updates.
  host_ca_path      = "/etc/pki/tls/certs/ca-bundle.crt"
  container_ca_path = "/etc/ssl/certs/ca-certificates.crt"
  ami_id            = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)

  # Non-secret configuration: every key is one of app/config/default.toml (a test checks it).
  # production.toml in the image already sets application.host, log.format and sentry.environment's
  # default; they are repeated here so the deployment does not depend on that file.
  app_env_base = {
    ZUFANG_ENV                           = "production"
    ZUFANG__APPLICATION__HOST            = "0.0.0.0"
    ZUFANG__APPLICATION__PORT            = var.app_port
    ZUFANG__APPLICATION__TRUSTED_PROXIES = join(",", var.trusted_proxy_cidrs)
    # The site's name: other Host headers get a 400 (application.allowed_hosts).
    ZUFANG__APPLICATION__ALLOWED_HOSTS = join(",", var.allowed_hosts)
    ZUFANG__DATABASE__HOST             = var.db_host
    ZUFANG__DATABASE__PORT             = var.db_port
    ZUFANG__DATABASE__USERNAME         = var.db_username
    ZUFANG__DATABASE__NAME             = var.db_name
    ZUFANG__DATABASE__MAX_CONNECTIONS  = var.db_max_connections
    # TLS to both data stores (the servers refuse plain connections): MariaDB's certificate and host
    # name checked against the RDS CA bundle that fetch-rds-ca.sh puts on the host and zufang.service
    # mounts at this path; ElastiCache's certificate chains to a public root (Amazon Root CA), checked
    # against the host's trust store mounted at SSL_CERT_FILE.
    ZUFANG__DATABASE__SSL_MODE  = "verify_identity"
    ZUFANG__DATABASE__SSL_CA    = local.rds_ca_container_path
    ZUFANG__REDIS__HOST         = var.redis_host
    ZUFANG__REDIS__PORT         = var.redis_port
    ZUFANG__REDIS__KEY_PREFIX   = "zufang:"
    ZUFANG__REDIS__TLS          = true
    SSL_CERT_FILE               = local.container_ca_path
    ZUFANG__LOG__FORMAT         = "json"
    ZUFANG__SENTRY__ENVIRONMENT = var.environment
  }
  # Set only when configured: an empty value would override the defaults with nothing.
  app_env_optional = {
    ZUFANG__OTEL__ENDPOINT     = var.otel_endpoint
    ZUFANG__ADMIN__ALLOW_CIDRS = join(",", var.admin_allow_cidrs)
  }
  # Verification codes: the webhook sender when a gateway is configured. Production (ZUFANG_ENV) refuses
  # the "log" sender, which delivers no code, unless the override says this stack has no gateway.
  sms_env = var.sms_webhook_url != "" ? {
    ZUFANG__SMS__SENDER      = "http"
    ZUFANG__SMS__WEBHOOK_URL = var.sms_webhook_url
    } : {
    ZUFANG__SMS__SENDER                         = "log"
    ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION = var.allow_log_sms_sender
  }
  app_env = merge(local.app_env_base, local.sms_env, { for k, v in local.app_env_optional : k => v if v != "" })

  # The photo pipeline's settings ([s3], [amqp]), for the app and `zufang worker` alike, in a file of
  # their own (photos.env) that both units hand to their containers. The bucket is reached with the
  # instance role (both key settings empty: the SDK's default chain, IMDSv2); the broker over AMQPS
  # with the OS trust store, as the user of the broker module, whose password is the secret file
  # amqp_password. The vhost and its topology are rabbitmq/definitions.json's (README: "Photos").
  broker_url = regex("^amqps://(?P<host>[a-z0-9.-]+):(?P<port>[0-9]+)$", var.broker_endpoint)
  photo_env = {
    ZUFANG__S3__ENDPOINT   = ""
    ZUFANG__S3__REGION     = data.aws_region.current.name
    ZUFANG__S3__BUCKET     = var.photo_bucket_name
    ZUFANG__S3__PATH_STYLE = false
    ZUFANG__AMQP__HOST     = local.broker_url.host
    ZUFANG__AMQP__PORT     = local.broker_url.port
    ZUFANG__AMQP__TLS      = true
    ZUFANG__AMQP__VHOST    = "zufang"
    ZUFANG__AMQP__USERNAME = var.broker_username
  }

  # Secret files in /run/secrets, named <section>_<key> as the app expects.
  secret_arns_base = {
    database_password = var.db_password_secret_arn
    redis_password    = var.redis_password_secret_arn
    jwt_secret        = aws_secretsmanager_secret.jwt.arn
  }
  # The broker user's password (amqp.password), fetched like the others.
  photo_secret_arns = {
    amqp_password = var.broker_password_secret_arn
  }
  secret_arns = merge(local.secret_arns_base, local.photo_secret_arns, var.sms_webhook_token_secret_arn == null ? {} : {
    sms_webhook_token = var.sms_webhook_token_secret_arn
  })
  # JSON secrets: the field that becomes the file (RDS's managed secret is {"username", "password"}).
  secret_json_fields = var.db_password_secret_field == null ? {} : {
    database_password = var.db_password_secret_field
  }
  # `zufang worker` gets its own secrets folder with only what it uses: no JWT key, no Redis password.
  worker_secret_arns = merge({ database_password = var.db_password_secret_arn }, local.photo_secret_arns)
  # The fetch-secrets input of each folder (zufang-secrets-refresh.service re-reads both).
  secret_env_files = {
    "/etc/zufang/secrets.env"        = { arns = local.secret_arns, json = local.secret_json_fields }
    "/etc/zufang/worker-secrets.env" = { arns = local.worker_secret_arns, json = { for k, v in local.secret_json_fields : k => v if contains(keys(local.worker_secret_arns), k) } }
  }

  # ECR: docker asks the credential helper, which uses the instance role, for this registry only.
  ecr_registry = var.ecr_repository_arn == null ? null : split("/", var.app_image)[0]
  docker_config = local.ecr_registry == null ? [] : [{
    path        = "/root/.docker/config.json"
    permissions = "0600"
    content     = jsonencode({ credHelpers = { (local.ecr_registry) = "ecr-login" } })
  }]

  # Boot files shipped verbatim from files/: destination on the server -> source and mode.
  boot_files = {
    "/usr/local/sbin/zufang-fetch-secrets"               = { src = "fetch-secrets.sh", mode = "0755" }
    "/usr/local/sbin/zufang-fetch-rds-ca"                = { src = "fetch-rds-ca.sh", mode = "0755" }
    "/etc/systemd/system/zufang.service"                 = { src = "zufang.service", mode = "0644" }
    "/etc/systemd/system/zufang-worker.service"          = { src = "zufang-worker.service", mode = "0644" }
    "/usr/local/sbin/zufang-health-report"               = { src = "health-report.sh", mode = "0755" }
    "/etc/systemd/system/zufang-health-report.service"   = { src = "zufang-health-report.service", mode = "0644" }
    "/etc/systemd/system/zufang-health-report.timer"     = { src = "zufang-health-report.timer", mode = "0644" }
    "/etc/systemd/system/zufang-secrets-refresh.service" = { src = "zufang-secrets-refresh.service", mode = "0644" }
    "/etc/systemd/system/zufang-secrets-refresh.timer"   = { src = "zufang-secrets-refresh.timer", mode = "0644" }
  }

  boot_write_files = [for dest, f in local.boot_files : {
    path        = dest
    permissions = f.mode
    content     = file("${path.module}/files/${f.src}")
  }]

  user_data = join("\n", ["#cloud-config", yamlencode({
    package_update = true
    packages       = local.ecr_registry == null ? ["docker"] : ["docker", "amazon-ecr-credential-helper"]
    write_files = concat(local.docker_config, [
      {
        path        = "/etc/zufang/zufang.env"
        permissions = "0644"
        content     = join("", [for k, v in local.app_env : "${k}=${v}\n"])
      },
      {
        path        = "/etc/zufang/photos.env"
        permissions = "0644"
        content     = join("", [for k, v in local.photo_env : "${k}=${v}\n"])
      },
      {
        path        = "/etc/zufang/runtime.env"
        permissions = "0644"
        content     = "APP_IMAGE=${var.app_image}\nAPP_PORT=${var.app_port}\nCONTAINER_UID=${var.container_uid}\nRDS_CA_URL=${var.rds_ca_bundle_url}\nRDS_CA_FILE=${local.rds_ca_host_path}\nRDS_CA_MOUNT=${local.rds_ca_host_path}:${local.rds_ca_container_path}:ro\nHOST_CA_MOUNT=${local.host_ca_path}:${local.container_ca_path}:ro\n"
      },
      ], [for path, f in local.secret_env_files : {
        path        = path
        permissions = "0600"
        content = join("", concat(
          ["AWS_REGION=${data.aws_region.current.name}\n", "CONTAINER_UID=${var.container_uid}\n"],
          [for file, arn in f.arns : "SECRET_${file}=${arn}\n"],
          [for file, field in f.json : "JSONKEY_${file}=${field}\n"],
        ))
      }], [
      {
        path        = "/etc/zufang/health.env"
        permissions = "0644"
        content     = "AWS_REGION=${data.aws_region.current.name}\nAPP_PORT=${var.app_port}\nFAILURES=${var.health_check_failures}\n"
      },
    ], local.boot_write_files)
    runcmd = [
      ["systemctl", "enable", "--now", "docker"],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "zufang"],
      ["systemctl", "enable", "--now", "zufang-worker"],
      ["systemctl", "enable", "--now", "zufang-health-report.timer"],
      ["systemctl", "enable", "--now", "zufang-secrets-refresh.timer"],
    ]
  })])
}

# --- JWT signing secret (HS256; production refuses fewer than 32 bytes) ---------------------------------
# Generated during the apply (uuid() reads the OS's cryptographic random source: 244 bits here) and
# written with a write-only attribute: the key is in neither the plan nor the state. Write-only
# arguments are sent only when their version changes: bump jwt_secret_version for a new key.
locals {
  generated_jwt_secret = replace("${uuid()}${uuid()}", "-", "")
}

resource "aws_secretsmanager_secret" "jwt" {
  #checkov:skip=CKV2_AWS_57:rotating the HS256 key invalidates every issued token; rotate deliberately by bumping var.jwt_secret_version, not on a schedule
  name_prefix = "${var.name}/jwt_secret-"
  description = "HS256 signing key of zufang's access and refresh tokens (file jwt_secret)"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id                = aws_secretsmanager_secret.jwt.id
  secret_string_wo         = local.generated_jwt_secret
  secret_string_wo_version = var.jwt_secret_version
}

# --- security group: app_port from the edge only, SSH from the bastion only -----------------------------
resource "aws_security_group" "app" {
  name_prefix = "${var.name}-app-"
  description = "App servers: app port from the edge proxies only, SSH from the bastion only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-app" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "app_from_edge" {
  security_group_id            = aws_security_group.app.id
  description                  = "zufang HTTP from the edge proxies"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
  referenced_security_group_id = var.edge_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "app_ssh" {
  #checkov:skip=CKV_AWS_24:false positive: the source is the bastion's security group (referenced_security_group_id), there is no CIDR at all
  security_group_id            = aws_security_group.app.id
  description                  = "SSH from the bastion only"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = var.bastion_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "app_mariadb" {
  for_each = toset(var.data_subnet_cidrs)

  security_group_id = aws_security_group.app.id
  description       = "MariaDB in the data subnets"
  ip_protocol       = "tcp"
  from_port         = 3306
  to_port           = 3306
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "app_redis" {
  for_each = toset(var.data_subnet_cidrs)

  security_group_id = aws_security_group.app.id
  description       = "Redis in the data subnets"
  ip_protocol       = "tcp"
  from_port         = 6379
  to_port           = 6379
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "app_rabbitmq" {
  security_group_id            = aws_security_group.app.id
  description                  = "AMQP over TLS to the broker (Amazon MQ for RabbitMQ)"
  ip_protocol                  = "tcp"
  from_port                    = 5671
  to_port                      = 5671
  referenced_security_group_id = var.broker_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "app_https" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS through the NAT: image registry, Secrets Manager, SSM, packages, SMS webhook"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# --- IAM: read exactly the three secrets; Session Manager optional --------------------------------------
data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "app" {
  statement {
    sid       = "ReadAppSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.secret_arns)
  }

  # The app's own health check (files/health-report.sh) marks the instance Unhealthy in its group.
  statement {
    sid       = "ReportOwnHealth"
    actions   = ["autoscaling:SetInstanceHealth"]
    resources = ["arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"]
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

# The house photos: objects under the app's prefixes of the photo bucket, nothing else in it (no
# bucket settings, no other prefix, no version history), and the bucket's key through S3 only.
data "aws_iam_policy_document" "photos" {
  statement {
    sid       = "PhotoObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [for p in var.photo_key_prefixes : "${var.photo_bucket_arn}/${p}*"]
  }

  statement {
    sid       = "ListPhotoPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [var.photo_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for p in var.photo_key_prefixes : "${p}*"]
    }
  }

  statement {
    sid       = "PhotoKeyThroughS3"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.photo_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name_prefix        = "${var.name}-app-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "app" {
  name   = "read-app-secrets"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}

resource "aws_iam_role_policy" "photos" {
  name   = "read-write-photos"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.photos.json
}

# Pulling from ECR: the token call has no resource-level permissions ("*" is its only valid resource);
# the layer reads are limited to the one repository.
data "aws_iam_policy_document" "ecr" {
  count = var.ecr_repository_arn == null ? 0 : 1

  statement {
    sid       = "GetRegistryToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullAppImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [var.ecr_repository_arn]
  }
}

resource "aws_iam_role_policy" "ecr" {
  count = var.ecr_repository_arn == null ? 0 : 1

  name   = "pull-app-image"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.ecr[0].json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  count = var.enable_ssm ? 1 : 0

  role       = aws_iam_role.app.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "app" {
  name_prefix = "${var.name}-app-"
  role        = aws_iam_role.app.name
  tags        = var.tags
}

# --- launch template + auto scaling group ----------------------------------------------------------------
resource "aws_launch_template" "app" {
  #checkov:skip=CKV_AWS_341:the app's and the worker's containers take the instance role for the photo bucket (no access key exists) through docker's bridge, a second hop; the bastion and the edge keep 1 (README: Photos)
  name_prefix   = "${var.name}-app-"
  description   = "zufang app server (${var.app_image})"
  image_id      = local.ami_id
  instance_type = var.instance_type
  key_name      = var.key_name
  ebs_optimized = true
  # gzip: EC2 refuses more than 16 KiB of user data and the plain document is near 16 KiB already
  # (boot scripts, units, env files); cloud-init unpacks it by its magic bytes. About a third the size.
  user_data = base64gzip(local.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.app.arn
  }

  network_interfaces {
    associate_public_ip_address = false
    security_groups             = [aws_security_group.app.id]
    delete_on_termination       = true
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required" # IMDSv2 only
    # 2 hops: the app's and the worker's containers (docker's bridge is the second hop) reach IMDSv2
    # for the instance role's credentials, the only way they reach the photo bucket (no access key
    # exists). The role holds nothing a container of this host would not need anyway: its secrets,
    # the bucket's prefixes, ECR pull, SSM, the health report. The bastion and the edge keep 1 hop.
    http_put_response_hop_limit = 2
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      encrypted             = true
      volume_type           = "gp3"
      volume_size           = 20
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-app", Role = "app" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-app" })
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.sms_webhook_url != "" || var.allow_log_sms_sender
      error_message = "Set sms_webhook_url (the SMS gateway) or, for a stack without one, allow_log_sms_sender = true: the app refuses to start in production with the log sender otherwise."
    }
  }
}

resource "aws_autoscaling_group" "app" {
  # A fixed name: the refresh alarm below watches this group by name before the group exists.
  name                = local.asg_name
  vpc_zone_identifier = var.subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  health_check_type   = "EC2"
  # Boot, docker pull, migrations: an instance is not counted healthy before this.
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }

  # Group metrics (GroupInServiceInstances etc.) for dashboards and the scaling history.
  enabled_metrics = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances"]

  # A terminating instance waits in Terminating:Wait before it stops: the edge proxies list only
  # InService instances (edge-upstreams.sh, every 30 s), so it leaves their pool first, then the
  # requests it still holds finish. Nothing completes the action early; the timeout continues it.
  initial_lifecycle_hook {
    name                 = "drain-before-stop"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = var.drain_seconds
    default_result       = "CONTINUE"
  }

  # A new image or configuration replaces the servers one batch at a time; if the new servers fail
  # their status checks, the refresh stops and the previous launch template comes back.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 66
      instance_warmup        = var.instance_warmup_seconds
      auto_rollback          = true
      alarm_specification {
        alarms = [aws_cloudwatch_metric_alarm.refresh_unhealthy.alarm_name]
      }
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-app", Role = "app" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.min_size <= var.desired_capacity && var.desired_capacity <= var.max_size
      error_message = "min_size <= desired_capacity <= max_size must hold."
    }
  }

  depends_on = [aws_iam_role_policy.app, aws_iam_role_policy.photos, aws_iam_role_policy.ecr, aws_secretsmanager_secret_version.jwt]
}

# --- scaling: target tracking on CPU and on the inbound traffic the edge sends ---------------------------
# Requests reach the servers only from the edge proxies (no ALB, so no ALBRequestCountPerTarget):
# network bytes in per instance follow the request rate the edge forwards.
resource "aws_autoscaling_policy" "target" {
  for_each = {
    cpu        = { metric = "ASGAverageCPUUtilization", target = var.cpu_target_percent }
    network_in = { metric = "ASGAverageNetworkIn", target = var.network_in_target_bytes }
  }

  name                      = "${each.key}-target"
  autoscaling_group_name    = aws_autoscaling_group.app.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup_seconds

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = each.value.metric
    }
    target_value = each.value.target
  }
}

# --- instance refresh guard: new servers failing EC2 status checks roll the refresh back ---------------
resource "aws_cloudwatch_metric_alarm" "refresh_unhealthy" {
  alarm_name          = "${var.name}-app-status-check-failed"
  alarm_description   = "An app server fails its EC2 status checks; an instance refresh rolls back on it."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    AutoScalingGroupName = local.asg_name
  }
  tags = var.tags
}
