variable "name" {
  description = "Name prefix for every resource (e.g. zufang-prod); also the Name tag of the VPC."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 characters, lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC (a /16 to /24 from RFC 1918)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(split("/", var.cidr)[1]) >= 16 && tonumber(split("/", var.cidr)[1]) <= 24
    error_message = "cidr must be a valid IPv4 CIDR block between /16 and /24."
  }
}

variable "azs" {
  description = "Availability zones to spread the subnets over, in order; at least two so one AZ outage leaves a proxy and an app server."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(distinct(var.azs)) == length(var.azs)
    error_message = "azs: at least two distinct availability zones."
  }
}

variable "public_subnets" {
  description = "CIDRs of the public subnets (edge proxies, bastion, NAT gateways), one per AZ in the order of azs."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.public_subnets : can(cidrhost(c, 0))])
    error_message = "public_subnets: every entry must be a valid IPv4 CIDR block."
  }
}

variable "private_subnets" {
  description = "CIDRs of the private (app) subnets, one per AZ; their default route goes through a NAT gateway."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.private_subnets : can(cidrhost(c, 0))])
    error_message = "private_subnets: every entry must be a valid IPv4 CIDR block."
  }
}

variable "isolated_subnets" {
  description = "CIDRs of the isolated (data) subnets, one per AZ; they have no route to the internet at all."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.isolated_subnets : can(cidrhost(c, 0))])
    error_message = "isolated_subnets: every entry must be a valid IPv4 CIDR block."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway instead of one per AZ: saves the hourly cost of the others, but an outage of its AZ cuts every private subnet off the internet."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ... 365, 400, 545, 731, ...)."
  }
}

variable "flow_log_traffic_type" {
  description = "Which traffic the flow logs record: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "enable_vpc_endpoints" {
  description = "Create the S3 gateway endpoint and the interface endpoints (billed per hour per AZ each); false sends that traffic through the NAT."
  type        = bool
  default     = true
  nullable    = false
}

variable "interface_endpoint_services" {
  description = "AWS services reached through interface endpoints from the private subnets."
  type        = list(string)
  default     = ["secretsmanager", "ecr.api", "ecr.dkr", "ssm", "ssmmessages", "ec2messages", "logs"]
  nullable    = false
  validation {
    condition     = alltrue([for s in var.interface_endpoint_services : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "interface_endpoint_services: service names such as secretsmanager or ecr.dkr."
  }
}
