#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq programs in single quotes on purpose: $v is a jq variable
# Prove the Zabbix side against a real Zabbix 6.0 server (Debian's zabbix-server-mysql,
# zabbix-frontend-php, zabbix-agent2): import the templates through the JSON-RPC API, create hosts
# for a real zufang replica (scripts/ci/app-instance.sh), two edge nodes (a real nginx with
# stub_status + keepalived state files in the notify script's format), the VRRP pair, MariaDB and
# Redis, then assert that items receive values and that triggers change state when their condition
# is created. Each UserParameter and plugin session is also run directly with `zabbix_agent2 -t`.
#   monitoring/zabbix/tests/run.sh            run everything (installs packages as needed; root)
#   ZBX_FRESH_SCHEMA=1 .../run.sh             re-import the Zabbix schema instead of reusing it
#   ZBX_KEEP=1 .../run.sh                     leave server/front end/agent running for a look
# Ports (127.0.0.1): front end 19101, nginx 19102, server 19103, agent 19104, app 19110,
# a closed port 19105 for the "down" checks. Ends with "N passed, M failed".
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
: "${ZBX_WEB_PORT:=19101}" "${ZBX_NGINX_PORT:=19102}" "${ZBX_SERVER_PORT:=19103}"
: "${ZBX_AGENT_PORT:=19104}" "${ZBX_DEAD_PORT:=19105}" "${ZBX_APP_PORT:=19110}"
: "${ZBX_WAIT:=150}"
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (installs packages, creates MariaDB accounts)" >&2; exit 2; }
# shellcheck disable=SC1091
source "$HERE/lib.sh"

# php8.2-cli/-cgi satisfy the front end's "php" dependency, so apt does not pull in apache2.
"$ROOT/scripts/ci/apt.sh" zabbix-server-mysql zabbix-frontend-php zabbix-agent2 \
  php8.2-cli php8.2-cgi php8.2-mysql nginx curl jq shellcheck python3

passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   - %s\n' "$*"; }
nok() { failed=$((failed + 1)); printf 'FAIL - %s\n' "$*"; }
check() { # description command...
  local d=$1; shift
  if "$@"; then ok "$d"; else nok "$d"; fi
}
summary() { echo "$passed passed, $failed failed"; }

for p in "$ZBX_WEB_PORT" "$ZBX_NGINX_PORT" "$ZBX_SERVER_PORT" "$ZBX_AGENT_PORT" "$ZBX_DEAD_PORT" "$ZBX_APP_PORT"; do
  port_free "$p" || { echo "run.sh: port $p on 127.0.0.1 is in use (another run?)" >&2; nok "port $p free"; summary; exit 1; }
done

