#!/usr/bin/env bash
# A photo pipeline on loopback for bench/photos/photos.sh and its test, without the compose
# stack: a release zufang (serve) and `zufang worker` on this machine's MariaDB and Redis
# (scripts/ci/services.sh) and the real RabbitMQ and Garage of scripts/ci/photo-services.sh,
# on a broker vhost of its own (so no other test's worker takes its jobs, nor it theirs).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/photos/loopback.sh COMMAND
  up             start the broker and store (photo-services.sh), make the vhost, migrate and seed
                 the database zufang_photobench (small), create the admin account photobench,
                 start the app and the worker; waits until both are ready
  down           stop the worker and the app, delete the vhost (the database stays)
  start-worker   start `zufang worker` (waits for nothing: photos.sh polls its /metrics)
  stop-worker    SIGTERM the worker and wait for its exit
  worker-status  print the worker's /proc/PID/status (photos.sh --worker-status-cmd)
  worker-stat    print the worker's /proc/PID/stat (photos.sh --worker-cpu-cmd: CPU in ticks)
  args           print the photos.sh options for this pipeline, one a line
Needs root (docker, for photo-services.sh) and a built zufang: ZUFANG_BIN, else
${CARGO_TARGET_DIR:-target}/release/zufang (cargo build --release -p zufang).
Environment: PHOTOS_LOOPBACK_PORT (the app, 18790; the worker's /metrics on the next port),
PHOTOS_LOOPBACK_STATE (pid files, secrets dirs and the admin's password, mode 0700;
.cache/photo-bench), PHOTO_SERVICES (a script with photo-services.sh's --env; that one). Logs: STATE/app.log, STATE/worker.log.
Example: bench/photos/loopback.sh up && mapfile -t a < <(bench/photos/loopback.sh args) &&
         bench/photos/photos.sh --quick "${a[@]}"
EOF
}
cmd=${1:-}
case $cmd in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
self="$root/bench/photos/loopback.sh"
port=${PHOTOS_LOOPBACK_PORT:-18790}
wport=$((port + 1))
state=${PHOTOS_LOOPBACK_STATE:-$root/.cache/photo-bench}
bin=${ZUFANG_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/zufang}
vhost=zb_photo_bench
mkdir -p "$state" && chmod 700 "$state"

log() { printf '[%s] photo-loopback: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'photo-loopback: error: %s\n' "$*" >&2; exit 1; }

# The settings both processes share; each one's secrets come from its own secrets dir.
pipeline_env() {
  eval "$("$root/scripts/ci/services.sh" --env)"
  eval "$("${PHOTO_SERVICES:-$root/scripts/ci/photo-services.sh}" --env)"
  export ZUFANG_CONFIG_DIR="$root/app/config" ZUFANG_ENV=development ZUFANG__LOG__FORMAT=json
  export ZUFANG__DATABASE__HOST=$MARIADB_HOST ZUFANG__DATABASE__PORT=$MARIADB_PORT
  export ZUFANG__DATABASE__USERNAME=$MARIADB_USER ZUFANG__DATABASE__NAME=zufang_photobench
  export ZUFANG__REDIS__KEY_PREFIX="zufang:photobench:"
  export ZUFANG__AMQP__HOST=127.0.0.1 ZUFANG__AMQP__PORT=$ZUFANG_TEST_AMQP_PORT ZUFANG__AMQP__VHOST=$vhost
  export ZUFANG__S3__ENDPOINT=$ZUFANG_TEST_S3_ENDPOINT ZUFANG__S3__REGION=$ZUFANG_TEST_S3_REGION
  export ZUFANG__S3__BUCKET=$ZUFANG_TEST_S3_BUCKET
  export ZUFANG__APPLICATION__PORT=$port ZUFANG__WORKER__PORT=$wport
  # A benchmark uploads more than a person: the hourly per-user limit (60) would stop a rerun.
  export ZUFANG__PHOTOS__UPLOADS_PER_USER_PER_HOUR=100000
}

# secrets_dir NAME AMQP_PASSWORD S3_KEY_ID S3_SECRET: the files the app reads (mode 0600).
secrets_dir() {
  local d="$state/$1-secrets"
  mkdir -p "$d" && chmod 700 "$d"
  (umask 077
   cp "$MARIADB_PASSWORD_FILE" "$d/database_password"
   printf '%s' "$2" >"$d/amqp_password"
   printf '%s' "$3" >"$d/s3_access_key_id"
   printf '%s' "$4" >"$d/s3_secret_access_key")
}

mgmt() { # mgmt METHOD PATH [JSON]: the broker's management API as its admin (password via stdin config)
  local args=(-fsS -X "$1" -H 'content-type: application/json' "http://127.0.0.1:$ZUFANG_TEST_AMQP_HTTP_PORT$2")
  [[ -z ${3:-} ]] || args+=(--data-binary "$3")
  curl -K- "${args[@]}" <<<"user = \"zufang-admin:$ZUFANG_TEST_AMQP_ADMIN_PASSWORD\"" >/dev/null
}

# A fresh vhost with the stack's topology and permissions (rabbitmq/definitions.json).
make_vhost() {
  mgmt DELETE "/api/vhosts/$vhost" 2>/dev/null || true
  mgmt PUT "/api/vhosts/$vhost" '{}'
  local defs=$root/rabbitmq/definitions.json user perm
  while IFS=$'\t' read -r user perm; do
    mgmt PUT "/api/permissions/$vhost/$user" "$perm"
  done < <(python3 -c 'import json,sys
for p in json.load(open(sys.argv[1]))["permissions"]:
    print(p["user"], json.dumps({k: p[k] for k in ("configure", "write", "read")}), sep="\t")' "$defs")
  mgmt POST "/api/definitions/$vhost" "$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(json.dumps({k: [{f: v for f, v in i.items() if f != "vhost"} for i in d.get(k, [])]
                  for k in ("exchanges", "queues", "bindings", "policies")}))' "$defs")"
}

