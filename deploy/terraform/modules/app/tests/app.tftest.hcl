# The app tier's contract: reachable from the edge (app port) and the bastion (SSH) only, scales on
# CPU and traffic, drains before an instance stops, rolls a failed refresh back.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                       = "zufang-test"
  environment                = "staging"
  vpc_id                     = "vpc-0123456789abcdef0"
  subnet_ids                 = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  edge_security_group_id     = "sg-0edge000000000000"
  bastion_security_group_id  = "sg-0bastion000000000"
  data_subnet_cidrs          = ["10.20.20.0/24", "10.20.21.0/24"]
  trusted_proxy_cidrs        = ["10.20.0.11/32", "10.20.1.12/32"]
  allowed_hosts              = ["zufang.example.com"]
  app_image                  = "registry.example.com/zufang:1.0.0"
  db_host                    = "db.internal.example"
  db_name                    = "zufang"
  db_username                = "zufang"
  redis_host                 = "redis.internal.example"
  db_password_secret_arn     = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:db-AbCdEf"
  redis_password_secret_arn  = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:redis-AbCdEf"
  kms_key_arn                = "arn:aws:kms:ap-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
  min_size                   = 2
  desired_capacity           = 2
  max_size                   = 4
  sms_webhook_url            = "https://sms-gateway.example/send"
  photo_bucket_name          = "zufang-test-photos-123456789012"
  photo_bucket_arn           = "arn:aws:s3:::zufang-test-photos-123456789012"
  photo_kms_key_arn          = "arn:aws:kms:ap-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
  broker_endpoint            = "amqps://b-1111.mq.ap-east-1.amazonaws.com:5671"
  broker_username            = "zufang"
  broker_password_secret_arn = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:rabbitmq-AbCdEf"
  broker_security_group_id   = "sg-0rabbitmq00000000"
}

run "reachable_from_the_edge_and_the_bastion_only" {
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_from_edge.referenced_security_group_id == var.edge_security_group_id && aws_vpc_security_group_ingress_rule.app_from_edge.from_port == var.app_port && aws_vpc_security_group_ingress_rule.app_from_edge.to_port == var.app_port
    error_message = "the app port admits the edge security group only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_ssh.referenced_security_group_id == var.bastion_security_group_id && aws_vpc_security_group_ingress_rule.app_ssh.cidr_ipv4 == null && aws_vpc_security_group_ingress_rule.app_ssh.from_port == 22
    error_message = "SSH admits the bastion security group only, no CIDR"
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_egress_rule.app_mariadb : r.cidr_ipv4]) == toset(var.data_subnet_cidrs) && toset([for r in aws_vpc_security_group_egress_rule.app_redis : r.cidr_ipv4]) == toset(var.data_subnet_cidrs)
    error_message = "MariaDB and Redis traffic goes to the data subnets only"
  }
  assert {
    condition     = aws_launch_template.app.network_interfaces[0].associate_public_ip_address == "false" && aws_launch_template.app.metadata_options[0].http_tokens == "required" && aws_launch_template.app.metadata_options[0].http_put_response_hop_limit == 2
    error_message = "no public address; IMDSv2 with two hops (the containers take the instance role for the bucket)"
  }
}

run "scales_on_cpu_and_traffic" {
  assert {
    condition     = aws_autoscaling_policy.target["cpu"].policy_type == "TargetTrackingScaling" && aws_autoscaling_policy.target["cpu"].target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ASGAverageCPUUtilization" && aws_autoscaling_policy.target["cpu"].target_tracking_configuration[0].target_value == 60
    error_message = "target tracking on average CPU (60 %)"
  }
  assert {
    condition     = aws_autoscaling_policy.target["network_in"].policy_type == "TargetTrackingScaling" && aws_autoscaling_policy.target["network_in"].target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ASGAverageNetworkIn"
    error_message = "target tracking on the traffic the edge forwards"
  }
  assert {
    condition     = aws_autoscaling_policy.target["cpu"].autoscaling_group_name == aws_autoscaling_group.app.name && aws_autoscaling_policy.target["network_in"].autoscaling_group_name == aws_autoscaling_group.app.name
    error_message = "both policies act on the app group"
  }
  assert {
    condition     = aws_autoscaling_group.app.min_size == 2 && aws_autoscaling_group.app.max_size == 4 && aws_autoscaling_group.app.health_check_grace_period == 300
    error_message = "bounds from the variables; a grace period covering boot and migrations"
  }
}

run "drains_before_an_instance_stops" {
  variables {
    drain_seconds = 120
  }
  assert {
    condition = length([for h in aws_autoscaling_group.app.initial_lifecycle_hook : h if
      h.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" && h.heartbeat_timeout == 120 && h.default_result == "CONTINUE"
    ]) == 1
    error_message = "a termination hook holds the instance drain_seconds, then lets it stop"
  }
}

