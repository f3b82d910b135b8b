#!/usr/bin/env bash
# Entrypoint of the offline zabbix-web image: check the database settings, then run Apache with
# mod_php (the Zabbix 6.0 front end) in the foreground on :8080. zabbix.conf.php reads the
# official zabbix-web-*-mysql variables on each request: DB_SERVER_HOST (mysql-server),
# DB_SERVER_PORT (3306), MYSQL_DATABASE (zabbix), MYSQL_USER[_FILE] (zabbix),
# MYSQL_PASSWORD[_FILE], ZBX_SERVER_HOST (zabbix-server), ZBX_SERVER_PORT (10051), ZBX_SERVER_NAME.
# PHP/Apache: PHP_TZ (UTC), ZBX_MEMORYLIMIT (128M), ZBX_POSTMAXSIZE (16M), ZBX_UPLOADMAXFILESIZE
# (2M), ZBX_MAXEXECUTIONTIME (300), ZBX_MAXINPUTTIME (300), ZBX_WEB_WORKERS (5).
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
log() { echo "zabbix-web-entrypoint: $*" >&2; }
for v in MYSQL_USER MYSQL_PASSWORD; do
  f="${v}_FILE"
  if [[ -n ${!f:-} ]]; then
    [[ -n ${!v:-} ]] && { log "both $v and $f are set"; exit 1; }
    [[ -r ${!f} ]] || { log "$f=${!f} is not readable by uid $(id -u)"; exit 1; }
  fi
done
[[ -n ${MYSQL_PASSWORD:-} || -n ${MYSQL_PASSWORD_FILE:-} ]] || { log "set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE"; exit 1; }
export PHP_TZ="${PHP_TZ:-UTC}" ZBX_MEMORYLIMIT="${ZBX_MEMORYLIMIT:-128M}" \
  ZBX_POSTMAXSIZE="${ZBX_POSTMAXSIZE:-16M}" ZBX_UPLOADMAXFILESIZE="${ZBX_UPLOADMAXFILESIZE:-2M}" \
  ZBX_MAXEXECUTIONTIME="${ZBX_MAXEXECUTIONTIME:-300}" ZBX_MAXINPUTTIME="${ZBX_MAXINPUTTIME:-300}" \
  ZBX_WEB_WORKERS="${ZBX_WEB_WORKERS:-5}" ZBX_WEB_SERVER_NAME="${ZBX_WEB_SERVER_NAME:-zabbix-web}"
# A stale pid file from a previous run of this container would stop Apache from starting.
rm -f /run/zabbix-web/httpd.pid
log "front end for ${MYSQL_DATABASE:-zabbix} on ${DB_SERVER_HOST:-mysql-server}:${DB_SERVER_PORT:-3306}, server ${ZBX_SERVER_HOST:-zabbix-server}:${ZBX_SERVER_PORT:-10051}, listening on :8080"
exec apache2 -f /etc/zufang-zabbix-web/httpd.conf -DFOREGROUND "$@"
