#!/usr/bin/env bash
# Entrypoint of the offline server image: write zabbix_server.conf from the official image's
# variables (DB_SERVER_HOST, DB_SERVER_PORT, MYSQL_USER, MYSQL_PASSWORD or MYSQL_PASSWORD_FILE,
# MYSQL_DATABASE), import Debian's schema into an empty database, then run in the foreground.
#   server-entrypoint.sh           (no arguments)
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
: "${DB_SERVER_HOST:=mysql}" "${DB_SERVER_PORT:=3306}" "${MYSQL_USER:=zabbix}" "${MYSQL_DATABASE:=zabbix}"
if [[ -n ${MYSQL_PASSWORD_FILE:-} ]]; then MYSQL_PASSWORD=$(tr -d '\r\n' < "$MYSQL_PASSWORD_FILE"); fi
: "${MYSQL_PASSWORD:?set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE}"
conf=/run/zabbix/zabbix_server.conf
umask 077
cat > "$conf" <<CONF
LogType=console
PidFile=/run/zabbix/zabbix_server.pid
SocketDir=/run/zabbix
DBHost=$DB_SERVER_HOST
DBPort=$DB_SERVER_PORT
DBName=$MYSQL_DATABASE
DBUser=$MYSQL_USER
DBPassword=$MYSQL_PASSWORD
# Debian bookworm's MariaDB 10.11 is newer than the newest 6.0.14 accepts (10.10).
AllowUnsupportedDBVersions=1
FpingLocation=/usr/bin/fping
CONF
# The client reads the password from the environment: not on a command line visible in ps.
export MYSQL_PWD=$MYSQL_PASSWORD
my=(mariadb -h "$DB_SERVER_HOST" -P "$DB_SERVER_PORT" -u "$MYSQL_USER" "$MYSQL_DATABASE")
for _ in $(seq 1 60); do "${my[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 2; done
if ! "${my[@]}" -N -e 'SELECT mandatory FROM dbversion' >/dev/null 2>&1; then
  echo "server-entrypoint: importing the Zabbix schema into $MYSQL_DATABASE" >&2
  for f in schema images data; do zcat "/usr/share/zabbix-server-mysql/$f.sql.gz" | "${my[@]}"; done
fi
unset MYSQL_PWD MYSQL_PASSWORD
exec zabbix_server -f -c "$conf"
