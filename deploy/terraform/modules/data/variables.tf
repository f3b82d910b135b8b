variable "name" {
  description = "Name prefix for the data tier's resources (e.g. zufang-prod)."
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
  description = "IDs of the isolated subnets (no internet route) for MariaDB and Redis; at least two AZs."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: at least two subnets in different AZs (RDS and ElastiCache subnet groups require it)."
  }
}

variable "app_security_group_id" {
  description = "Security group of the app tier: the only source allowed to reach MariaDB and Redis."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class for MariaDB."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.small."
  }
}

variable "db_engine_version" {
  description = "MariaDB engine version (major.minor; minor patches are applied automatically)."
  type        = string
  default     = "10.11"

  validation {
    # require_secure_transport (TLS-only connections) exists from MariaDB 10.5 on.
    condition     = can(regex("^(10\\.([5-9]|1[0-9])|11\\.[0-9]+)$", var.db_engine_version))
    error_message = "db_engine_version must be MariaDB 10.5 or later as major.minor (e.g. 10.11, 11.4): older ones cannot require TLS."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage of the database in GiB (gp3)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 65536
    error_message = "db_allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "db_max_allocated_storage" {
  description = "Ceiling for storage autoscaling in GiB (0 disables autoscaling)."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Run a synchronous standby in a second AZ (automatic failover, about twice the cost)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35 (0 would disable backups)."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (terraform destroy fails until this is false)."
  type        = bool
  default     = true
}

variable "db_name" {
  description = "Database (schema) the app uses; matches database.name in app/config/default.toml."
  type        = string
  default     = "zufang"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,63}$", var.db_name))
    error_message = "db_name must start with a letter and contain only letters, digits and underscores."
  }
}

variable "db_username" {
  description = "Master user of the database, used by the app (database.username)."
  type        = string
  default     = "zufang"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,15}$", var.db_username)) && !contains(["admin", "root", "rdsadmin"], lower(var.db_username))
    error_message = "db_username: up to 16 letters, digits or underscores, starting with a letter; not a reserved name."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "redis_node_type must look like cache.t4g.small."
  }
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes (1 primary + replicas); 2 or more enables automatic failover across AZs."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 1 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters must be between 1 and 6."
  }
}

variable "redis_engine_version" {
  description = "Redis OSS engine version of ElastiCache."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^[67]\\.[0-9]+$", var.redis_engine_version))
    error_message = "redis_engine_version must be 6.x or 7.x (TLS with AUTH needs 6 or later)."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "db_password_rotation_days" {
  description = "Days between RDS's rotations of the MariaDB password (its managed secret); each rotation restarts every app server once, at a random moment within 15 minutes."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.db_password_rotation_days >= 1 && var.db_password_rotation_days <= 365 && floor(var.db_password_rotation_days) == var.db_password_rotation_days
    error_message = "db_password_rotation_days must be a whole number of days from 1 to 365."
  }
}
variable "redis_password_version" {
  description = "Version of the generated Redis AUTH token: change it (e.g. 1 -> 2) to generate and store a new one."
  type        = number
  default     = 1
  nullable    = false
}
