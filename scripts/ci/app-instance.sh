#!/usr/bin/env bash
# Run a real zufang instance on loopback for a test area, on its own database and Redis prefix.
#   scripts/ci/app-instance.sh start NAME PORT   build (if needed), migrate, seed small, serve, wait for /readyz
#   scripts/ci/app-instance.sh stop NAME         SIGTERM and wait for a clean exit
#   scripts/ci/app-instance.sh url NAME          print http://127.0.0.1:PORT
#   scripts/ci/app-instance.sh exec NAME ARGS... run `zufang ARGS...` on the instance's database (e.g. create-user)
# Extra ZUFANG__* variables in the caller's environment are passed through (e.g. trusted proxies).
# Logs: .cache/app-NAME.log. Binary: target/debug/zufang (override with ZUFANG_BIN).
set -euo pipefail
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
[[ "${1:-}" == "--help" || $# -lt 2 ]] && { usage; exit 0; }
root=$(cd "$(dirname "$0")/../.." && pwd)
cmd=$1 name=$2
[[ $name =~ ^[a-z0-9_]+$ ]] || { echo "app-instance: NAME must match [a-z0-9_]+" >&2; exit 2; }
state="$root/.cache/app-instances"; mkdir -p "$state"
pidfile="$state/$name.pid" portfile="$state/$name.port" log="$root/.cache/app-$name.log"

# The instance's configuration: its database and Redis prefix on the shared services.
instance_env() {
  eval "$("$root/scripts/ci/services.sh" --env)"
  bin=${ZUFANG_BIN:-$root/target/debug/zufang}
  export ZUFANG_CONFIG_DIR="$root/app/config" ZUFANG_ENV=development ZUFANG_SECRETS_DIR="$state/no-secrets"
  export ZUFANG__DATABASE__HOST=$MARIADB_HOST ZUFANG__DATABASE__PORT=$MARIADB_PORT
  export ZUFANG__DATABASE__USERNAME=$MARIADB_USER ZUFANG__DATABASE__NAME="zufang_$name"
  ZUFANG__DATABASE__PASSWORD=$(cat "$MARIADB_PASSWORD_FILE"); export ZUFANG__DATABASE__PASSWORD
  export ZUFANG__REDIS__KEY_PREFIX="zufang:$name:"
}

case $cmd in
start)
  port=${3:?PORT required}
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "app-instance: $name already running (pid $(cat "$pidfile"))" >&2; exit 0
  fi
  instance_env
  if [[ -z ${ZUFANG_BIN:-} ]]; then
    echo "app-instance: building zufang" >&2
    (cd "$root" && cargo build -q -p zufang --bin zufang)
  fi
  export ZUFANG__APPLICATION__PORT=$port
  export ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS=${ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS:-1}
  export ZUFANG__LOG__FORMAT=${ZUFANG__LOG__FORMAT:-json}
  "$bin" migrate >>"$log" 2>&1 || { echo "app-instance: migrate failed, see $log" >&2; exit 1; }
  "$bin" seed --scale small >>"$log" 2>&1 || { echo "app-instance: seed failed, see $log" >&2; exit 1; }
  nohup "$bin" serve >>"$log" 2>&1 &
  echo $! >"$pidfile"; echo "$port" >"$portfile"
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      echo "app-instance: $name ready on http://127.0.0.1:$port (pid $(cat "$pidfile"))" >&2; exit 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.2
  done
  echo "app-instance: $name did not become ready; last log lines:" >&2; tail -20 "$log" >&2; exit 1
  ;;
stop)
  [[ -f $pidfile ]] || exit 0
  pid=$(cat "$pidfile")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { echo "app-instance: $name ignored SIGTERM; killing" >&2; kill -KILL "$pid"; }
  fi
  rm -f "$pidfile"
  ;;
exec)
  instance_env
  shift 2
  exec "$bin" "$@"
  ;;
url)
  echo "http://127.0.0.1:$(cat "$portfile")"
  ;;
*) usage; exit 2 ;;
esac
