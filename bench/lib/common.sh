# shellcheck shell=bash
# Shared helpers for bench/sysbench/*.sh and bench/http/*.sh (sourced, not run).
# Provides: logging, dependency checks, one child process at a time that a trap can stop,
# cleanup hooks run on exit and on Ctrl-C, and the results directory (records.jsonl ->
# results.json + results.csv + profile.json through benchlib.py).

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCHLIB_PY="$BENCH_LIB/benchlib.py"
: "${PYTHON:=python3}"

log() { printf '%s %s\n' "[$(date -u +%H:%M:%S)] ${BENCH_NAME:-bench}:" "$*" >&2; }
die() { # die [EXIT_CODE] MESSAGE
  local code=1
  if [[ $1 =~ ^[0-9]+$ ]]; then code=$1; shift; fi
  printf '%s: error: %s\n' "${BENCH_NAME:-bench}" "$*" >&2
  exit "$code"
}

# need_cmd CMD HINT: exit 127 with a hint when a prerequisite is missing.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die 127 "'$1' not found in PATH. $2"
}

need_python() {
  need_cmd "$PYTHON" "Install python3 (Debian: apt-get install python3); results are written with its standard library."
}

# --- cleanup on exit, Ctrl-C and TERM -------------------------------------------------
BENCH_CHILD=""        # pid of the one running tool (sysbench/wrk), stopped first on interrupt
BENCH_CLEANUPS=()     # functions run in reverse order on exit
add_cleanup() { BENCH_CLEANUPS+=("$1"); }

