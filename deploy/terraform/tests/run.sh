#!/usr/bin/env bash
# run.sh: prove the Terraform in deploy/terraform without an AWS account or the terraform binary:
# every .tf parses (python-hcl2) and is laid out as `terraform fmt` would, module wiring, policy
# tests (security groups, routes, encryption, IMDSv2, IAM), checkov, and the cloud-init user data
# (referenced files exist; boot scripts run against a stand-in AWS CLI; nginx -t on the result).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy/terraform/tests/run.sh [PYTEST_ARGS...]
  Installs what it needs (Debian: python3-venv shellcheck nginx openssl; PyPI: pinned in
  requirements.txt and requirements-checkov.txt, two venvs under .cache/venv/), then runs pytest on
  deploy/terraform/tests. Extra arguments go to pytest, e.g. -k policy or -x.
  Nothing reaches AWS or the network: checkov runs with --skip-download.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"

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
