variable "name" {
  description = "Name prefix for the app tier's resources (e.g. zufang-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 characters, lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment name reported to Sentry (sentry.environment), e.g. staging or prod."
  type        = string

  validation {
    condition     = contains(["staging", "prod"], var.environment)
    error_message = "environment must be staging or prod."
  }
}

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (default route via NAT) the app servers are spread over."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: at least two private subnets in different AZs."
  }
}

variable "edge_security_group_id" {
  description = "Security group of the edge proxies: the only source allowed to reach app_port."
  type        = string
}

variable "bastion_security_group_id" {
  description = "Security group of the bastion: the only source of SSH to the app servers."
  type        = string
}

variable "data_subnet_cidrs" {
  description = "CIDRs of the isolated (data) subnets: the app servers may connect to MariaDB and Redis there."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.data_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "data_subnet_cidrs: every entry must be a valid IPv4 CIDR block."
  }
}

variable "trusted_proxy_cidrs" {
  description = "The edge proxies' private addresses as /32s (their fixed private_ip); the app trusts X-Forwarded-* and X-Request-ID only from these (application.trusted_proxies). Not whole subnets: any other host there could forge client addresses and dodge the per-IP limits."
  type        = list(string)

  validation {
    condition     = length(var.trusted_proxy_cidrs) > 0 && alltrue([for c in var.trusted_proxy_cidrs : can(cidrhost(c, 0)) && endswith(c, "/32")])
    error_message = "trusted_proxy_cidrs: one IPv4 /32 per edge proxy (e.g. 10.20.0.11/32), never a subnet or 0.0.0.0/0."
  }
}

variable "allowed_hosts" {
  description = "Host names the API answers for (application.allowed_hosts, as Django's ALLOWED_HOSTS): the site's name. Other Host headers get a 400; probes and /metrics are exempt."
  type        = list(string)

  validation {
    condition     = length(var.allowed_hosts) > 0 && !contains(var.allowed_hosts, "*")
    error_message = "allowed_hosts: at least the site's name, and never \"*\" (any Host would be answered)."
  }
}

variable "app_image" {
  description = "Container image of the zufang service (app/Dockerfile), pinned by tag or digest, e.g. registry.example.com/zufang:1.4.2."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9./_:-]+(@sha256:[a-f0-9]{64})?$", var.app_image)) && !endswith(var.app_image, ":latest")
    error_message = "app_image must be an image reference pinned to a tag or digest (not :latest)."
  }
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository app_image comes from; the servers then pull with their instance role (ECR credential helper). null when the image is in a registry that needs no login."
  type        = string
  default     = null

  validation {
    condition     = var.ecr_repository_arn == null || can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", var.ecr_repository_arn))
    error_message = "ecr_repository_arn must be an ECR repository ARN (arn:aws:ecr:REGION:ACCOUNT:repository/NAME) or null."
  }
}

variable "app_port" {
  description = "Port the app listens on (application.port)."
  type        = number
  default     = 8080

  validation {
    condition     = var.app_port > 0 && var.app_port < 65536
    error_message = "app_port must be a TCP port (1-65535)."
  }
}

variable "container_uid" {
  description = "UID the image runs as (USER in app/Dockerfile); the secret files are owned by it."
  type        = number
  default     = 10001
}

variable "instance_type" {
  description = "EC2 instance type of the app servers."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI of the app servers; null picks the latest Amazon Linux 2023 (docker from its repository, SSM agent preinstalled)."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair for SSH through the bastion; null disables key-based SSH."
  type        = string
  default     = null
}

variable "min_size" {
  description = "Minimum number of app servers."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size must be at least 1."
  }
}

variable "max_size" {
  description = "Maximum number of app servers."
  type        = number
  default     = 6
}

variable "desired_capacity" {
  description = "Number of app servers to start with (replicas app1..appN)."
  type        = number
  default     = 3
}

variable "db_host" {
  description = "MariaDB endpoint host name (database.host)."
  type        = string
}

variable "db_port" {
  description = "MariaDB port (database.port)."
  type        = number
  default     = 3306
}

variable "db_name" {
  description = "Database name (database.name)."
  type        = string
}

variable "db_username" {
  description = "Database user (database.username)."
  type        = string
}

variable "db_max_connections" {
  description = "Connection pool size per app server (database.max_connections); servers x this must stay below MariaDB's max_connections."
  type        = number
  default     = 16
}

variable "redis_host" {
  description = "Redis endpoint host name (redis.host)."
  type        = string
}

variable "redis_port" {
  description = "Redis port (redis.port)."
  type        = number
  default     = 6379
}

variable "db_password_secret_arn" {
  description = "Secrets Manager secret with the database password (file database_password)."
  type        = string
}

variable "redis_password_secret_arn" {
  description = "Secrets Manager secret with the Redis AUTH token (file redis_password)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the secrets (the data tier's key); the JWT secret is encrypted with it too."
  type        = string
}

variable "otel_endpoint" {
  description = "OTLP/HTTP endpoint of a trace collector (otel.endpoint); empty exports no traces."
  type        = string
  default     = ""
}

variable "admin_allow_cidrs" {
  description = "Client networks allowed to call /api/admin/* (admin.allow_cidrs, seen through the trusted proxies); empty keeps the image's loopback-only default, which closes the admin API."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_allow_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "admin_allow_cidrs: valid IPv4 CIDR blocks, never 0.0.0.0/0."
  }
}

