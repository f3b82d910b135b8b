terraform {
  required_version = ">= 1.5.0"

  # Exact provider versions: an environment applies what was reviewed. Commit the
  # .terraform.lock.hcl that `terraform init` writes next to this file.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.80.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
  }

  # State holds generated passwords (RDS, ElastiCache): keep it in an encrypted, access-controlled
  # bucket, e.g. (see ../../README.md):
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "zufang/prod.tfstate"
  #   region       = "ap-east-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
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
