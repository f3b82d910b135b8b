#!/usr/bin/env bash
# One-shot `zabbix-init` of the compose profile: through the front end's JSON-RPC API, replace the
# default Admin password with the generated one, import monitoring/zabbix/templates/*.yaml, and
# create the stack's hosts (README's table) with their templates and macros. Idempotent: templates
# are re-imported (updated), existing hosts are left as they are, the password is changed once.
#   zabbix-init.sh            (runs in the zabbix-agent2 image: bash, curl, jq)
# Environment (defaults):
#   ZBX_API_URL=http://zabbix-web:8080/api_jsonrpc.php   ZBX_TEMPLATES_DIR=/templates
#   ZBX_ADMIN_PASSWORD_FILE=/run/stack-secrets/zabbix/admin_password
#   ZBX_AGENT_DNS=zabbix-agent2 (agent interface of every host but "edge")
#   ZBX_INIT_APPS="app1 app2 app3"  ZBX_INIT_LBS="lb1 lb2"  ZBX_INIT_DATA=mysql  ZBX_API_WAIT=180
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
: "${ZBX_API_URL:=http://zabbix-web:8080/api_jsonrpc.php}" "${ZBX_TEMPLATES_DIR:=/templates}"
: "${ZBX_ADMIN_PASSWORD_FILE:=/run/stack-secrets/zabbix/admin_password}" "${ZBX_AGENT_DNS:=zabbix-agent2}"
: "${ZBX_INIT_APPS=app1 app2 app3}" "${ZBX_INIT_LBS=lb1 lb2}" "${ZBX_INIT_DATA=mysql}" "${ZBX_API_WAIT:=180}"
log() { echo "zabbix-init: $*" >&2; }
for c in curl jq; do command -v "$c" >/dev/null || { log "$c is required"; exit 1; }; done
[[ -s $ZBX_ADMIN_PASSWORD_FILE ]] || { log "$ZBX_ADMIN_PASSWORD_FILE missing (secrets-init)"; exit 1; }
admin_pw=$(tr -d '\r\n' < "$ZBX_ADMIN_PASSWORD_FILE")

# zabbix-api.sh is mounted beside this script (compose, smoke.sh).
# shellcheck source=SCRIPTDIR/zabbix-api.sh
source "$(dirname "$0")/zabbix-api.sh"
# No output on a wrong password: the caller tries the next one.
login() { zbx_login Admin "$1" 2>/dev/null; }

for ((t = 0; ; t += 3)); do
  version=$(zbx_api apiinfo.version '[]' 2>/dev/null | tr -d '"') && break
  (( t < ZBX_API_WAIT )) || { log "no API at $ZBX_API_URL after ${ZBX_API_WAIT}s"; exit 1; }
  sleep 3
done
log "Zabbix API $version at $ZBX_API_URL"

# --- Admin: the generated password, never the well-known default ------------------------------
if login "$admin_pw"; then
  log "Admin already has the generated password"
elif login zabbix; then
  uid=$(zbx_api user.get '{"output":["userid"],"filter":{"username":"Admin"}}' | jq -r '.[0].userid')
  zbx_api user.update "$(jq -n --arg u "$uid" --arg p "$admin_pw" '{userid:$u,passwd:$p}')" >/dev/null
  # A new session under the new password (6.0 may end the old ones on a password change).
  login "$admin_pw" || { log "login with the new Admin password failed"; exit 1; }
  log "Admin password set from $ZBX_ADMIN_PASSWORD_FILE"
else
  log "cannot log in as Admin with the generated or the default password"; exit 1
fi

# --- templates -------------------------------------------------------------------------------
shopt -s nullglob
files=("$ZBX_TEMPLATES_DIR"/*.yaml)
(( ${#files[@]} )) || { log "no templates in $ZBX_TEMPLATES_DIR"; exit 1; }
for f in "${files[@]}"; do
  zbx_import "$f" >/dev/null
  log "imported $(basename "$f")"
done
tpls=$(zbx_api template.get '{"output":["templateid","host"]}')

# --- hosts -----------------------------------------------------------------------------------
# host NAME GROUP "TEMPLATE;TEMPLATE" MACROS_JSON AGENT(0|1): create unless it exists
host() {
  local tids params
  if [[ $(zbx_api host.get "$(jq -n --arg h "$1" '{output:["hostid"],filter:{host:[$h]}}')" | jq length) != 0 ]]; then
    log "host $1 exists: left as it is"; return
  fi
  tids=$(IFS=';'; for t in $3; do jq -r --arg n "$t" '.[] | select(.host == $n) | .templateid' <<<"$tpls"; done | jq -R . | jq -s 'map({templateid: .})')
  [[ $(jq length <<<"$tids") == $(awk -F';' '{print NF}' <<<"$3") ]] || { log "host $1: a template of '$3' is missing"; return 1; }
  params=$(jq -n --arg h "$1" --arg g "$(zbx_group_id "$2")" --argjson t "$tids" --argjson m "$4" \
    --arg dns "$ZBX_AGENT_DNS" --argjson agent "$5" '{host:$h, groups:[{groupid:$g}], templates:$t,
      macros: ($m | to_entries | map({macro: ("{$" + .key + "}"), value: .value})),
      interfaces: (if $agent == 1 then [{type:1, main:1, useip:0, ip:"", dns:$dns, port:"10050"}] else [] end)}')
  zbx_api host.create "$params" >/dev/null
  log "host $1 created ($2: $3)"
}
for a in $ZBX_INIT_APPS; do
  host "$a" app "zufang by HTTP;zufang app by Zabbix agent 2" "$(jq -n --arg u "http://$a:8080" \
    '{"ZUFANG.METRICS.URL":($u+"/metrics"),"ZUFANG.HEALTHZ.URL":($u+"/healthz"),"ZUFANG.READYZ.URL":($u+"/readyz")}')" 1
done
# The keepalived items read <host name>.state: the host is named after the node.
for l in $ZBX_INIT_LBS; do
  host "$l" lb "zufang edge by Zabbix agent 2" "$(jq -n --arg u "http://$l:8081/stub_status" '{"NGINX.STUB_STATUS.URL":$u}')" 1
done
[[ -z $ZBX_INIT_LBS ]] || host edge edge "zufang edge pair" '{"ZUFANG.EDGE.HOSTGROUP":"lb"}' 0
for d in $ZBX_INIT_DATA; do host "$d" mysql "zufang data by Zabbix agent 2" '{}' 1; done

# The default host "Zabbix server" polls an agent on 127.0.0.1 that the server container does not
# have: disabled, so its unreachable-agent errors do not fill the log.
zs=$(zbx_api host.get '{"output":["hostid","status"],"filter":{"host":["Zabbix server"]}}')
if [[ $(jq -r '.[0].status // "1"' <<<"$zs") == 0 ]]; then
  zbx_api host.update "$(jq -c '{hostid: .[0].hostid, status: 1}' <<<"$zs")" >/dev/null
  log "disabled the default host \"Zabbix server\""
fi
log "done"
