#!/usr/bin/env bash
# failover-netns.sh: keepalived failover between two edge nodes, measured on one machine without
# containers. Network namespaces stand in for the hosts: zfedge-lb1 and zfedge-lb2 (each runs
# nginx/docker-entrypoint.sh edge: this repository's nginx configuration and keepalived rendered
# from the template, as the image does), zfedge-cl (a client
# that requests the VIP every 50 ms), joined by a bridge in zfedge-sw. All traffic stays inside
# these namespaces. Prints one ok/FAIL line per assertion, the measured figures, and writes them
# to $FAILOVER_OUT (JSON). Called by nginx/tests/run.sh; usable alone as root.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: nginx/tests/failover-netns.sh [--help]
  Scenarios (VIP 10.231.0.100, lb1 .11 priority 250, lb2 .12 priority 240, advert_int 1 s):
    1. steady state: exactly one node holds the VIP (lb1, the higher priority)
    2. graceful: SIGQUIT (docker stop with the image's STOPSIGNAL) to the master's entrypoint
       -> VIP on the backup (bound 1 s)
    3. recovery: the old master restarts and stays BACKUP (nopreempt), one VIP holder
    4. hard: link down + SIGKILL of every process of the master (docker kill) -> VIP moves (bound 4 s)
    5. nginx dies, keepalived lives on the master -> track script FAULT -> VIP moves (bound 4 s)
  Environment: FAILOVER_OUT=artifacts/edge/failover.json  KEEP=1 (leave namespaces for inspection)
  Needs root, iproute2, nginx, keepalived, curl, openssl.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
[[ $(id -u) -eq 0 ]] || { echo "failover-netns: needs root" >&2; exit 1; }
for c in ip nginx keepalived curl openssl; do
  command -v "$c" >/dev/null || { echo "failover-netns: needs $c (scripts/ci/apt.sh iproute2 nginx keepalived curl openssl)" >&2; exit 1; }
done

root=$(cd "$(dirname "$0")/../.." && pwd)
: "${FAILOVER_OUT:=$root/artifacts/edge/failover.json}"
: "${KEEP:=0}"
VIP=10.231.0.100
declare -A IP=([lb1]=10.231.0.11 [lb2]=10.231.0.12 [cl]=10.231.0.50)
declare -A PRIO=([lb1]=250 [lb2]=240)
work=$(mktemp -d /tmp/edge-failover.XXXXXX)
chmod 755 "$work"
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1${2:+: $2}"; }
now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
ns() { local n=$1; shift; ip netns exec "zfedge-$n" "$@"; }

cleanup() {
  local n f
  if [[ -n ${client_pid:-} ]]; then kill "$client_pid" 2>/dev/null || true; fi
  for n in lb1 lb2; do
    for f in edge.pid run/keepalived.pid run/vrrp.pid nginx/run/nginx.pid; do
      if [[ -f $work/$n/$f ]]; then kill "$(cat "$work/$n/$f")" 2>/dev/null || true; fi
    done
  done
  for _ in $(seq 30); do  # up to 3 s for keepalived to say goodbye and nginx to stop
    pgrep -f "$work/" >/dev/null || break
    sleep 0.1
  done
  if [[ $KEEP != 1 ]]; then
    for n in lb1 lb2 cl sw; do ip netns del "zfedge-$n" 2>/dev/null || true; done
    rm -rf "$work"
  else
    echo "kept $work and the zfedge-* namespaces"
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------- network
for n in lb1 lb2 cl sw; do ip netns del "zfedge-$n" 2>/dev/null || true; ip netns add "zfedge-$n"; done
ns sw ip link add br0 type bridge
ns sw ip link set br0 up
for n in lb1 lb2 cl; do
  ip link add eth0 netns "zfedge-$n" type veth peer name "p-$n" netns zfedge-sw
  ns sw ip link set "p-$n" master br0
  ns sw ip link set "p-$n" up
  ns "$n" ip addr add "${IP[$n]}/24" dev eth0
  ns "$n" ip link set eth0 up
  ns "$n" ip link set lo up
done

# ------------------------------------------------------------------------------------ nodes
"$root/scripts/tls/make-dev-cert.sh" --cert "$work/tls/tls.crt" --key "$work/tls/tls.key" >/dev/null
# keepalived's enable_script_security refuses scripts under a path that is not root-owned or is
# writable by others: run copies from this root-owned temporary folder, wherever the clone lives.
cp -r "$root/nginx/keepalived" "$work/keepalived"
chown -R root:root "$work/keepalived"
chmod -R go-w "$work/keepalived"
auth=$(openssl rand -hex 4)
# start_edge NODE: the image's own entrypoint in `edge` mode (renders nginx and keepalived from
# the environment, supervises both), inside the node's namespace. `ip netns exec` and `env` exec
# in place, so $! is the entrypoint's shell: what docker stop/kill would signal as PID 1.
start_edge() {
  local n=$1 d="$work/$1" peer=lb2
  [[ $n == lb2 ]] && peer=lb1
  mkdir -p "$d/nginx"
  cp -r "$root"/nginx/{nginx.conf,conf.d,snippets,html} "$d/nginx/"
  cp /etc/nginx/mime.types "$d/nginx/"
  # Port 80 serves the static site; nothing is proxied here (the upstream is never used).
  # keepalived hands its environment to the scripts it runs: the hooks find this node's files.
  # Default SIGINT/SIGQUIT for the entrypoint, as PID 1 of a container has them: bash starts
  # background commands with both ignored (and so does whatever started this script in the
  # background, e.g. a CI runner), and a signal ignored on entry cannot be trapped, so the
  # entrypoint could not trap the SIGQUIT that docker stop sends it. `set -m` alone does not undo
  # an ignore inherited from our own parent; `env --default-signal` (coreutils >= 8.31) does.
  set -m
  ip netns exec "zfedge-$n" env --default-signal=INT,QUIT NGINX_PREFIX="$d/nginx/" APP_UPSTREAMS=127.0.0.1:9 \
    TLS_CERT_FILE="$work/tls/tls.crt" TLS_KEY_FILE="$work/tls/tls.key" TLS_SELF_SIGNED=never \
    KEEPALIVED_DIR="$work/keepalived" KEEPALIVED_CONF="$d/keepalived.conf" KEEPALIVED_RUN_DIR="$d/run" \
    NODE_NAME="$n" STATE=BACKUP PRIORITY="${PRIO[$n]}" SELF_IP="${IP[$n]}" PEER_IP="${IP[$peer]}" VIP="$VIP" \
    VRRP_AUTH_PASS="$auth" INTERFACE=eth0 \
    STATE_DIR="$d/state" TEXTFILE_DIR="$d/textfile" NGINX_PID_FILE="$d/nginx/run/nginx.pid" \
    "$root/nginx/docker-entrypoint.sh" edge >>"$d/edge.log" 2>&1 &
  echo $! > "$d/edge.pid"
  disown
  set +m
  for _ in $(seq 50); do
    ip netns exec "zfedge-$n" curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8081/healthz 2>/dev/null && return 0
    sleep 0.1
  done
  echo "failover-netns: nginx did not start in $n:" >&2; tail -5 "$d/edge.log" >&2
  return 1
}
# kill_all NODE: what `docker kill -s KILL` does to a container: every process at once.
kill_all() {
  local d="$work/$1" pids=() f
  for f in edge.pid run/keepalived.pid run/vrrp.pid nginx/run/nginx.pid; do
    [[ -s $d/$f ]] && pids+=("$(cat "$d/$f")")
  done
  if [[ -s $d/nginx/run/nginx.pid ]]; then
    mapfile -t -O "${#pids[@]}" pids < <(pgrep -P "$(cat "$d/nginx/run/nginx.pid")")
  fi
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
gone() { ! kill -0 "$(cat "$work/$1/edge.pid")" 2>/dev/null; }

has_vip() { ip -n "zfedge-$1" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; }
holders() { # -> space-separated nodes that have the VIP configured on eth0
  local n out=""
  for n in lb1 lb2; do
    if has_vip "$n"; then out+="$n "; fi
  done
  echo "${out% }"
}
wait_vip() { # NODE TIMEOUT_S -> 0 as soon as NODE has the VIP
  local deadline
  deadline=$(awk -v t="$(now)" -v d="$2" 'BEGIN { printf "%f", t + d }')
  while awk -v a="$(now)" -v d="$deadline" 'BEGIN { exit !(a < d) }'; do
    if has_vip "$1"; then return 0; fi
    sleep 0.02
  done
  return 1
}
# expect NAME COMMAND...: ok when the command succeeds.
expect() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
within() { (( $1 >= 0 && $1 <= $2 )); }
state_of() { cat "$work/$1/state/$1.state" 2>/dev/null || echo none; }

# The client, inside zfedge-cl: one GET / to the VIP every 50 ms, 300 ms timeout; one
# "epoch status" line per request.
client() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  exec ip netns exec zfedge-cl bash -c 'while :; do
      printf "%s %s\n" "$(date +%s.%N)" "$(curl -s -o /dev/null -w "%{http_code}" --max-time 0.3 "http://$0/" || true)"
      sleep 0.05
    done >> "$1"' "$VIP" "$work/client.log"
}
failures_between() { # T0 T1 -> failed requests in that window
  awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 != "200" { n++ } END { print n + 0 }' "$work/client.log"
}
requests_between() {
  awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { n++ } END { print n + 0 }' "$work/client.log"
}
declare -A RESULT

# ----------------------------------------------------------------------------- 1: steady state
# With nopreempt both nodes start BACKUP and the first to time out (3 x advert + skew) becomes
# MASTER; started together, the start order decides more than the 78 ms skew difference. Start
# lb1 first, as an operator does, then lb2 must join as BACKUP and leave the VIP alone.
start_edge lb1 || { bad "edge starts in lb1"; exit 1; }
wait_vip lb1 8 || true
start_edge lb2 || { bad "edge starts in lb2"; exit 1; }
sleep 4.5
expect "steady: lb1 holds the VIP alone after lb2 joined (holders: $(holders))" test "$(holders)" == lb1
expect "steady: notify.sh state files lb1=$(state_of lb1) lb2=$(state_of lb2)" \
  test "$(state_of lb1)/$(state_of lb2)" == MASTER/BACKUP
masters=$(cat "$work"/lb*/textfile/keepalived_*.prom 2>/dev/null | awk '/^keepalived_vrrp_master/ { s += $2 } END { print s + 0 }')
expect "steady: sum(keepalived_vrrp_master) == 1 (is $masters)" test "$masters" == 1

client & client_pid=$!
sleep 1
expect "steady: the client reaches the VIP ($(requests_between 0 "$(now)") requests, $(failures_between 0 "$(now)") failed)" \
  test "$(failures_between 0 "$(now)")" == 0 -a "$(requests_between 0 "$(now)")" -ge 3

# ---------------------------------------------------------------------------------- 2: graceful
expect "graceful: precondition, lb1 alone holds the VIP ($(holders))" test "$(holders)" == lb1
# docker stop: the image's STOPSIGNAL (SIGQUIT) to PID 1, the entrypoint.
t0=$(now)
kill -QUIT "$(cat "$work/lb1/edge.pid")"
ms=-1; if wait_vip lb2 5; then ms=$(ms_since "$t0"); fi
RESULT[graceful_ms]=$ms
expect "graceful: VIP on lb2 after ${ms} ms (bound 1000)" within "$ms" 1000
sleep 1
expect "graceful: lb1 released the VIP (holders: $(holders))" test "$(holders)" == lb2
for _ in $(seq 50); do gone lb1 && break; sleep 0.1; done
expect "graceful: lb1's entrypoint stopped keepalived and nginx and exited" gone lb1
RESULT[graceful_failed]=$(failures_between "$t0" "$(now)")
RESULT[graceful_requests]=$(requests_between "$t0" "$(now)")
echo "       graceful: ${RESULT[graceful_failed]} of ${RESULT[graceful_requests]} requests failed"

# ---------------------------------------------------------------------------------- 3: recovery
start_edge lb1 || bad "edge restarts in lb1"
sleep 5
expect "recovery: restarted lb1 stays BACKUP ($(state_of lb1)), lb2 keeps the VIP alone ($(holders))" \
  test "$(holders)/$(state_of lb1)" == lb2/BACKUP

# -------------------------------------------------------------------------------------- 4: hard
# A killed container sends nothing more and takes its interface with it: cut the link first (no
# goodbye advert can leave), then SIGKILL every process of the node. lb2's VIP stays
# configured on its dead interface, unreachable, as in a dead container.
expect "hard: precondition, lb2 alone holds the VIP ($(holders))" test "$(holders)" == lb2
t0=$(now)
ns lb2 ip link set eth0 down
kill_all lb2
ms=-1; if wait_vip lb1 8; then ms=$(ms_since "$t0"); fi
RESULT[hard_ms]=$ms
expect "hard: VIP on lb1 after ${ms} ms (bound 4000 = 3 x advert + skew)" within "$ms" 4000
sleep 1
RESULT[hard_failed]=$(failures_between "$t0" "$(now)")
RESULT[hard_requests]=$(requests_between "$t0" "$(now)")
echo "       hard: ${RESULT[hard_failed]} of ${RESULT[hard_requests]} requests failed"
# lb2 comes back: its stale VIP goes with keepalived's restart, it becomes BACKUP.
ns lb2 ip addr del "$VIP/24" dev eth0 2>/dev/null || true
ns lb2 ip link set eth0 up
start_edge lb2 || bad "edge restarts in lb2"
sleep 5
expect "hard recovery: lb2 back as BACKUP ($(state_of lb2)), lb1 keeps the VIP alone ($(holders))" \
  test "$(holders)/$(state_of lb2)" == lb1/BACKUP

# ------------------------------------------------------------------------------ 5: nginx dies
# nginx crashes (master and its workers, by parent pid), keepalived lives on.
expect "nginx death: precondition, lb1 alone holds the VIP ($(holders))" test "$(holders)" == lb1
t0=$(now)
master=$(cat "$work/lb1/nginx/run/nginx.pid")
pkill -KILL -P "$master" || true
kill -KILL "$master"
ms=-1; if wait_vip lb2 8; then ms=$(ms_since "$t0"); fi
RESULT[nginx_death_ms]=$ms
expect "nginx death: track script FAULT, VIP on lb2 after ${ms} ms (bound 4000)" within "$ms" 4000
sleep 1
RESULT[nginx_death_failed]=$(failures_between "$t0" "$(now)")
RESULT[nginx_death_requests]=$(requests_between "$t0" "$(now)")
echo "       nginx death: ${RESULT[nginx_death_failed]} of ${RESULT[nginx_death_requests]} requests failed"
expect "nginx death: lb1 reports FAULT ($(state_of lb1)) and released the VIP ($(holders))" \
  test "$(state_of lb1)/$(holders)" == FAULT/lb2
expect "nginx death: lb1's entrypoint and keepalived live on" kill -0 "$(cat "$work/lb1/edge.pid")" \
  "$(cat "$work/lb1/run/keepalived.pid")"

mkdir -p "$(dirname "$FAILOVER_OUT")"
{
  printf '{"measured_at":"%s","advert_int_s":1,"check":{"interval_s":1,"fall":2,"rise":3},"client_interval_ms":50,"client_timeout_ms":300' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for k in "${!RESULT[@]}"; do printf ',"%s":%s' "$k" "${RESULT[$k]}"; done
  printf '}\n'
} > "$FAILOVER_OUT"
echo "failover figures: $(cat "$FAILOVER_OUT")"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
