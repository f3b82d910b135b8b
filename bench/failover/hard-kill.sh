#!/usr/bin/env bash
# The hard-failover benchmark: N hard kills of the VIP holder in network namespaces (the edge
# failover test's nodes, nginx/tests/failover-netns.sh: this repository's nginx and keepalived,
# run by the image's entrypoint) while a client namespace sends open-loop load to the VIP at a
# fixed rate. Per trial: how long the VIP took to move, the requests of the trial and how many
# failed. A benchmark, not a test: it asserts nothing, it writes a table.
set -euo pipefail
BENCH_NAME=failover
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
root=$(cd "$BENCH_LIB/../.." && pwd)
NETNS="$root/nginx/tests/failover-netns.sh"
VIP=10.231.0.100  # failover-netns.sh's addressing

usage() {
  cat <<USAGE
usage: $0 [options]     (root: network namespaces)
  N hard kills (link down + SIGKILL of every process of the node, as docker kill) of whichever
  proxy holds the VIP, each followed by the killed node's return as BACKUP, under open-loop load
  (zufang-openloop, a new connection per request) from a client namespace. Writes
  results.json, trials.md and the raw logs under --out; --docs puts the table into a file.

  --trials N         hard kills                                        [10; quick: 2]
  --rate N           requests per second to the VIP                    [50]
  --timeout SEC      client timeout: a slower request counts as failed [2]
  --slot SEC         seconds per trial (kill at 3 s, return 3 s later) [9]
  --out DIR          results directory               [bench-results/failover-<UTC time>]
  --docs FILE        replace the part of FILE between the lines
                     <!-- failover-bench:begin --> and <!-- failover-bench:end --> with the table
  --quick            two trials (a smoke run)
  -h, --help         this help
Environment: OPENLOOP_BIN (default: target/release/zufang-openloop, built when missing), PYTHON.
Exit status: 0 ok, 1 the pair did not come up, 2 bad option, 127 missing tool, 130 interrupted.
USAGE
}

trials="" rate=50 timeout=2 slot=9 out="" docs="" quick=0
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --trials) trials=$2; shift ;;
    --rate) rate=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --slot) slot=$2; shift ;;
    --out) out=$2; shift ;;
    --docs) docs=$2; shift ;;
    --quick) quick=1 ;;
    *) usage >&2; die 2 "unknown option '$1'" ;;
  esac
  shift
done
if ((quick)); then : "${trials:=2}"; else : "${trials:=10}"; fi
require_positive_int --trials "$trials"
require_positive_int --rate "$rate"
require_positive_int --timeout "$timeout"
require_positive_int --slot "$slot"
((slot >= 8)) || die 2 "--slot must be at least 8 s (3 s before the kill, the move, the return)"
[[ -z $docs || -w $docs ]] || die 2 "--docs file '$docs' is not writable"
[[ $(id -u) -eq 0 ]] || die 1 "needs root (ip netns)"
for c in ip nginx keepalived curl openssl; do
  need_cmd "$c" "Install it (Debian: scripts/ci/apt.sh iproute2 nginx keepalived curl openssl)."
done
need_python

openloop_bin

install_traps
init_out "$out" failover
work=$(mktemp -d /tmp/failover-bench.XXXXXX)
chmod 755 "$work"  # nginx's workers (www-data) read the static page from under it
netns_down() { "$NETNS" down "$work/pair" >/dev/null 2>&1 || true; rm -rf "$work"; }
add_cleanup netns_down

has_vip() { ip -n "zfedge-$1" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; }
holder() { # the one node with the VIP on its interface; empty when none or both
  local n found=()
  for n in lb1 lb2; do if has_vip "$n"; then found+=("$n"); fi; done
  if ((${#found[@]} == 1)); then echo "${found[0]}"; fi
}
now() { date +%s.%N; }
since_ms() { awk -v t0="$1" -v n="$(now)" 'BEGIN { printf "%d", (n - t0) * 1000 }'; }

log "pair up: lb1 (priority 250), then lb2 (240)"
"$NETNS" up "$work/pair" >/dev/null
"$NETNS" start lb1 "$work/pair"
for _ in $(seq 100); do [[ $(holder) == lb1 ]] && break; sleep 0.1; done
[[ $(holder) == lb1 ]] || die 1 "lb1 did not take the VIP"
"$NETNS" start lb2 "$work/pair"
sleep 3

duration=$((trials * slot + 2))
log "load: $rate req/s open loop for ${duration}s, timeout ${timeout}s, a new connection per request"
ip netns exec zfedge-cl "$OPENLOOP_BIN" --url "http://$VIP/" --rate "$rate" --duration "$duration" --connections 256 \
  --timeout "$timeout" --no-keepalive --log "$BENCH_OUT/raw/requests.csv" >"$BENCH_OUT/raw/openloop.log" 2>&1 &
BENCH_CHILD=$!
t_start=$(now)
: >"$BENCH_OUT/raw/trials.tsv"
for ((i = 1; i <= trials; i++)); do
  # Each trial owns a slot: the kill 3 s into it, so the trials do not drift with the restarts.
  wait_s=$(awk -v s="$t_start" -v i="$i" -v slot="$slot" -v n="$(now)" \
    'BEGIN { d = s + (i - 1) * slot + 3 - n; printf "%.3f", (d > 0 ? d : 0) }')
  sleep "$wait_s"
  from=$(holder)
  [[ $from == lb1 || $from == lb2 ]] || die 1 "trial $i: no single VIP holder before the kill"
  to=lb1; [[ $from == lb1 ]] && to=lb2
  t0=$(now)
  ip -n "zfedge-$from" link set eth0 down  # no goodbye advert can leave, as from a dead container
  "$NETNS" kill "$from" "$work/pair"
  moved=-1
  while (($(since_ms "$t0") < 5000)); do
    if has_vip "$to"; then moved=$(since_ms "$t0"); break; fi
    sleep 0.01
  done
  log "trial $i: $from killed, VIP on $to after $moved ms"
  printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$from" "$to" "$t0" "$moved" >>"$BENCH_OUT/raw/trials.tsv"
  sleep 3
  # The killed node returns: its stale VIP goes, its link comes up, keepalived starts as BACKUP.
  ip -n "zfedge-$from" addr del "$VIP/24" dev eth0 2>/dev/null || true
  ip -n "zfedge-$from" link set eth0 up
  "$NETNS" start "$from" "$work/pair"
done
log "waiting for the load to finish"
rc=0
wait "$BENCH_CHILD" || rc=$?
BENCH_CHILD=""
((rc == 0)) || log "zufang-openloop exited $rc (see raw/openloop.log)"
cat "$work"/pair/lb1/edge.log "$work"/pair/lb2/edge.log >"$BENCH_OUT/raw/keepalived.log"

"$PYTHON" "$BENCHLIB_PY" failover-trials --dir "$BENCH_OUT" --rate "$rate" --timeout "$timeout" \
  --template "$root/nginx/keepalived/keepalived.conf.tmpl" ${docs:+--docs "$docs"}
log "table: $BENCH_OUT/trials.md"
finish_out "trials=$trials" "rate=$rate" "timeout_s=$timeout" "slot_s=$slot"