RUN_DIR=$(mktemp -d /tmp/zufang-zabbix.XXXXXX)
chmod 755 "$RUN_DIR"
app_started=0
cleanup() {
  if [[ ${ZBX_KEEP:-0} == 1 ]]; then log "ZBX_KEEP=1: left running, state in $RUN_DIR"; return; fi
  if [[ $app_started == 1 ]]; then "$ROOT/scripts/ci/app-instance.sh" stop zabbix >/dev/null 2>&1 || true; fi
  stop_all
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
started=$(date +%s)

# The app instance may need a cargo build: start it now, in the background, and collect it
# after the server is up.
app_url="http://127.0.0.1:$ZBX_APP_PORT"
app_start_pid=
if [[ -x $ROOT/scripts/ci/app-instance.sh ]]; then
  log "starting a zufang instance on 127.0.0.1:$ZBX_APP_PORT in the background (scripts/ci/app-instance.sh)"
  "$ROOT/scripts/ci/app-instance.sh" start zabbix "$ZBX_APP_PORT" >"$RUN_DIR/app-start.log" 2>&1 &
  app_start_pid=$!
  app_started=1   # so that cleanup stops it even if the start is still under way
fi

# --- static --------------------------------------------------------------------------------
log "static checks"
check "shellcheck: agent scripts and test scripts" \
  shellcheck -x "$HERE/run.sh" "$HERE/lib.sh" "$HERE"/../agent2/scripts/*.sh "$HERE/../agent2/render-secrets.sh" \
  "$ROOT"/monitoring/zabbix/images/*.sh
for f in "$HERE"/../agent2/scripts/*.sh "$HERE/../agent2/render-secrets.sh" "$ROOT"/monitoring/zabbix/images/*.sh "$HERE/run.sh"; do
  check "--help works: ${f#"$ROOT"/}" bash -c "bash '$f' --help >/dev/null"
done
check "--help works: batch-inserts.py" bash -c "python3 '$HERE/batch-inserts.py' --help >/dev/null"
# Every UserParameter points at a script that exists in the repository.
up_scripts_exist() {
  local s
  while read -r s; do
    [[ -x "$HERE/../agent2/scripts/$(basename "$s")" ]] || { log "missing $s"; return 1; }
  done < <(grep -o '/usr/local/lib/zufang-zabbix/[a-z-]*\.sh' "$HERE/../agent2/zabbix_agent2.d/zufang.conf")
}
check "UserParameter scripts exist" up_scripts_exist
no_inline_password() { ! grep -rqiE --include='*.conf' '^[^#]*Password=.' "$HERE/../agent2"; }
check "no password inline in the agent config" no_inline_password

# --- agent 2, directly ---------------------------------------------------------------------
eval "$("$ROOT/scripts/ci/services.sh" --env)"
monitor_account
agent_config
"$HERE/../agent2/render-secrets.sh" "$RUN_DIR/secrets" "$RUN_DIR/agent2/secrets.d"
rendered_ok() {
  local f="$RUN_DIR/agent2/secrets.d/plugin-secrets.conf"
  [[ $(stat -c %a "$f") == 600 ]] &&
    grep -qx "Plugins.Mysql.Sessions.zufang.Password=$(cat "$RUN_DIR/secrets/zabbix_mysql_password")" "$f"
}
check "render-secrets.sh writes the MySQL session password, mode 0600" rendered_ok

agent_t() { # key -> value printed by `zabbix_agent2 -t` ("[s|VALUE]")
  zabbix_agent2 -c "$RUN_DIR/agent2/zabbix_agent2.conf" -t "$1" 2>/dev/null |
    sed -n 's/^.*\[[a-z]|\(.*\)\]$/\1/p'
}
expect_t() { # key expected
  local v; v=$(agent_t "$1")
  [[ $v == "$2" ]] || { log "agent2 -t $1 gave '$v', expected '$2'"; return 1; }
}
st="$RUN_DIR/state"; mkdir -p "$st"
log "agent 2 UserParameters and plugins (zabbix_agent2 -t)"
for s in MASTER BACKUP FAULT; do
  echo "$s" > "$st/lb1.state"
  check "keepalived.state reads $s" expect_t "zufang.keepalived.state[lb1,$st]" "$s"
done
printf 'MASTER\n\n' > "$st/lb1.state"
check "keepalived.state tolerates a trailing newline" expect_t "zufang.keepalived.state[lb1,$st]" MASTER
echo "garbage" > "$st/lb1.state"
check "keepalived.state: invalid content -> UNKNOWN" expect_t "zufang.keepalived.state[lb1,$st]" UNKNOWN
check "keepalived.state: missing file -> UNKNOWN" expect_t "zufang.keepalived.state[nosuch,$st]" UNKNOWN
check "keepalived.state: path-like node name -> UNKNOWN" expect_t "zufang.keepalived.state[..,$st]" UNKNOWN
check "app healthz: nothing listening -> 0" expect_t "zufang.app.healthz[http://127.0.0.1:$ZBX_DEAD_PORT/healthz]" 0
check "app readyz: nothing listening -> 0" expect_t "zufang.app.readyz[http://127.0.0.1:$ZBX_DEAD_PORT/readyz]" 0
check "mysql.ping through session zufang (password from the rendered file) -> 1" expect_t 'mysql.ping["zufang"]' 1
check "redis.ping through session zufang -> 1" expect_t 'redis.ping["zufang"]' 1
check "mysql.ping of a closed port -> 0" expect_t "mysql.ping[tcp://127.0.0.1:$ZBX_DEAD_PORT]" 0
check "redis.ping of a closed port -> 0" expect_t "redis.ping[tcp://127.0.0.1:$ZBX_DEAD_PORT]" 0

# --- server, front end, API -----------------------------------------------------------------
log "Zabbix server + front end"
db_prepare
if server_start; then ok "zabbix_server started"; else nok "zabbix_server started"; summary; exit 1; fi
if frontend_start && api_login; then ok "JSON-RPC API login"; else nok "JSON-RPC API login"; summary; exit 1; fi
# Our own hosts and templates from an earlier run go first, so the import below creates them anew.
old_hosts=$(zbx_api host.get '{"output":["hostid"],"search":{"host":"zci-"},"startSearch":true}' | jq -c '[.[].hostid]')
[[ $old_hosts != '[]' ]] && zbx_api host.delete "$old_hosts" >/dev/null
old_tpl=$(zbx_api template.get '{"output":["templateid"],"search":{"host":"zufang "},"startSearch":true}' | jq -c '[.[].templateid]')
[[ $old_tpl != '[]' ]] && zbx_api template.delete "$old_tpl" >/dev/null
# The schema's own "Zabbix server" host polls an agent on 10050 that is not ours.
zbx_api host.update '{"hostid":"10084","status":1}' >/dev/null || true

for f in "$HERE"/../templates/*.yaml; do
  if [[ $(zbx_import "$f") == true ]]; then ok "configuration.import ${f##*/}"; else nok "configuration.import ${f##*/}"; fi
done
tpl_names='["zufang by HTTP","zufang app by Zabbix agent 2","zufang data by Zabbix agent 2","zufang edge by Zabbix agent 2","zufang edge pair"]'
tpls=$(zbx_api template.get "$(jq -n --argjson h "$tpl_names" '{output:["host"],filter:{host:$h},selectItems:"count",selectTriggers:"count",selectGraphs:"count",selectDashboards:"count",selectDiscoveries:"count"}')")
check "all 5 templates exist after import" test "$(jq length <<<"$tpls")" = 5
http_tpl_complete() {
  jq -e '.[] | select(.host=="zufang by HTTP") | (.items|tonumber) >= 15 and (.triggers|tonumber) >= 6
    and (.graphs|tonumber) >= 4 and (.dashboards|tonumber) >= 1 and (.discoveries|tonumber) == 1' <<<"$tpls" >/dev/null
}
check "zufang by HTTP has items, triggers, graphs, a dashboard and the bucket discovery" http_tpl_complete
if [[ -n $app_start_pid ]] && wait "$app_start_pid"; then
  ok "zufang instance started"; cat "$RUN_DIR/app-start.log" >&2
else
  app_started=0
  nok "zufang instance started (scripts/ci/app-instance.sh missing or failed; .cache/app-zabbix.log)"
  cat "$RUN_DIR/app-start.log" >&2 2>/dev/null || true
fi
if [[ $app_started == 1 ]]; then
  check "app healthz of the real replica -> 1" expect_t "zufang.app.healthz[$app_url/healthz]" 1
  readyz_ok() { local v; v=$(agent_t "zufang.app.readyz[$app_url/readyz]"); [[ $v == 2 || $v == 1 ]]; }
  check "app readyz of the real replica -> 2 (ready) or 1 (degraded)" readyz_ok
fi
# The templates ship production defaults (equal to the Prometheus rules); test values live on
# the test hosts only.
tpl_macro() { # TEMPLATE MACRO -> value (hostids: usermacro.get's templateids means "hosts linked to")
  zbx_api usermacro.get "$(jq -n --arg t "$(jq -r --arg n "$1" '.[] | select(.host==$n) | .templateid' <<<"$tpls")" \
    --arg m "$2" '{output:["value"],hostids:[$t],filter:{macro:$m}}')" | jq -r '.[0].value // empty'
}
prod_defaults() {
  local spec t m want got bad=0
  for spec in "zufang by HTTP|{\$ZUFANG.DOWN.NODATA}|2m" "zufang by HTTP|{\$ZUFANG.METRICS.INTERVAL}|30s" \
      "zufang by HTTP|{\$ZUFANG.5XX.RATIO.MAX.WARN}|1" "zufang by HTTP|{\$ZUFANG.5XX.RATIO.MAX.HIGH}|5" \
      "zufang by HTTP|{\$ZUFANG.P99.MAX.WARN}|0.25" "zufang by HTTP|{\$ZUFANG.P99.MAX.HIGH}|1" \
      "zufang by HTTP|{\$ZUFANG.REQUESTS.RATE.MIN}|0.2" "zufang edge pair|{\$KEEPALIVED.PAIR.PERIOD}|1m" \
      "zufang data by Zabbix agent 2|{\$ZUFANG.DATA.DOWN.PERIOD}|1m" \
      "zufang edge by Zabbix agent 2|{\$KEEPALIVED.STATE.DIR}|/var/lib/keepalived/state"; do
    IFS='|' read -r t m want <<<"$spec"
    got=$(tpl_macro "$t" "$m")
    [[ $got == "$want" ]] || { log "$t $m = '$got', expected '$want'"; bad=1; }
  done
  return "$bad"
}
check "templates ship the production defaults (Prometheus thresholds and periods)" prod_defaults
tid() { jq -r --arg n "$1" '.[] | select(.host==$n) | .templateid' <<<"$tpls"; }

# --- hosts -----------------------------------------------------------------------------------
# mkhost NAME GROUP "TEMPLATE;TEMPLATE" MACROS_JSON_OBJECT AGENT(0|1)
mkhost() {
  local params
  params=$(jq -n --arg h "$1" --arg g "$(zbx_group_id "$2")" --argjson m "$4" --arg port "$ZBX_AGENT_PORT" \
    --argjson tids "$(IFS=';'; for t in $3; do tid "$t"; done | jq -R . | jq -s 'map({templateid:.})')" \
    --argjson agent "$5" '{host:$h, groups:[{groupid:$g}], templates:$tids,
      macros: ($m | to_entries | map({macro:("{$" + .key + "}"), value:.value})),
      interfaces: (if $agent == 1 then [{type:1, main:1, useip:1, ip:"127.0.0.1", dns:"", port:$port}] else [] end)}')
  zbx_api host.create "$params" | jq -r '.hostids[0]'
}
log "creating hosts (short intervals via host macros; the templates keep production defaults)"
if nginx_start; then ok "nginx with stub_status started"; else nok "nginx with stub_status started"; fi
if agent_start; then ok "zabbix_agent2 started on 127.0.0.1:$ZBX_AGENT_PORT"; else nok "zabbix_agent2 started"; fi
echo MASTER > "$st/zci-lb1.state"
echo BACKUP > "$st/zci-lb2.state"
edge_group="zufang-ci/lb"
app_macros=$(jq -n --arg u "$app_url" '{"ZUFANG.METRICS.URL":($u+"/metrics"),"ZUFANG.METRICS.INTERVAL":"5s",
  "ZUFANG.DOWN.NODATA":"30s","ZUFANG.P99.WINDOW":"1m","ZUFANG.HEALTHZ.URL":($u+"/healthz"),
  "ZUFANG.READYZ.URL":($u+"/readyz"),"ZUFANG.PROBE.INTERVAL":"5s","ZUFANG.PROBE.PERIOD":"15s",
  "ZUFANG.P99.MAX.WARN":"0.0000001","ZUFANG.P99.PERIOD.WARN":"15s",
  "ZUFANG.5XX.RATIO.MAX.WARN":"-1","ZUFANG.5XX.PERIOD":"15s",
  "ZUFANG.DB.POOL.UTIL.MAX.WARN":"-1","ZUFANG.DB.POOL.PERIOD":"15s"}')
# The warning thresholds (p99, 5xx ratio, DB pool) are lowered below the real values so that their
# triggers must fire from real data; the high-severity ones keep production thresholds and must
# stay OK (the app answers no 5xx, and p99 stays under 1 s).
lb_macros=$(jq -n --arg p "$ZBX_NGINX_PORT" --arg d "$st" '{"NGINX.STUB_STATUS.URL":("http://127.0.0.1:"+$p+"/stub_status"),
  "NGINX.STUB_STATUS.INTERVAL":"5s","NGINX.DOWN.NODATA":"30s","KEEPALIVED.STATE.DIR":$d,"KEEPALIVED.INTERVAL":"5s","KEEPALIVED.FAULT.PERIOD":"10s"}')
hosts_ok=1
mkhost zci-app1 zufang-ci/app "zufang by HTTP;zufang app by Zabbix agent 2" "$app_macros" 1 >/dev/null || hosts_ok=0
mkhost zci-lb1 "$edge_group" "zufang edge by Zabbix agent 2" "$lb_macros" 1 >/dev/null || hosts_ok=0
mkhost zci-lb2 "$edge_group" "zufang edge by Zabbix agent 2" "$lb_macros" 1 >/dev/null || hosts_ok=0
mkhost zci-edge zufang-ci/edge "zufang edge pair" \
  "$(jq -n --arg g "$edge_group" '{"ZUFANG.EDGE.HOSTGROUP":$g,"KEEPALIVED.PAIR.INTERVAL":"5s","KEEPALIVED.PAIR.PERIOD":"10s"}')" 0 >/dev/null || hosts_ok=0
# backup.prom as the backup service writes it (scripts/images/backup): fresh first, stale later.
backup_prom() { # SUCCESS_AGE RUN_OK BINLOG_AGE
  local now; now=$(date +%s); mkdir -p "$RUN_DIR/textfile"
  printf 'backup_last_success_timestamp_seconds %s\nbackup_last_run_timestamp_seconds %s\nbackup_last_run_success %s\nbackup_interval_seconds 21600\nbackup_binlog_copied_timestamp_seconds %s\n' \
    "$((now - $1))" "$now" "$2" "$((now - $3))" > "$RUN_DIR/textfile/backup.prom.tmp"
  chmod 0644 "$RUN_DIR/textfile/backup.prom.tmp"; mv "$RUN_DIR/textfile/backup.prom.tmp" "$RUN_DIR/textfile/backup.prom"
}
backup_prom 30 1 2
mkhost zci-data zufang-ci/data "zufang data by Zabbix agent 2" \
  "$(jq -n --arg f "$RUN_DIR/textfile/backup.prom" '{"ZUFANG.DATA.INTERVAL":"5s","ZUFANG.DATA.DOWN.PERIOD":"10s",
     "BACKUP.TEXTFILE":$f,"BACKUP.INTERVAL":"5s","BACKUP.MAX.AGE":"600","BACKUP.NODATA":"10m",
     "BACKUP.FAILED.PERIOD":"10s","BACKUP.BINLOG.PERIOD":"10s"}')" 1 >/dev/null || hosts_ok=0
