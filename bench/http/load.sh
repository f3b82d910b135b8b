#!/usr/bin/env bash
# HTTP load on the zufang API with wrk: a weighted mix of real read endpoints (district tree,
# estate and house filters, details), a share of authenticated requests, a connection sweep.
# Target: the edge VIP, the host entry port, or one replica. See docs/benchmarking.md.
set -euo pipefail
BENCH_NAME=http
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
: "${WRK:=wrk}"
LUA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEFAULT_MIX="districts=10,district=15,hot_cities=5,estates=25,estate=10,houses=25,house=10,me=5"

usage() {
  cat <<EOF
usage: $0 --url URL [options]
  wrk load with bench/http/mix.lua over a connection sweep; one results row per step.
  With --rate: open loop instead (zufang-openloop, bench/openloop): the same mix sent at fixed
  rates, latency counted from each request's due time (no coordinated omission), p50/p99/p99.9.

  --url URL             target base URL, e.g. http://172.28.10.100 (VIP from the edge network),
                        http://127.0.0.1:8080 (host entry), http://app1:8080 (one replica)
                                                                       [\$LOAD_URL or http://127.0.0.1:8080]
  --connections LIST    connection sweep                               [8 16 32 64; quick: 2 8]
                        (with --rate: the largest is the most requests in flight)
  --rate LIST           open loop at these requests/s, one step each (e.g. "200 400")
  --threads N           wrk threads (capped at the connection count)   [cores: $(nproc)]
  --duration SEC        seconds per step                               [30; quick: 3]
  --warmup SEC          unrecorded run before the sweep                [10; quick: 1]
  --report-interval SEC live progress every SEC seconds (0 = off)      [2]
  --timeout SEC         a request slower than this counts as an error  [5]
  --out DIR             results directory        [bench-results/http-<UTC time>]
  --quick               a smoke run in seconds (CI)
  --mix LIST            name=weight,... of districts district hot_cities estates estate houses
                        house me                  [$DEFAULT_MIX]
  --auth-share X        share (0..1) of requests sent with the JWT     [0.2 with a token, else 0]
  --token-file F        file holding a JWT (first line)
  --user U              log in via POST /api/tokens/ as U (needs --password-file)
  --password-file F     the password for --user (never taken from argv)
  --login-field NAME    JSON field that carries the user name at login [username]
  -h, --help            this help

The target must answer GET /api/districts/, /api/estates/ and /api/houses/ with data: the ids
the mix uses are sampled from it first, so every request asks for a row that exists.
Environment: WRK (binary, default wrk), OPENLOOP_BIN (zufang-openloop; default: the workspace's
release build, built when missing), PYTHON, LOAD_URL.
Exit status: 0 ok, 1 target unusable or login failed, 2 bad option, 127 missing dependency,
130 interrupted.
EOF
}

url=${LOAD_URL:-http://127.0.0.1:8080} conns="" wthreads="" duration="" warmup="" interval=2 timeout=5
out="" quick=0 mix=$DEFAULT_MIX rates="" auth_share="" token_file="" user="" pwfile="" login_field=username
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --url) url=$2; shift ;;
    --connections) conns=$2; shift ;;
    --rate) rates=$2; shift ;;
    --threads) wthreads=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --report-interval) interval=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --out) out=$2; shift ;;
    --quick) quick=1 ;;
    --mix) mix=$2; shift ;;
    --auth-share) auth_share=$2; shift ;;
    --token-file) token_file=$2; shift ;;
    --user) user=$2; shift ;;
    --password-file) pwfile=$2; shift ;;
    --login-field) login_field=$2; shift ;;
    --password|--password=*|--token|--token=*) die 2 "secrets are not accepted on the command line; use --password-file / --token-file" ;;
    *) usage >&2; die 2 "unknown option '$1'" ;;
  esac
  shift
done
if ((quick)); then
  : "${conns:=2 8}" "${duration:=3}" "${warmup:=1}"
else
  : "${conns:=8 16 32 64}" "${duration:=30}" "${warmup:=10}"