variable "enable_ssm" {
  description = "Attach the SSM agent's managed policy so operators can use Session Manager instead of SSH."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "jwt_secret_version" {
  description = "Version of the generated JWT signing key: change it (e.g. 1 -> 2) to generate and store a new one."
  type        = number
  default     = 1
  nullable    = false
}

variable "drain_seconds" {
  description = "Time a terminating app server stays up after leaving the edge pool (edge refresh 30 s + longest request)."
  type        = number
  default     = 90
  nullable    = false
  validation {
    condition     = var.drain_seconds >= 60 && var.drain_seconds <= 7200
    error_message = "drain_seconds: 60..7200 (at least two edge refreshes; the lifecycle hook's heartbeat limit)."
  }
}

variable "instance_warmup_seconds" {
  description = "Seconds a new app server needs before its metrics count (boot, image pull, migrations)."
  type        = number
  default     = 300
  nullable    = false
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation of the app group."
  type        = number
  default     = 60
  nullable    = false
  validation {
    condition     = var.cpu_target_percent > 0 && var.cpu_target_percent < 100
    error_message = "cpu_target_percent must be between 0 and 100."
  }
}

variable "network_in_target_bytes" {
  description = "Target average bytes received per app server per minute (the request volume the edge forwards)."
  type        = number
  default     = 50000000
  nullable    = false
}

variable "sms_webhook_url" {
  description = "SMS gateway webhook (http(s)://) that sends verification codes; empty for none (then allow_log_sms_sender must be true)."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.sms_webhook_url == "" || can(regex("^https?://", var.sms_webhook_url))
    error_message = "sms_webhook_url must be empty or an http(s):// URL."
  }
}

variable "sms_webhook_token_secret_arn" {
  description = "Secrets Manager secret (created outside Terraform) with the webhook's bearer token (file sms_webhook_token); null for none."
  type        = string
  default     = null
}

variable "allow_log_sms_sender" {
  description = "No SMS gateway: log the codes instead (sign-up cannot complete). Only for a stack that is not serving users."
  type        = bool
  default     = false
  nullable    = false
}

variable "health_check_failures" {
  description = "Consecutive failed /healthz checks (30 s apart) after which a server reports itself Unhealthy and is replaced."
  type        = number
  default     = 3
  nullable    = false
  validation {
    condition     = var.health_check_failures >= 2 && var.health_check_failures <= 20
    error_message = "health_check_failures: 2..20."
  }
}

variable "rds_ca_bundle_url" {
  description = "HTTPS URL of the RDS certificate authorities' bundle the app verifies MariaDB against (fetched by each server at every start; AWS's global bundle covers every commercial region)."
  type        = string
  default     = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

  validation {
    condition     = can(regex("^https://truststore\\.pki\\.([a-z0-9-]+\\.)?rds\\.amazonaws\\.com(\\.cn)?/[A-Za-z0-9/._-]+\\.pem$", var.rds_ca_bundle_url))
    error_message = "rds_ca_bundle_url must be an https URL of AWS's RDS trust store (truststore.pki.rds.amazonaws.com), ending in .pem."
  }
}

variable "db_password_secret_field" {
  description = "Field of the JSON secret db_password_secret_arn that holds the password (RDS's managed master user secret: password); null when the secret is the bare password."
  type        = string
  default     = "password"

  validation {
    condition     = var.db_password_secret_field == null || can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.db_password_secret_field))
    error_message = "db_password_secret_field must be a JSON field name (letters, digits, underscores) or null."
  }
}

variable "photo_bucket_name" {
  description = "The house-photo bucket (s3.bucket; modules/storage)."
  type        = string
}

variable "photo_bucket_arn" {
  description = "ARN of the house-photo bucket: the app role's object and list grants name it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.photo_bucket_arn))
    error_message = "photo_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME), not an object or a wildcard."
  }
}

variable "photo_key_prefixes" {
  description = "Key prefixes of the photo bucket the app may read, write, delete and list: originals as uploaded, the sizes the worker derives. Nothing outside them."
  type        = list(string)
  default     = ["originals/", "derived/"]
  nullable    = false

  validation {
    condition     = length(var.photo_key_prefixes) > 0 && alltrue([for p in var.photo_key_prefixes : can(regex("^[a-z0-9][a-z0-9-]*/$", p))])
    error_message = "photo_key_prefixes: at least one; each lowercase letters, digits and dashes ending in a slash, never empty or a wildcard."
  }
}

variable "photo_kms_key_arn" {
  description = "KMS key the photo bucket encrypts with; the app role may use it through S3 only."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.photo_kms_key_arn))
    error_message = "photo_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias or a wildcard."
  }
}

variable "broker_endpoint" {
  description = "AMQPS endpoint of the broker, amqps://<host>:5671 (rabbitmq.url; modules/broker). No credentials in it."
  type        = string

  validation {
    condition     = can(regex("^amqps://[a-z0-9.-]+:[0-9]+$", var.broker_endpoint))
    error_message = "broker_endpoint must be amqps://HOST:PORT: TLS only, and no user or password in the URL."
  }
}

variable "broker_username" {
  description = "The broker user the app and the worker connect as (rabbitmq.username)."
  type        = string
}

variable "broker_password_secret_arn" {
  description = "Secrets Manager secret with the broker user's password (file amqp_password), encrypted with kms_key_arn."
  type        = string
}

variable "broker_security_group_id" {
  description = "Security group of the broker: the app servers' only AMQPS (5671) destination."
  type        = string
}
