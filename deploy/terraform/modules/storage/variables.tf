variable "name" {
  description = "Name prefix for the photo store's resources (e.g. zufang-prod); the bucket is <name>-photos-<account id>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 characters, lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted photo version is kept (recoverable) before S3 expires it."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650 && floor(var.noncurrent_version_days) == var.noncurrent_version_days
    error_message = "noncurrent_version_days must be a whole number of days from 1 to 3650."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which the parts of an unfinished multipart upload are deleted."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1 && var.abort_incomplete_multipart_days <= 30 && floor(var.abort_incomplete_multipart_days) == var.abort_incomplete_multipart_days
    error_message = "abort_incomplete_multipart_days must be a whole number of days from 1 to 30."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
