#!/usr/bin/env bash
# HTTP benchmark of the zufang service on loopback (a benchmark, not a test): wrk against
# /healthz (the framework ceiling), /api/districts/ (cached), and two database-backed filters,
# on MariaDB + Redis with the bench seed (100k estates, 1M houses). Reports requests/s, p50 and
# p99, each endpoint's throughput as a share of /healthz in the same run, and writes the table to
# docs/performance.md with the machine it ran on.
#   scripts/bench/http.sh [--duration 15] [--connections 64] [--threads 2] [--out docs/performance.md] [--quick]
# --quick: 3 s per endpoint on the small seed (a smoke check; numbers not comparable).
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
duration=15 connections=64 threads=2 quick=0
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/docs/performance.md"
while [[ $# -gt 0 ]]; do
  case $1 in
    --help|-h) usage; exit 0 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --quick) quick=1; duration=3; shift ;;
    *) echo "bench: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
"$root/scripts/ci/apt.sh" wrk curl
command -v cargo >/dev/null || { echo "bench: cargo not found" >&2; exit 1; }
eval "$("$root/scripts/ci/services.sh" --env)"
scale=bench db=zufang_perf
if [[ $quick == 1 ]]; then scale=small db=zufang_perf_quick; fi
port=18180
echo "bench: building the release binary" >&2
(cd "$root" && cargo build -q --release -p zufang --bin zufang)
bin="$root/target/release/zufang"
export ZUFANG_CONFIG_DIR="$root/app/config" ZUFANG_ENV=development ZUFANG_SECRETS_DIR=/nonexistent
export ZUFANG__DATABASE__HOST=$MARIADB_HOST ZUFANG__DATABASE__PORT=$MARIADB_PORT ZUFANG__DATABASE__USERNAME=$MARIADB_USER
ZUFANG__DATABASE__PASSWORD=$(cat "$MARIADB_PASSWORD_FILE"); export ZUFANG__DATABASE__PASSWORD
export ZUFANG__DATABASE__NAME=$db ZUFANG__APPLICATION__PORT=$port ZUFANG__REDIS__KEY_PREFIX="zufang:bench:"
export ZUFANG__LOG__LEVEL=warn ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS=0 ZUFANG__DATABASE__MAX_CONNECTIONS=32
"$bin" migrate
echo "bench: seeding $scale (skipped when already seeded; bench scale takes a few minutes)" >&2
"$bin" seed --scale "$scale"
"$bin" serve >"$root/.cache/bench-serve.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
base="http://127.0.0.1:$port"
district=$(curl -fsS "$base/api/houses/?size=1&ordering=price" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["district_id"])')
endpoints=(
  "/healthz"
  "/api/districts/"
  "/api/estates/?dist=$district&minhot=100"
  "/api/houses/?district=$district&ordering=-price"
)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=()
for path in "${endpoints[@]}"; do
  echo "bench: warming up $path" >&2
  wrk -t1 -c8 -d1s "$base$path" >/dev/null
  echo "bench: wrk -t$threads -c$connections -d${duration}s $path" >&2
  raw=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "$base$path")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$raw")
  p50=$(awk '$1=="50%" {print $2}' <<<"$raw")
  p99=$(awk '$1=="99%" {print $2}' <<<"$raw")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$raw"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {print $0}' <<<"$raw")
  echo "bench:   $rps req/s  p50 $p50  p99 $p99  non-2xx $non2xx ${errors}" >&2
  results+=("$path|$rps|$p50|$p99|$non2xx")
done
ceiling=$(cut -d'|' -f2 <<<"${results[0]}")
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
mariadb_version=$(mariadb --version | awk '{print $5}' | tr -d ',')
{
  echo "# Performance"
  echo
  echo "Measured by \`scripts/bench/http.sh\` (wrk on loopback against one zufang instance, release build,"
  echo "MariaDB + Redis on the same machine, ${scale} seed). Load generator and server share the machine, so"
  echo "absolute numbers understate a real deployment; the ratios to \`/healthz\` in the same run are the"
  echo "comparable figures. Goals: cached endpoints >= 60 % of the ceiling, database-backed filters >= 20 %,"
  echo "p99 < 20 ms at 64 connections."
  echo
  echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ); wrk -t$threads -c$connections -d${duration}s (+1 s warm-up per endpoint)"
  echo "- Machine: ${cpu}, $(nproc) cores, ${mem}, Linux $(uname -r); MariaDB ${mariadb_version}; Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2)"
  echo "- Load average before the run: ${load_before} (anything well above 0 means other work shared the cores)"
  [[ $quick == 1 ]] && echo "- QUICK MODE (small seed, 3 s): a smoke check, not a measurement"
  echo
  echo "| endpoint | requests/s | share of /healthz | p50 | p99 | non-2xx |"
  echo "|---|---:|---:|---:|---:|---:|"
  for r in "${results[@]}"; do
    IFS='|' read -r path rps p50 p99 non2xx <<<"$r"
    share=$(awk -v a="$rps" -v b="$ceiling" 'BEGIN {printf "%.0f %%", 100*a/b}')
    echo "| \`$path\` | $rps | $share | $p50 | $p99 | $non2xx |"
  done
} >"$out"
echo "bench: wrote $out" >&2
cat "$out"
