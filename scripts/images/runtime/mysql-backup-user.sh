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
#    Without docker_process_sql it logs in as root over the local socket with the root password
#    from the secrets volume (an option file on a pipe: the password is never an argument).
#    `--help` prints this text.
backup_user_main() {
  local pw_file=${BACKUP_PASSWORD_FILE:-/run/stack-secrets/mysql/backup_password}
  local root_pw_file=${ROOT_PASSWORD_FILE:-/run/stack-secrets/mysql/root_password}
  local datadir=${DATADIR:-/var/lib/mysql}
  local pw stmts
  if [[ ${1:-} == --help || ${1:-} == -h ]]; then
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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
  if declare -F docker_process_sql >/dev/null; then
    docker_process_sql <<<"$stmts" || return 1
  else
    local client=mariadb
    command -v mariadb >/dev/null 2>&1 || client=mysql
    [[ -r $root_pw_file ]] || { echo "initdb: cannot read $root_pw_file (run as root in the mysql container)" >&2; return 1; }
    "$client" --defaults-extra-file=<(printf '[client]\nuser=root\npassword="%s"\n' "$(head -n 1 "$root_pw_file")") \
      --protocol=socket <<<"$stmts" || return 1
  fi
  echo "initdb: backup account ready"
}
backup_user_main "$@"
