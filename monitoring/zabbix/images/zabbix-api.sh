#!/usr/bin/env bash
# The one Zabbix JSON-RPC client (bash + curl + jq), sourced by zabbix-init.sh, smoke.sh and
# tests/lib.sh. Shell because zabbix-init runs in the agent 2 image, which has no python.
#   source zabbix-api.sh; ZBX_API_URL=http://host/api_jsonrpc.php
#   zbx_api METHOD PARAMS_JSON     -> .result on stdout; an error reply fails, the error on stderr
#   zbx_login USER PASSWORD        -> ZBX_AUTH set (user.login refuses a call that carries a session)
#   zbx_import TEMPLATE.yaml       -> configuration.import with import-rules.json beside the template
#   zbx_group_id NAME              -> the host group's id, the group created if missing
# Environment: ZBX_API_URL (required), ZBX_AUTH (null until zbx_login), ZBX_API_TIMEOUT=120.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  [[ ${1:-} == --help || ${1:-} == -h ]] && exit 0
  echo "zabbix-api.sh is a function file: source it" >&2; exit 2
fi
: "${ZBX_AUTH:=null}" "${ZBX_API_TIMEOUT:=120}"

zbx_api() {
  local body reply
  body=$(jq -cn --arg m "$1" --argjson p "$2" --argjson a "$ZBX_AUTH" \
    '{jsonrpc:"2.0",method:$m,params:$p,id:1} + (if $a == null then {} else {auth:$a} end)') || return 1
  reply=$(curl -sS --max-time "$ZBX_API_TIMEOUT" -H 'Content-Type: application/json-rpc' \
    --data-binary @- "${ZBX_API_URL:?ZBX_API_URL is not set}" <<<"$body") || return 1
  if ! jq -e 'has("result")' <<<"$reply" >/dev/null 2>&1; then
    echo "Zabbix API $1: ${reply:0:400}" >&2; return 1
  fi
  jq -c '.result' <<<"$reply"
}

zbx_login() {
  local tok
  tok=$(ZBX_AUTH=null zbx_api user.login "$(jq -n --arg u "$1" --arg p "$2" '{username:$u,password:$p}')") || return 1
  ZBX_AUTH=$tok
}

zbx_import() {
  local rules=${1%/*}/import-rules.json
  [[ -s $rules ]] || { echo "Zabbix import: $rules missing" >&2; return 1; }
  zbx_api configuration.import "$(jq -n --rawfile src "$1" --slurpfile r "$rules" \
    '{format:"yaml", source:$src, rules:$r[0]}')"
}

zbx_group_id() {
  local id
  id=$(zbx_api hostgroup.get "$(jq -n --arg n "$1" '{output:["groupid"],filter:{name:[$n]}}')" | jq -r '.[0].groupid // empty') || return 1
  [[ -n $id ]] || id=$(zbx_api hostgroup.create "$(jq -n --arg n "$1" '{name:$n}')" | jq -r '.groupids[0]') || return 1
  echo "$id"
}
