#!/usr/bin/env bash
# The offline Zabbix images on their own (server, front end, agent 2 of monitoring/zabbix/images):
# pytest starts them with `docker run` on a plain network of their own (containers zbximg-*, never
# the compose project or its 172.28 networks) beside the offline MariaDB and Redis, with secrets from
# the stack's init-secrets.sh, and proves: the compose profile's services are complete and the agent
# builds from compose.yaml; entrypoints refuse a missing password or an unknown ZBX_ option; the
# first start imports the schema, a restart keeps it, a half-imported database is imported again;
# the API answers (6.0.x), templates import, the server polls the agent (passwords from files),
# zabbix-init sets the Admin password and creates the hosts, idempotently; uids 1997, private
# configs. Builds missing images first (scripts/images/build.sh --no-app --profile zabbix).
set -euo pipefail
usage() {
  cat <<'USAGE'
usage: monitoring/zabbix/images/tests/run.sh [PYTEST_ARGS...]   (part of make test-zabbix)
  Needs root (docker; the secrets' numeric owners).
Environment:
  ZBX_KEEP=1                  leave the containers, network and secrets in place after the run
  ZBX_IMAGES_TIMEOUT=240      seconds allowed for the server's first start (schema import)
  ZABBIX_SERVER_IMAGE / ZABBIX_WEB_IMAGE / ZABBIX_AGENT2_IMAGE   test these tags instead of the offline build
USAGE
}
[[ ${1:-} == --help || ${1:-} == -h ]] && { usage; exit 0; }
[[ $EUID -eq 0 ]] || { echo "zabbix-images: needs root (docker, secret file owners)" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)
cd "$root"
started=$SECONDS
scripts/ci/apt.sh python3 python3-venv
scripts/ci/docker.sh >/dev/null
venv=$(scripts/ci/venv.sh zabbix monitoring/zabbix/tests/requirements.txt)
rc=0
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -p no:cacheprovider -v -rfE \
  monitoring/zabbix/images/tests "$@" || rc=$?
echo "zabbix-images: runtime $(( SECONDS - started ))s"
exit "$rc"
