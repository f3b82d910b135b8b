#!/usr/bin/env bash
# `make up`: one command from a bare Debian/Ubuntu machine (as root) to the running stack.
# Installs Docker Engine + the Compose v2 plugin when missing and starts the daemon, decides
# between the registry images (.env) and the offline ones built from a Debian mirror, brings the
# stack up healthy and prints the URLs. The choice is remembered where Compose looks by itself:
# offline, compose.override.yaml (generated, git-ignored) names the offline images; registry, no
# such file. So every later plain `docker compose ...` uses the same images.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/up.sh [--offline | --registry]
  default: use the registry images when the configured registry answers, else build offline ones.
  --offline    always build/use the offline images (scripts/images/build.sh; writes compose.override.yaml)
  --registry   always use the images named in .env (removes the generated compose.override.yaml)
  Only the default stack's images are built; a profile's (zabbix, bench) on its first use, or now
  when COMPOSE_PROFILES names it.
Environment (defaults): REGISTRY_PROBE_URL=https://registry-1.docker.io/v2/  UP_WAIT_TIMEOUT=900
Tear down: make down (or docker compose --profile '*' down; add -v to drop the volumes)
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

# shellcheck source=scripts/ops/lib.sh
. "$root/scripts/ops/lib.sh"
override=compose.override.yaml
if [[ -e $override ]] && ! generated_override; then
  echo "up: $override exists and was not written by make up: move it away (make up records the image choice there)" >&2
  exit 1
fi
if [[ $mode == offline ]]; then
  profiles=()
  profiles_env=${COMPOSE_PROFILES:-}
  for p in ${profiles_env//,/ }; do
    [[ $p == zabbix || $p == bench ]] && profiles+=(--profile "$p")
  done
  "$root/scripts/images/build.sh" --install "${profiles[@]}"
else
  rm -f "$override"
fi
# The remembered choice replaces the env file name recorded by earlier releases.
rm -f "$root/.stack-env-file"

drop_stranded_containers
# The database first, with this release's accounts: on a database an earlier release initialised
# (first-start scripts do not run again), the migrate account and the DML-only app account.
docker compose up -d --wait --wait-timeout "$UP_WAIT_TIMEOUT" mysql \
  || { "$root/scripts/ci/stack.sh" status; exit 1; }
ensure_db_accounts
docker compose up -d --wait --wait-timeout "$UP_WAIT_TIMEOUT" \
  || { "$root/scripts/ci/stack.sh" status; exit 1; }

# The published addresses and ports: the environment's, else .env's (Compose's own precedence).
while IFS='=' read -r key value; do
  [[ $key =~ ^[A-Z][A-Z0-9_]*$ && -z ${!key:-} ]] && export "$key=$value"
done < "$root/.env"
b=${BIND_ADDRESS:-127.0.0.1} o=${OPS_BIND_ADDRESS:-127.0.0.1}
cat <<EOT
zufang stack is up (images: $mode).
  API           http://$b:${EDGE_HTTP_PORT}/api/districts/   (served by lb1; https on :${EDGE_HTTPS_PORT})
  Prometheus    http://$o:${PROMETHEUS_PORT}/
  Alertmanager  http://$o:${ALERTMANAGER_PORT}/
EOT
# Every command below is printed between backticks: tests/tests/docs.rs runs each one as written.
echo "  RabbitMQ UI   http://$o:${RABBITMQ_UI_PORT}/   (user zufang-admin, password: \`docker compose exec rabbitmq cat /run/stack-secrets/rabbitmq/admin_password\`)"
if [[ $mode == registry && ${COMPOSE_PROFILES:-} == *ui* ]]; then
  echo "  Grafana       http://$o:${GRAFANA_PORT}/   (admin password: \`docker compose exec grafana cat /run/stack-secrets/grafana/admin_password\`)"
  echo "  Jaeger        http://$o:${JAEGER_UI_PORT}/"
else
  echo "  Grafana, Jaeger: not in the offline stack (Debian packages neither); traces: \`docker compose logs otel-collector\`"
fi
echo "Stop: \`make down\` (keeps the data; or \`docker compose --profile '*' down\`); \`make clean\` also drops the data volumes (keeps backups)"
echo "Backups: \`make backups\` (list), \`make backup\` (take one now), \`make restore\` [UNTIL='YYYY-MM-DD HH:MM:SS']"