_bench_on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $BENCH_CHILD ]] && kill -0 "$BENCH_CHILD" 2>/dev/null; then
    kill -TERM "$BENCH_CHILD" 2>/dev/null || true
    wait "$BENCH_CHILD" 2>/dev/null || true
  fi
  local i
  for ((i = ${#BENCH_CLEANUPS[@]} - 1; i >= 0; i--)); do
    "${BENCH_CLEANUPS[i]}" || log "cleanup step ${BENCH_CLEANUPS[i]} failed"
  done
  exit "$rc"
}
_bench_on_signal() {
  log "interrupted (signal), cleaning up"
  exit "$1"
}
install_traps() {
  trap _bench_on_exit EXIT
  trap '_bench_on_signal 130' INT
  trap '_bench_on_signal 143' TERM
}

# private_dir PREFIX: a mode-0700 directory under $TMPDIR (or /tmp) for secrets and scratch
# files, removed on exit and Ctrl-C. Its path is left in BENCH_PRIVATE_DIR: a $(...) subshell
# could not register the cleanup in this shell.
BENCH_PRIVATE_DIRS=()
_remove_private_dirs() { rm -rf -- "${BENCH_PRIVATE_DIRS[@]}"; }
private_dir() {
  BENCH_PRIVATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  chmod 700 "$BENCH_PRIVATE_DIR"
  ((${#BENCH_PRIVATE_DIRS[@]})) || add_cleanup _remove_private_dirs
  BENCH_PRIVATE_DIRS+=("$BENCH_PRIVATE_DIR")
}

# run_tool LOGFILE FILTER_FN CMD...: run CMD in the background (so a signal reaches our trap
# at once instead of after the tool finishes), keep its full output in LOGFILE, and pipe it
# live through the function FILTER_FN, which prints the progress on stderr.
# Returns the tool's exit status.
sysbench_progress() { grep --line-buffered -E '^\[ |FATAL|[Ee]rror:' >&2 || true; }
openloop_progress() { grep --line-buffered -v '^OPENLOOP_JSON' >&2 || true; }
run_tool() {
  local logfile=$1 filter=$2; shift 2
  "$@" >"$logfile" 2>&1 &
  BENCH_CHILD=$!
  # The log is written by the tool itself, so it is complete once the tool exits; the tail
  # only mirrors progress lines and stops by itself when the tool is gone (--pid).
  tail -n +1 -f --pid="$BENCH_CHILD" "$logfile" 2>/dev/null | "$filter" &
  local shower=$! rc=0
  wait "$BENCH_CHILD" || rc=$?
  BENCH_CHILD=""
  wait "$shower" 2>/dev/null || true
  return "$rc"
}

# --- results -------------------------------------------------------------------------
# init_out DIR SUITE: creates DIR (default bench-results/<suite>-<UTC stamp>), raw/ for logs.
init_out() {
  local dir=$1 suite=$2
  if [[ -z $dir ]]; then dir="bench-results/${suite}-$(date -u +%Y%m%dT%H%M%SZ)"; fi
  mkdir -p "$dir/raw" || die "cannot create output directory $dir"
  BENCH_OUT=$(cd "$dir" && pwd)
  BENCH_RECORDS="$BENCH_OUT/records.jsonl"
  : >"$BENCH_RECORDS"
  BENCH_SUITE=$suite
}

# finish_out KEY=VALUE...: writes results.json, results.csv and profile.json from the records.
finish_out() {
  "$PYTHON" "$BENCHLIB_PY" finish --dir "$BENCH_OUT" --suite "$BENCH_SUITE" "$@" \
    || die "could not write results in $BENCH_OUT"
  log "results: $BENCH_OUT/results.json and results.csv (profile: profile.json)"
}

# A positive integer list such as "1 2 4 8" (commas accepted).
parse_int_list() {
  local list=${1//,/ } x
  for x in $list; do [[ $x =~ ^[1-9][0-9]*$ ]] || die 2 "'$x' in '$1' is not a positive integer"; done
  [[ -n ${list// /} ]] || die 2 "empty list"
  echo "$list"
}
require_positive_int() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die 2 "$1 must be a positive integer (got '$2')"; }

# --- a release zufang on this machine's MariaDB and Redis (bench/http/performance.sh, login-flood.sh)
# release_instance_env DB REDIS_PREFIX: builds the release binary (path in $ZUFANG_RELEASE_BIN) and
# exports the configuration of an instance on database DB and Redis key prefix REDIS_PREFIX.
release_instance_env() {
  local root; root=$(cd "$BENCH_LIB/../.." && pwd)
  command -v cargo >/dev/null || die 127 "cargo not found (install Rust stable)"
  eval "$("$root/scripts/ci/services.sh" --env)"
  log "building the release binary"
  (cd "$root" && cargo build -q --release -p zufang --bin zufang)
  # shellcheck disable=SC2034 # read by the caller
  ZUFANG_RELEASE_BIN="${CARGO_TARGET_DIR:-$root/target}/release/zufang"
  export ZUFANG_CONFIG_DIR="$root/app/config" ZUFANG_ENV=development ZUFANG_SECRETS_DIR=/nonexistent
  export ZUFANG__DATABASE__HOST=$MARIADB_HOST ZUFANG__DATABASE__PORT=$MARIADB_PORT ZUFANG__DATABASE__USERNAME=$MARIADB_USER
  ZUFANG__DATABASE__PASSWORD=$(cat "$MARIADB_PASSWORD_FILE"); export ZUFANG__DATABASE__PASSWORD
  export ZUFANG__DATABASE__NAME=$1 ZUFANG__REDIS__KEY_PREFIX=$2
}

# openloop_bin: the path of zufang-openloop (bench/openloop), in $OPENLOOP_BIN: that variable when
# set, else the workspace's release build, built with cargo when missing (exit 127 without cargo:
# e.g. in the bench image, where the binary has to be provided).
openloop_bin() {
  local root; root=$(cd "$BENCH_LIB/../.." && pwd)
  OPENLOOP_BIN=${OPENLOOP_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/zufang-openloop}
  [[ -x $OPENLOOP_BIN ]] && return 0
  command -v cargo >/dev/null \
    || die 127 "zufang-openloop not found at $OPENLOOP_BIN and no cargo to build it: build it with 'cargo build --release -p zufang-openloop' and set OPENLOOP_BIN"
  log "building zufang-openloop (release)"
  (cd "$root" && cargo build -q --release -p zufang-openloop) || die 1 "could not build zufang-openloop"
}