run "refresh_rolls_back_on_the_alarm" {
  assert {
    condition     = aws_autoscaling_group.app.instance_refresh[0].strategy == "Rolling" && aws_autoscaling_group.app.instance_refresh[0].preferences[0].auto_rollback
    error_message = "rolling refresh with automatic rollback"
  }
  assert {
    condition     = aws_autoscaling_group.app.instance_refresh[0].preferences[0].alarm_specification[0].alarms == tolist([aws_cloudwatch_metric_alarm.refresh_unhealthy.alarm_name])
    error_message = "the refresh watches the status-check alarm"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.refresh_unhealthy.dimensions["AutoScalingGroupName"] == aws_autoscaling_group.app.name && aws_cloudwatch_metric_alarm.refresh_unhealthy.metric_name == "StatusCheckFailed"
    error_message = "the alarm watches this group's instances"
  }
  assert {
    condition     = output.asg_name == aws_autoscaling_group.app.name && output.security_group_id == aws_security_group.app.id
    error_message = "outputs name the group and the security group"
  }
}

run "user_data_configures_the_app" {
  assert {
    condition     = strcontains(output.user_data, "ZUFANG__DATABASE__HOST=db.internal.example") && strcontains(output.user_data, "ZUFANG__REDIS__HOST=redis.internal.example")
    error_message = "the app finds the data tier through its ZUFANG__ keys"
  }
  assert {
    condition     = toset(data.aws_iam_policy_document.app.statement[0].resources) == toset([var.db_password_secret_arn, var.redis_password_secret_arn, aws_secretsmanager_secret.jwt.arn, var.broker_password_secret_arn])
    error_message = "the role reads exactly the app's secrets: database, Redis, JWT, broker"
  }
  assert {
    condition     = aws_secretsmanager_secret_version.jwt.secret_string_wo == null && aws_secretsmanager_secret_version.jwt.secret_string_wo_version == 1
    error_message = "the JWT key is written write-only"
  }
}

