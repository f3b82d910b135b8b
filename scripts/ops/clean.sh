#!/usr/bin/env bash
# Stop the compose stack and drop its volumes (data, generated secrets, metrics) but the backups:
# `docker compose down -v` would take the backups volume with it, the one thing to keep when the
# rest goes (make clean). --all: the backups too.
set -euo pipefail
all=0
case ${1:-} in
  --help|-h) echo "usage: scripts/ops/clean.sh [--all]   stop the stack, drop its volumes except 'backups' (--all: that too)"; exit 0 ;;
  --all) all=1 ;;
  "") ;;
  *) echo "clean.sh: unknown argument $1" >&2; exit 2 ;;
esac
export OPS_NAME=clean
# shellcheck source=scripts/ops/lib.sh
. "$(dirname "$0")/lib.sh"
project=$(compose config --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
COMPOSE_PROFILES='*' compose down --remove-orphans
mapfile -t volumes < <(docker volume ls -q --filter "label=com.docker.compose.project=$project")
for v in "${volumes[@]}"; do
  if [[ $v == "${project}_backups" ]] && (( ! all )); then
    ops_log "keeping $v (the backups; scripts/ops/clean.sh --all drops it too)"; continue
  fi
  docker volume rm "$v" >/dev/null && ops_log "removed volume $v"
done
