#!/usr/bin/env bash
# Zero-downtime release of the app on the compose stack (docs/runbooks/deploy.md): migrations
# first (backward compatible: scripts/ops/check-migrations.sh), then app1..appN one at a time —
# drained from both proxies' upstream (graceful nginx reload: in-flight requests finish), stopped
# (the app's own drain: readiness 503, then in-flight requests end), started on the new image,
# healthy, checked for its build, put back; then the photo worker — and the previous image kept
# for `rollback`.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ops/deploy.sh [--image IMAGE]     deploy the app (make deploy [IMAGE=...])
       scripts/ops/deploy.sh rollback            the previous image, the same walk (make rollback)
       scripts/ops/deploy.sh --edge              reload nginx (nginx -t first) and keepalived on
                                                 both proxies after a configuration change
       scripts/ops/deploy.sh status              the image and build of every replica, and the history
       scripts/ops/deploy.sh restart             the same walk on the running image (replicas and the
                                                 worker re-read their configuration and secret files;
                                                 rotation.md)
  --image IMAGE   an image already on this machine (default: build one from this checkout: the
                  offline builder for an offline stack, `docker build` of app/Dockerfile otherwise)
Environment (defaults):
  STACK_ENV_FILE      the stack's env file (default .env; offline images: make up's compose.override.yaml)
  DEPLOY_REPLICAS     "app1 app2 app3"
  DEPLOY_WAIT=120     seconds a new replica may take to become healthy
  MIGRATIONS_DIR      app/migrations (checked for destructive statements before anything happens)
The deployed image is written where compose reads it (APP_IMAGE in an offline stack's generated
env file; for .env, the tag it names is moved to the new image), so a later `docker compose up -d`
keeps it. History: .deploy/history (time, previous image, new image).
USAGE
}
export OPS_NAME=deploy
# shellcheck source=scripts/ops/lib.sh
. "$(dirname "$0")/lib.sh"
: "${DEPLOY_REPLICAS:=app1 app2 app3}"
: "${DEPLOY_WAIT:=120}"
: "${MIGRATIONS_DIR:=$ops_root/app/migrations}"
history_file=$ops_root/.deploy/history
gen=/etc/nginx/generated/upstream-servers.conf

running_lbs() { running_services | grep -E '^lb[0-9]+$' || true; }
replica_addr() { # the replica's address on the backend network (the proxies' upstream entry)
  docker inspect "$(compose ps -q "$1")" | python3 -c 'import json, sys
nets = json.load(sys.stdin)[0]["NetworkSettings"]["Networks"]
print(next((v["IPAddress"] for k, v in nets.items() if k.endswith("_backend")), ""))'
}
running_image() { docker inspect -f '{{.Config.Image}}' "$(compose ps -q "$1")"; }
image_id() { docker image inspect -f '{{.Id}}' "$1"; }

# The build a replica reports (zufang_build_info), asked from a proxy on the backend network.
replica_build() {
  local lb; lb=$(running_lbs | head -n 1)
  compose exec -T "$lb" curl -fsS --max-time 3 "http://$1:8080/metrics" | sed -n 's/^zufang_build_info{\(.*\)} 1$/\1/p'
}

# Nginx reload on every running proxy, config checked first (a failed check changes nothing).
reload_edge() {
  local lb
  for lb in $(running_lbs); do
    compose exec -T "$lb" nginx -p /etc/nginx/ -c /etc/nginx/nginx.conf -t -q || ops_die "nginx -t failed on $lb: nothing reloaded there"
    local out
    out=$(compose exec -T "$lb" nginx -p /etc/nginx/ -c /etc/nginx/nginx.conf -s reload 2>&1) \
      || ops_die "nginx reload failed on $lb: $out"
  done
  # Old workers finish their requests, then exit: wait for that (bounded).
  local t=0
  for lb in $(running_lbs); do
    while compose exec -T "$lb" pgrep -f 'worker process is shutting down' >/dev/null 2>&1; do
      (( t++ < 300 )) || { ops_log "$lb: old nginx workers still finishing after 30 s (long requests)"; break; }
      sleep 0.1
    done
  done
}