# The data tier refuses plain connections: the app connects with TLS and verifies MariaDB against
# the RDS CA bundle, which the unit mounts where ZUFANG__DATABASE__SSL_CA points.
run "tls_to_the_data_tier" {
  assert {
    condition     = strcontains(output.user_data, "ZUFANG__DATABASE__SSL_MODE=verify_identity\n") && strcontains(output.user_data, "ZUFANG__DATABASE__SSL_CA=/etc/ssl/certs/rds-global-bundle.pem\n")
    error_message = "MariaDB over TLS with the server's certificate and host name verified"
  }
  assert {
    condition     = strcontains(output.user_data, "ZUFANG__REDIS__TLS=true\n")
    error_message = "Redis over TLS"
  }
  assert {
    condition     = strcontains(output.user_data, "RDS_CA_MOUNT=/etc/zufang/tls/rds-global-bundle.pem:/etc/ssl/certs/rds-global-bundle.pem:ro\n") && strcontains(output.user_data, "RDS_CA_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem\n")
    error_message = "the bundle is fetched from AWS's trust store and mounted where the app looks"
  }
  assert {
    condition     = strcontains(output.user_data, "HOST_CA_MOUNT=/etc/pki/tls/certs/ca-bundle.crt:/etc/ssl/certs/ca-certificates.crt:ro\n") && strcontains(output.user_data, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n")
    error_message = "Redis's TLS client checks ElastiCache against the host's public roots, mounted into the container"
  }
}

run "the_ca_bundle_comes_from_aws" {
  command = plan
  variables {
    rds_ca_bundle_url = "http://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
  }
  expect_failures = [var.rds_ca_bundle_url]
}

run "trusts_forwarded_headers_from_the_edge_proxies_only" {
  assert {
    condition     = strcontains(output.user_data, "ZUFANG__APPLICATION__TRUSTED_PROXIES=10.20.0.11/32,10.20.1.12/32\n")
    error_message = "application.trusted_proxies is the two proxies' addresses"
  }
  assert {
    condition     = strcontains(output.user_data, "ZUFANG__APPLICATION__ALLOWED_HOSTS=zufang.example.com\n")
    error_message = "application.allowed_hosts is the site's name"
  }
}

run "any_host_is_refused_as_an_allowed_host" {
  command = plan
  variables {
    allowed_hosts = ["*"]
  }
  expect_failures = [var.allowed_hosts]
}

run "a_whole_subnet_is_not_a_trusted_proxy" {
  command = plan
  variables {
    trusted_proxy_cidrs = ["10.20.0.0/24", "10.20.1.0/24"]
  }
  expect_failures = [var.trusted_proxy_cidrs]
}

# RDS rotates the database password in its own secret: the servers take its password field and
# restart themselves (at random moments) when it changed.
run "follows_the_rds_managed_password" {
  assert {
    condition     = strcontains(output.user_data, "SECRET_database_password=${var.db_password_secret_arn}\n") && strcontains(output.user_data, "JSONKEY_database_password=password\n")
    error_message = "database_password is the password field of RDS's JSON secret"
  }
  assert {
    condition     = strcontains(output.user_data, "zufang-secrets-refresh.timer") && strcontains(output.user_data, "--restart-on-change zufang.service")
    error_message = "every server re-reads its secrets and restarts when one changed"
  }
}

run "replaces_a_server_whose_app_fails_its_health_check" {
  assert {
    condition     = strcontains(output.user_data, "FAILURES=3") && strcontains(output.user_data, "zufang-health-report.timer")
    error_message = "every server runs the /healthz reporter"
  }
  assert {
    condition     = data.aws_iam_policy_document.app.statement[1].actions == toset(["autoscaling:SetInstanceHealth"]) && data.aws_iam_policy_document.app.statement[1].resources == toset(["arn:aws:autoscaling:ap-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/${aws_autoscaling_group.app.name}"])
    error_message = "a server may set the health of its own group's instances only"
  }
}

run "sms_through_the_gateway" {
  variables {
    sms_webhook_token_secret_arn = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:sms-AbCdEf"
  }
  assert {
    condition     = strcontains(output.user_data, "ZUFANG__SMS__SENDER=http\n") && strcontains(output.user_data, "ZUFANG__SMS__WEBHOOK_URL=https://sms-gateway.example/send\n")
    error_message = "a configured gateway makes the app send codes through the webhook"
  }
  assert {
    condition     = !strcontains(output.user_data, "ALLOW_LOG_SENDER")
    error_message = "no log-sender override when a gateway is configured"
  }
  assert {
    condition     = strcontains(output.user_data, "SECRET_sms_webhook_token=arn:aws:secretsmanager:ap-east-1:123456789012:secret:sms-AbCdEf") && contains(data.aws_iam_policy_document.app.statement[0].resources, var.sms_webhook_token_secret_arn)
    error_message = "the webhook token is fetched as file sms_webhook_token, and the role may read it"
  }
}

run "log_sender_only_when_allowed" {
  variables {
    sms_webhook_url      = ""
    allow_log_sms_sender = true
  }
  assert {
    condition     = strcontains(output.user_data, "ZUFANG__SMS__SENDER=log\n") && strcontains(output.user_data, "ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION=true\n")
    error_message = "without a gateway the override is explicit"
  }
}

run "no_gateway_and_no_override_is_rejected" {
  command = plan
  variables {
    sms_webhook_url = ""
  }
  expect_failures = [aws_launch_template.app]
}

run "a_drain_shorter_than_two_edge_refreshes_is_rejected" {
  command = plan
  variables {
    drain_seconds = 30
  }
  expect_failures = [var.drain_seconds]
}

run "capacity_bounds_must_hold" {
  command = plan
  variables {
    desired_capacity = 5
  }
  expect_failures = [aws_autoscaling_group.app]
}

# The photo bucket: exactly these actions on exactly these resources, and nothing in the policy that
# reads the secrets.
run "reads_and_writes_photos_on_its_prefixes_only" {
  assert {
    condition     = data.aws_iam_policy_document.photos.statement[0].actions == toset(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]) && data.aws_iam_policy_document.photos.statement[0].resources == toset(["arn:aws:s3:::zufang-test-photos-123456789012/originals/*", "arn:aws:s3:::zufang-test-photos-123456789012/derived/*"])
    error_message = "objects: Get/Put/Delete under originals/ and derived/ only"
  }
  assert {
    condition     = data.aws_iam_policy_document.photos.statement[1].actions == toset(["s3:ListBucket"]) && data.aws_iam_policy_document.photos.statement[1].resources == toset([var.photo_bucket_arn])
    error_message = "listing: the bucket itself, nothing else"
  }
  assert {
    condition     = one(data.aws_iam_policy_document.photos.statement[1].condition).test == "StringLike" && one(data.aws_iam_policy_document.photos.statement[1].condition).variable == "s3:prefix" && toset(one(data.aws_iam_policy_document.photos.statement[1].condition).values) == toset(["originals/*", "derived/*"])
    error_message = "listing is limited to the app's prefixes"
  }
  assert {
    condition     = data.aws_iam_policy_document.photos.statement[2].actions == toset(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]) && data.aws_iam_policy_document.photos.statement[2].resources == toset([var.photo_kms_key_arn])
    error_message = "the bucket's key only: Encrypt, Decrypt, GenerateDataKey"
  }
  assert {
    condition     = one(data.aws_iam_policy_document.photos.statement[2].condition).variable == "kms:ViaService" && one(data.aws_iam_policy_document.photos.statement[2].condition).values == tolist(["s3.ap-east-1.amazonaws.com"])
    error_message = "the key is usable through S3 only"
  }
  assert {
    condition     = length(data.aws_iam_policy_document.photos.statement) == 3 && alltrue([for s in data.aws_iam_policy_document.photos.statement : !contains(s.resources, "*") && alltrue([for a in s.actions : !endswith(a, "*")])])
    error_message = "three statements, no wildcard action or resource"
  }
  assert {
    condition     = aws_iam_role_policy.photos.role == aws_iam_role.app.id && length([for s in data.aws_iam_policy_document.app.statement : s if anytrue([for a in s.actions : startswith(a, "s3:")])]) == 0
    error_message = "the grant is on the app role, apart from the secrets policy"
  }
  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/zufang/photos.env"]), "ZUFANG__S3__BUCKET=zufang-test-photos-123456789012\nZUFANG__S3__ENDPOINT=\nZUFANG__S3__PATH_STYLE=false\nZUFANG__S3__REGION=ap-east-1\n")
    error_message = "the bucket and its region reach the server in /etc/zufang/photos.env, AWS's regional endpoint with virtual-hosted addressing, no key"
  }
  assert {
    condition     = !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/zufang/zufang.env"]), "ZUFANG__S3__")
    error_message = "in photos.env only, which both units hand to their containers"
  }
}

