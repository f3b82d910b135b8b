#!/usr/bin/env bash
# Prove the Zabbix side against a real Zabbix 6.0 server (Debian's zabbix-server-mysql,
# zabbix-frontend-php, zabbix-agent2): the pytest suite in this folder. It runs the compose
# one-shot zabbix_init.py against the server, imports the templates through the JSON-RPC API,
# creates hosts for a real zufang replica (scripts/ci/app-instance.sh), two edge nodes (a real nginx
# with stub_status + keepalived state files in the notify script's format), the VRRP pair, MariaDB
# and Redis, then asserts that items receive values and that triggers change state when their
# condition is created. Each UserParameter and plugin session is also run with `zabbix_agent2 -t`.
#   monitoring/zabbix/tests/run.sh [PYTEST_ARGS...]   everything (installs packages as needed; root)
#   ZBX_FRESH_SCHEMA=1 .../run.sh             re-import the Zabbix schema instead of reusing it
#   ZBX_KEEP=1 .../run.sh                     leave server/front end/agent/app running for a look
# Ports (127.0.0.1): front end 19101, nginx 19102, server 19103, agent 19104, app 19110,
# a closed port 19105 for the "down" checks. Ends with pytest's "N passed" line.
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (installs packages, creates MariaDB accounts)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"

# php8.2-cli/-cgi satisfy the front end's "php" dependency, so apt does not pull in apache2.
scripts/ci/apt.sh zabbix-server-mysql zabbix-frontend-php zabbix-agent2 \
  php8.2-cli php8.2-cgi php8.2-mysql nginx curl shellcheck python3-venv
venv=$(scripts/ci/venv.sh zabbix monitoring/zabbix/tests/requirements.txt)

# The fixtures stop what they start; this is for a run interrupted before they could.
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  if [[ ${ZBX_KEEP:-0} != 1 ]]; then scripts/ci/app-instance.sh stop zabbix >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
started=$(date +%s)
rc=0
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -p no:cacheprovider -v -rfE \
  monitoring/zabbix/tests "$@" || rc=$?
echo "zabbix-test: runtime $(( $(date +%s) - started ))s"
exit "$rc"
