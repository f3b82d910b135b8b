#!/bin/bash
# The MariaDB account of the `bench` profile (compose.yaml, profile bench): `bench`,
# allowed only the schema `sbtest` that bench/sysbench/oltp.sh works in (create, fill, drop),
# never the application's `zufang` database. Idempotent.
#
# 1) /docker-entrypoint-initdb.d script: sourced by the MariaDB entrypoint on the first start of an
#    empty data volume (official and offline image), which provides docker_process_sql. Sourced,
#    so no `exit` and no shell options here.
# 2) A stack whose database was initialised before this script was mounted has no account yet:
#      docker compose exec mysql bash /docker-entrypoint-initdb.d/20-bench-user.sh
#    Then it logs in as root over the local socket (mysql-initdb-sql.sh).
#    `--help` prints this text.
bench_user_main() {
  local pw_file=${BENCH_PASSWORD_FILE:-/run/stack-secrets/mysql/bench_password}
  local pw stmts
  if [[ ${1:-} == --help || ${1:-} == -h ]]; then
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    return 0
  fi
  if [[ ! -s $pw_file ]]; then
    echo "initdb: $pw_file missing, no bench account (secrets-init predates the bench profile?)" >&2
    return 0
  fi
  pw=$(head -n 1 "$pw_file")
  # Generated passwords are [A-Za-z0-9] (init-secrets.sh); refuse anything that would need quoting.
  if [[ ! $pw =~ ^[A-Za-z0-9]+$ ]]; then
    echo "initdb: $pw_file must hold letters and digits only; no bench account" >&2
    return 1
  fi
  # The privileges sysbench's prepare/run/cleanup and oltp.sh's schema checks use, on sbtest only:
  # CREATE/DROP on the schema level also allow CREATE/DROP DATABASE sbtest. Connections capped so a
  # big thread sweep cannot take the app replicas' connections (server max_connections 200).
  stmts="CREATE USER IF NOT EXISTS 'bench'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 64;
ALTER USER 'bench'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 64;
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON \`sbtest\`.* TO 'bench'@'%';"
  # zufang_sql: mysql-initdb-sql.sh (sourced by the entrypoint first, or here when run by hand).
  # shellcheck source=scripts/images/runtime/mysql-initdb-sql.sh
  declare -F zufang_sql >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/00-zufang-sql.sh" || return 1
  zufang_sql <<<"$stmts" || return 1
  echo "initdb: bench account ready (schema sbtest only)"
}
bench_user_main "$@"
