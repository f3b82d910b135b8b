#!/usr/bin/env bash
# Shared by the scripts/ops/ commands (sourced): which env file the running stack was started
# with, a compose wrapper and logging.
#   STACK_ENV_FILE   env file for compose; default: the one `make up` recorded in .stack-env-file,
#                    else .env (registry images)

ops_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -z ${STACK_ENV_FILE:-} ]]; then
  if [[ -s $ops_root/.stack-env-file ]]; then
    STACK_ENV_FILE=$(head -n 1 "$ops_root/.stack-env-file")
  else
    STACK_ENV_FILE=.env
  fi
fi
export STACK_ENV_FILE

ops_log() { printf '%s %s: %s\n' "$(date -u +%H:%M:%S)" "${OPS_NAME:-ops}" "$*" >&2; }
ops_die() { ops_log "error: $*"; exit 1; }
compose() { (cd "$ops_root" && docker compose --env-file "$STACK_ENV_FILE" "$@"); }

# The compose services the stack runs now (running containers).
running_services() { compose ps --status running --format '{{.Service}}'; }
# The database accounts of this release on a running `mysql` (idempotent; a database initialised by
# an earlier release has no zufang_migrate and an all-powerful app account): secrets-init first,
# for the secrets of accounts that are new.
ensure_db_accounts() {
  compose run --rm --no-deps -T secrets-init >/dev/null 2>&1 || ops_die "secrets-init failed (docker compose run secrets-init)"
  compose exec -T mysql bash /docker-entrypoint-initdb.d/05-app-users.sh >&2 \
    || ops_die "the database accounts could not be set up (docker compose exec mysql bash /docker-entrypoint-initdb.d/05-app-users.sh)"
}
