#!/usr/bin/env bash
# `make up`: one command from a bare Debian/Ubuntu machine (as root) to the running stack.
# Installs Docker Engine + the Compose v2 plugin when missing and starts the daemon, decides
# between the registry images (.env) and the offline ones built from a Debian mirror
# (.env.offline), brings the stack up healthy and prints the URLs.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/up.sh [--offline | --registry]
  default: use the registry images when the configured registry answers, else build offline ones.
  --offline    always build/use the offline images (scripts/images/build.sh -> .env.offline)
  --registry   always use the images named in .env
Environment (defaults): REGISTRY_PROBE_URL=https://registry-1.docker.io/v2/  UP_WAIT_TIMEOUT=900
Tear down: docker compose [--env-file .env.offline] down   (add -v to drop the volumes)
USAGE
}
mode=auto
case "${1:-}" in
  --help|-h) usage; exit 0 ;;
  --offline) mode=offline ;;
  --registry) mode=registry ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${REGISTRY_PROBE_URL:=https://registry-1.docker.io/v2/}"
: "${UP_WAIT_TIMEOUT:=900}"

"$root/scripts/ci/docker.sh"

if [[ $mode == auto ]]; then
  # Any HTTP answer (Docker Hub answers 401 here) means the registry is reachable.
  if command -v curl >/dev/null && curl -s -o /dev/null --max-time 5 "$REGISTRY_PROBE_URL"; then
    mode=registry
  else
    mode=offline
    echo "up: the image registry ($REGISTRY_PROBE_URL) is unreachable: building the images from the Debian mirror instead" >&2
  fi
fi

if [[ $mode == offline ]]; then
  "$root/scripts/images/build.sh"
  env_file=.env.offline
  # shellcheck disable=SC2016 # printed for the user to copy
  down_hint='docker compose --env-file .env.offline down'
else
  env_file=.env
  down_hint='docker compose down'
fi

# Remembered for `make down|clean|backup|restore|deploy` (scripts/ops/lib.sh).
echo "$env_file" > "$root/.stack-env-file"
# The database first, with this release's accounts: on a database an earlier release initialised
# (first-start scripts do not run again), the migrate account and the DML-only app account.
docker compose --env-file "$env_file" up -d --wait --wait-timeout "$UP_WAIT_TIMEOUT" mysql \
  || { STACK_ENV_FILE=$env_file "$root/scripts/ci/stack.sh" status; exit 1; }
export STACK_ENV_FILE=$env_file
# shellcheck source=scripts/ops/lib.sh
. "$root/scripts/ops/lib.sh"
ensure_db_accounts
docker compose --env-file "$env_file" up -d --wait --wait-timeout "$UP_WAIT_TIMEOUT" \
  || { STACK_ENV_FILE=$env_file "$root/scripts/ci/stack.sh" status; exit 1; }

set -a
# shellcheck disable=SC1090
. "$root/$env_file"
set +a
b=${BIND_ADDRESS:-127.0.0.1} o=${OPS_BIND_ADDRESS:-127.0.0.1}
cat <<EOT
zufang stack is up (images: $mode).
  API           http://$b:${EDGE_HTTP_PORT}/api/districts/   (served by lb1; https on :${EDGE_HTTPS_PORT})
  Prometheus    http://$o:${PROMETHEUS_PORT}/
  Alertmanager  http://$o:${ALERTMANAGER_PORT}/
EOT
if [[ ${COMPOSE_PROFILES:-} == *ui* ]]; then
  echo "  Grafana       http://$o:${GRAFANA_PORT}/   (admin password: docker compose exec grafana cat /run/stack-secrets/grafana/admin_password)"
  echo "  Jaeger        http://$o:${JAEGER_UI_PORT}/"
else
  echo "  Grafana, Jaeger: not in the offline stack (Debian packages neither); traces: docker compose --env-file $env_file logs otel-collector"
fi
echo "Stop: make down (keeps the data; or $down_hint); make clean also drops the data volumes (keeps backups)"
echo "Backups: make backups (list), make backup (take one now), make restore [UNTIL='YYYY-MM-DD HH:MM:SS']"
