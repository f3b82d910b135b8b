variable "name" {
  description = "Name prefix for the edge's resources (e.g. zufang-prod)."
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
  description = "Two public subnets in different AZs: lb1 goes into the first, lb2 into the second."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: at least two public subnets (one per proxy, different AZs)."
  }
}

variable "subnet_cidrs" {
  description = "CIDRs of subnet_ids, in the same order; lb1 gets host .11 of the first, lb2 host .12 of the second (as on the compose edge network)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_cidrs) >= 2 && alltrue([for c in var.subnet_cidrs : can(cidrhost(c, 12))])
    error_message = "subnet_cidrs: at least two valid IPv4 CIDR blocks with room for host .12."
  }
}

variable "app_subnet_cidrs" {
  description = "CIDRs of the private (app) subnets: the proxies may open connections to app_port there and nowhere else inside the VPC."
  type        = list(string)

  validation {
    condition     = length(var.app_subnet_cidrs) > 0 && alltrue([for c in var.app_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "app_subnet_cidrs: at least one valid IPv4 CIDR block."
  }
}

variable "app_port" {
  description = "Port the zufang app listens on (application.port)."
  type        = number
  default     = 8080

  validation {
    condition     = var.app_port > 0 && var.app_port < 65536
    error_message = "app_port must be a TCP port (1-65535)."
  }
}

variable "app_asg_name" {
  description = "Name of the app auto scaling group; the proxies' upstream pool follows its running instances."
  type        = string
}

variable "bastion_security_group_id" {
  description = "Security group of the bastion: the only source of SSH to the proxies."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the config bucket (the data tier's key); the proxies may decrypt with it through S3 and Secrets Manager only."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of each proxy."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI of the proxies; null picks the latest official Debian 12 (bookworm) image, which the nginx configuration targets (nginx 1.22, user www-data)."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair for SSH through the bastion; null disables key-based SSH."
  type        = string
  default     = null
}

variable "http_mode" {
  description = "What port 80 does: redirect (308 to HTTPS) or serve (API and site over plain HTTP too: passwords and tokens in clear; for a test stack only)."
  type        = string
  default     = "redirect"

  validation {
    condition     = contains(["serve", "redirect"], var.http_mode)
    error_message = "http_mode must be serve or redirect."
  }
}

variable "tls_secret_arn" {
  description = "Secrets Manager secret with the edge certificate as JSON {\"certificate\", \"private_key\"} (PEM), fetched by each proxy at boot; null makes a self-signed one per proxy (only when require_tls_certificate is false)."
  type        = string
  default     = null

  validation {
    condition     = var.tls_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.tls_secret_arn))
    error_message = "tls_secret_arn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)."
  }

  validation {
    condition     = !var.require_tls_certificate || var.tls_secret_arn != null
    error_message = "require_tls_certificate is set: tls_secret_arn must name the secret with a CA-issued certificate (no self-signed fallback)."
  }
}

variable "require_tls_certificate" {
  description = "Refuse to run without tls_secret_arn (plan-time) and refuse the self-signed fallback on the proxies (boot-time); the root module sets it for prod."
  type        = bool
  default     = true
  nullable    = false
}

variable "hsts_include_subdomains" {
  description = "Send HSTS with includeSubDomains (only when every subdomain of the site's domain is HTTPS)."
  type        = bool
  default     = false
  nullable    = false
}

variable "server_name" {
  description = "DNS name clients use; only the CN of the self-signed fallback certificate."
  type        = string
  default     = "localhost"
}

variable "vrid" {
  description = "VRRP virtual router id of the pair (unique among VRRP speakers that can hear each other)."
  type        = number
  default     = 51

  validation {
    condition     = var.vrid >= 1 && var.vrid <= 255
    error_message = "vrid must be between 1 and 255."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