wait_url() { # wait_url URL PIDFILE WHAT
  for _ in $(seq 1 150); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$2")" 2>/dev/null || break
    sleep 0.2
  done
  die "$3 did not become ready; see its log in $state"
}

stop_pid() { # stop_pid PIDFILE
  [[ -f $1 ]] || return 0
  local pid; pid=$(cat "$1")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  rm -f "$1"
}

# The worker's start is timed by photos.sh: it reads the settings `up` saved, not the services'
# scripts again.
start_worker() {
  [[ -f $state/env ]] || die "run '$0 up' first"
  # shellcheck source=/dev/null
  source "$state/env"
  ZUFANG_SECRETS_DIR="$state/worker-secrets" ZUFANG__AMQP__USERNAME=zufang-worker \
    nohup "$bin" worker >>"$state/worker.log" 2>&1 &
  echo $! >"$state/worker.pid"
}

case $cmd in
up)
  [[ -x $bin ]] || die "no zufang binary at $bin: build it (cargo build --release -p zufang) or set ZUFANG_BIN"
  pipeline_env
  (umask 077; export -p | grep -E '^declare -x (ZUFANG__|ZUFANG_CONFIG_DIR=|ZUFANG_ENV=)' >"$state/env")
  make_vhost
  secrets_dir app "$ZUFANG_TEST_AMQP_APP_PASSWORD" "$ZUFANG_TEST_S3_APP_KEY_ID" "$ZUFANG_TEST_S3_APP_SECRET"
  secrets_dir worker "$ZUFANG_TEST_AMQP_WORKER_PASSWORD" "$ZUFANG_TEST_S3_WORKER_KEY_ID" "$ZUFANG_TEST_S3_WORKER_SECRET"
  export ZUFANG_SECRETS_DIR="$state/app-secrets"
  "$bin" migrate >>"$state/app.log" 2>&1 || die "migrate failed; see $state/app.log"
  "$bin" seed --scale small >>"$state/app.log" 2>&1 || die "seed failed; see $state/app.log"
  if [[ ! -s $state/admin-password ]]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$state/admin-password")
  fi
  ZUFANG_NEW_USER_PASSWORD=$(cat "$state/admin-password") "$bin" create-user --username photobench \
    --tel 13900009999 --role admin >>"$state/app.log" 2>&1 || die "create-user failed; see $state/app.log"
  stop_pid "$state/app.pid"
  nohup "$bin" serve >>"$state/app.log" 2>&1 &
  echo $! >"$state/app.pid"
  wait_url "http://127.0.0.1:$port/readyz" "$state/app.pid" "the app"
  stop_pid "$state/worker.pid"
  start_worker
  wait_url "http://127.0.0.1:$wport/readyz" "$state/worker.pid" "the worker"
  log "app http://127.0.0.1:$port, worker /metrics http://127.0.0.1:$wport/metrics (vhost $vhost)"
  ;;
down)
  stop_pid "$state/worker.pid"
  stop_pid "$state/app.pid"
  pipeline_env
  mgmt DELETE "/api/vhosts/$vhost" 2>/dev/null || true
  ;;
start-worker) start_worker ;;
stop-worker) stop_pid "$state/worker.pid" ;;
worker-status|worker-stat)
  pid=$(cat "$state/worker.pid" 2>/dev/null) || die "the worker is not running (no pid file)"
  cat "/proc/$pid/${cmd#worker-}"
  ;;
args)
  printf '%s\n' --url "http://127.0.0.1:$port" --user photobench --password-file "$state/admin-password" \
    --worker-metrics "http://127.0.0.1:$wport/metrics" --worker-status-cmd "$self worker-status" \
    --worker-cpu-cmd "$self worker-stat" \
    --stop-worker-cmd "$self stop-worker" --start-worker-cmd "$self start-worker"
  ;;
*) usage >&2; echo "photo-loopback: error: unknown command '$cmd'" >&2; exit 2 ;;
esac
