#!/usr/bin/env bash
# HTTP benchmark of the zufang service on loopback (a benchmark, not a test): wrk against
# /healthz (the framework ceiling), /api/districts/ (cached), and the estate and house filters,
# on MariaDB + Redis with the bench seed (100k estates, 1M houses). The filters run as fixed URLs
# and as a random mix over a bounded set of filters (wrk Lua), each against one instance with the
# list caches (default config) and one with them off (every request counts and reads MariaDB).
# Reports requests/s, p50 and p99, each row as a share of /healthz in the same run; then, open
# loop (bench/openloop), each row again at 50 % and 80 % of the requests/s it just reached, with
# p50/p99/p99.9 from each request's due time; writes both tables to docs/performance.md with the
# machine and its load average.
#   bench/http/performance.sh [--duration 15] [--connections 64] [--threads 2] [--out docs/performance.md]
#                             [--open-duration SEC (default: --duration)] [--no-open-loop] [--quick]
# --quick: 3 s per endpoint on the small seed (a smoke check; numbers not comparable).
# The binaries are built with cargo build --release into ${CARGO_TARGET_DIR:-target}.
set -euo pipefail
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
duration=15 connections=64 threads=2 quick=0 open_duration="" open_loop=1
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/docs/performance.md"
while [[ $# -gt 0 ]]; do
  case $1 in
    --help|-h) usage; exit 0 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --open-duration) open_duration=$2; shift 2 ;;
    --no-open-loop) open_loop=0; shift ;;
    --quick) quick=1; duration=3; shift ;;
    *) echo "bench: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
: "${open_duration:=$duration}"
[[ $open_duration =~ ^[1-9][0-9]*$ ]] || { echo "bench: --open-duration must be a positive integer" >&2; exit 2; }
"$root/scripts/ci/apt.sh" wrk curl
# BENCH_DB: another database (e.g. one seeded once and kept for a branch's migrations).
scale=bench db=${BENCH_DB:-zufang_perf}
if [[ $quick == 1 ]]; then scale=small db=${BENCH_DB:-zufang_perf_quick}; fi
port=18180 port_nocache=18181
BENCH_NAME=bench
# shellcheck source=bench/lib/common.sh
. "$root/bench/lib/common.sh"
release_instance_env "$db" "zufang:bench:"
bin=$ZUFANG_RELEASE_BIN
if ((open_loop)); then openloop_bin; fi
# The bench seed's 1 M houses need about 240 MiB of title index per instance (the default limit
# suits the compose replicas' 128 MiB).
export ZUFANG__LOG__LEVEL=warn ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS=0 ZUFANG__DATABASE__MAX_CONNECTIONS=32 \
  ZUFANG__LISTS__TITLE_INDEX_MAX_MIB=512
"$bin" migrate
echo "bench: seeding $scale (skipped when already seeded; bench scale takes a few minutes)" >&2
"$bin" seed --scale "$scale"
mkdir -p "$root/.cache"
work=$(mktemp -d)
# Two instances on the same database: the default configuration (list caches on) and one with
# the list caches off, whose rows are the database's figures (a cold filter costs that much).
ZUFANG__APPLICATION__PORT=$port "$bin" serve >"$root/.cache/bench-serve.log" 2>&1 &
server=$!
ZUFANG__APPLICATION__PORT=$port_nocache ZUFANG__CACHE__COUNT_TTL_SECONDS=0 ZUFANG__CACHE__PAGE_TTL_SECONDS=0 \
  "$bin" serve >"$root/.cache/bench-serve-nocache.log" 2>&1 &
