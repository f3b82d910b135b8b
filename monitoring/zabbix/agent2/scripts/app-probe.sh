#!/usr/bin/env bash
# Probe a zufang replica's health endpoints for the Zabbix agent (UserParameters
# zufang.app.healthz[url] and zufang.app.readyz[url]). Always prints a number, so that a replica
# that does not answer reads as a value (0), not as an unsupported item.
#   app-probe.sh healthz URL   1 = 200 {"status":"ok"}, 0 otherwise
#   app-probe.sh readyz URL    2 = ready, 1 = degraded (200 "degraded"), 0 = not ready / no answer
set -euo pipefail
if [[ "${1:-}" == "--help" || $# -lt 2 ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
kind=$1 url=$2
command -v curl >/dev/null || { echo "app-probe: curl is required" >&2; exit 1; }
body=$(mktemp)
trap 'rm -f "$body"' EXIT
# 3 s: below the agent's Timeout (5 s), so the agent gets our 0 rather than its own timeout.
code=$(curl -s -o "$body" -w '%{http_code}' --max-time 3 "$url" 2>/dev/null) || code=000
status=$(grep -o '"status" *: *"[a-z]*"' "$body" | head -n1 | sed 's/.*"\([a-z]*\)"$/\1/') || status=
case $kind in
  healthz)
    [[ $code == 200 && $status == ok ]] && echo 1 || echo 0 ;;
  readyz)
    if [[ $code == 200 && $status == ok ]]; then echo 2
    elif [[ $code == 200 && $status == degraded ]]; then echo 1
    else echo 0; fi ;;
  *) echo "app-probe: unknown probe '$kind' (healthz|readyz)" >&2; exit 2 ;;
esac
