variable "name" {
  description = "Name prefix for the bastion's resources (e.g. zufang-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 characters, lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the bastion lives in."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC: the bastion may open SSH connections to hosts inside it and nowhere else."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "subnet_id" {
  description = "ID of the public subnet the bastion is placed in."
  type        = string
}

variable "admin_min_prefix_length" {
  description = "Widest block admin_cidrs may hold, as a prefix length: 24 admits /24 .. /32 (256 addresses at most per entry)."
  type        = number
  default     = 24
  nullable    = false

  validation {
    condition     = var.admin_min_prefix_length >= 16 && var.admin_min_prefix_length <= 32 && floor(var.admin_min_prefix_length) == var.admin_min_prefix_length
    error_message = "admin_min_prefix_length must be a whole number from 16 to 32."
  }
}

variable "admin_cidrs" {
  description = "Operator networks allowed to SSH into the bastion (office, VPN egress). The whole internet is rejected: use SSM Session Manager when there is no fixed address."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0))])
    error_message = "admin_cidrs: at least one valid IPv4 CIDR block."
  }

  # A wide block (0.0.0.0/1 is half the internet) is an open SSH port in all but name.
  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && tonumber(split("/", c)[1]) >= var.admin_min_prefix_length])
    error_message = "admin_cidrs: every block must be /${var.admin_min_prefix_length} or narrower (admin_min_prefix_length); an office or VPN egress is a handful of addresses, never a large part of the internet."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the bastion; it only forwards SSH, so the smallest burstable size is enough."
  type        = string
  default     = "t3.micro"
}

variable "ami_id" {
  description = "AMI for the bastion; null picks the latest Amazon Linux 2023 (SSM agent preinstalled)."
  type        = string
  default     = null
}

variable "key_name" {
  description = "Name of an EC2 key pair for SSH; null for SSM-only access."
  type        = string
  default     = null
}

variable "ssh_user" {
  description = "Login user of the AMI (ec2-user on Amazon Linux), written into the generated SSH config."
  type        = string
  default     = "ec2-user"
}

variable "root_volume_size" {
  description = "Size of the encrypted root volume in GiB."
  type        = number
  default     = 8

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 100
    error_message = "root_volume_size must be between 8 and 100 GiB."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
