#!/usr/bin/env bash
# The photo pipeline benchmark: uploads at a fixed rate (throughput, p50/p99), thumbnail latency
# from 202 to ready, the worker's jobs per CPU-second on a backlog, its memory for one 12 MP job,
# and Pillow on the same files as the baseline a Django shop would use. See docs/benchmarking.md.
set -euo pipefail
BENCH_NAME=photos
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  cat <<EOF
usage: $0 --url URL (--user U --password-file F | --token-file F) [options]
  Against a running stack, in one run: (1) uploads of a photo-like ~3.5 MP JPEG (distinct bytes
  each) at a fixed rate, latency from each upload's due time; (2) each photo's time from its 202
  to "ready" (polled every 100 ms); (3) the worker stopped, a backlog of --jobs photos uploaded,
  the worker started: time until all are ready and its CPU seconds -> jobs per CPU-second;
  (4) the worker restarted, one 4000x3000 JPEG: its peak RSS minus its idle RSS; (5) Pillow
  (open, exif_transpose, thumbnail 1280 and 320, JPEG q82) on the same files, a subprocess per
  measure (time, ru_maxrss). The photos it uploaded are deleted at the end.

  --url URL               the API: http://172.28.10.100 (the edge VIP, compose), or a loopback app
                                                                   [\$PHOTOS_URL or http://172.28.10.100]
  --user U                log in via POST /api/tokens/ (an admin, or the owner of --houses)
  --password-file F       the password for --user (never taken from argv)
  --token-file F          a JWT instead of --user (first line)
  --houses LIST           house ids to upload to (needed unless the user is an admin; an admin's
                          run picks houses with room under the 20-photo limit)
  --rate N                uploads per second                        [2]
                          (the edge allows 2 uploads/s per client address, burst 10: a higher
                          rate through the edge measures its 429s, not the pipeline)
  --duration SEC          seconds of fixed-rate uploads             [20; quick: 3]
  --jobs N                the worker's backlog                      [16; quick: 4]
  --pillow-runs N         Pillow measures per file                  [10; quick: 2]
  --worker-cpu-cmd CMD    a command printing the worker's cgroup cpu.stat or /proc/PID/stat: its
                          CPU seconds [docker compose exec -T worker cat /proc/1/stat,
                          unless --worker-metrics is given without it]
  --worker-metrics URL    the worker's /metrics: readiness (zufang_worker_broker_connected 1) and,
                          without --worker-cpu-cmd, process_cpu_seconds_total (whole seconds only:
                          coarse on a short backlog)                [none]
  --worker-status-cmd CMD a command printing the worker's /proc/PID/status (VmRSS, VmHWM)
                          [docker compose exec -T worker cat /proc/1/status]
  --stop-worker-cmd CMD   [docker compose stop worker]
  --start-worker-cmd CMD  [docker compose start worker]
  --keep-photos           leave the uploaded photos (default: delete them at the end)
  --docs FILE             write the table into FILE between the photo-bench markers
                          (docs/performance.md, section "Photo pipeline")
  --report-interval SEC   progress every SEC seconds of uploads     [5]
  --out DIR               results directory        [bench-results/photos-<UTC time>]
  --quick                 a smoke run in seconds (CI)
  -h, --help              this help

One run uploads rate x duration + jobs + 1 photos (defaults: 57) as one user: the app allows
photos.uploads_per_user_per_hour (60) per user, so raise it for repeated runs (a 429 stops the
run with that hint). The worker commands assume one worker replica (compose: --scale worker=1).
Environment: PHOTOS_PYTHON (a python3 with Pillow; default: python3 if it imports PIL, else
/usr/bin/python3), PHOTOS_URL.
Exit status: 0 ok, 1 login failed, 2 bad option, 4 a figure could not be measured,
127 missing dependency (python3 with Pillow: Debian's python3-pil), 130 interrupted.
EOF
}

url=${PHOTOS_URL:-http://172.28.10.100} user="" pwfile="" token_file="" houses="" rate=2 duration=""
jobs="" pillow_runs="" metrics="" interval=5 out="" quick=0 docs="" keep=0
cpu_cmd=""
status_cmd="docker compose exec -T worker cat /proc/1/status"
stop_cmd="docker compose stop worker" start_cmd="docker compose start worker"
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --password|--password=*|--token|--token=*) die 2 "secrets are not accepted on the command line; use --password-file / --token-file" ;;
    --quick) quick=1 ;;
    --keep-photos) keep=1 ;;
    --url|--user|--password-file|--token-file|--houses|--rate|--duration|--jobs|--pillow-runs|--worker-metrics|--worker-cpu-cmd|--worker-status-cmd|--stop-worker-cmd|--start-worker-cmd|--docs|--report-interval|--out)
      [[ $# -ge 2 ]] || die 2 "$1 needs a value"
      case $1 in
        --url) url=$2 ;; --user) user=$2 ;; --password-file) pwfile=$2 ;; --token-file) token_file=$2 ;;
        --houses) houses=$2 ;; --rate) rate=$2 ;; --duration) duration=$2 ;; --jobs) jobs=$2 ;;
        --pillow-runs) pillow_runs=$2 ;; --worker-metrics) metrics=$2 ;; --worker-cpu-cmd) cpu_cmd=$2 ;;
        --worker-status-cmd) status_cmd=$2 ;; --stop-worker-cmd) stop_cmd=$2 ;;
        --start-worker-cmd) start_cmd=$2 ;; --docs) docs=$2 ;; --report-interval) interval=$2 ;;
        --out) out=$2 ;;
      esac
      shift ;;
    *) usage >&2; die 2 "unknown option '$1'" ;;
  esac
  shift
