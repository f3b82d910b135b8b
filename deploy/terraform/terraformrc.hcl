# Terraform CLI configuration for this repository: providers come from the filesystem mirror on the
# machine (no registry download); tests/run.sh exports TF_CLI_CONFIG_FILE to this file and overrides
# the mirror path with TF_PROVIDER_MIRROR when it lives elsewhere (it writes a copy then).
provider_installation {
  filesystem_mirror {
    path    = "/opt/tf-plugins"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