run "a_wildcard_photo_prefix_is_refused" {
  command = plan
  variables {
    photo_key_prefixes = ["*"]
  }
  expect_failures = [var.photo_key_prefixes]
}

# The broker: AMQPS to its security group only; its endpoint and user in photos.env, its password
# fetched like the Redis token.
run "reaches_the_broker_over_tls" {
  assert {
    condition     = aws_vpc_security_group_egress_rule.app_rabbitmq.referenced_security_group_id == var.broker_security_group_id && aws_vpc_security_group_egress_rule.app_rabbitmq.cidr_ipv4 == null && aws_vpc_security_group_egress_rule.app_rabbitmq.from_port == 5671 && aws_vpc_security_group_egress_rule.app_rabbitmq.to_port == 5671
    error_message = "out to the broker's security group on 5671 (AMQPS) only"
  }
  assert {
    condition     = startswith(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/zufang/photos.env"]), "ZUFANG__AMQP__HOST=b-1111.mq.ap-east-1.amazonaws.com\nZUFANG__AMQP__PORT=5671\nZUFANG__AMQP__TLS=true\nZUFANG__AMQP__USERNAME=zufang\nZUFANG__AMQP__VHOST=zufang\nZUFANG__S3__")
    error_message = "the broker's host, port, TLS, user and vhost reach the server in photos.env ([amqp]), beside the bucket"
  }
  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/zufang/secrets.env"]), "SECRET_amqp_password=${var.broker_password_secret_arn}\n")
    error_message = "the password is fetched into /run/secrets/amqp_password (amqp.password), as the Redis token is"
  }
  assert {
    condition     = one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/zufang/worker-secrets.env"]) == "AWS_REGION=ap-east-1\nCONTAINER_UID=10001\nSECRET_amqp_password=${var.broker_password_secret_arn}\nSECRET_database_password=${var.db_password_secret_arn}\nJSONKEY_database_password=password\n"
    error_message = "the worker's own secrets: the database's (RDS's JSON field) and the broker's, no JWT key or Redis token"
  }
  assert {
    condition     = contains(yamldecode(output.user_data).runcmd, ["systemctl", "enable", "--now", "zufang-worker"]) && length([for f in yamldecode(output.user_data).write_files : f if f.path == "/etc/systemd/system/zufang-worker.service"]) == 1
    error_message = "the worker runs as its own unit on every app server"
  }
}

run "a_plain_or_credentialed_broker_url_is_refused" {
  command = plan
  variables {
    broker_endpoint = "amqp://zufang:hunter2@b-1111.mq.ap-east-1.amazonaws.com:5672"
  }
  expect_failures = [var.broker_endpoint]
}

# EC2 refuses user data over 16 KiB (before base64). The plain document is near that (about 15.7 KiB
# here, where the ARNs and host names are as long as real ones), so the launch template carries it
# gzipped, and that is what must fit.
run "user_data_fits_the_ec2_limit" {
  assert {
    condition     = aws_launch_template.app.user_data == base64gzip(output.user_data)
    error_message = "the launch template carries the cloud-config gzipped (cloud-init unpacks it)"
  }
  assert {
    condition     = length(aws_launch_template.app.user_data) < 16384 * 4 / 3 / 2
    error_message = "the compressed user data must stay under half of EC2's 16 KiB"
  }
}
