#!/usr/bin/env bash
# Entrypoint of the offline zabbix-server image, with the official zabbix-server-mysql image's
# variables: write zabbix_server.conf, wait for the database, import Debian's 6.0 schema when the
# database is empty (or holds a half-finished import), then run zabbix_server in the foreground.
#   DB_SERVER_HOST (mysql-server), DB_SERVER_PORT (3306), MYSQL_DATABASE (zabbix),
#   MYSQL_USER[_FILE] (zabbix), MYSQL_PASSWORD[_FILE] (required),
#   ZBX_<OPTION>=value for any zabbix_server.conf option (ZBX_STARTPOLLERS=3, ZBX_CACHESIZE=64M,
#   ZBX_ALLOWUNSUPPORTEDDBVERSIONS=1 ...), DB_WAIT_SECONDS (120), ZBX_CONFIG (/run/zabbix/zabbix_server.conf)
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
log() { echo "zabbix-server-entrypoint: $*" >&2; }

file_env() { # VAR DEFAULT: VAR, else the content of the file named by VAR_FILE, else DEFAULT
  local var=$1 file_var="${1}_FILE"
  if [[ -n ${!file_var:-} ]]; then
    [[ -n ${!var:-} ]] && { log "both $var and $file_var are set"; exit 1; }
    [[ -r ${!file_var} ]] || { log "$file_var=${!file_var} is not readable by uid $(id -u)"; exit 1; }
    printf -v "$var" '%s' "$(tr -d '\r\n' < "${!file_var}")"
  fi
  [[ -n ${!var:-} ]] || printf -v "$var" '%s' "${2:-}"
}
: "${DB_SERVER_HOST:=mysql-server}" "${DB_SERVER_PORT:=3306}" "${MYSQL_DATABASE:=zabbix}"
: "${DB_WAIT_SECONDS:=120}" "${ZBX_CONFIG:=/run/zabbix/zabbix_server.conf}"
file_env MYSQL_USER zabbix
file_env MYSQL_PASSWORD
[[ -n $MYSQL_PASSWORD ]] || { log "set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE"; exit 1; }

# --- configuration: ours first, then every ZBX_<OPTION> the package's config file documents ---
# (the official image maps a fixed list of ZBX_* names the same way; an unknown name is refused
# so a typo does not silently keep a default).
defaults=/etc/zabbix/zabbix_server.conf
mapfile -t options < <(sed -n 's/^### Option: \([A-Za-z]*\)$/\1/p' "$defaults")
umask 077
{
  echo "# Written by zabbix-server-entrypoint.sh at start; edit the environment, not this file."
  echo "LogType=console"
  echo "PidFile=/run/zabbix/zabbix_server.pid"
  echo "SocketDir=/run/zabbix"
  echo "DBHost=$DB_SERVER_HOST"
  echo "DBPort=$DB_SERVER_PORT"
  echo "DBName=$MYSQL_DATABASE"
  echo "DBUser=$MYSQL_USER"
  echo "DBPassword=$MYSQL_PASSWORD"
  echo "FpingLocation=/usr/bin/fping"
  while IFS='=' read -r name value; do
    key=${name#ZBX_}
    [[ $key == CONFIG ]] && continue
    # The official image's one name that is not the option's (StartIPMIPollers).
    [[ $key == IPMIPOLLERS ]] && key=STARTIPMIPOLLERS
    match=""
    for o in "${options[@]}"; do [[ ${o^^} == "$key" ]] && { match=$o; break; }; done
    [[ -n $match ]] || { log "$name: no zabbix_server.conf option $key"; exit 1; }
    case ${match^^} in DBHOST|DBPORT|DBNAME|DBUSER|DBPASSWORD|LOGTYPE|PIDFILE|SOCKETDIR)
      log "$name: set through DB_SERVER_*/MYSQL_* or fixed by the image"; exit 1 ;; esac
    echo "$match=$value"
  done < <(env | grep -E '^ZBX_[A-Z0-9_]+=' | sort)
} > "$ZBX_CONFIG"

# --- database: wait, then import unless a complete schema is there -----------------------------
# The password reaches the client through the environment, not the command line (visible in ps).
export MYSQL_PWD=$MYSQL_PASSWORD
my=(mariadb --protocol=tcp -h "$DB_SERVER_HOST" -P "$DB_SERVER_PORT" -u "$MYSQL_USER" --connect-timeout=3 "$MYSQL_DATABASE")
for ((i = 0; ; i += 2)); do
  "${my[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break
  (( i < DB_WAIT_SECONDS )) || { log "database $MYSQL_DATABASE on $DB_SERVER_HOST:$DB_SERVER_PORT not reachable in ${DB_WAIT_SECONDS}s"; "${my[@]}" -e 'SELECT 1' || true; exit 1; }
  sleep 2
done
tables=$("${my[@]}" -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()")
# data.sql is one transaction and creates the users: users present = the import finished.
users=$("${my[@]}" -N -e "SELECT COUNT(*) FROM users" 2>/dev/null || echo 0)
if (( tables > 0 && users > 0 )); then
  log "database $MYSQL_DATABASE holds a Zabbix schema ($tables tables): no import"
else
  if (( tables > 0 )); then
    # An import interrupted by a restart: start over rather than run on half a schema.
    log "database $MYSQL_DATABASE holds $tables tables but no users (interrupted import): dropping them"
    "${my[@]}" -N -e "SELECT CONCAT('DROP TABLE \`', table_name, '\`;') FROM information_schema.tables WHERE table_schema = DATABASE()" |
      { echo 'SET FOREIGN_KEY_CHECKS=0;'; cat; } | "${my[@]}"
  fi
  log "importing the Zabbix $(zabbix_server -V | sed -n '1s/.*(Zabbix) //p') schema into $MYSQL_DATABASE"
  t0=$SECONDS
  for f in schema images data; do
    # data.sql has ~130k one-row INSERTs: merged into multi-row INSERTs of the same table (~1 MB),
    # the import takes seconds instead of minutes of client round trips.
    zcat "/usr/share/zabbix-server-mysql/$f.sql.gz" | awk '
      function flush() { if (n) print prefix rows ";"; n = 0; rows = ""; size = 0 }
      /^INSERT INTO [^ ]+ \([^)]*\) values \(.*\);[[:space:]]*$/ {
        p = $0; sub(/ values \(.*$/, " values ", p)
        r = substr($0, length(p) + 1); sub(/;[[:space:]]*$/, "", r)
        if (p != prefix || size > 1048576) { flush(); prefix = p }
        rows = rows (n++ ? ",\n" : "") r; size += length(r); next
      }
      { flush(); print }
      END { flush() }' | "${my[@]}"
  done
  log "schema imported in $((SECONDS - t0))s"
fi
unset MYSQL_PWD MYSQL_PASSWORD
exec zabbix_server -f -c "$ZBX_CONFIG" "$@"
