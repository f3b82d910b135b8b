#!/usr/bin/env bash
# scripts/images/tests/run.sh: the tests of the offline-image inputs (pytest): hashed Python pins
# and venv.sh, debootstrap's signature check, the base tag keyed by the Debian index dates.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/images/tests/run.sh [PYTEST_ARGS...]   (make test-images)
  Installs what it needs (Debian: python3-venv debootstrap debian-archive-keyring curl; a venv
  with pytest from scripts/images/tests/requirements.txt), then runs pytest on scripts/images/tests.
  Needs root (debootstrap) and the Debian mirror and PyPI; builds no image and needs no Docker.
  The base image's own check (nothing left to upgrade) runs where the base is built:
  scripts/images/check-base-current.sh, called by scripts/ci/stack.sh.
Example: scripts/images/tests/run.sh -k keyring
USAGE
}
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$root"
[[ $EUID -eq 0 ]] || { echo "images-tests: needs root (debootstrap)" >&2; exit 1; }
scripts/ci/apt.sh python3 python3-venv debootstrap debian-archive-keyring curl
venv=$(scripts/ci/venv.sh images-tests scripts/images/tests/requirements.txt)
export PYTHONDONTWRITEBYTECODE=1
exec nice "$venv/bin/python" -m pytest -p no:cacheprovider -q -rfE scripts/images/tests "$@"
