# The data tier's contract: reachable from the app tier's security group only, encrypted, no
# generated password in the configuration.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                  = "zufang-test"
  vpc_id                = "vpc-0123456789abcdef0"
  subnet_ids            = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  app_security_group_id = "sg-0app0000000000000"
}

run "only_the_app_tier_reaches_the_data_tier" {
  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_app.referenced_security_group_id == var.app_security_group_id && aws_vpc_security_group_ingress_rule.db_from_app.cidr_ipv4 == null
    error_message = "MariaDB admits the app security group, no CIDR"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_app.from_port == 3306 && aws_vpc_security_group_ingress_rule.db_from_app.to_port == 3306
    error_message = "MariaDB: port 3306 only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.redis_from_app.referenced_security_group_id == var.app_security_group_id && aws_vpc_security_group_ingress_rule.redis_from_app.cidr_ipv4 == null
    error_message = "Redis admits the app security group, no CIDR"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.redis_from_app.from_port == 6379 && aws_vpc_security_group_ingress_rule.redis_from_app.to_port == 6379
    error_message = "Redis: port 6379 only"
  }
  assert {
    condition     = aws_db_instance.mariadb.vpc_security_group_ids == toset([aws_security_group.db.id]) && !aws_db_instance.mariadb.publicly_accessible
    error_message = "MariaDB: its own group, never public"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.security_group_ids == toset([aws_security_group.redis.id])
    error_message = "Redis: its own group"
  }
}

run "encrypted_with_credentials_out_of_the_state" {
  assert {
    condition     = aws_db_instance.mariadb.storage_encrypted && aws_db_instance.mariadb.kms_key_id == aws_kms_key.data.arn
    error_message = "MariaDB storage encrypted with the tier's key"
  }
  assert {
    condition     = aws_db_instance.mariadb.manage_master_user_password && aws_db_instance.mariadb.password == null && aws_db_instance.mariadb.password_wo == null
    error_message = "RDS manages the MariaDB password in Secrets Manager: Terraform never holds it"
  }
  assert {
    condition     = aws_db_instance.mariadb.master_user_secret_kms_key_id == aws_kms_key.data.arn
    error_message = "RDS's secret is encrypted with the tier's key (the app role decrypts with it)"
  }
  assert {
    condition     = aws_secretsmanager_secret_rotation.db_password.secret_id == aws_db_instance.mariadb.master_user_secret[0].secret_arn && aws_secretsmanager_secret_rotation.db_password.rotation_rules[0].automatically_after_days == 30
    error_message = "RDS's secret rotates every 30 days, not its 7-day default"
  }
  assert {
    condition     = aws_secretsmanager_secret_version.redis_password.secret_string_wo == null && aws_secretsmanager_secret_version.redis_password.secret_string_wo_version == 1
    error_message = "the Redis token secret is written write-only"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.at_rest_encryption_enabled == "true" && aws_elasticache_replication_group.redis.transit_encryption_enabled
    error_message = "Redis encrypted at rest and in transit"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.auth_token == data.aws_secretsmanager_secret_version.redis_password.secret_string
    error_message = "Redis AUTH is the token stored in its secret"
  }
  assert {
    condition     = output.db_password_secret_arn == aws_db_instance.mariadb.master_user_secret[0].secret_arn && output.redis_host == aws_elasticache_replication_group.redis.primary_endpoint_address
    error_message = "outputs name the secret and the endpoints"
  }
}

run "single_node_redis_has_no_failover" {
  variables {
    redis_num_cache_clusters = 1
  }
  assert {
    condition     = !aws_elasticache_replication_group.redis.automatic_failover_enabled && !aws_elasticache_replication_group.redis.multi_az_enabled
    error_message = "one node: no failover to ask for"
  }
}

run "two_node_redis_fails_over" {
  variables {
    redis_num_cache_clusters = 2
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.automatic_failover_enabled && aws_elasticache_replication_group.redis.multi_az_enabled
    error_message = "two nodes: automatic failover across AZs"
  }
}

# TLS is required by the servers, not left to the client's configuration.
run "the_servers_refuse_plain_connections" {
  assert {
    condition     = anytrue([for p in aws_db_parameter_group.mariadb.parameter : p.name == "require_secure_transport" && p.value == "1"])
    error_message = "MariaDB: require_secure_transport = 1 in the instance's parameter group"
  }
  assert {
    condition     = aws_db_instance.mariadb.parameter_group_name == aws_db_parameter_group.mariadb.name
    error_message = "the instance uses that parameter group"
  }
  assert {
    condition     = aws_elasticache_replication_group.redis.transit_encryption_enabled && aws_elasticache_replication_group.redis.transit_encryption_mode == "required"
    error_message = "Redis: transit encryption required (plain connections refused)"
  }
}

run "a_mariadb_without_require_secure_transport_is_refused" {
  command = plan
  variables {
    db_engine_version = "10.4"
  }
  expect_failures = [var.db_engine_version]
}