# The same template pointed at a closed port: MySQLDown/RedisDown must fire without stopping the
# shared MariaDB and Redis other suites use.
mkhost zci-data-down zufang-ci/data "zufang data by Zabbix agent 2" \
  "$(jq -n --arg u "tcp://127.0.0.1:$ZBX_DEAD_PORT" '{"ZUFANG.DATA.INTERVAL":"5s","ZUFANG.DATA.DOWN.PERIOD":"10s","ZUFANG.MYSQL.SESSION":$u,"ZUFANG.REDIS.SESSION":$u}')" 1 >/dev/null || hosts_ok=0
check "hosts created with their templates linked" test "$hosts_ok" = 1

# --- values ----------------------------------------------------------------------------------
# lastvalue HOST KEY -> the item's last value, empty until it has one.
lastvalue() {
  zbx_api item.get "$(jq -n --arg h "$1" --arg k "$2" '{output:["lastvalue","lastclock"],host:$h,filter:{key_:$k}}')" |
    jq -r '.[0] | select(. != null and .lastclock != "0") | .lastvalue'
}
# wait_value HOST KEY JQ_CONDITION_ON_$v -> waits up to $ZBX_WAIT s for a value meeting it.
wait_value() {
  local deadline=$(( $(date +%s) + ZBX_WAIT )) v=
  while (( $(date +%s) < deadline )); do
    v=$(lastvalue "$1" "$2" 2>/dev/null || true)
    if [[ -n $v ]] && jq -en --arg v "$v" "$3" >/dev/null 2>&1; then
      log "$1 $2 = $v"; return 0
    fi
    sleep 3
  done
  log "$1 $2: last value '${v}' did not satisfy $3 within ${ZBX_WAIT}s"; return 1
}
# trigger_value HOST NAME -> 0 OK / 1 PROBLEM
trigger_value() {
  zbx_api trigger.get "$(jq -n --arg h "$1" --arg n "$2" '{output:["value","description"],host:$h,filter:{description:$n}}')" |
    jq -r '.[0].value // empty'
}
wait_trigger() { # HOST NAME VALUE [SECONDS]
  local deadline=$(( $(date +%s) + ${4:-$ZBX_WAIT} )) v=
  while (( $(date +%s) < deadline )); do
    v=$(trigger_value "$1" "$2" 2>/dev/null || true)
    [[ $v == "$3" ]] && { log "$1 '$2' -> $3"; return 0; }
    sleep 3
  done
  log "$1 '$2' stayed '$v' (wanted $3)"; return 1
}