server_nocache=$!
cleanup() {
  kill -TERM "$server" "$server_nocache" 2>/dev/null || true
  wait "$server" "$server_nocache" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
for p in $port $port_nocache; do
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$p/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$p/readyz" >/dev/null || { echo "bench: the instance on port $p is not ready (see .cache/bench-serve*.log)" >&2; exit 1; }
done
base="http://127.0.0.1:$port"
district=$(curl -fsS "$base/api/houses/?size=1&ordering=price" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["district_id"])')
# The random mix: the 20 districts with the most houses, a few hot floors and orderings, pages 1-2.
districts=$(MYSQL_PWD=$(cat "$MARIADB_PASSWORD_FILE") mariadb -h "$MARIADB_HOST" -P "$MARIADB_PORT" -u "$MARIADB_USER" -N "$db" \
  -e "SELECT district_id FROM houses GROUP BY district_id ORDER BY COUNT(*) DESC LIMIT 20")
mix() { # mix NAME PATH...: a wrk script that requests a random one of PATHs each time, and the
  # same PATHs shuffled for zufang-openloop (which takes them in turn)
  local name=$1; shift
  { echo "local paths = {"; printf '  "%s",\n' "$@"; echo "}"
    echo 'function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end'
    echo 'function request() return wrk.format("GET", paths[math.random(#paths)]) end'
  } >"$work/$name.lua"
  printf '%s\n' "$@" | shuf >"$work/$name.paths"
}
estate_paths=() house_paths=()
for d in $districts; do
  for page in 1 2; do
    for hot in 0 50 100 200; do estate_paths+=("/api/estates/?dist=$d&minhot=$hot&page=$page"); done
    for o in -price price -published_at; do house_paths+=("/api/houses/?district=$d&ordering=$o&page=$page"); done
  done
done
mix estates "${estate_paths[@]}"
mix houses "${house_paths[@]}"
# Title search: the words of sampled titles (estate name, estate + type, area), types and short
# words (dense); deep keyset pages: a cursor at sampled rows (a random depth), with and without
# their district, in every ordering.
sample=$(MYSQL_PWD=$(cat "$MARIADB_PASSWORD_FILE") mariadb -h "$MARIADB_HOST" -P "$MARIADB_PORT" -u "$MARIADB_USER" -N "$db" \
  -e "SET time_zone = '+00:00'; SELECT id, district_id, price, area, UNIX_TIMESTAMP(published_at), title FROM houses WHERE id % (SELECT GREATEST(1, COUNT(*) DIV 20) FROM houses) = 7 LIMIT 20")
mapfile -t title_paths < <(python3 -c '
import sys, urllib.parse
terms = ["一室一厅", "两室", "朝南"]
for line in sys.stdin.read().splitlines():
    words = line.split("\t")[5].split()
    terms += [words[0], words[0] + " " + words[1], words[2]]
for t in dict.fromkeys(terms):
    print("/api/houses/?" + urllib.parse.urlencode({"title": t}))
' <<<"$sample")
mapfile -t cursor_paths < <(python3 -c '
import base64, json, sys
for line in sys.stdin.read().splitlines():
    hid, district, price, area, published = (int(v) for v in line.split("\t")[:5])
    for o, k in (("price", price), ("-price", price), ("area", area), ("-area", area), ("published_at", published), ("-published_at", published)):
        c = base64.urlsafe_b64encode(json.dumps({"o": o, "k": k, "i": hid}, separators=(",", ":")).encode()).decode().rstrip("=")
        print(f"/api/houses/?ordering={o}&cursor={c}")
        print(f"/api/houses/?district={district}&ordering={o}&cursor={c}")
' <<<"$sample")
mix titles "${title_paths[@]}"
mix cursors "${cursor_paths[@]}"
mix allhouses "${house_paths[@]}" "${title_paths[@]}" "${cursor_paths[@]}"
# label|port|path|lua script (empty: the fixed path)
rows=(
  "\`/healthz\`|$port|/healthz|"
  "\`/api/districts/\`|$port|/api/districts/|"
  "\`/api/estates/?dist=$district&minhot=100\` (list caches)|$port|/api/estates/?dist=$district&minhot=100|"
  "\`/api/houses/?district=$district&ordering=-price\` (list caches)|$port|/api/houses/?district=$district&ordering=-price|"
  "estates, random mix of ${#estate_paths[@]} filters (list caches)|$port|/api/estates/|estates"
  "houses, random mix of ${#house_paths[@]} filters (list caches)|$port|/api/houses/|houses"
  "\`/api/estates/?dist=$district&minhot=100\` (no list cache: database)|$port_nocache|/api/estates/?dist=$district&minhot=100|"
  "\`/api/houses/?district=$district&ordering=-price\` (no list cache: database)|$port_nocache|/api/houses/?district=$district&ordering=-price|"
  "estates, random mix (no list cache: database)|$port_nocache|/api/estates/|estates"
  "houses, random mix (no list cache: database)|$port_nocache|/api/houses/|houses"
  "houses, title search, random mix of ${#title_paths[@]} terms (no list cache: database)|$port_nocache|/api/houses/|titles"
  "houses, deep keyset pages, random mix of ${#cursor_paths[@]} (no list cache: database)|$port_nocache|/api/houses/|cursors"
  "houses, all of the above mixed (no list cache: database)|$port_nocache|/api/houses/|allhouses"
)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=()
for row in "${rows[@]}"; do
  IFS='|' read -r label p path lua <<<"$row"
  script=()
  [[ -n $lua ]] && script=(-s "$work/$lua.lua")
  echo "bench: warming up $label" >&2
  wrk -t1 -c8 -d1s "${script[@]}" "http://127.0.0.1:$p$path" >/dev/null
  echo "bench: wrk -t$threads -c$connections -d${duration}s $label" >&2
  raw=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "${script[@]}" "http://127.0.0.1:$p$path")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$raw")
  p50=$(awk '$1=="50%" {print $2}' <<<"$raw")
  p99=$(awk '$1=="99%" {print $2}' <<<"$raw")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$raw"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {print $0}' <<<"$raw")
  echo "bench:   $rps req/s  p50 $p50  p99 $p99  non-2xx $non2xx ${errors}" >&2
  results+=("$label|$rps|$p50|$p99|$non2xx")
done
# Open loop: each row at 50 % and 80 % of the requests/s wrk just measured for it. A closed loop
# hides queueing (a stalled server is simply asked less); here request i is due at start + i/rate
# and its latency counts from then, so the tail shows what a steady arrival rate costs.
open_results=()
if ((open_loop)); then
  for i in "${!rows[@]}"; do
    IFS='|' read -r label p path lua <<<"${rows[i]}"
    rps=$(cut -d'|' -f2 <<<"${results[i]}")
    paths=()
    [[ -n $lua ]] && paths=(--paths "$work/$lua.paths")
    for pct in 50 80; do
      rate=$(awk -v r="$rps" -v f="$pct" 'BEGIN { x = int(r * f / 100 + 0.5); print (x < 1 ? 1 : x) }')
      echo "bench: open loop $label at $pct % = $rate req/s for ${open_duration}s" >&2
      line=$("$OPENLOOP_BIN" --url "http://127.0.0.1:$p$path" --rate "$rate" --duration "$open_duration" \
        --connections "$connections" "${paths[@]}" | grep '^OPENLOOP_JSON ' || true)
      [[ -n $line ]] || { echo "bench: zufang-openloop gave no summary for $label" >&2; exit 1; }
      cols=$(python3 -c "import json, sys
s = json.loads(sys.argv[1].split(' ', 1)[1]); l = s['latency_ms']
bad = s['errors'] + sum(n for k, n in s['status'].items() if k[0] not in '23')
print('%.0f|%.2fms|%.2fms|%.2fms|%d' % (s['rate_achieved'], l['p50'], l['p99'], l['p999'], bad))" "$line")
      echo "bench:   achieved|p50|p99|p99.9|errors: $cols" >&2
      open_results+=("$label|$pct %|$rate|$cols")
    done
  done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
ceiling=$(cut -d'|' -f2 <<<"${results[0]}")
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
mariadb_version=$(mariadb --version | awk '{print $5}' | tr -d ',')
# Everything from the notes marker on is hand-written (what is cached, how it is invalidated):
# kept across runs.
marker='<!-- notes: kept by bench/http/performance.sh -->'
notes=""
if [[ -f $out ]] && grep -qF "$marker" "$out"; then notes=$(awk -v m="$marker" '$0 == m {f = 1} f' "$out"); fi
{
  echo "# Performance"
  echo
  echo "Measured by \`bench/http/performance.sh\` (wrk on loopback against zufang instances on one database, release"
  echo "build, MariaDB + Redis on the same machine, ${scale} seed). Load generator and server share the machine, so"
  echo "absolute numbers understate a real deployment; the ratios to \`/healthz\` in the same run are the"
  echo "comparable figures. Goals: cached endpoints >= 60 % of the ceiling, database-backed filters >= 20 %,"
  echo "p99 < 20 ms at 64 connections."
  echo
  echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ); wrk -t$threads -c$connections -d${duration}s (+1 s warm-up per endpoint)"
  echo "- Machine: ${cpu}, $(nproc) cores, ${mem}, Linux $(uname -r); MariaDB ${mariadb_version}; Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2)"
  echo "- Load average before the run: ${load_before}; after: ${load_after} (before: anything well above 0 means other work shared the cores; after: includes the benchmark's own wrk, instances and MariaDB threads)"
  [[ $quick == 1 ]] && echo "- QUICK MODE (small seed, 3 s): a smoke check, not a measurement"
  echo
  echo "| endpoint | requests/s | share of /healthz | p50 | p99 | non-2xx |"
  echo "|---|---:|---:|---:|---:|---:|"
  for r in "${results[@]}"; do
    IFS='|' read -r label rps p50 p99 non2xx <<<"$r"
    share=$(awk -v a="$rps" -v b="$ceiling" 'BEGIN {printf "%.0f %%", 100*a/b}')
    echo "| $label | $rps | $share | $p50 | $p99 | $non2xx |"
  done
  if ((${#open_results[@]})); then
    echo
    echo "Open loop (\`zufang-openloop\`, bench/openloop): each row again at a fixed rate, 50 % and 80 % of the"
    echo "requests/s wrk just measured for it, ${open_duration} s each, at most $connections requests in flight; latency"
    echo "counts from each request's due time, so queueing behind a slow request is in the tail (wrk's"
    echo "closed loop leaves it out). Errors: no answer within 5 s, or an answer other than 2xx/3xx. Where"
    echo "answered/s falls short of the rate asked, the instance (or the one-thread generator beside it, at"
    echo "tens of thousands a second) could not keep up and the queue it built is in the percentiles."
    echo
    echo "| endpoint | load | requests/s asked | answered/s | p50 | p99 | p99.9 | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${open_results[@]}"; do
      IFS='|' read -r label pct rate got p50 p99 p999 bad <<<"$r"
      echo "| $label | $pct | $rate | $got | $p50 | $p99 | $p999 | $bad |"
    done
  fi
  if [[ -n $notes ]]; then echo; echo "$notes"; fi
} >"$out"
echo "bench: wrote $out" >&2
cat "$out"
