variable "name" {
  description = "Name prefix for the broker's resources (e.g. zufang-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 characters, lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one per AZ) the broker's endpoint lives in; SINGLE_INSTANCE uses the first."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids: at least one private subnet."
  }
}

variable "app_security_group_id" {
  description = "Security group of the app tier: the only source allowed to reach AMQPS (5671)."
  type        = string
}

variable "bastion_security_group_id" {
  description = "Security group of the bastion: the only source allowed to reach the management console (443)."
  type        = string
}

variable "deployment_mode" {
  description = "SINGLE_INSTANCE (one node, no failover: staging) or CLUSTER_MULTI_AZ (three nodes across AZs, quorum queues survive a node: prod)."
  type        = string
  default     = "CLUSTER_MULTI_AZ"

  validation {
    condition     = contains(["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"], var.deployment_mode)
    error_message = "deployment_mode must be SINGLE_INSTANCE or CLUSTER_MULTI_AZ (ACTIVE_STANDBY_MULTI_AZ is ActiveMQ's)."
  }
}

variable "instance_type" {
  description = "Broker instance type (mq.t3.micro: SINGLE_INSTANCE only; mq.m5.large and up for a cluster)."
  type        = string
  default     = "mq.m5.large"

  validation {
    condition     = can(regex("^mq\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like mq.m5.large."
  }
}

variable "engine_version" {
  description = "RabbitMQ engine version as major.minor (Amazon MQ applies the patches itself)."
  type        = string
  default     = "3.13"

  validation {
    # Quorum queues (the app's durable job queues) and Amazon MQ's automatic minor upgrades.
    condition     = can(regex("^(3\\.1[3-9]|4\\.[0-9]+)$", var.engine_version))
    error_message = "engine_version must be RabbitMQ 3.13 or later as major.minor (e.g. 3.13, 4.2)."
  }
}

variable "username" {
  description = "The broker user the app and the worker connect as (rabbitmq.username)."
  type        = string
  default     = "zufang"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.~-]{2,100}$", var.username)) && !startswith(var.username, "amq")
    error_message = "username: 2-100 letters, digits, _ . ~ or -, not starting with amq (reserved by RabbitMQ)."
  }
}

variable "password_version" {
  description = "Version of the generated broker password: change it (e.g. 1 -> 2) to generate and store a new one."
  type        = number
  default     = 1
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key the password secret is encrypted with (the data tier's key, which the app role decrypts through Secrets Manager)."
  type        = string
}

variable "maintenance_day" {
  description = "Day of the weekly maintenance window (UTC), when minor upgrades are applied."
  type        = string
  default     = "SUNDAY"

  validation {
    condition     = contains(["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"], var.maintenance_day)
    error_message = "maintenance_day must be a day of the week in capitals (MONDAY ... SUNDAY)."
  }
}

variable "maintenance_time" {
  description = "Start of the weekly maintenance window, HH:MM UTC (the default 21:00 is 05:00 in China Standard Time, after the data tier's windows)."
  type        = string
  default     = "21:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_time))
    error_message = "maintenance_time must be HH:MM (24 h, UTC)."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
