# The broker's contract: private, AMQPS from the app tier only, the console from the bastion only,
# a deployment mode per environment, upgrades and logs on, a generated password written write-only.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                      = "zufang-test"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  app_security_group_id     = "sg-0app0000000000000"
  bastion_security_group_id = "sg-0bastion000000000"
  kms_key_arn               = "arn:aws:kms:ap-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
}

run "private_and_reachable_from_the_app_tier_only" {
  assert {
    condition     = !aws_mq_broker.rabbitmq.publicly_accessible && aws_mq_broker.rabbitmq.engine_type == "RabbitMQ"
    error_message = "a RabbitMQ broker, never publicly accessible"
  }
  assert {
    condition     = aws_mq_broker.rabbitmq.security_groups == toset([aws_security_group.broker.id])
    error_message = "the broker has its own security group only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.amqps_from_app.referenced_security_group_id == var.app_security_group_id && aws_vpc_security_group_ingress_rule.amqps_from_app.cidr_ipv4 == null
    error_message = "AMQPS admits the app security group, no CIDR"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.amqps_from_app.ip_protocol == "tcp" && aws_vpc_security_group_ingress_rule.amqps_from_app.from_port == 5671 && aws_vpc_security_group_ingress_rule.amqps_from_app.to_port == 5671
    error_message = "the app reaches AMQP over TLS (5671) only, never plain 5672"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.console_from_bastion.referenced_security_group_id == var.bastion_security_group_id && aws_vpc_security_group_ingress_rule.console_from_bastion.cidr_ipv4 == null && aws_vpc_security_group_ingress_rule.console_from_bastion.from_port == 443 && aws_vpc_security_group_ingress_rule.console_from_bastion.to_port == 443
    error_message = "the management console (443) admits the bastion security group only"
  }
  assert {
    condition     = output.security_group_id == aws_security_group.broker.id && startswith(output.endpoint, "amqps://") && endswith(output.endpoint, ":5671")
    error_message = "outputs: the group the app's egress names, the AMQPS endpoint"
  }
}

run "a_cluster_across_azs_by_default" {
  assert {
    condition     = aws_mq_broker.rabbitmq.deployment_mode == "CLUSTER_MULTI_AZ" && aws_mq_broker.rabbitmq.subnet_ids == toset(var.subnet_ids)
    error_message = "CLUSTER_MULTI_AZ over every private subnet given"
  }
}

run "a_single_instance_in_one_subnet" {
  variables {
    deployment_mode = "SINGLE_INSTANCE"
    instance_type   = "mq.t3.micro"
  }
  assert {
    condition     = aws_mq_broker.rabbitmq.deployment_mode == "SINGLE_INSTANCE" && aws_mq_broker.rabbitmq.subnet_ids == toset([var.subnet_ids[0]])
    error_message = "SINGLE_INSTANCE takes exactly one subnet"
  }
}

run "upgrades_maintenance_and_logs" {
  assert {
    condition     = aws_mq_broker.rabbitmq.auto_minor_version_upgrade && !aws_mq_broker.rabbitmq.apply_immediately
    error_message = "automatic minor upgrades, applied in the maintenance window"
  }
  assert {
    condition     = aws_mq_broker.rabbitmq.maintenance_window_start_time[0].day_of_week == "SUNDAY" && aws_mq_broker.rabbitmq.maintenance_window_start_time[0].time_of_day == "21:00" && aws_mq_broker.rabbitmq.maintenance_window_start_time[0].time_zone == "UTC"
    error_message = "a weekly maintenance window, Sunday 21:00 UTC"
  }
  assert {
    condition     = aws_mq_broker.rabbitmq.logs[0].general
    error_message = "general logs to CloudWatch"
  }
}

run "the_password_is_generated_and_written_write_only" {
  assert {
    condition     = aws_secretsmanager_secret_version.password.secret_string_wo == null && aws_secretsmanager_secret_version.password.secret_string_wo_version == 1
    error_message = "the secret is written write-only, versioned"
  }
  assert {
    condition     = aws_secretsmanager_secret.password.kms_key_id == var.kms_key_arn
    error_message = "the secret is encrypted with the data tier's key"
  }
  assert {
    condition     = one([for u in aws_mq_broker.rabbitmq.user : u.password == data.aws_secretsmanager_secret_version.password.secret_string && u.username == var.username])
    error_message = "the broker's one user has the password stored in the secret"
  }
  assert {
    condition     = output.password_secret_arn == aws_secretsmanager_secret.password.arn && output.username == "zufang"
    error_message = "outputs name the secret and the user"
  }
}

run "a_cluster_on_a_micro_instance_is_refused" {
  command = plan
  variables {
    deployment_mode = "CLUSTER_MULTI_AZ"
    instance_type   = "mq.t3.micro"
  }
  expect_failures = [aws_mq_broker.rabbitmq]
}

run "active_standby_is_not_a_rabbitmq_mode" {
  command = plan
  variables {
    deployment_mode = "ACTIVE_STANDBY_MULTI_AZ"
  }
  expect_failures = [var.deployment_mode]
}
