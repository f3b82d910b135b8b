#!/usr/bin/env bash
# Login-flood benchmark (a benchmark, not a test): what 200 concurrent bogus logins (random
# usernames, no account needed) cost the service, with the password-hashing pool as configured
# (one hashing thread per core, 16 waiting) and with it opened wide (the behaviour before the
# pool: every login hashes at once). Per case: idle and peak RSS of the process, the login
# answers, and /api/districts/ p50/p99 measured alone and during the flood (wrk on loopback,
# release build, production Argon2 cost: 19 MiB, 2 passes). Writes a Markdown table.
#   bench/http/login-flood.sh [--duration 10] [--logins 200] [--out docs/login-flood-benchmark.md]
set -euo pipefail
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
duration=10 logins=200
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/docs/login-flood-benchmark.md"
while [[ $# -gt 0 ]]; do
  case $1 in
    --help|-h) usage; exit 0 ;;
    --duration) duration=${2:?--duration needs seconds}; shift 2 ;;
    --logins) logins=${2:?--logins needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    *) echo "login-flood: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $duration =~ ^[0-9]+$ && $logins =~ ^[0-9]+$ ]] || { echo "login-flood: --duration and --logins take numbers" >&2; exit 2; }
"$root/scripts/ci/apt.sh" wrk curl
BENCH_NAME=login-flood
# shellcheck source=bench/lib/common.sh
. "$root/bench/lib/common.sh"
release_instance_env zufang_loginflood "zufang:loginflood:"
bin=$ZUFANG_RELEASE_BIN
export ZUFANG__LOG__LEVEL=error ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS=0
# Every bogus login is a new (account, client) pair: the throttles never answer for the pool.
export ZUFANG__AUTH__MAX_FAILED_LOGINS=100000 ZUFANG__AUTH__MAX_FAILED_LOGINS_PER_ACCOUNT=100000
"$bin" migrate >/dev/null
"$bin" seed --scale small >/dev/null
work=$(mktemp -d)
server=""
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/login.lua" <<'LUA'
-- POST /api/tokens/ with a new random username each time; counts the answers per status.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() statuses = {} n = 0 end
function request()
  n = n + 1
  local body = string.format('{"username":"nobody_%d_%d","password":"guess"}', n, math.random(1, 1000000000))
  return wrk.format("POST", "/api/tokens/", {["Content-Type"] = "application/json"}, body)
end
function response(status) statuses[status] = (statuses[status] or 0) + 1 end
function done()
  local total = {}
  for _, t in ipairs(threads) do
    for s, c in pairs(t:get("statuses")) do total[s] = (total[s] or 0) + c end
  end
  local parts = {}
  for s, c in pairs(total) do table.insert(parts, s .. ": " .. c) end
  table.sort(parts)
  io.write("STATUSES " .. table.concat(parts, ", ") .. "\n")
end
LUA

rss_mib() { awk -v f="$2" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
pct() { awk -v p="$2" '$1 == p { print $2 }' "$1"; }

# run CASE CONCURRENCY QUEUE: one instance, then districts alone, then districts during the flood.
rows=()
run() {
  local name=$1 conc=$2 queue=$3 port=18195
  ZUFANG__APPLICATION__PORT=$port ZUFANG__AUTH__PASSWORD_HASH_CONCURRENCY=$conc \
    ZUFANG__AUTH__PASSWORD_HASH_QUEUE=$queue "$bin" serve >"$work/serve-$name.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "login-flood: the instance did not start" >&2; exit 1; }
  echo "login-flood: $name — /api/districts/ alone for ${duration}s" >&2
  wrk -t 1 -c 8 -d "${duration}s" --latency "http://127.0.0.1:$port/api/districts/" > "$work/alone.txt"
  local idle; idle=$(rss_mib "$server" VmRSS:)
  echo "login-flood: $name — $logins concurrent bogus logins for ${duration}s, /api/districts/ beside them" >&2
  wrk -t 2 -c "$logins" -d "${duration}s" -s "$work/login.lua" "http://127.0.0.1:$port" > "$work/flood.txt" &
  local flood=$!
  sleep 1
  wrk -t 1 -c 8 -d "$((duration - 2))s" --latency "http://127.0.0.1:$port/api/districts/" > "$work/during.txt"
  wait "$flood"
  local peak; peak=$(rss_mib "$server" VmHWM:)
  local statuses; statuses=$(sed -n 's/^STATUSES //p' "$work/flood.txt")
  local logins_s; logins_s=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$work/flood.txt")
  local non2xx; non2xx=$(awk '/Non-2xx/ { print $NF }' "$work/during.txt")
  rows+=("| $name | $idle | $peak | $logins_s | ${statuses:-none} | $(pct "$work/alone.txt" 50%) / $(pct "$work/alone.txt" 99%) | $(pct "$work/during.txt" 50%) / $(pct "$work/during.txt" 99%) | ${non2xx:-0} |")
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}
cores=$(nproc)
run "pool: $cores hashing, 16 waiting (default)" 0 16
run "no bound: $logins hashing at once (before the pool)" "$logins" 0

mkdir -p "$(dirname "$out")"
{
  echo "# Login flood"
  echo
  echo "Measured by \`bench/http/login-flood.sh\` on $(date -u +%F), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo):"
  echo "$logins connections posting bogus logins (random usernames) for ${duration} s with wrk, and"
  echo "/api/districts/ (8 connections) alone and during the flood. Release build, production Argon2"
  echo "cost (19 MiB, 2 passes), MariaDB and Redis on this machine."
  echo
  echo "| case | idle RSS MiB | peak RSS MiB | logins answered/s | login answers | districts p50 / p99 alone | districts p50 / p99 during | districts non-2xx during |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "With the pool, logins beyond the hashing threads and the queue get a 503 with"
  echo "\`Retry-After: 1\` before any Redis, database or hashing work (docs/security.md)."
} > "$out"
echo "login-flood: wrote $out" >&2