fi
: "${wthreads:=$(nproc)}"
conns=$(parse_int_list "$conns")
require_positive_int --threads "$wthreads"
require_positive_int --duration "$duration"
require_positive_int --timeout "$timeout"
[[ $warmup =~ ^[0-9]+$ ]] || die 2 "--warmup must be a whole number of seconds"
[[ $interval =~ ^[0-9]+$ ]] || die 2 "--report-interval must be a whole number of seconds"
[[ $url =~ ^https?://[^/]+/?$ ]] || die 2 "--url must be a base URL like http://host:port (got '$url')"
url=${url%/}
[[ -z $user || -n $pwfile ]] || die 2 "--user needs --password-file"
[[ -z $token_file || -z $user ]] || die 2 "give either --token-file or --user, not both"
[[ -z $token_file || -r $token_file ]] || die 2 "token file '$token_file' is not readable"
[[ -z $pwfile || -r $pwfile ]] || die 2 "password file '$pwfile' is not readable"
if [[ -z $auth_share ]]; then
  if [[ -n $token_file || -n $user ]]; then auth_share=0.2; else auth_share=0; fi
fi
[[ $auth_share =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] || die 2 "--auth-share must be between 0 and 1"
if [[ -z $token_file && -z $user ]] && awk -v s="$auth_share" 'BEGIN{exit !(s>0)}'; then
  die 2 "--auth-share $auth_share needs a JWT: give --token-file or --user/--password-file"
fi

if [[ -n $rates ]]; then
  rates=$(parse_int_list "$rates")
  openloop_bin
else
  need_cmd "$WRK" "Install wrk (Debian: apt-get install wrk)."
fi
need_python

install_traps
private_dir http-load
work=$BENCH_PRIVATE_DIR

if [[ -n $user ]]; then
  log "logging in as $user via POST $url/api/tokens/"
  "$PYTHON" "$BENCHLIB_PY" login --url "$url" --user "$user" --field "$login_field" \
    --password-file "$pwfile" --out "$work/token" || die 1 "login failed (see above)"
  token_file="$work/token"
fi

init_out "$out" http
log "target $url: sampling ids"
"$PYTHON" "$BENCHLIB_PY" discover --url "$url" --out "$work/config.lua" --mix "$mix" \
  --auth-share "$auth_share" --token-file "$token_file" --interval "$interval" --paths-out "$work/paths" \
  || die 1 "target $url is not usable (see above); is the app (or the edge) up and seeded?"

# Sum the per-thread PROGRESS lines of one interval into one line; pass wrk's own errors.
wrk_progress() {
  awk -v iv="$interval" '
    /^PROGRESS / { b = $2; if (first == "") first = b
                   if (b > cur && cur != "") { printf "[ %ds ] %.1f req/s, non-2xx %d\n", (cur - first + 1) * iv, n[cur] / iv, bad[cur]; fflush() }
                   if (b > cur || cur == "") cur = b
                   n[b] += $4; bad[b] += $5; next }
    /^WRK_JSON|^Running|^  [0-9]+ threads|^ +Latency|^ +Req\/Sec|^Requests|^Transfer|^  [0-9]+ requests|^ +Thread Stats/ { next }
    NF { print; fflush() }' >&2
}

wrk_run() { # wrk_run LOG CONNECTIONS SECONDS
  local t=$((wthreads < $2 ? wthreads : $2))
  run_tool "$1" wrk_progress "$WRK" -t "$t" -c "$2" -d "${3}s" --timeout "${timeout}s" \
    -s "$LUA_DIR/mix.lua" "$url" -- "$work/config.lua"
}

if [[ -n $rates ]]; then
  read -ra sweep <<<"$conns"
  token_args=()
  [[ -n $token_file ]] && token_args=(--token-file "$token_file")
  read -ra steps <<<"$rates"
  if ((warmup > 0)); then
    log "warm-up: ${warmup}s at ${steps[0]} req/s (not recorded)"
    "$OPENLOOP_BIN" --url "$url/" --rate "${steps[0]}" --duration "$warmup" --connections "${sweep[-1]}" \
      --timeout "$timeout" --paths "$work/paths" "${token_args[@]}" >"$BENCH_OUT/raw/warmup.log" 2>&1 \
      || die 1 "open-loop warm-up got no answer; see $BENCH_OUT/raw/warmup.log"
  fi
  for r in $rates; do
    logf="$BENCH_OUT/raw/http_mix_open-r${r}.log"
    log "http_mix open loop: $r req/s, ${duration}s, at most ${sweep[-1]} in flight"
    run_tool "$logf" openloop_progress "$OPENLOOP_BIN" --url "$url/" --rate "$r" --duration "$duration" \
      --connections "${sweep[-1]}" --timeout "$timeout" --paths "$work/paths" "${token_args[@]}" \
      || die 1 "zufang-openloop got no answer at $r req/s; see $logf"
    "$PYTHON" "$BENCHLIB_PY" openloop --records "$BENCH_RECORDS" --log "$logf" --test http_mix_open \
      --threads 1 --connections "${sweep[-1]}" --extra "url=$url" --extra "rate=$r" || die 3 "could not parse $logf"
  done
  finish_out "quick=$quick" "duration_s=$duration" "rates=$rates" "url=$url" "mix=$mix" "auth_share=$auth_share" \
    "mode=open_loop" "authenticated=$([[ -n $token_file ]] && echo yes || echo no)"
  exit 0
fi

if ((warmup > 0)); then
  read -ra sweep <<<"$conns"
  log "warm-up: ${warmup}s at ${sweep[-1]} connections (not recorded)"
  wrk_run "$BENCH_OUT/raw/warmup.log" "${sweep[-1]}" "$warmup" || die 1 "wrk warm-up failed; see $BENCH_OUT/raw/warmup.log"
fi
for c in $conns; do
  logf="$BENCH_OUT/raw/http_mix-c${c}.log"
  log "http_mix connections=$c, ${duration}s"
  wrk_run "$logf" "$c" "$duration" || die 1 "wrk failed (connections=$c); see $logf"
  "$PYTHON" "$BENCHLIB_PY" wrk --records "$BENCH_RECORDS" --log "$logf" --test http_mix \
    --threads "$((wthreads < c ? wthreads : c))" --connections "$c" --extra "url=$url" \
    --extra "auth_share_requested=$auth_share" || die 3 "could not parse $logf"
done
finish_out "quick=$quick" "duration_s=$duration" "connections=$conns" "url=$url" "mix=$mix" \
  "auth_share=$auth_share" "warmup_s=$warmup" "authenticated=$([[ -n $token_file ]] && echo yes || echo no)"
