#!/usr/bin/env bash
# run.sh: prove the Terraform in deploy/terraform without an AWS account: Terraform itself (fmt,
# offline init from the provider mirror, validate, `terraform test` with a mocked aws provider), then
# pytest for what Terraform does not judge (layout, policy across modules, checkov, the cloud-init
# user data and boot scripts, docs).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy/terraform/tests/run.sh [PYTEST_ARGS...]
  Needs terraform (>= 1.11) on PATH and the aws provider 5.100.0 as a filesystem mirror:
  <mirror>/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5
  (default mirror /opt/tf-plugins, the path in deploy/terraform/terraformrc.hcl; elsewhere: set
  TF_PROVIDER_MIRROR=<mirror>). Exports TF_CLI_CONFIG_FILE to the project's CLI config, so nothing is
  downloaded from the registry.
  Installs the rest (Debian: python3-venv shellcheck nginx openssl; PyPI: pinned in requirements.txt
  and requirements-checkov.txt, two venvs under .cache/venv/), then runs pytest on
  deploy/terraform/tests. Extra arguments go to pytest, e.g. -k terraform or -x.
  Nothing reaches AWS: the provider is mocked, checkov runs with --skip-download.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"

die() { echo "terraform tests: $*" >&2; exit 1; }

command -v terraform >/dev/null ||
  die "terraform is not on PATH: install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)"
cli_config="$root/deploy/terraform/terraformrc.hcl"
default_mirror=$(sed -n 's/^ *path *= *"\(.*\)"/\1/p' "$cli_config")
mirror=${TF_PROVIDER_MIRROR:-$default_mirror}
provider="$mirror/registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5"
[[ -x $provider ]] || die "the aws provider mirror is missing: $provider does not exist.
  Install hashicorp/aws 5.100.0 (linux_amd64) as a filesystem mirror, e.g. on a machine with registry
  access: terraform providers mirror -platform=linux_amd64 $mirror   (in deploy/terraform/stack),
  or set TF_PROVIDER_MIRROR to the folder that holds registry.terraform.io/."
if [[ $mirror != "$default_mirror" ]]; then
  mkdir -p .cache/terraform
  sed "s|\"$default_mirror\"|\"$mirror\"|" "$cli_config" >.cache/terraform/terraformrc.hcl
  cli_config="$root/.cache/terraform/terraformrc.hcl"
fi
export TF_CLI_CONFIG_FILE="$cli_config"
echo "terraform tests: $(terraform version | head -1), providers from $mirror" >&2

echo "terraform tests: installing prerequisites" >&2
scripts/ci/apt.sh python3 python3-venv shellcheck nginx openssl
venv=$(scripts/ci/venv.sh terraform-tests deploy/terraform/tests/requirements.txt)
# checkov ships its own fork of the HCL parser under the same module name as python-hcl2,
# so it lives in a venv of its own; the tests call it through CHECKOV_BIN.
checkov_venv=$(scripts/ci/venv.sh terraform-checkov deploy/terraform/tests/requirements-checkov.txt)
export CHECKOV_BIN="$checkov_venv/bin/checkov"
export PATH="$PATH:/usr/sbin:/sbin" # nginx lives in /usr/sbin

echo "terraform tests: pytest" >&2
exec nice -n 10 "$venv/bin/python" -m pytest -p no:cacheprovider -q "$here" "$@"
