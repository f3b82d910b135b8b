#!/usr/bin/env bash
# check_nginx.sh: keepalived's vrrp_script. Healthy = the nginx master process is alive AND the
# proxy answers its own /healthz on the internal port within 1 s. Exit 0 healthy, 1 not.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  cat <<'USAGE'
usage: check_nginx.sh   (exit 0 when nginx runs and answers; used by keepalived's vrrp_script)
Environment: NGINX_PID_FILE=/etc/nginx/run/nginx.pid  CHECK_URL=http://127.0.0.1:8081/healthz
Needs curl.
USAGE
  exit 0
fi
: "${NGINX_PID_FILE:=/etc/nginx/run/nginx.pid}"
: "${CHECK_URL:=http://127.0.0.1:8081/healthz}"

pid=$(cat "$NGINX_PID_FILE" 2>/dev/null) || { echo "check_nginx: no pid file $NGINX_PID_FILE" >&2; exit 1; }
if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
  echo "check_nginx: nginx master '$pid' is not running" >&2; exit 1
fi
curl -fsS --max-time 1 -o /dev/null "$CHECK_URL" || { echo "check_nginx: $CHECK_URL failed" >&2; exit 1; }
