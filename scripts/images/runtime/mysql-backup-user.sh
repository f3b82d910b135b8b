#!/bin/bash
# The MariaDB account of the `backup` service (scripts/images/backup): `backup`, with what
# mariadb-backup (RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR) and a binlog stream (REPLICATION
# SLAVE) need and nothing else (no SELECT: the backup copies files, not rows). Also writes the
# datadir's timeline id (zufang-timeline) when it has none: the backup service files each datadir
# life's binlog copies under it. Idempotent.
#
# 1) /docker-entrypoint-initdb.d script: sourced by the MariaDB entrypoint on the first start of an
#    empty data volume (official and offline image), which provides docker_process_sql. Sourced,
#    so no `exit` and no shell options here.
# 2) A stack whose database was initialised before this script was mounted:
#      docker compose exec mysql bash /docker-entrypoint-initdb.d/30-backup-user.sh
#    Then it logs in as root over the local socket (mysql-initdb-sql.sh).
#    `--help` prints this text.
backup_user_main() {
  local pw_file=${BACKUP_PASSWORD_FILE:-/run/stack-secrets/mysql/backup_password}
  local datadir=${DATADIR:-/var/lib/mysql}
  local pw stmts
  if [[ ${1:-} == --help || ${1:-} == -h ]]; then
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    return 0
  fi
  if [[ ! -s $datadir/zufang-timeline ]]; then
    echo "t$(date -u +%Y%m%dT%H%M%SZ)" > "$datadir/zufang-timeline"
    echo "initdb: timeline $(cat "$datadir/zufang-timeline")"
  fi
  if [[ ! -s $pw_file ]]; then
    echo "initdb: $pw_file missing, no backup account (secrets-init predates the backup service?)" >&2
    return 0
  fi
  pw=$(head -n 1 "$pw_file")
  if [[ ! $pw =~ ^[A-Za-z0-9]+$ ]]; then
    echo "initdb: $pw_file must hold letters and digits only; no backup account" >&2
    return 1
  fi
  stmts="CREATE USER IF NOT EXISTS 'backup'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 10;
ALTER USER 'backup'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 10;
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO 'backup'@'%';"
  # zufang_sql: mysql-initdb-sql.sh (sourced by the entrypoint first, or here when run by hand).
  # shellcheck source=scripts/images/runtime/mysql-initdb-sql.sh
  declare -F zufang_sql >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/00-zufang-sql.sh" || return 1
  zufang_sql <<<"$stmts" || return 1
  echo "initdb: backup account ready"
}
backup_user_main "$@"
