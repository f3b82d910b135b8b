#!/usr/bin/env bash
# A real RabbitMQ and a real Garage node on loopback for the app's photo and worker tests: the
# offline images of scripts/images/build.sh, run the way compose.yaml runs them (rabbitmq/ and s3/
# configuration, the stack's secrets generator, s3/init.py), as containers zp-rabbitmq and zp-s3 on
# their own network zp-net. Idempotent: a running service is left as it is.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ci/photo-services.sh [COMMAND]
  (none) | up     start both (building their images when missing), wait until they answer
  --env           the same, then print shell exports for the tests (eval "$(... --env)"):
                    ZUFANG_TEST_AMQP_PORT, ZUFANG_TEST_AMQP_HTTP_PORT (management API),
                    ZUFANG_TEST_AMQP_{APP,WORKER,ADMIN}_PASSWORD (zufang-app, zufang-worker,
                    zufang-admin; vhost zufang), ZUFANG_TEST_S3_ENDPOINT, ZUFANG_TEST_S3_REGION,
                    ZUFANG_TEST_S3_BUCKET, ZUFANG_TEST_S3_{APP,WORKER}_KEY_ID,
                    ZUFANG_TEST_S3_{APP,WORKER}_SECRET
  stop-amqp | start-amqp   stop / start the broker only (its queues survive: a volume)
  stop-s3 | start-s3       stop / start the store only (its objects survive: volumes)
  down            remove both containers, their volumes, network and secrets
