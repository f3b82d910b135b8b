#!/usr/bin/env bash
# Bring the compose stack up and down for the whole-stack tests, and print what is wrong when it
# does not become healthy. CI uses the offline images (no registry is reachable there).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ci/stack.sh COMMAND
  up       install/start Docker if needed, build the offline images (cached by input hash) and
           install them as `make up` does (compose.override.yaml + the app's .env tag), then
           `docker compose up -d --wait`; on failure print the logs of unhealthy services
  down     `docker compose down -v --remove-orphans` (containers, networks, volumes)
  status   `docker compose ps` plus the logs of every service that is not healthy/running
  test     up (with the zabbix profile), run the e2e tests (cargo test -p zufang-e2e), then the
           documented commands (--test docs; ends with make clean), always down; exit non-zero
           on failure
Environment (defaults):
  STACK_ENV_FILE=.env                env file for compose
  STACK_BUILD=1                      0 = do not run scripts/images/build.sh (images and override there)
  STACK_WAIT_TIMEOUT=600             seconds `up --wait` may take
  STACK_KEEP=0                       1 = `test` leaves the stack running (debugging)
USAGE
}
cmd=${1:-}
[[ $cmd == --help || $cmd == -h || -z $cmd ]] && { usage; [[ -n $cmd ]]; exit $?; }

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${STACK_ENV_FILE:=.env}"
: "${STACK_BUILD:=1}"
: "${STACK_WAIT_TIMEOUT:=600}"
: "${STACK_KEEP:=0}"

