#!/bin/bash
# Initialise /var/lib/mysql on first start like the official mariadb image, then run the server.
set -euo pipefail

file_env() { # VAR: take VAR or the contents of the file named by VAR_FILE
  local var=$1 file_var="${1}_FILE"
  if [[ -n ${!file_var:-} ]]; then
    [[ -n ${!var:-} ]] && { echo "entrypoint: both $var and $file_var are set" >&2; exit 1; }
    export "$var"="$(< "${!file_var}")"
  fi
}

if [[ ${1:-} == mariadbd || ${1:-} == mysqld ]]; then
  [[ $(id -u) == 0 ]] && chown -R mysql:mysql /var/lib/mysql /run/mysqld
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    file_env MARIADB_ROOT_PASSWORD
    file_env MARIADB_PASSWORD
    : "${MARIADB_ROOT_PASSWORD:?entrypoint: MARIADB_ROOT_PASSWORD or _FILE is required}"
    echo "entrypoint: initialising the data directory"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal \
      --skip-test-db > /dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    for _ in $(seq 1 60); do
      mariadb-admin --socket=/run/mysqld/init.sock ping > /dev/null 2>&1 && break
      sleep 1
    done
    sql() { mariadb --protocol=socket --socket=/run/mysqld/init.sock -uroot "$@"; }
    # The official image offers this helper to *.sh init scripts.
    docker_process_sql() { sql "$@"; }
    esc() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
    {
      echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(esc "$MARIADB_ROOT_PASSWORD")';"
      # MARIADB_ROOT_HOST as the official image: default '%'; "localhost" = no network root.
      if [[ ${MARIADB_ROOT_HOST:-%} != localhost ]]; then
        echo "CREATE USER 'root'@'$(esc "${MARIADB_ROOT_HOST:-%}")' IDENTIFIED BY '$(esc "$MARIADB_ROOT_PASSWORD")';"
        echo "GRANT ALL ON *.* TO 'root'@'$(esc "${MARIADB_ROOT_HOST:-%}")' WITH GRANT OPTION;"
      fi
      if [[ -n ${MARIADB_DATABASE:-} ]]; then
        echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;"
      fi
      if [[ -n ${MARIADB_USER:-} && -n ${MARIADB_PASSWORD:-} ]]; then
        echo "CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '$(esc "$MARIADB_PASSWORD")';"
        [[ -n ${MARIADB_DATABASE:-} ]] && echo "GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';"
      fi
      echo "FLUSH PRIVILEGES;"
    } | sql
    export MYSQL_PWD=$MARIADB_ROOT_PASSWORD
    for f in /docker-entrypoint-initdb.d/*; do
      case $f in
        *.sh)
          echo "entrypoint: running $f"
          # shellcheck disable=SC1090 # the user's init scripts, sourced like the official image does
          . "$f" ;;
        *.sql) echo "entrypoint: running $f"; sql < "$f" ;;
        *.sql.gz) echo "entrypoint: running $f"; gunzip -c "$f" | sql ;;
      esac
    done
    unset MYSQL_PWD
    kill "$pid"; wait "$pid" || true
    echo "entrypoint: initialisation done"
  fi
  exec "$@" --user=mysql
fi
exec "$@"