Needs root (docker; the secret files' numeric owners). Ports (loopback):
  ZP_AMQP_PORT=25672 ZP_AMQP_HTTP_PORT=25673 ZP_S3_PORT=23900 ZP_S3_ADMIN_PORT=23903
Secrets: generated once by scripts/images/runtime/init-secrets.sh into
  ZP_STATE=/var/lib/zufang-test/photo-services (root only); printed only by --env.
USAGE
}
cmd=${1:-up}
[[ $cmd == --help || $cmd == -h ]] && { usage; exit 0; }
[[ $EUID -eq 0 ]] || { echo "photo-services: needs root (docker, secret file owners)" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
: "${ZP_AMQP_PORT:=25672}" "${ZP_AMQP_HTTP_PORT:=25673}" "${ZP_S3_PORT:=23900}" "${ZP_S3_ADMIN_PORT:=23903}"
: "${ZP_STATE:=/var/lib/zufang-test/photo-services}"
NET=zp-net MQ=zp-rabbitmq S3=zp-s3
secrets=$ZP_STATE/secrets
log() { echo "photo-services: $*" >&2; }
running() { [[ $(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

images() {
  local tags
  tags=$(scripts/images/build.sh --no-app --list 2>/dev/null)
  MQ_IMAGE=$(grep '/rabbitmq:' <<<"$tags") S3_IMAGE=$(grep '/garage:' <<<"$tags")
  BASE_IMAGE=$(grep '/debian:' <<<"$tags")
  if ! docker image inspect "$MQ_IMAGE" >/dev/null 2>&1 || ! docker image inspect "$S3_IMAGE" >/dev/null 2>&1; then
    log "building the offline images (Garage compiles for ~15 min on a cold machine; log below)"
    # build.sh takes the machine's image lock itself (another checkout may be building the same tags).
    scripts/images/build.sh --no-app >&2
  fi
  INIT_IMAGE=zufang/s3-init:local
  if ! docker image inspect "$INIT_IMAGE" >/dev/null 2>&1; then
    docker build -q --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -f s3/init.Dockerfile \
      -t "$INIT_IMAGE" s3 >/dev/null
  fi
}

prepare() {
  scripts/ci/docker.sh >/dev/null
  mkdir -p "$ZP_STATE" && chmod 700 "$ZP_STATE"
  if [[ ! -s $secrets/rabbitmq/admin_password ]]; then
    LEGACY_DIR=/nonexistent bash scripts/images/runtime/init-secrets.sh "$secrets" >/dev/null 2>&1
  fi
  docker network inspect "$NET" >/dev/null 2>&1 || docker network create "$NET" >/dev/null
}

start_amqp() {
  running "$MQ" && return 0
  docker rm -f "$MQ" >/dev/null 2>&1 || true
  log "starting $MQ ($MQ_IMAGE) on 127.0.0.1:$ZP_AMQP_PORT"
  docker run -d --name "$MQ" --hostname rabbitmq --network "$NET" --user 999:999 --read-only \
    --cap-drop ALL --security-opt no-new-privileges:true \
    --tmpfs /run/rabbitmq-definitions:uid=999,gid=999,mode=0700,size=1m \
    --tmpfs /var/log/rabbitmq:uid=999,gid=999,mode=0750,size=16m --tmpfs /tmp:size=16m \
    -v zp-rabbitmq-data:/var/lib/rabbitmq \
    -v "$secrets/rabbitmq:/run/stack-secrets/rabbitmq:ro" \
    -v "$root/rabbitmq/entrypoint.sh:/etc/zufang-rabbitmq/entrypoint.sh:ro" \
    -v "$root/rabbitmq/definitions.json:/etc/zufang-rabbitmq/definitions.json:ro" \
    -v "$root/rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro" \
    -v "$root/rabbitmq/enabled_plugins:/etc/rabbitmq/enabled_plugins:ro" \
    -p "127.0.0.1:$ZP_AMQP_PORT:5672" -p "127.0.0.1:$ZP_AMQP_HTTP_PORT:15672" \
    --entrypoint bash "$MQ_IMAGE" /etc/zufang-rabbitmq/entrypoint.sh rabbitmq-server >/dev/null
}

start_s3() {
  running "$S3" && return 0
  docker rm -f "$S3" >/dev/null 2>&1 || true
  log "starting $S3 ($S3_IMAGE) on 127.0.0.1:$ZP_S3_PORT"
  docker run -d --name "$S3" --network "$NET" --user 10030:10030 --read-only \
    --cap-drop ALL --security-opt no-new-privileges:true \
    --tmpfs /tmp:uid=10030,gid=10030,mode=0700,size=64m \
    -v zp-s3-meta:/var/lib/garage/meta -v zp-s3-data:/var/lib/garage/data \
    -v "$secrets/s3:/run/stack-secrets/s3:ro" -v "$root/s3/garage.toml:/etc/garage.toml:ro" \
    -p "127.0.0.1:$ZP_S3_PORT:3900" -p "127.0.0.1:$ZP_S3_ADMIN_PORT:3903" \
    "$S3_IMAGE" /garage -c /etc/garage.toml server >/dev/null
}

wait_amqp() {
  local _
  for _ in $(seq 1 120); do
    # The AMQP listener opens after the definitions are imported; the management API answers then.
    if docker exec "$MQ" rabbitmq-diagnostics -q check_port_listener 5672 >/dev/null 2>&1 \
       && curl -fsS -o /dev/null -u "zufang-admin:$(head -n 1 "$secrets/rabbitmq/admin_password")" \
            "http://127.0.0.1:$ZP_AMQP_HTTP_PORT/api/vhosts/zufang"; then return 0; fi
    running "$MQ" || break
    sleep 1
  done
  log "$MQ did not come up; its last log lines:"; docker logs --tail 30 "$MQ" >&2 || true; exit 1
}

wait_s3() {
  local _
  for _ in $(seq 1 120); do
    # Any HTTP answer will do: /health is 503 until s3-init applied the layout.
    curl -sS -o /dev/null "http://127.0.0.1:$ZP_S3_ADMIN_PORT/health" 2>/dev/null && break
    running "$S3" || { docker logs --tail 30 "$S3" >&2; exit 1; }
    sleep 1
  done
  # s3-init as compose runs it: layout, bucket, the app's and the worker's keys (idempotent).
  docker run --rm --network "$NET" --user 10030:10030 --read-only --cap-drop ALL \
    --security-opt no-new-privileges:true -e "GARAGE_ADMIN_URL=http://$S3:3903" \
    -e PYTHONDONTWRITEBYTECODE=1 -v "$root/s3/init.py:/opt/s3-init/init.py:ro" \
    -v "$secrets/s3:/run/stack-secrets/s3:ro" "$INIT_IMAGE" >/dev/null \
    || { log "s3-init failed"; exit 1; }
}

exports() {
  local s=$secrets
  q() { printf '%q' "$(head -n 1 "$1")"; }
  cat <<EOF
export ZUFANG_TEST_AMQP_PORT=$ZP_AMQP_PORT ZUFANG_TEST_AMQP_HTTP_PORT=$ZP_AMQP_HTTP_PORT
export ZUFANG_TEST_AMQP_APP_PASSWORD=$(q "$s/rabbitmq/app_password")
export ZUFANG_TEST_AMQP_WORKER_PASSWORD=$(q "$s/rabbitmq/worker_password")
export ZUFANG_TEST_AMQP_ADMIN_PASSWORD=$(q "$s/rabbitmq/admin_password")
export ZUFANG_TEST_S3_ENDPOINT=http://127.0.0.1:$ZP_S3_PORT ZUFANG_TEST_S3_REGION=garage ZUFANG_TEST_S3_BUCKET=zufang-photos
export ZUFANG_TEST_S3_APP_KEY_ID=$(q "$s/s3/app_access_key_id")
export ZUFANG_TEST_S3_APP_SECRET=$(q "$s/s3/app_secret_access_key")
export ZUFANG_TEST_S3_WORKER_KEY_ID=$(q "$s/s3/worker_access_key_id")
export ZUFANG_TEST_S3_WORKER_SECRET=$(q "$s/s3/worker_secret_access_key")
EOF
}

case $cmd in
  up|--env)
    prepare; images
    start_amqp; start_s3; wait_amqp; wait_s3
    [[ $cmd == --env ]] && exports
    log "ready: AMQP 127.0.0.1:$ZP_AMQP_PORT, S3 http://127.0.0.1:$ZP_S3_PORT" ;;
  stop-amqp) docker stop -t 30 "$MQ" >/dev/null ;;
  stop-s3) docker stop "$S3" >/dev/null ;;
  start-amqp) prepare; images; start_amqp; wait_amqp ;;
  start-s3) prepare; images; start_s3; wait_s3 ;;
  down)
    docker rm -f "$MQ" "$S3" >/dev/null 2>&1 || true
    docker volume rm zp-rabbitmq-data zp-s3-meta zp-s3-data >/dev/null 2>&1 || true
    docker network rm "$NET" >/dev/null 2>&1 || true
    rm -rf "$ZP_STATE" ;;
  *) usage >&2; exit 2 ;;
esac
