terraform {
  # Ephemeral resources and write-only attributes (the generated passwords stay out of the state).
  required_version = ">= 1.11.0"

  # Tested with aws 5.100.0 (the version .terraform.lock.hcl pins; CI installs it from a filesystem
  # mirror, see ../terraformrc.hcl). The lock file makes every apply use the reviewed build.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }

  # Partial configuration: the bucket and key come from ../environments/<env>.s3.tfbackend.
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "zufang"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