done
if ((quick)); then
  : "${duration:=3}" "${jobs:=4}" "${pillow_runs:=2}"
else
  : "${duration:=20}" "${jobs:=16}" "${pillow_runs:=10}"
fi
[[ $url =~ ^https?://[^/]+/?$ ]] || die 2 "--url must be a base URL like http://host:port (got '$url')"
url=${url%/}
[[ $rate =~ ^([1-9][0-9]*(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$ ]] || die 2 "--rate must be a positive number (got '$rate')"
require_positive_int --duration "$duration"
require_positive_int --jobs "$jobs"
require_positive_int --pillow-runs "$pillow_runs"
[[ $interval =~ ^[0-9]+$ ]] || die 2 "--report-interval must be a whole number of seconds"
[[ -z $houses || $houses =~ ^[0-9]+([ ,][0-9]+)*$ ]] || die 2 "--houses must be house ids, e.g. '3 7 12' (got '$houses')"
[[ -n $user || -n $token_file ]] || die 2 "give --user with --password-file, or --token-file (uploads need a JWT)"
[[ -z $user || -z $token_file ]] || die 2 "give either --token-file or --user, not both"
[[ -z $user || -n $pwfile ]] || die 2 "--user needs --password-file"
[[ -z $pwfile || -r $pwfile ]] || die 2 "password file '$pwfile' is not readable"
[[ -z $token_file || -r $token_file ]] || die 2 "token file '$token_file' is not readable"
[[ -z $metrics || $metrics =~ ^https?://[^[:space:]]+$ ]] || die 2 "--worker-metrics must be a URL (got '$metrics')"
if [[ -n $docs ]]; then
  [[ -w $docs ]] || die 2 "--docs $docs is not a writable file"
  if ! grep -q '^<!-- photo-bench:begin -->$' "$docs" || ! grep -q '^<!-- photo-bench:end -->$' "$docs"; then
    die 2 "--docs $docs lacks the <!-- photo-bench:begin --> / <!-- photo-bench:end --> lines"
  fi
fi

# Pillow makes the sample photos and is the baseline: Debian's python3-pil (the system python3).
if [[ -z ${PHOTOS_PYTHON:-} ]]; then
  PHOTOS_PYTHON=/usr/bin/python3
  if command -v python3 >/dev/null && python3 -c 'import PIL' 2>/dev/null; then PHOTOS_PYTHON=python3; fi
fi
"$PHOTOS_PYTHON" -c 'import PIL' 2>/dev/null \
  || die 127 "no python3 with Pillow ($PHOTOS_PYTHON): install Debian's python3-pil (scripts/ci/apt.sh python3-pil) or set PHOTOS_PYTHON"
PYTHON=$PHOTOS_PYTHON

install_traps
private_dir photos-bench
work=$BENCH_PRIVATE_DIR
if [[ -n $user ]]; then
  log "logging in as $user via POST $url/api/tokens/"
  "$PYTHON" "$BENCHLIB_PY" login --url "$url" --user "$user" --password-file "$pwfile" --out "$work/token" \
    || die 1 "login failed (see above)"
  token_file="$work/token"
fi

init_out "$out" photos
log "generating the sample photos"
"$PYTHON" "$HERE/photos.py" gen --dir "$BENCH_OUT" 2>&1 | tee -a "$BENCH_OUT/raw/run.log" >&2
run_args=(--url "$url" --token-file "$token_file" --dir "$BENCH_OUT" --rate "$rate" --duration "$duration"
  --jobs "$jobs" --pillow-runs "$pillow_runs" --report-interval "$interval"
  --stop-worker-cmd "$stop_cmd" --start-worker-cmd "$start_cmd" --worker-status-cmd "$status_cmd")
[[ -n $metrics || -n $cpu_cmd ]] || cpu_cmd="docker compose exec -T worker cat /proc/1/stat"
[[ -z $metrics ]] || run_args+=(--worker-metrics "$metrics")
[[ -z $cpu_cmd ]] || run_args+=(--worker-cpu-cmd "$cpu_cmd")
[[ -z $houses ]] || run_args+=(--houses "$houses")
((keep == 0)) || run_args+=(--keep-photos)
rc=0
photos_progress() { cat >&2; }  # every line of the helper is progress (stdout stays for the table)
run_tool "$BENCH_OUT/raw/run.log" photos_progress "$PYTHON" "$HERE/photos.py" run "${run_args[@]}" || rc=$?
((rc == 0)) || die "$rc" "the run stopped (see above; log: $BENCH_OUT/raw/run.log)"

finish_out url="$url" rate="$rate" duration_s="$duration" jobs="$jobs" pillow_runs="$pillow_runs" \
  photo_pixels=2304x1536 quick="$quick" "version_pillow=$("$PYTHON" -c 'import PIL; print(PIL.__version__)')"
docs_args=()
[[ -z $docs ]] || docs_args=(--docs "$docs")
"$PYTHON" "$HERE/photos.py" table --results "$BENCH_OUT/results.json" "${docs_args[@]}" \
  || die 4 "could not write the table"
log "table: $BENCH_OUT/table.md${docs:+ (and $docs)}"
