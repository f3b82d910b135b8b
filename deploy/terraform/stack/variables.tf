variable "environment" {
  description = "Name of this environment (tags, Sentry environment)."
  type        = string

  validation {
    condition     = contains(["staging", "prod"], var.environment)
    error_message = "environment must be staging or prod."
  }
}

variable "region" {
  description = "AWS region, e.g. ap-east-1 (Hong Kong) or ap-northeast-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-east-1."
  }
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 characters, lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (a /16); subnets are carved as /24s: public 0-2, private 10-12, isolated 20-22."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a valid IPv4 /16 block."
  }
}

variable "azs" {
  description = "Availability zones to use, two or three, named explicitly so the layout never shifts when AWS adds a zone."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 3 && length(distinct(var.azs)) == length(var.azs)
    error_message = "azs: two or three distinct availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper; an AZ outage cuts the app servers' egress)."
  type        = bool
  default     = false
}

variable "admin_cidrs" {
  description = "Operator networks allowed to SSH into the bastion; 0.0.0.0/0 is rejected here, and the bastion module refuses any block wider than /24."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "admin_cidrs: at least one valid IPv4 CIDR block, never 0.0.0.0/0."
  }
}

variable "key_name" {
  description = "EC2 key pair installed on the bastion and the private hosts; null for SSM-only access."
  type        = string
  default     = null
}

variable "app_image" {
  description = "zufang container image, pinned (tag or digest), e.g. registry.example.com/zufang:1.4.2."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository of app_image, if it is in ECR (the app servers then pull with their role); null otherwise."
  type        = string
  default     = null
}

variable "app_instance_type" {
  description = "Instance type of the app servers."
  type        = string
  default     = "t3.medium"
}

variable "app_min_size" {
  description = "Minimum number of app servers."
  type        = number
  default     = 3
}

variable "app_desired_capacity" {
  description = "Number of app servers at start."
  type        = number
  default     = 3
}

variable "app_max_size" {
  description = "Maximum number of app servers."
  type        = number
  default     = 9
}

variable "edge_instance_type" {
  description = "Instance type of the two edge proxies."
  type        = string
  default     = "t3.small"
}

variable "edge_http_mode" {
  description = "Port 80 behaviour: redirect (308 to HTTPS; prod allows nothing else) or serve (API and site over plain HTTP too)."
  type        = string
  default     = "redirect"

  validation {
    condition     = contains(["serve", "redirect"], var.edge_http_mode)
    error_message = "edge_http_mode must be serve or redirect."
  }

  # Plain HTTP would carry passwords and bearer tokens in clear across the internet.
  validation {
    condition     = var.environment != "prod" || var.edge_http_mode == "redirect"
    error_message = "prod: edge_http_mode must be redirect (no API in clear on port 80)."
  }
}

variable "tls_secret_arn" {
  description = "Secrets Manager secret with the edge certificate JSON {\"certificate\", \"private_key\"} (PEM; the proxies fetch it at boot). Required in prod; null (staging only) makes a self-signed one."
  type        = string
  default     = null

  validation {
    condition     = var.tls_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.tls_secret_arn))
    error_message = "tls_secret_arn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)."
  }

  # A self-signed certificate teaches users to click through warnings: prod needs a real one.
  validation {
    condition     = var.environment != "prod" || var.tls_secret_arn != null
    error_message = "prod: set tls_secret_arn to the secret holding a CA-issued certificate; prod never falls back to a self-signed one."
  }
}

variable "hsts_include_subdomains" {
  description = "HSTS with includeSubDomains: set it only when every subdomain of server_name is served over HTTPS (the header then binds them all for a year)."
  type        = bool
  default     = false
}

variable "server_name" {
  description = "Public DNS name of the site (CN of the self-signed fallback certificate)."
  type        = string
  default     = "zufang.example"
}

variable "db_instance_class" {
  description = "RDS instance class of MariaDB."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "MariaDB with a standby in a second AZ."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of MariaDB backups."
  type        = number
  default     = 14
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes (2+ = automatic failover)."
  type        = number
  default     = 2
}

variable "otel_endpoint" {
  description = "OTLP/HTTP endpoint for traces; empty for none."
  type        = string
  default     = ""
}

variable "enable_vpc_endpoints" {
  description = "VPC endpoints for S3, Secrets Manager, ECR, SSM and CloudWatch Logs (false: that traffic goes through the NAT)."
  type        = bool
  default     = true
}

variable "sms_webhook_url" {
  description = "SMS gateway webhook that sends verification codes (required in prod)."
  type        = string
  default     = ""
}

variable "sms_webhook_token_secret_arn" {
  description = "Secrets Manager secret with the SMS webhook's bearer token; null for none."
  type        = string
  default     = null
}

variable "allow_log_sms_sender" {
  description = "No SMS gateway: the app logs the codes (never in prod)."
  type        = bool
  default     = false
}

variable "photo_noncurrent_version_days" {
  description = "Days a replaced or deleted house photo stays recoverable in the photo bucket."
  type        = number
  default     = 30
}

variable "broker_deployment_mode" {
  description = "Amazon MQ for RabbitMQ: SINGLE_INSTANCE (one node, staging) or CLUSTER_MULTI_AZ (three nodes across AZs; required in prod)."
  type        = string
  default     = "CLUSTER_MULTI_AZ"

  validation {
    condition     = contains(["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"], var.broker_deployment_mode)
    error_message = "broker_deployment_mode must be SINGLE_INSTANCE or CLUSTER_MULTI_AZ."
  }

  validation {
    condition     = var.environment != "prod" || var.broker_deployment_mode == "CLUSTER_MULTI_AZ"
    error_message = "prod runs the broker as CLUSTER_MULTI_AZ: a single node loses the queue (and every job in it) with its AZ."
  }
}

variable "broker_instance_type" {
  description = "Amazon MQ broker instance type (mq.t3.micro: single instance only)."
  type        = string
  default     = "mq.m5.large"
}
