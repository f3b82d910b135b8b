#!/usr/bin/env bash
# shellcheck disable=SC2016 # the `bash -c` predicates below receive their values as $1, $2 on purpose
# Smoke test of the offline Zabbix images WITHOUT the stack's compose project or its 172.28
# networks: a plain `docker network create` network, the three images of monitoring/zabbix/images,
# the offline MariaDB (zabbix-db, also aliased `mysql` for the agent's plugin) and Redis, secrets
# made by scripts/images/runtime/init-secrets.sh. Checks: the server imports the schema and
# starts (and skips the import on a restart), the front end answers the JSON-RPC API
# (apiinfo.version 6.0.x, user.login Admin), configuration.import of monitoring/zabbix/templates,
# zabbix_get from the server container to agent 2 (agent.ping, keepalived UserParameter, MySQL and
# Redis plugins with passwords from files), the server polling the agent into item.get, non-root
# uids, and the entrypoints refusing a missing password. Builds missing images first.
usage() {
  cat <<'USAGE'
usage: monitoring/zabbix/images/smoke.sh [--keep] [--help]
  --keep   leave the containers and the network running at the end (for a look around)
Prints `N passed, M failed`; exits 1 on any failure. Needs root (docker, secret ownership).
Environment (defaults):
  ZBX_SMOKE_NET=zbxdev            docker network created for the run (no subnet: docker picks one)
  ZBX_SMOKE_PREFIX=zbxsmoke       container name prefix
  ZBX_SMOKE_TIMEOUT=240           seconds allowed for the server's first start (schema import)
  ZABBIX_SERVER_IMAGE / ZABBIX_WEB_IMAGE / ZABBIX_AGENT2_IMAGE   use these tags instead of
                                  building zufang-offline/zabbix-*:<inputs hash>
USAGE
}
set -euo pipefail
keep=0
for a in "$@"; do
  case $a in
    --help|-h) usage; exit 0 ;;
    --keep) keep=1 ;;
    *) echo "smoke.sh: unknown argument $a" >&2; usage >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
here=monitoring/zabbix/images
: "${ZBX_SMOKE_NET:=zbxdev}" "${ZBX_SMOKE_PREFIX:=zbxsmoke}" "${ZBX_SMOKE_TIMEOUT:=240}"
: "${OFFLINE_PREFIX:=zufang-offline}"
export DOCKER_BUILDKIT=0
t_start=$SECONDS
log() { printf '%s zabbix-smoke: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[[ $EUID -eq 0 ]] || { echo "smoke.sh: run as root (docker, and the secrets' numeric owners)" >&2; exit 1; }
"$root/scripts/ci/apt.sh" jq curl
"$root/scripts/ci/docker.sh" >/dev/null

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
nok() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # DESCRIPTION COMMAND...: pass when the command succeeds
  local d=$1; shift
  if "$@"; then ok "$d"; else nok "$d"; fi
}
expect() { # DESCRIPTION EXPECTED ACTUAL
  if [[ $3 == "$2" ]]; then ok "$1 ($3)"; else nok "$1: expected '$2', got '${3:0:300}'"; fi
}

# --- images: the offline base/MariaDB/Redis (build.sh) and ours (built here when missing) --------
offline_tags=$(scripts/images/build.sh --list --no-app 2>/dev/null)
offline_tag() { grep -m1 "^$OFFLINE_PREFIX/$1:" <<<"$offline_tags" || true; }
base=$(offline_tag debian) mariadb=$(offline_tag mariadb) redis=$(offline_tag redis)
if ! docker image inspect "$base" "$mariadb" "$redis" >/dev/null 2>&1; then
  log "offline base/MariaDB/Redis images missing: scripts/images/build.sh --no-app (log .cache/images/)"
  nice scripts/images/build.sh --no-app >&2
