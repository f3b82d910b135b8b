#!/usr/bin/env bash
# nginx/tests/run.sh: the edge's test suite. Installs what it needs, then runs the pytest checks in
# nginx/tests: static checks (shellcheck, nginx -t, gixy, keepalived config test, hook scripts),
# then a real nginx with this configuration on 127.0.0.1:18080-18084 in front of two real zufang
# instances (scripts/ci/app-instance.sh, ports 18085/18086): HTTP behaviour, retries with a dead
# replica, headless Chromium driving the static site, and keepalived failover in network namespaces.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: nginx/tests/run.sh [--help] [PYTEST_ARGS...]
  Installs what it needs (Debian: nginx keepalived shellcheck chromium ...; a Python venv from
  nginx/tests/requirements.txt with pytest, gixy and websocket-client), needs root (nginx binds as
  root, keepalived's config test and the failover checks run in network namespaces), then runs
  pytest on nginx/tests, one line a check. Ports on 127.0.0.1: 18080 http, 18081 https, 18082
  status, 18083/18084/18087 redirect-mode instance, 18085/18086 app instances, 18088 Chromium
  DevTools. Writes artifacts/edge/ (screenshot, failover figures, nginx logs of the run).
Environment: EDGE_TEST_KEEP=1 keeps the scratch folder (/tmp/edge-test.*) and the failover
  namespaces for inspection; ZUFANG_BIN=path uses that zufang binary (default: build it).
Example: nginx/tests/run.sh -k failover
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (nginx, ip netns, apt)" >&2; exit 1; }

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${EDGE_TEST_KEEP:=0}"

echo "== edge: installing prerequisites"
# fonts: DejaVu for Latin text, WenQuanYi Micro Hei for the seeded Chinese place names (screenshot).
scripts/ci/apt.sh nginx keepalived shellcheck chromium fonts-dejavu-core fonts-wqy-microhei curl openssl \
  iproute2 procps python3-venv ca-certificates
venv=$(scripts/ci/venv.sh edge nginx/tests/requirements.txt)

work=$(mktemp -d /tmp/edge-test.XXXXXX)
export EDGE_TEST_WORK=$work EDGE_TEST_KEEP EDGE_KA_NETNS="edge-ka-$$"
# The fixtures stop what they start; this is for a run that was interrupted before they could.
cleanup() {
  local f
  for f in "$work"/*/run/nginx.pid; do
    if [[ -f $f ]]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  done
  if [[ -d $work/failover ]]; then
    KEEP=$EDGE_TEST_KEEP nginx/tests/failover-netns.sh down "$work/failover" >/dev/null 2>&1 || true
  fi
  local n
  for n in "$EDGE_KA_NETNS" "$EDGE_KA_NETNS-f1" "$EDGE_KA_NETNS-f2"; do ip netns del "$n" 2>/dev/null || true; done
  for name in edge edge2; do scripts/ci/app-instance.sh stop "$name" >/dev/null 2>&1 || true; done
  if [[ $EDGE_TEST_KEEP == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "== edge: pytest nginx/tests"
# Not exec: the trap above must run after pytest.
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -p no:cacheprovider -v -rfE nginx/tests "$@"
