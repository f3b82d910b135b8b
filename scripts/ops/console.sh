#!/usr/bin/env bash
# The operators' consoles on the running stack, as the all-powerful accounts that have no network
# login: MariaDB's root over the mysql container's local socket, Redis's `admin` ACL user. The
# password is read inside the container from its secrets file and handed over on a pipe or in the
# environment of the one client process, never on a command line or in the shell history.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ops/console.sh sql [MARIADB-CLIENT-ARGS...]     (make sql SQL="SHOW FULL PROCESSLIST")
       scripts/ops/console.sh redis [REDIS-CLI-ARGS...]        (make redis-cli ARGS="info memory")
  sql     the mariadb client as root in the `mysql` container (e.g. -e "SHOW FULL PROCESSLIST")
  redis   redis-cli as the `admin` ACL user in the `redis` container (e.g. info memory, --bigkeys)
Without arguments, an interactive client (needs a terminal). Environment: STACK_ENV_FILE (scripts/ops/lib.sh).
USAGE
}
what=${1:-}
case $what in
  --help|-h) usage; exit 0 ;;
  sql|redis) shift ;;
  *) usage >&2; exit 2 ;;
esac
export OPS_NAME=console
# shellcheck source=scripts/ops/lib.sh
. "$(dirname "$0")/lib.sh"
tty=(-T)
[[ -t 0 && -t 1 ]] && tty=()
if [[ $what == sql ]]; then
  # shellcheck disable=SC2016 # expanded inside the container
  compose exec "${tty[@]}" mysql bash -c \
    'exec mariadb --defaults-extra-file=<(printf "[client]\nuser=root\npassword=\"%s\"\n" "$(head -n 1 /run/stack-secrets/mysql/root_password)") "$@"' \
    console "$@"
else
  # shellcheck disable=SC2016 # expanded inside the container
  compose exec "${tty[@]}" redis sh -c \
    'REDISCLI_AUTH=$(head -n 1 /run/stack-secrets/redis/admin_password) exec redis-cli --user admin "$@"' \
    console "$@"
fi
