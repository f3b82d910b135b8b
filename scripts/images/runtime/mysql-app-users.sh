#!/bin/bash
# The application's MariaDB accounts, least privilege (compose.yaml mounts this as
# /docker-entrypoint-initdb.d/05-app-users.sh, after the entrypoint created MARIADB_USER):
#   zufang_migrate  every privilege on `zufang` (DDL): the `migrate` one-shot only.
#   zufang          SELECT, INSERT, UPDATE, DELETE on `zufang`: the app replicas at runtime, so a
#                   compromised replica can neither change the schema nor drop a table.
# and no root login over the network (root@'%' dropped: root only over the local socket).
# Idempotent.
#
# 1) /docker-entrypoint-initdb.d script: sourced on the first start of an empty data volume
#    (official and offline image), which provides docker_process_sql. Sourced, so no `exit`.
# 2) A database initialised by an earlier release (app account with ALL, no migrate account):
#      docker compose exec mysql bash /docker-entrypoint-initdb.d/05-app-users.sh
#    Then it logs in as root over the local socket (mysql-initdb-sql.sh).
#    `--help` prints this text.
app_users_main() {
  local pw_file=${MIGRATE_PASSWORD_FILE:-/run/stack-secrets/mysql/migrate_password}
  local db=${MARIADB_DATABASE:-zufang} app=${MARIADB_USER:-zufang} pw stmts
  if [[ ${1:-} == --help || ${1:-} == -h ]]; then
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    return 0
  fi
  if [[ ! -s $pw_file ]]; then
    echo "initdb: $pw_file missing, no migrate account (secrets-init predates it?)" >&2
    return 1
  fi
  pw=$(head -n 1 "$pw_file")
  # Generated passwords are [A-Za-z0-9] (init-secrets.sh); refuse anything that would need quoting.
  if [[ ! $pw =~ ^[A-Za-z0-9]+$ || ! $db =~ ^[A-Za-z0-9_]+$ || ! $app =~ ^[A-Za-z0-9_]+$ ]]; then
    echo "initdb: the migrate password, database and user names must be letters, digits (and _)" >&2
    return 1
  fi
  stmts="CREATE USER IF NOT EXISTS '${app}_migrate'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 4;
ALTER USER '${app}_migrate'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 4;
GRANT ALL PRIVILEGES ON \`${db}\`.* TO '${app}_migrate'@'%';
REVOKE ALL PRIVILEGES, GRANT OPTION FROM '${app}'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db}\`.* TO '${app}'@'%';
DROP USER IF EXISTS 'root'@'%';"
  # zufang_sql: mysql-initdb-sql.sh (sourced by the entrypoint first, or here when run by hand).
  # shellcheck source=scripts/images/runtime/mysql-initdb-sql.sh
  declare -F zufang_sql >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/00-zufang-sql.sh" || return 1
  zufang_sql <<<"$stmts" || return 1
  echo "initdb: accounts ready (${app}: DML on ${db}; ${app}_migrate: DDL; root: local socket only)"
}
app_users_main "$@"