# drain|undrain ADDR: mark the replica `down` in every proxy's upstream (the entrypoint's line is
# kept aside and put back), then reload.
upstream() {
  local action=$1 addr=$2 lb
  for lb in $(running_lbs); do
    if [[ $action == drain ]]; then
      compose exec -T "$lb" sh -c "cp -n $gen $gen.orig && sed -i -E 's|^server $addr:8080 .*;|server $addr:8080 down;|' $gen"
    else
      compose exec -T "$lb" sh -c "if [ -f $gen.orig ]; then mv $gen.orig $gen; fi"
    fi
  done
  reload_edge
}

# Replace one replica with IMAGE; on failure put the old image back and stop.
replace() {
  local svc=$1 image=$2 old=$3 addr t0=$SECONDS
  addr=$(replica_addr "$svc")
  [[ -n $addr ]] || ops_die "$svc has no address on the backend network (is it running?)"
  ops_log "$svc ($addr): draining from the proxies"
  upstream drain "$addr"
  ops_log "$svc: stopping (its own drain: readiness 503, in-flight requests finish)"
  compose stop -t 30 "$svc" >/dev/null
  ops_log "$svc: starting $image"
  if ! APP_IMAGE=$image compose up -d --no-deps --no-build --pull never --wait --wait-timeout "$DEPLOY_WAIT" "$svc"; then
    ops_log "$svc did not become healthy on $image: putting $old back"
    APP_IMAGE=$old compose up -d --no-deps --no-build --pull never --wait --wait-timeout "$DEPLOY_WAIT" "$svc" || true
    upstream undrain "$addr"
    ops_die "deploy aborted at $svc; the replicas run $old"
  fi
  upstream undrain "$addr"
  ops_log "$svc: serving $(replica_build "$addr") in $((SECONDS - t0)) s"
}

# The photo worker (`zufang worker`, the app's image): after the replicas, every worker container
# replaced on IMAGE, at the scale it runs at. Its own drain: SIGTERM finishes or gives back the
# job in hand (an unacked message goes back to the queue), so no job is lost. Not running (a
# stack without it): nothing to do.
replace_worker() {
  local image=$1 n
  n=$(running_services | grep -cx worker || true)
  (( n > 0 )) || return 0
  ops_log "worker: replacing $n container(s) on $image (each finishes or gives back its job)"
  APP_IMAGE=$image compose up -d --no-deps --no-build --pull never --force-recreate --scale "worker=$n" \
    --wait --wait-timeout "$DEPLOY_WAIT" worker \
    || ops_die "the worker did not become ready on $image (docker compose logs worker)"
}

# Where compose reads APP_IMAGE from: keep it pointing at what runs.
record_image() {
  local image=$1 env_path=$ops_root/$STACK_ENV_FILE named
  named=$(sed -n 's/^APP_IMAGE=//p' "$env_path" | tail -n 1)
  if [[ $STACK_ENV_FILE == .env ]]; then
    [[ $named == "$image" ]] || docker tag "$image" "$named"
  else
    sed -i "s|^APP_IMAGE=.*|APP_IMAGE=$image|" "$env_path"
  fi
}

build_image() {
  if offline_images; then
    "$ops_root/scripts/images/build.sh" >&2
    sed -n 's/^APP_IMAGE=//p' "$ops_root/.env.offline" | tail -n 1
  else
    local tag; tag="zufang/app:$(git -C "$ops_root" describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)"
    ops_log "building $tag (docker build -f app/Dockerfile)"
    (cd "$ops_root" && docker build -q -f app/Dockerfile -t "$tag" \
      --build-arg "VERSION=$(git describe --always --dirty 2>/dev/null || echo dev)" \
      --build-arg "GIT_SHA=$(git rev-parse HEAD 2>/dev/null || echo unknown)" .) >&2
    echo "$tag"
  fi
}