log() { printf '%s stack: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
compose() { docker compose --env-file "$STACK_ENV_FILE" "$@"; }

# Print state of every container, then the last logs of each that is not running+healthy.
report() {
  compose ps -a --format '{{.Service}}: {{.Status}}' >&2 || true
  local svc state health
  while IFS=$'\t' read -r svc state health; do
    [[ -z $svc ]] && continue
    if [[ $state == running && ( -z $health || $health == healthy ) ]]; then continue; fi
    if [[ $state == exited ]] && compose ps -a --format '{{.Service}} {{.ExitCode}}' | grep -qx "$svc 0"; then continue; fi
    echo "----- $svc: $state ${health:-} (last 60 log lines) -----" >&2
    compose logs --no-color --tail 60 "$svc" >&2 || true
  done < <(compose ps -a --format '{{.Service}}	{{.State}}	{{.Health}}' 2>/dev/null)
}

# The runtime image contract of app/Dockerfile: at most 110 MB (the Debian base is 75 MB; the binary,
# 18 MB since it also carries the photo worker's image codecs and AMQP client), a non-root numeric
# user, the built-in health check (the stack's health then proves it works on a read-only root).
check_app_image() {
  local image size user health
  image=$(sed -n 's/^APP_IMAGE=//p' "$STACK_ENV_FILE" | tail -1)
  [[ -n $image ]] || { log "no APP_IMAGE in $STACK_ENV_FILE"; return 1; }
  size=$(docker image inspect -f '{{.Size}}' "$image")
  user=$(docker image inspect -f '{{.Config.User}}' "$image")
  health=$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$image")
  log "app image $image: $((size / 1000000)) MB, user $user, healthcheck $health"
  (( size <= 110000000 )) || { log "app image larger than 110 MB"; return 1; }
  [[ $user =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] || { log "app image must run as a non-root numeric user"; return 1; }
  [[ $health == *healthcheck* ]] || { log "app image has no 'zufang healthcheck' HEALTHCHECK"; return 1; }
}

up() {
  "$root/scripts/ci/docker.sh" >&2
  if [[ $STACK_BUILD == 1 ]]; then
    local t0=$SECONDS
    "$root/scripts/images/build.sh" --all-profiles --install
    log "images ready in $((SECONDS - t0))s"
    # The base must carry every update Debian publishes now (build.sh keys it by the index dates).
    "$root/scripts/images/check-base-current.sh" "$(sed -n 's/^BASE_IMAGE=//p' .env.offline | tail -n 1)" >&2
  fi
  [[ -f compose.override.yaml ]] || { log "no compose.override.yaml (run make up --offline or scripts/images/build.sh)"; exit 1; }
  # Extra profiles on top of the env file's own (which .env.offline only has once it is built).
  if [[ -n ${STACK_EXTRA_PROFILES:-} ]]; then
    local profiles
    profiles=$(sed -n 's/^COMPOSE_PROFILES=//p' "$STACK_ENV_FILE" | tail -1)
    export COMPOSE_PROFILES=${profiles:+$profiles,}$STACK_EXTRA_PROFILES
    log "profiles: $COMPOSE_PROFILES"
  fi
  check_app_image
  log "least privilege over the rendered config (every profile)"
  if ! COMPOSE_PROFILES='*' compose config --format json | python3 "$root/scripts/ci/check_compose_hardening.py" >&2; then
    log "a service runs with more privilege than compose.yaml allows it"; return 1
  fi
  local t0=$SECONDS
  log "docker compose up -d --wait (timeout ${STACK_WAIT_TIMEOUT}s)"
  if ! compose up -d --wait --wait-timeout "$STACK_WAIT_TIMEOUT" --no-build --pull never; then
    log "the stack did not become healthy in $((SECONDS - t0))s"
    report
    return 1
  fi
  log "stack healthy in $((SECONDS - t0))s"
}

# Every profile's containers (zabbix, bench one-shots, ...) go, whatever the caller enabled.
down() { log "docker compose down -v"; COMPOSE_PROFILES='*' compose down -v --remove-orphans --timeout 20 >&2 || true; }

case $cmd in
  up) up ;;
  down) down ;;
  status) report ;;
  test)
    # Test-only Prometheus settings (tests/compose.test.yaml): a copy of monitoring/prometheus with
    # 5 s intervals and TargetDown `for: 10s`; the production files are not touched.
    testprom=artifacts/stack/prometheus
    rm -rf "$testprom" && mkdir -p artifacts/stack && cp -r monitoring/prometheus "$testprom"
    sed -i -E 's/^(  (scrape|evaluation)_interval:) 15s/\1 5s/; s/^(  scrape_timeout:) 10s/\1 4s/' "$testprom/prometheus.yml"
    awk '/- alert: TargetDown/ { t = 1 } t && /^ +for: / { sub(/for: .*/, "for: 10s"); t = 0 } { print }' \
      monitoring/prometheus/rules/prometheus.alerts.yaml > "$testprom/rules/prometheus.alerts.yaml"
    if ! grep -q 'scrape_interval: 5s' "$testprom/prometheus.yml" \
        || ! grep -q 'for: 10s' "$testprom/rules/prometheus.alerts.yaml"; then
      log "could not derive the test Prometheus configuration"; exit 1
    fi
    chmod -R a+rX "$testprom"
    rm -f artifacts/stack/*.jsonl
    # The override last, as Compose would add it by itself without COMPOSE_FILE.
    export COMPOSE_FILE=compose.yaml:tests/compose.test.yaml:compose.override.yaml
    # Published ports away from the defaults, so a developer's `make dev` (8080) or own stack
    # does not collide; the tests ask `docker compose port` where things are.
    export EDGE_HTTP_PORT=${EDGE_HTTP_PORT:-18080} EDGE_HTTPS_PORT=${EDGE_HTTPS_PORT:-18443}
    export PROMETHEUS_PORT=${PROMETHEUS_PORT:-19090} ALERTMANAGER_PORT=${ALERTMANAGER_PORT:-19093}
    export ZABBIX_WEB_PORT=${ZABBIX_WEB_PORT:-18088} RABBITMQ_UI_PORT=${RABBITMQ_UI_PORT:-18672}
    # The Zabbix profile runs beside the stack (tests/tests/zabbix.rs), on top of the env file's.
    STACK_EXTRA_PROFILES=zabbix
    rc=0
    if up; then
      log "running the e2e tests"
      export STACK_ENV_FILE
      nice cargo test -p zufang-e2e --locked --no-fail-fast -- --test-threads=1 || rc=$?
      (( rc == 0 )) || { log "e2e tests failed: state of the stack"; report; }
      # Last, on the same stack: every documented command as written (it ends with make clean).
      log "every docker compose / make line of the docs, as written (tests/tests/docs.rs)"
      nice cargo test -p zufang-e2e --locked --test docs -- --test-threads=1 --nocapture || rc=1
    else
      rc=1
      echo "0 passed, 1 failed"
    fi
    (( STACK_KEEP )) || down
    exit "$rc"
    ;;
  *) usage >&2; exit 2 ;;
esac
