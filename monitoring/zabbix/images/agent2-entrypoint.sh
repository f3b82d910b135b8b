#!/usr/bin/env bash
# Entrypoint of the offline agent 2 image: render plugin passwords from /run/secrets into
# /run/zabbix/agent2.d (see ../agent2/render-secrets.sh), then run the agent in the foreground.
#   agent2-entrypoint.sh [extra zabbix_agent2 arguments]
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
/usr/local/lib/zufang-zabbix/render-secrets.sh "${ZBX_SECRETS_DIR:-/run/secrets}" /run/zabbix/agent2.d
exec zabbix_agent2 -f -c /etc/zabbix/zabbix_agent2.conf "$@"