# Some traffic, so that rates, cache counters and the latency histogram move.
traffic() {
  while :; do
    curl -s -o /dev/null "$app_url/api/estates/?page=1&size=5" || true
    curl -s -o /dev/null "$app_url/api/houses/?page=1&size=5" || true
    curl -s -o /dev/null "$app_url/api/districts/" || true
    sleep 0.2
  done
}
if [[ $app_started == 1 ]]; then traffic & traffic_pid=$!; fi

# Item keys as stored on the host: macros unexpanded.
ka_key='zufang.keepalived.state[{HOST.HOST},{$KEEPALIVED.STATE.DIR}]'
log "waiting for values (up to ${ZBX_WAIT}s per item)"
check "edge node lb1: stub_status active connections received" wait_value zci-lb1 nginx.connections.active '($v|tonumber) >= 1'
check "edge node lb1: keepalived state MASTER" wait_value zci-lb1 "$ka_key" '$v == "MASTER"'
check "edge node lb2: keepalived state BACKUP" wait_value zci-lb2 "$ka_key" '$v == "BACKUP"'
check "edge node lb1: Is MASTER = 1" wait_value zci-lb1 keepalived.vrrp.master '$v == "1"'
check "edge pair: nodes in MASTER state = 1" wait_value zci-edge keepalived.vrrp.masters '($v|tonumber) == 1'
check "data: MariaDB ping = 1" wait_value zci-data 'mysql.ping["{$ZUFANG.MYSQL.SESSION}"]' '$v == "1"'
check "data: Redis ping = 1" wait_value zci-data 'redis.ping["{$ZUFANG.REDIS.SESSION}"]' '$v == "1"'
check "data: MariaDB threads connected > 0" wait_value zci-data mysql.threads_connected '($v|tonumber) > 0'
check "data: age of the newest backup read from backup.prom" wait_value zci-data zufang.backup.age '($v|tonumber) >= 0 and ($v|tonumber) < 300'
check "data: last backup attempt succeeded = 1" wait_value zci-data zufang.backup.last_run_success '$v == "1"'
check "data: binlog copy lag read from backup.prom" wait_value zci-data zufang.backup.binlog.lag '($v|tonumber) >= 0 and ($v|tonumber) < 300'
if [[ $app_started == 1 ]]; then
  check "app1: up = 1" wait_value zci-app1 zufang.up '$v == "1"'
  check "app1: version label extracted" wait_value zci-app1 zufang.version '($v|length) > 0'
  check "app1: request rate > 0" wait_value zci-app1 zufang.http.requests.rate '($v|tonumber) > 0'
  check "app1: 5xx ratio computed" wait_value zci-app1 zufang.http.requests.5xx.ratio '($v|tonumber) >= 0'
  check "app1: in-flight received" wait_value zci-app1 zufang.http.in_flight '($v|tonumber) >= 0'
  check "app1: DB pool size > 0" wait_value zci-app1 zufang.db.pool.max '($v|tonumber) > 0'
  check "app1: DB pool utilization computed" wait_value zci-app1 zufang.db.pool.utilization '($v|tonumber) >= 0'
  check "app1: cache hit ratio computed" wait_value zci-app1 zufang.cache.hit.ratio '($v|tonumber) >= 0'
  check "app1: rate-limit rejections received" wait_value zci-app1 zufang.ratelimit.rejections.rate '($v|tonumber) >= 0'
  check "app1: latency bucket le=+Inf discovered and counting" wait_value zci-app1 'zufang.http.duration.bucket[+Inf]' '($v|tonumber) > 0'
  check "app1: p99 latency computed from the buckets" wait_value zci-app1 zufang.http.duration.p99 '($v|tonumber) > 0'
  check "app1: liveness probe (agent) = 1" wait_value zci-app1 'zufang.app.healthz[{$ZUFANG.HEALTHZ.URL}]' '$v == "1"'
  check "app1: readiness probe (agent) = 2 or 1" wait_value zci-app1 'zufang.app.readyz[{$ZUFANG.READYZ.URL}]' '$v == "2" or $v == "1"'
