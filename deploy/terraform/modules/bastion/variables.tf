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

variable "admin_cidrs" {
  description = "Operator networks allowed to SSH into the bastion (office, VPN egress). The whole internet is rejected: use SSM Session Manager when there is no fixed address."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0))])
    error_message = "admin_cidrs: at least one valid IPv4 CIDR block."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs : tonumber(split("/", c)[1]) >= 8])
    error_message = "admin_cidrs must not contain 0.0.0.0/0 (or any block wider than /8): SSH would be open to the internet."
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
