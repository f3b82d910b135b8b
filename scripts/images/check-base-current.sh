#!/usr/bin/env bash
# Prove that a Debian-based image carries every update its apt sources offer now: inside IMAGE,
# `apt-get update` then `apt-get -s upgrade` must list nothing to upgrade. Run on the offline base
# (scripts/images/build.sh); a failure means the security suite moved: `make images-refresh`.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/images/check-base-current.sh IMAGE
  Runs `apt-get update && apt-get -s upgrade` in a throwaway container of IMAGE (host network,
  as root, nothing kept). Exit 0 when nothing is upgradable, 1 listing the packages when some
  are (or when the mirror cannot be read: an unreadable index proves nothing), 2 on bad usage.
  IMAGE is typically BASE_IMAGE of .env.offline.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
[[ $# -eq 1 && -n $1 ]] || { usage >&2; exit 2; }
image=$1
command -v docker >/dev/null || { echo "check-base-current: docker is needed (scripts/ci/docker.sh)" >&2; exit 1; }
docker image inspect "$image" >/dev/null 2>&1 \
  || { echo "check-base-current: no image $image here (build it: scripts/images/build.sh)" >&2; exit 1; }

# Error-Mode=any: an index that fails to download is an error, not a warning over stale lists.
out=$(docker run --rm --network host --user 0 --entrypoint sh "$image" -c \
  'apt-get -q -o APT::Update::Error-Mode=any update >/dev/null && apt-get -s upgrade' 2>&1) || {
  printf '%s\n' "$out" | tail -n 20 >&2
  echo "check-base-current: FAIL $image: apt-get update or upgrade failed (mirror unreachable?)" >&2
  exit 1
}
pending=$(printf '%s\n' "$out" | awk '$1 == "Inst" { print $2 }')
if [[ -n $pending ]]; then
  echo "check-base-current: FAIL $image has $(wc -l <<<"$pending") upgradable package(s): $(tr '\n' ' ' <<<"$pending")" >&2
  echo "check-base-current: the Debian indexes moved since it was built; run \`make images-refresh\`" >&2
  exit 1
fi
summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+ upgraded' || true)
# "0 upgraded ... and N not upgraded": N kept back (a fix that needs a new package) count too.
if [[ $summary != "0 upgraded, "*" and 0 not upgraded." ]]; then
  printf '%s\n' "$out" | tail -n 20 >&2
  echo "check-base-current: FAIL $image: want nothing upgradable nor kept back, got: ${summary:-no apt summary}" >&2
  exit 1
fi
echo "check-base-current: ok $image ($summary)"
