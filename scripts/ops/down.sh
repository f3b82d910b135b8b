#!/usr/bin/env bash
# Stop the compose stack, every profile's containers included; volumes (data, secrets, backups)
# stay (make down).
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
  echo "usage: scripts/ops/down.sh   stop the stack, keep its volumes (STACK_ENV_FILE as in scripts/ops/lib.sh)"; exit 0
fi
export OPS_NAME=down
# shellcheck source=scripts/ops/lib.sh
. "$(dirname "$0")/lib.sh"
COMPOSE_PROFILES='*' compose down --remove-orphans
