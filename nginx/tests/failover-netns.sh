#!/usr/bin/env bash
# failover-netns.sh: the network and the nodes for the keepalived failover checks
# (nginx/tests/test_failover_netns.py), on one machine without containers. Network namespaces
# stand in for the hosts: zfedge-lb1 and zfedge-lb2 (each runs nginx/docker-entrypoint.sh edge:
# this repository's nginx configuration and keepalived rendered from the template, as the image
# does), zfedge-cl (a client that requests the VIP every 50 ms), joined by a bridge in zfedge-sw.
# All traffic stays inside these namespaces. The checks and the timing are in the pytest module.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: nginx/tests/failover-netns.sh COMMAND [NODE] WORK
  up WORK           namespaces zfedge-{lb1,lb2,cl,sw} and their bridge (VIP 10.231.0.100, lb1 .11
                    priority 250, lb2 .12 priority 240, client .50); a certificate and root-owned
                    copies of nginx/keepalived/ under WORK
  start NODE WORK   the image's entrypoint in edge mode in zfedge-NODE (lb1|lb2); returns once its
                    nginx answers (the entrypoint's pid in WORK/NODE/edge.pid, log WORK/NODE/edge.log)
  kill NODE WORK    SIGKILL every process of the node at once (what docker kill does)
  client WORK       GET http://VIP/ every 50 ms (300 ms timeout) from zfedge-cl, one
                    "epoch status" line a request in WORK/client.log, until killed
  down WORK         stop everything the nodes run, delete the namespaces and WORK
  Environment: KEEP=1 (down leaves the namespaces and WORK for inspection).
  Needs root, iproute2, nginx, keepalived, curl, openssl. Run the checks with
  nginx/tests/run.sh -k failover.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
[[ $# -ge 2 ]] || { usage >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "failover-netns: needs root" >&2; exit 1; }
for c in ip nginx keepalived curl openssl; do
  command -v "$c" >/dev/null || { echo "failover-netns: needs $c (scripts/ci/apt.sh iproute2 nginx keepalived curl openssl)" >&2; exit 1; }
done

root=$(cd "$(dirname "$0")/../.." && pwd)
: "${KEEP:=0}"
cmd=$1 node=""
if [[ $cmd == start || $cmd == kill ]]; then
  node=$2; shift
  [[ $node == lb1 || $node == lb2 ]] || { echo "failover-netns: NODE must be lb1 or lb2, not '$node'" >&2; exit 2; }
fi
work=${2:?WORK required}
VIP=10.231.0.100
declare -A IP=([lb1]=10.231.0.11 [lb2]=10.231.0.12 [cl]=10.231.0.50)
declare -A PRIO=([lb1]=250 [lb2]=240)
ns() { local n=$1; shift; ip netns exec "zfedge-$n" "$@"; }
# The files holding the pids of a node's processes (the entrypoint, keepalived, nginx's master).
PID_FILES=(edge.pid run/keepalived.pid run/vrrp.pid nginx/run/nginx.pid)

up() {
  local n
  mkdir -p "$work"
  chmod 755 "$work"
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
  "$root/scripts/tls/make-dev-cert.sh" --cert "$work/tls/tls.crt" --key "$work/tls/tls.key" >/dev/null
  # keepalived's enable_script_security refuses scripts under a path that is not root-owned or is
  # writable by others: run copies from this root-owned folder, wherever the clone lives.
  cp -r "$root/nginx/keepalived" "$work/keepalived"
  chown -R root:root "$work/keepalived"
  chmod -R go-w "$work/keepalived"
}

# alive PID: the process exists and is not a zombie. A SIGKILLed node's processes are orphans that
# this machine's init may reap only seconds later; keepalived takes a zombie's pid file for a live
# daemon ("daemon is already running") and exits, which a container (a fresh PID namespace) never sees.
alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# start NODE: the image's own entrypoint in `edge` mode (renders nginx and keepalived from
# the environment, supervises both), inside the node's namespace. `ip netns exec` and `env` exec
# in place, so $! is the entrypoint's shell: what docker stop/kill would signal as PID 1.
start() {
  local n=$1 d="$work/$1" peer=lb2
  [[ $n == lb2 ]] && peer=lb1
  mkdir -p "$d/nginx"
  local f
  for f in "${PID_FILES[@]}"; do
    if [[ -s $d/$f ]] && ! alive "$(cat "$d/$f")"; then rm -f "$d/$f"; fi
  done
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
    INTERFACE=eth0 VRRP_MIN_TTL=255 \
    STATE_DIR="$d/state" TEXTFILE_DIR="$d/textfile" NGINX_PID_FILE="$d/nginx/run/nginx.pid" \
    "$root/nginx/docker-entrypoint.sh" edge >>"$d/edge.log" 2>&1 </dev/null &
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

# kill NODE: what `docker kill -s KILL` does to a container: every process at once.
kill_all() {
  local d="$work/$1" pids=() f
  for f in "${PID_FILES[@]}"; do
    [[ -s $d/$f ]] && pids+=("$(cat "$d/$f")")
  done
  if [[ -s $d/nginx/run/nginx.pid ]]; then
    mapfile -t -O "${#pids[@]}" pids < <(pgrep -P "$(cat "$d/nginx/run/nginx.pid")")
  fi
  kill -KILL "${pids[@]}" 2>/dev/null || true
  local p live
  for _ in $(seq 50); do  # dead (or a zombie) within 5 s
    live=0
    for p in "${pids[@]}"; do alive "$p" && live=1; done
    (( live )) || return 0
    sleep 0.1
  done
}

# client: one GET / to the VIP every 50 ms, 300 ms timeout; one "epoch status" line per request.
client() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  exec ip netns exec zfedge-cl bash -c 'while :; do
      printf "%s %s\n" "$(date +%s.%N)" "$(curl -s -o /dev/null -w "%{http_code}" --max-time 0.3 "http://$0/" || true)"
      sleep 0.05
    done >> "$1"' "$VIP" "$work/client.log"
}

down() {
  local n f
  for n in lb1 lb2; do
    for f in "${PID_FILES[@]}"; do
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

case $cmd in
  up) up ;;
  start) start "$node" ;;
  kill) kill_all "$node" ;;
  client) client ;;
  down) down ;;
  *) usage >&2; exit 2 ;;
esac
