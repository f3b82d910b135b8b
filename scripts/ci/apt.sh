#!/usr/bin/env bash
# Install Debian packages idempotently: skips apt-get entirely when all are installed,
# runs `apt-get update` at most once per hour, waits for a concurrent dpkg lock.
# Usage: scripts/ci/apt.sh PKG [PKG...]
set -euo pipefail
if [[ "${1:-}" == "--help" || $# -eq 0 ]]; then
  echo "usage: $0 PKG [PKG...]  (installs missing Debian packages; needs root)"; exit 0
fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/apt/periodic/zufang-update-stamp
if [[ ! -f $stamp || -n $(find "$stamp" -mmin +60 2>/dev/null) ]]; then
  echo "apt: updating package lists" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
echo "apt: installing ${missing[*]}" >&2
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