fi
# The tags build.sh gives these images (its --list computes them from the same inputs).
: "${ZABBIX_SERVER_IMAGE:=$(offline_tag zabbix-server)}"
: "${ZABBIX_WEB_IMAGE:=$(offline_tag zabbix-web)}"
: "${ZABBIX_AGENT2_IMAGE:=$(offline_tag zabbix-agent2)}"
build_if_missing() { # TAG DOCKER_BUILD_ARGS...
  local tag=$1; shift
  docker image inspect "$tag" >/dev/null 2>&1 && return 0
  log "building $tag (log .cache/images/${tag//[\/:]/_}.log)"
  mkdir -p .cache/images
  local logf=".cache/images/${tag//[\/:]/_}.log" t0=$SECONDS
  if ! nice docker build --network host --build-arg "BASE_IMAGE=$base" -t "$tag" "$@" >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2; return 1
  fi
  log "built $tag in $((SECONDS - t0))s"
}
t0=$SECONDS
build_if_missing "$ZABBIX_SERVER_IMAGE" --target zabbix-server -f "$here/Dockerfile" "$here"
build_if_missing "$ZABBIX_WEB_IMAGE" --target zabbix-web -f "$here/Dockerfile" "$here"
build_if_missing "$ZABBIX_AGENT2_IMAGE" -f "$here/agent2.Dockerfile" monitoring/zabbix/agent2
log "images ready in $((SECONDS - t0))s: $ZABBIX_SERVER_IMAGE $ZABBIX_WEB_IMAGE $ZABBIX_AGENT2_IMAGE"

# --- the compose profile: every zabbix service complete ----------------
# (rendered under a throw-away project name: nothing is created, the stack's project is not touched)
cfg=$(docker compose -p "$ZBX_SMOKE_PREFIX-config" -f compose.yaml \
  --profile zabbix config --format json 2>&1) && rc=0 || rc=$?