deploy() {
  local image=${1:-} what=${2:-deploy}
  local first; first=$(echo "$DEPLOY_REPLICAS" | awk '{print $1}')
  running_services | grep -qx "$first" || ops_die "$first is not running: bring the stack up first (make up)"
  "$ops_root/scripts/ops/check-migrations.sh" "$MIGRATIONS_DIR" \
    || ops_die "a migration would break the running release (see above): nothing deployed"
  [[ -n $image ]] || image=$(build_image)
  docker image inspect "$image" >/dev/null 2>&1 || ops_die "no image $image on this machine (docker images; make deploy builds one when IMAGE is not given)"
  local old t0=$SECONDS
  old=$(running_image "$first")
  # The history must name the old release by something that does not move: the name .env gives
  # the app (zufang/app:local) is re-pointed at every deploy (record_image), which would make the
  # rollback target the new image. The old image gets a tag of its own id.
  if [[ $old != *@sha256:* ]]; then
    local pinned
    pinned="${old%:*}:id-$(image_id "$old" | sed 's/^sha256://' | cut -c1-12)"
    [[ $pinned == "$old" ]] || docker tag "$old" "$pinned"
    old=$pinned
  fi
  ops_log "$what: $old -> $image on ${DEPLOY_REPLICAS// /, }"
  ensure_db_accounts
  ops_log "migrations first (zufang migrate with the new image; they must work with the old one too)"
  APP_IMAGE=$image compose run --rm --no-deps --pull never -T --entrypoint zufang migrate migrate >&2 \
    || ops_die "migrations failed: no replica was touched"
  local svc
  for svc in $DEPLOY_REPLICAS; do
    if [[ $(image_id "$(running_image "$svc")") == $(image_id "$image") ]]; then
      ops_log "$svc already runs it"; continue
    fi
    replace "$svc" "$image" "$(running_image "$svc")"
  done
  replace_worker "$image"
  # Every replica reports the same build.
  local builds
  builds=$(for svc in $DEPLOY_REPLICAS; do replica_build "$(replica_addr "$svc")"; done | sort -u)
  [[ $(wc -l <<< "$builds") == 1 ]] || ops_die "replicas report different builds: $builds"
  record_image "$image"
  mkdir -p "$(dirname "$history_file")"
  [[ $what == rollback ]] || printf '%s %s %s\n' "$(date -u +%FT%TZ)" "$old" "$image" >> "$history_file"
  ops_log "$what done in $((SECONDS - t0)) s: every replica runs $image ($builds)"
}

rollback() {
  [[ -s $history_file ]] || ops_die "no deploy in $history_file: nothing to roll back to"
  local line prev cur
  line=$(tail -n 1 "$history_file")
  read -r _ prev cur <<< "$line"
  docker image inspect "$prev" >/dev/null 2>&1 || ops_die "the previous image $prev is gone from this machine"
  deploy "$prev" rollback
  # The deploy is undone: the history loses its line (a second rollback goes one further back).
  sed -i '$d' "$history_file"
  ops_log "rolled back from $cur"
}

status() {
  local svc
  for svc in $DEPLOY_REPLICAS; do
    printf '%-6s %-45s %s\n' "$svc" "$(running_image "$svc")" "$(replica_build "$(replica_addr "$svc")")"
  done
  [[ -s $history_file ]] && { echo "history (time, previous, deployed):"; cat "$history_file"; }
  return 0
}

# Every replica restarted on its own image, drained like a deploy (new secret files take effect).
restart() {
  local svc
  local first; first=$(echo "$DEPLOY_REPLICAS" | awk '{print $1}')
  for svc in $DEPLOY_REPLICAS; do replace "$svc" "$(running_image "$svc")" "$(running_image "$svc")"; done
  replace_worker "$(running_image "$first")"
  ops_log "restart done: every replica and worker re-read its configuration"
}

case ${1:-} in
  -h|--help) usage ;;
  restart) restart ;;
  rollback) rollback ;;
  status) status ;;
  --edge)
    ops_log "reloading nginx (checked first) and keepalived on $(running_lbs | tr '\n' ' ')"
    reload_edge
    # shellcheck disable=SC2016 # expanded in the proxy's shell
    for lb in $(running_lbs); do compose exec -T "$lb" sh -c 'kill -HUP "$(cat /run/keepalived.pid 2>/dev/null || pgrep -o keepalived)"'; done
    ops_log "edge reloaded" ;;
  --image) [[ -n ${2:-} ]] || ops_die "--image needs an image"; deploy "$2" ;;
  "") deploy "" ;;
  *) usage >&2; exit 2 ;;
esac