fi

# --- triggers --------------------------------------------------------------------------------
log "triggers"
check "MySQLDown fires for a MariaDB that does not answer" wait_trigger zci-data-down 'MariaDB: Service is down' 1
check "RedisDown fires for a Redis that does not answer" wait_trigger zci-data-down 'Redis: Service is down' 1
check "MySQLDown stays OK for the real MariaDB" wait_trigger zci-data 'MariaDB: Service is down' 0 5
check "RedisDown stays OK for the real Redis" wait_trigger zci-data 'Redis: Service is down' 0 5
check "BackupTooOld OK with a fresh backup" wait_trigger zci-data 'Backup: No recent full backup' 0 5
check "BackupBinlogCopyStale OK with a current copy" wait_trigger zci-data 'Backup: Binlog copy is behind the server' 0 5
backup_prom 5000 0 1000
check "BackupTooOld fires for a backup older than the limit" wait_trigger zci-data 'Backup: No recent full backup' 1
check "BackupFailed fires when attempts fail" wait_trigger zci-data 'Backup: Full backup attempts fail' 1
check "BackupBinlogCopyStale fires for a copy 1000 s behind" wait_trigger zci-data 'Backup: Binlog copy is behind the server' 1
backup_prom 30 1 2
check "BackupTooOld resolves after a new backup" wait_trigger zci-data 'Backup: No recent full backup' 0
check "KeepalivedNoMaster OK with one MASTER" wait_trigger zci-edge 'keepalived: No node holds the VIP' 0 5
check "KeepalivedSplitBrain OK with one MASTER" wait_trigger zci-edge 'keepalived: More than one node holds the VIP' 0 5
echo MASTER > "$st/zci-lb2.state"
check "KeepalivedSplitBrain fires when both nodes report MASTER" wait_trigger zci-edge 'keepalived: More than one node holds the VIP' 1
echo BACKUP > "$st/zci-lb1.state"; echo BACKUP > "$st/zci-lb2.state"
check "KeepalivedNoMaster fires when no node reports MASTER" wait_trigger zci-edge 'keepalived: No node holds the VIP' 1
check "KeepalivedSplitBrain resolves" wait_trigger zci-edge 'keepalived: More than one node holds the VIP' 0
echo FAULT > "$st/zci-lb1.state"; rm -f "$st/zci-lb2.state"
check "state file missing -> 'State file missing or invalid' fires on lb2" wait_trigger zci-lb2 'keepalived: State file missing or invalid' 1
check "KeepalivedFault fires for a node in FAULT" wait_trigger zci-lb1 'keepalived: Node is in FAULT' 1
if [[ $app_started == 1 ]]; then
  check "replica down (TargetDown) OK while the replica answers" wait_trigger zci-app1 'zufang: Replica is down' 0 5
  check "ZufangHighLatencyP99 (warning, threshold lowered) fires from the real p99" \
    wait_trigger zci-app1 'zufang: High p99 latency (over {$ZUFANG.P99.MAX.WARN}s)' 1
  check "ZufangHigh5xxRatio (warning, threshold lowered) fires from the real ratio" \
    wait_trigger zci-app1 'zufang: High 5xx ratio (over {$ZUFANG.5XX.RATIO.MAX.WARN}%)' 1
  check "DB pool trigger (threshold lowered) fires from the real pool use" \
    wait_trigger zci-app1 'zufang: DB pool nearly exhausted (over {$ZUFANG.DB.POOL.UTIL.MAX.WARN}%)' 1
  check "ZufangHigh5xxRatio (critical, 5%) stays OK: no 5xx" \
    wait_trigger zci-app1 'zufang: High 5xx ratio (over {$ZUFANG.5XX.RATIO.MAX.HIGH}%)' 0 5
  check "ZufangHighLatencyP99 (critical, 1 s) stays OK" \
    wait_trigger zci-app1 'zufang: High p99 latency (over {$ZUFANG.P99.MAX.HIGH}s)' 0 5
  kill "$traffic_pid" 2>/dev/null || true
  log "stopping the zufang instance and nginx"
  "$ROOT/scripts/ci/app-instance.sh" stop zabbix >&2 && app_started=0
  kill "$(cat "$RUN_DIR/nginx.pid")" 2>/dev/null || true
  check "replica down (TargetDown) fires after the replica stops (nodata)" wait_trigger zci-app1 'zufang: Replica is down' 1
  check "liveness trigger (agent probe) fires after the replica stops" wait_trigger zci-app1 'zufang: Replica fails its liveness probe' 1
  check "NginxDown fires after nginx stops" wait_trigger zci-lb1 'nginx: Service is down' 1
fi
log "runtime $(( $(date +%s) - started ))s"
summary
[[ $failed == 0 ]]