check "compose.yaml --profile zabbix config (exit $rc)" bash -c '(( $1 == 0 ))' _ "$rc"
for s in zabbix-db zabbix-server zabbix-web zabbix-agent2; do
  desc=$(jq -r --arg s "$s" '.services[$s] | [(.profiles // [] | join(",")), (.healthcheck.test != null),
    ((.mem_limit // 0) | tostring != "0"), ([.networks | keys[]] | join(","))] | join(" ")' <<<"$cfg" 2>/dev/null || true)
  check "compose service $s: profile zabbix, healthcheck, mem_limit, networks ($desc)" \
    bash -c '[[ $1 == "zabbix true true "* ]]' _ "$desc"
done
# The agent's build section (context monitoring/zabbix/agent2, Dockerfile outside it) builds with
# the compose CLI too (layer cache of the image above: seconds); throw-away tag, removed at once.
out=$(BASE_IMAGE=$base ZABBIX_AGENT2_IMAGE="$ZBX_SMOKE_PREFIX/compose-build:check" nice docker compose \
  -p "$ZBX_SMOKE_PREFIX-config" -f compose.yaml --profile zabbix \
  build zabbix-agent2 2>&1) && rc=0 || rc=$?
check "compose builds zabbix-agent2 from compose.yaml (exit $rc)" \
  bash -c '(( $1 == 0 )) && docker image inspect "$2" >/dev/null 2>&1' _ "$rc" "$ZBX_SMOKE_PREFIX/compose-build:check"
[[ $rc == 0 ]] || tail -n 5 <<<"$out" >&2
docker image rm "$ZBX_SMOKE_PREFIX/compose-build:check" >/dev/null 2>&1 || true
addr=$(jq -r '[.services | to_entries[] | select(.key | startswith("zabbix")) | .value.networks.monitoring.ipv4_address // empty] | sort | join(",")' <<<"$cfg" 2>/dev/null || true)
expect "zabbix addresses on monitoring" "172.28.30.50,172.28.30.51,172.28.30.52,172.28.30.53" "$addr"

# --- network, secrets, cleanup ---------------------------------------------------------------
p=$ZBX_SMOKE_PREFIX
containers=("$p-db" "$p-redis" "$p-server" "$p-web" "$p-agent2" "$p-half")
work=$(mktemp -d /tmp/zabbix-smoke.XXXXXX)
cleanup() {
  if (( keep )); then log "--keep: containers ${containers[*]}, network $ZBX_SMOKE_NET, files $work"; return; fi
  docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  docker network rm "$ZBX_SMOKE_NET" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
docker network rm "$ZBX_SMOKE_NET" >/dev/null 2>&1 || true
docker network create "$ZBX_SMOKE_NET" >/dev/null
# The same generator and layout as the stack's secrets volume (zabbix/ and zabbix-db/ folders).
bash scripts/images/runtime/init-secrets.sh "$work/secrets" 2>/dev/null
chmod 0711 "$work"
mkdir -p "$work/keepalived" && echo MASTER > "$work/keepalived/lb1.state" && chmod -R a+rX "$work/keepalived"
sec=(-v "$work/secrets:/run/stack-secrets:ro")
net=(--network "$ZBX_SMOKE_NET")
db_env=(-e DB_SERVER_HOST=zabbix-db -e DB_SERVER_PORT=3306 -e MYSQL_DATABASE=zabbix -e MYSQL_USER=zabbix
        -e MYSQL_PASSWORD_FILE=/run/stack-secrets/zabbix/db_password)

wait_for() { # SECONDS COMMAND...: poll every 2 s
  local limit=$1 t=$SECONDS; shift
  until "$@" >/dev/null 2>&1; do (( SECONDS - t < limit )) || return 1; sleep 2; done
}
healthy() { [[ $(docker inspect -f '{{.State.Health.Status}}' "$1") == healthy ]]; }
running() { [[ $(docker inspect -f '{{.State.Running}}' "$1") == true ]]; }

# --- zabbix-db (+ alias mysql: the agent's MySQL session), Redis ------------------------------
log "starting MariaDB ($mariadb) and Redis ($redis)"
docker run -d --name "$p-db" "${net[@]}" --network-alias zabbix-db --network-alias mysql "${sec[@]}" \
  -v "$root/$here/mysql-monitor-user.sh:/docker-entrypoint-initdb.d/20-zabbix-monitor-user.sh:ro" \
  -e MARIADB_DATABASE=zabbix -e MARIADB_USER=zabbix \
  -e MARIADB_PASSWORD_FILE=/run/stack-secrets/zabbix-db/password \
  -e MARIADB_ROOT_PASSWORD_FILE=/run/stack-secrets/zabbix-db/root_password \
  --health-cmd 'healthcheck.sh --connect --innodb_initialized' --health-interval 2s --health-retries 60 \
  --memory 320m "$mariadb" mariadbd --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
  --innodb-buffer-pool-size=64M >/dev/null
docker run -d --name "$p-redis" "${net[@]}" --network-alias redis "${sec[@]}" --memory 64m \
  "$redis" redis-server /run/stack-secrets/redis/redis.conf >/dev/null

# --- negative: the server and the front end refuse to start without a database password ---------
out=$(docker run --rm "${net[@]}" -e DB_SERVER_HOST=zabbix-db "$ZABBIX_SERVER_IMAGE" 2>&1) && rc=0 || rc=$?
check "server entrypoint refuses to start without MYSQL_PASSWORD[_FILE] (exit $rc)" \
  bash -c '[[ $1 != 0 && $2 == *MYSQL_PASSWORD* ]]' _ "$rc" "$out"
out=$(docker run --rm "${net[@]}" "$ZABBIX_WEB_IMAGE" 2>&1) && rc=0 || rc=$?
check "web entrypoint refuses to start without MYSQL_PASSWORD[_FILE] (exit $rc)" \
  bash -c '[[ $1 != 0 && $2 == *MYSQL_PASSWORD* ]]' _ "$rc" "$out"
out=$(docker run --rm "${net[@]}" "${sec[@]}" "${db_env[@]}" -e ZBX_NOSUCHOPTION=1 "$ZABBIX_SERVER_IMAGE" 2>&1) && rc=0 || rc=$?
check "server entrypoint refuses an unknown ZBX_ option (exit $rc)" \
  bash -c '[[ $1 != 0 && $2 == *NOSUCHOPTION* ]]' _ "$rc" "$out"

check "zabbix-db healthy" wait_for 90 healthy "$p-db"

# --- server: first start imports the schema --------------------------------------------------
log "starting the server ($ZABBIX_SERVER_IMAGE); the first start imports the schema"
t_import=$SECONDS
docker run -d --name "$p-server" "${net[@]}" --network-alias zabbix-server "${sec[@]}" "${db_env[@]}" \
  -e ZBX_ALLOWUNSUPPORTEDDBVERSIONS=1 -e ZBX_CACHEUPDATEFREQUENCY=5 -e ZBX_STARTPINGERS=0 \
  -e ZBX_UNREACHABLEPERIOD=15 \
  --health-cmd 'bash -c "</dev/tcp/127.0.0.1/10051"' --health-interval 3s --health-retries 100 \
  --memory 384m "$ZABBIX_SERVER_IMAGE" >/dev/null
if wait_for "$ZBX_SMOKE_TIMEOUT" healthy "$p-server"; then
  ok "server imported the schema and listens on 10051 ($((SECONDS - t_import))s)"
else
  nok "server not listening after ${ZBX_SMOKE_TIMEOUT}s"; docker logs --tail 40 "$p-server" >&2 || true
fi
slog=$(docker logs "$p-server" 2>&1 || true)
check "server log: schema imported by the entrypoint" grep -q 'schema imported in' <<<"$slog"
check "server log: zabbix_server started (6.0)" grep -Eq 'Starting Zabbix Server. Zabbix 6\.0\.' <<<"$slog"
check "server log: no database error" bash -c '! grep -Eiq "cannot use database|database is down|\[Z3005\]" <<<"$1"' _ "$slog"
expect "server runs as uid 1997" 1997 "$(docker exec "$p-server" id -u 2>&1)"
conf_mode=$(docker exec "$p-server" stat -c '%a' /run/zabbix/zabbix_server.conf 2>&1 || true)
expect "server config (holds the DB password) is private" 600 "$conf_mode"

# --- web front end + JSON-RPC API ------------------------------------------------------------
log "starting the front end ($ZABBIX_WEB_IMAGE)"
docker run -d --name "$p-web" "${net[@]}" --network-alias zabbix-web "${sec[@]}" "${db_env[@]}" \
  -e ZBX_SERVER_HOST=zabbix-server -e ZBX_SERVER_NAME=zufang-smoke -e PHP_TZ=UTC \
  -p 127.0.0.1::8080 --memory 256m "$ZABBIX_WEB_IMAGE" >/dev/null
web_port=$(docker port "$p-web" 8080/tcp | head -n1 | sed 's/.*://')
api_url="http://127.0.0.1:$web_port/api_jsonrpc.php"
# The repository's one Zabbix API client (monitoring/zabbix/zabbix_api.py), through its command line.
export ZBX_API_URL=$api_url ZBX_AUTH=
zbx_cli() { python3 "$root/monitoring/zabbix/zabbix_api.py" "$@"; }
api() { zbx_cli call "$@"; }
zbx_import() { zbx_cli import "$1"; }
# Sets ZBX_AUTH for the calls after it; fails (quietly with 2>/dev/null) on a refused login.
zbx_login() { local tok; tok=$(ZBX_AUTH='' zbx_cli login "$1" <<<"$2") && ZBX_AUTH=$tok; }
check "front end answers on :8080 (host port $web_port)" wait_for 60 api apiinfo.version '[]'
version=$(api apiinfo.version '[]' 2>&1 | tr -d '"' || true)
check "apiinfo.version is 6.0.x ($version)" bash -c '[[ $1 =~ ^6\.0\.[0-9]+$ ]]' _ "$version"
home=$(curl -sS --max-time 20 "http://127.0.0.1:$web_port/" 2>&1 || true)
check "UI login page is served (no setup wizard, no DB error)" \
  bash -c '[[ $1 == *"Sign in"* && $1 != *"Database error"* && $1 != *setup.php* ]]' _ "$home"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web_port/conf/zabbix.conf.php" || true)
expect "configuration folder is not served" 403 "$code"
if zbx_login Admin zabbix; then
  ok "user.login as the default Admin"
else
  nok "user.login as the default Admin"
fi
expect "web runs as uid 1997" 1997 "$(docker exec "$p-web" id -u 2>&1)"

for f in monitoring/zabbix/templates/*.yaml; do
  res=$(zbx_import "$f" 2>&1 || true)
  expect "configuration.import $(basename "$f")" true "$res"
done
names=$(api template.get '{"output":["name"],"search":{"name":"zufang"}}' 2>/dev/null | jq -r '.[].name' | sort | paste -sd, || true)
check "imported templates present ($names)" bash -c '[[ $1 == *"zufang by HTTP"* && $1 == *"zufang data by Zabbix agent 2"* ]]' _ "$names"
ntrig=$(api trigger.get '{"templated":true,"countOutput":true,"search":{"description":"zufang"}}' 2>/dev/null | tr -d '"' || echo 0)
check "template triggers imported ($ntrig zufang triggers)" bash -c '(( ${1:-0} > 0 ))' _ "$ntrig"

# --- agent 2: the repository's config, passwords from files ----------------------------------
log "starting agent 2 ($ZABBIX_AGENT2_IMAGE)"
docker run -d --name "$p-agent2" "${net[@]}" --network-alias zabbix-agent2 --hostname zabbix-agent2 "${sec[@]}" \
  -v "$work/keepalived:/var/lib/keepalived/state:ro" -e ZBX_SECRETS_DIR=/run/stack-secrets/zabbix \
  --read-only --tmpfs /run/zabbix:uid=1997,gid=1997,mode=0700,size=1m --tmpfs /tmp:size=8m \
  --health-cmd 'bash -c "</dev/tcp/127.0.0.1/10050"' --health-interval 2s --health-retries 30 \
  --memory 64m "$ZABBIX_AGENT2_IMAGE" >/dev/null
check "agent 2 listens on 10050" wait_for 60 healthy "$p-agent2"
expect "agent runs as uid 1997" 1997 "$(docker exec "$p-agent2" id -u 2>&1)"
expect "rendered plugin secrets are 0600 on tmpfs" 600 \
  "$(docker exec "$p-agent2" stat -c '%a' /run/zabbix/agent2.d/plugin-secrets.conf 2>&1)"
check "no password in the agent image's config" \
  bash -c '! docker run --rm --entrypoint grep "$1" -rqi "password=" /etc/zabbix' _ "$ZABBIX_AGENT2_IMAGE"
zget() { docker exec "$p-server" zabbix_get -s zabbix-agent2 -p 10050 -t 10 -k "$1" 2>&1; }
# The agent's first MySQL/Redis connection may still be opening: give it a few tries.
for _ in 1 2 3 4 5; do [[ $(zget 'mysql.ping["zufang"]') == 1 ]] && break; sleep 2; done
expect "zabbix_get agent.ping (server container -> agent)" 1 "$(zget agent.ping)"
expect "zabbix_get zufang.keepalived.state[lb1] (state file)" MASTER "$(zget 'zufang.keepalived.state[lb1]')"
expect "zabbix_get zufang.keepalived.state[lb2] (no file)" UNKNOWN "$(zget 'zufang.keepalived.state[lb2]')"
expect "zabbix_get mysql.ping[\"zufang\"] (password from a file)" 1 "$(zget 'mysql.ping["zufang"]')"
expect "zabbix_get redis.ping[\"zufang\"] (password from a file)" 1 "$(zget 'redis.ping["zufang"]')"
expect "zabbix_get zufang.app.healthz on a closed port reads 0" 0 \
  "$(zget 'zufang.app.healthz[http://zabbix-server:8080/healthz]')"
expect "zabbix_get system.run is denied" "ZBX_NOTSUPPORTED: Unknown metric system.run" \
  "$(zget 'system.run[id]' | head -c 44)"

# --- the server polls the agent: a host with an agent interface, item value through the API ---
gid=$(api hostgroup.get '{"output":["groupid"],"filter":{"name":["Templates"]}}' 2>/dev/null | jq -r '.[0].groupid' || true)
hostid=$(api host.create "$(jq -n --arg g "$gid" '{host:"zbxsmoke-agent2",groups:[{groupid:$g}],
  interfaces:[{type:1,main:1,useip:0,ip:"",dns:"zabbix-agent2",port:"10050"}]}')" 2>/dev/null | jq -r '.hostids[0]' || true)
ifid=$(api hostinterface.get "$(jq -n --arg h "$hostid" '{output:["interfaceid"],hostids:$h}')" 2>/dev/null | jq -r '.[0].interfaceid' || true)
api item.create "$(jq -n --arg h "$hostid" --arg i "$ifid" '[
  {hostid:$h,interfaceid:$i,name:"ping",key_:"agent.ping",type:0,value_type:3,delay:"5s"},
  {hostid:$h,interfaceid:$i,name:"redis",key_:"redis.ping[\"zufang\"]",type:0,value_type:3,delay:"5s"},
  {hostid:$h,interfaceid:$i,name:"lb1",key_:"zufang.keepalived.state[lb1]",type:0,value_type:1,delay:"5s"}]')" >/dev/null 2>&1 || true
values() { api item.get "$(jq -n --arg h "$hostid" '{output:["key_","lastvalue","lastclock"],hostids:$h}')" 2>/dev/null |
  jq -r 'map(select(.lastclock != "0")) | sort_by(.key_) | map(.key_ + "=" + .lastvalue) | join(" ")'; }
t_poll=$SECONDS
want='agent.ping=1 redis.ping["zufang"]=1 zufang.keepalived.state[lb1]=MASTER'
got=""
while (( SECONDS - t_poll < 120 )); do got=$(values || true); [[ $got == "$want" ]] && break; sleep 3; done
if [[ $got == "$want" ]]; then
  ok "server polled the agent: item.get lastvalue $want ($((SECONDS - t_poll))s)"
else
  nok "server polling the agent: expected '$want', got '$got'"
fi

# --- zabbix-init (the compose one-shot): Admin password, templates, the stack's hosts ----------
init_run() {
  docker run --rm "${net[@]}" "${sec[@]}" --read-only --entrypoint python3 \
    -v "$root/monitoring/zabbix/zabbix_init.py:/opt/zabbix-init/zabbix_init.py:ro" \
    -v "$root/monitoring/zabbix/zabbix_api.py:/opt/zabbix-init/zabbix_api.py:ro" -v "$root/monitoring/zabbix/templates:/templates:ro" \
    -e ZBX_API_URL=http://zabbix-web:8080/api_jsonrpc.php -e PYTHONDONTWRITEBYTECODE=1 \
    -e ZBX_ADMIN_PASSWORD_FILE=/run/stack-secrets/zabbix/admin_password \
    "$ZABBIX_AGENT2_IMAGE" /opt/zabbix-init/zabbix_init.py
}
out=$(init_run 2>&1) && rc=0 || rc=$?
check "zabbix-init runs (exit $rc)" bash -c '(( $1 == 0 ))' _ "$rc"
[[ $rc == 0 ]] || tail -n 5 <<<"$out" >&2
ZBX_AUTH=
default_refused() { ! zbx_login Admin zabbix 2>/dev/null; }
check "after zabbix-init the default Admin password is refused" default_refused
if zbx_login Admin "$(head -n 1 "$work/secrets/zabbix/admin_password")"; then
  ok "Admin logs in with the generated password (secrets zabbix/admin_password)"
else
  nok "Admin login with the generated password"
fi
hosts=$(api host.get '{"output":["host"],"selectParentTemplates":["host"],"selectMacros":["macro","value"],"filter":{"host":["app1","app2","app3","lb1","lb2","edge","mysql"]}}' 2>/dev/null || echo '[]')
summary=$(jq -r 'sort_by(.host) | map(.host + ":" + ([.parentTemplates[].host] | sort | join("+"))) | join(" ")' <<<"$hosts")
expect "zabbix-init hosts and templates" \
  "app1:zufang app by Zabbix agent 2+zufang by HTTP app2:zufang app by Zabbix agent 2+zufang by HTTP app3:zufang app by Zabbix agent 2+zufang by HTTP edge:zufang edge pair lb1:zufang edge by Zabbix agent 2 lb2:zufang edge by Zabbix agent 2 mysql:zufang data by Zabbix agent 2" \
  "$summary"
expect "app2's metrics URL macro" "http://app2:8080/metrics" \
  "$(jq -r '.[] | select(.host == "app2") | .macros[] | select(.macro == "{$ZUFANG.METRICS.URL}") | .value' <<<"$hosts")"
out=$(init_run 2>&1) && rc=0 || rc=$?
check "zabbix-init again: idempotent (exit $rc, hosts left as they are)" \
  bash -c '(( $1 == 0 )) && [[ $2 == *"host app1 exists"* ]]' _ "$rc" "$out"

# --- a restart keeps the schema --------------------------------------------------------------
docker restart -t 30 "$p-server" >/dev/null
check "server back after a restart" wait_for 90 healthy "$p-server"
check "restart skipped the import (schema kept)" \
  bash -c 'docker logs "$1" 2>&1 | grep -q "holds a Zabbix schema"' _ "$p-server"

# --- an interrupted import (tables, no users) is dropped and redone, not run on ----------------
# Only the start of the redo is watched (the full import was measured above).
docker exec -e MYSQL_PWD="$(head -n 1 "$work/secrets/zabbix-db/root_password")" "$p-db" mariadb -uroot -e "
  CREATE DATABASE zabbix_half CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
  GRANT ALL ON zabbix_half.* TO 'zabbix'@'%';
  CREATE TABLE zabbix_half.dbversion (dbversionid bigint); CREATE TABLE zabbix_half.users (userid bigint);" 2>&1 || true
docker run -d --name "$p-half" "${net[@]}" "${sec[@]}" "${db_env[@]}" -e MYSQL_DATABASE=zabbix_half \
  --memory 256m "$ZABBIX_SERVER_IMAGE" >/dev/null
half_redone() { [[ $(docker logs "$p-half" 2>&1) == *"(interrupted import): dropping them"*"importing the Zabbix"* ]]; }
if wait_for 30 half_redone; then
  ok "half-imported database: tables dropped, import started again"
else
  nok "half-imported database not redone"; docker logs --tail 5 "$p-half" >&2 || true
fi
docker rm -f "$p-half" >/dev/null 2>&1 || true

# --- measured memory (for mem_limit) ---------------------------------------------------------
# Peak: cgroup v1 max_usage (page cache included, so an upper bound) or v2 memory.peak.
peak() {
  local id f
  id=$(docker inspect -f '{{.Id}}' "$1")
  for f in "/sys/fs/cgroup/memory/docker/$id/memory.max_usage_in_bytes" "/sys/fs/cgroup/system.slice/docker-$id.scope/memory.peak"; do
    [[ -r $f ]] && { echo "$(( $(cat "$f") / 1048576 ))MiB"; return; }
  done
  echo "?"
}
for c in "$p-db" "$p-server" "$p-web" "$p-agent2"; do
  log "memory $c: now $(docker stats --no-stream --format '{{.MemUsage}}' "$c" | sed 's| / .*||'), peak $(peak "$c")"
done

echo "zabbix smoke: $(( SECONDS - t_start ))s"
echo "$passed passed, $failed failed"
(( failed == 0 ))
