#!/usr/bin/env bash
# Size a machine: sysbench 1.0 CPU, memory, file I/O, threads and mutex tests over a thread sweep.
# Writes results.json / results.csv / profile.json (+ raw logs) into --out; see docs/benchmarking.md.
set -euo pipefail
BENCH_NAME=host
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
: "${SYSBENCH:=sysbench}"

usage() {
  cat <<EOF
usage: $0 [options]
  Host benchmarks with sysbench 1.0 (cpu, memory, fileio, threads, mutex), each over a thread sweep.

  --tests LIST          subset of: cpu memory fileio threads mutex   [all]
  --threads LIST        thread sweep, e.g. "1 2 4 8 16"                [1 2 4 8 16; quick: 1 2]
  --duration SEC        seconds per run (mutex runs a fixed amount)   [10; quick: 1]
  --report-interval SEC live progress every SEC seconds (0 = off)     [1]
  --out DIR             results directory        [bench-results/host-<UTC time>]
  --quick               a smoke run in seconds (CI): small sweep, short runs, small files
  --cpu-max-prime N     cpu: primes up to N per event                 [20000; quick: 5000]
  --block-sizes LIST    memory: block sizes                           [1K 1M; quick: 1M]
  --memory-ops LIST     memory: read and/or write                     [read write]
  --fileio-modes LIST   fileio: seqwr seqrd rndrd rndwr rndrw         [seqrd rndrd rndwr rndrw seqwr; quick: seqrd rndrw]
                        (seqwr always runs last: it truncates the files)
  --size SIZE           fileio: total file size (K/M/G/T suffix)      [2G; quick: 32M]
                        Larger than RAM to measure the disk, not the page cache (or use --direct).
  --dir DIR             fileio: parent of the temporary test directory [\${TMPDIR:-/tmp}]
  --max-disk-share PCT  fileio: refuse --size above PCT% of free space in --dir  [50]
  --direct              fileio: O_DIRECT, bypass the page cache
  --mutex-locks N       mutex: lock/unlock pairs per thread           [50000; quick: 10000]
  -h, --help            this help

Environment: SYSBENCH (binary, default sysbench), PYTHON (default python3).
Exit status: 0 ok, 2 bad option or refused size, 127 missing dependency, 130 interrupted.
EOF
}

tests="cpu memory fileio threads mutex"
threads="" duration="" interval=1 out="" quick=0 max_prime="" block_sizes="" mem_ops="read write"
modes="" size="" parent="${TMPDIR:-/tmp}" share=50 direct=0 mutex_locks=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --tests) tests=$2; shift ;;
    --threads) threads=$2; shift ;;
    --duration) duration=$2; shift ;;
    --report-interval) interval=$2; shift ;;
    --out) out=$2; shift ;;
    --quick) quick=1 ;;
    --cpu-max-prime) max_prime=$2; shift ;;
    --block-sizes) block_sizes=$2; shift ;;
    --memory-ops) mem_ops=$2; shift ;;
    --fileio-modes) modes=$2; shift ;;
    --size) size=$2; shift ;;
    --dir) parent=$2; shift ;;
    --max-disk-share) share=$2; shift ;;
    --direct) direct=1 ;;
    --mutex-locks) mutex_locks=$2; shift ;;
    *) usage >&2; die 2 "unknown option '$1'" ;;
  esac
  shift
done
if ((quick)); then
  : "${threads:=1 2}" "${duration:=1}" "${max_prime:=5000}" "${block_sizes:=1M}"
  : "${modes:=seqrd rndrw}" "${size:=32M}" "${mutex_locks:=10000}"
else
  : "${threads:=1 2 4 8 16}" "${duration:=10}" "${max_prime:=20000}" "${block_sizes:=1K 1M}"
  : "${modes:=seqrd rndrd rndwr rndrw seqwr}" "${size:=2G}" "${mutex_locks:=50000}"
fi
threads=$(parse_int_list "$threads")
require_positive_int --duration "$duration"
[[ $interval =~ ^[0-9]+$ ]] || die 2 "--report-interval must be a whole number of seconds"
require_positive_int --cpu-max-prime "$max_prime"
require_positive_int --mutex-locks "$mutex_locks"
[[ $share =~ ^[0-9]+$ && $share -ge 1 && $share -le 95 ]] || die 2 "--max-disk-share must be 1..95 (percent)"
for t in $tests; do
  case $t in cpu|memory|fileio|threads|mutex) ;; *) die 2 "unknown test '$t' (cpu memory fileio threads mutex)" ;; esac
done
for m in $modes; do
  case $m in seqwr|seqrewr|seqrd|rndrd|rndwr|rndrw) ;; *) die 2 "unknown fileio mode '$m'" ;; esac
done
for o in $mem_ops; do [[ $o == read || $o == write ]] || die 2 "unknown memory op '$o'"; done

# SIZE with K/M/G/T suffix (powers of 1024) -> bytes.
to_bytes() {
  local v=${1^^} n unit
  [[ $v =~ ^([0-9]+)([KMGT]?)B?$ ]] || die 2 "bad size '$1' (use e.g. 512M, 2G)"
  n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
  case $unit in K) n=$((n << 10)) ;; M) n=$((n << 20)) ;; G) n=$((n << 30)) ;; T) n=$((n << 40)) ;; esac
  echo "$n"
}

need_cmd "$SYSBENCH" "Install sysbench 1.0 (Debian: apt-get install sysbench; repo: scripts/ci/apt.sh sysbench)."
need_python
"$SYSBENCH" --version | grep -q '^sysbench 1\.' || die 127 "$SYSBENCH is not sysbench 1.x"

# The fileio size check happens before anything runs, so a refused size leaves no trace.
if [[ " $tests " == *" fileio "* ]]; then
  size_bytes=$(to_bytes "$size")
  ((size_bytes >= 1048576)) || die 2 "--size must be at least 1M"
  [[ -d $parent && -w $parent ]] || die 2 "--dir $parent is not a writable directory"
  free_bytes=$(df -P -B1 "$parent" | awk 'NR==2 {print $4}')
  allowed=$((free_bytes * share / 100))
  if ((size_bytes > allowed)); then
    die 2 "--size $size is more than $share% of the free space in $parent ($((free_bytes >> 20)) MiB free); lower --size or raise --max-disk-share"
  fi
fi

install_traps
init_out "$out" host
log "output: $BENCH_OUT; tests: $tests; threads: $threads; ${duration}s per run"
progress=sysbench_progress
common=(--time="$duration" --report-interval="$interval" --histogram=on --percentile=95)

run_one() { # run_one TEST THREADS EXTRA_K=V -- SYSBENCH ARGS...
  local name=$1 n=$2 extra=$3; shift 4
  local logf="$BENCH_OUT/raw/${name}-t${n}.log"
  log "$name threads=$n"
  run_tool "$logf" "$progress" "$SYSBENCH" "$@" --threads="$n" "${common[@]}" run \
    || die "sysbench $name failed (threads=$n); see $logf"
  "$PYTHON" "$BENCHLIB_PY" sysbench --records "$BENCH_RECORDS" --log "$logf" --test "$name" \
    --threads "$n" --extra "$extra" || die 3 "could not parse $logf"
}

fileio_dir=""
fileio_cleanup() {
  [[ -n $fileio_dir && -d $fileio_dir ]] || return 0
  # sysbench's own cleanup first (it knows its file names), then the directory we created.
  (cd "$fileio_dir" && "$SYSBENCH" fileio --file-total-size="$size_mb"M cleanup >/dev/null 2>&1) || true
  rm -rf -- "$fileio_dir"
  log "fileio: removed $fileio_dir"
}

for t in $tests; do
  case $t in
    cpu)
      for n in $threads; do run_one cpu "$n" "cpu_max_prime=$max_prime" -- cpu --cpu-max-prime="$max_prime"; done ;;
    memory)
      for op in $mem_ops; do for bs in $block_sizes; do for n in $threads; do
        run_one "memory_${op}_${bs}" "$n" "block_size=$bs" -- memory --memory-block-size="$bs" \
          --memory-total-size=100T --memory-oper="$op"
      done; done; done ;;
    fileio)
      size_mb=$((size_bytes >> 20))
      fileio_dir=$(mktemp -d "$parent/sysbench-fileio.XXXXXX")
      add_cleanup fileio_cleanup
      log "fileio: working in $fileio_dir (${size_mb} MiB)"
      flags=()
      ((direct)) && flags=(--file-extra-flags=direct)
      (cd "$fileio_dir" && "$SYSBENCH" fileio --file-total-size="$size_mb"M prepare >"$BENCH_OUT/raw/fileio-prepare.log" 2>&1) \
        || die "sysbench fileio prepare failed; see $BENCH_OUT/raw/fileio-prepare.log"
      # Sequential writes re-create the files and, stopped by --time, leave them shorter than
      # --size, which the read modes then refuse ("at least 8MiB is expected"): run it last.
      ordered=""
      for m in $modes; do [[ $m == seqwr ]] || ordered+=" $m"; done
      [[ " $modes " == *" seqwr "* ]] && ordered+=" seqwr"
      for m in $ordered; do for n in $threads; do
        # cd for the run only: sysbench fileio works on ./test_file.*
        pushd "$fileio_dir" >/dev/null
        run_one "fileio_$m" "$n" "size=${size_mb}M" -- fileio --file-total-size="$size_mb"M \
          --file-test-mode="$m" "${flags[@]}"
        popd >/dev/null
      done; done
      fileio_cleanup ;;
    threads)
      for n in $threads; do run_one threads "$n" "" -- threads; done ;;
    mutex)
      for n in $threads; do run_one mutex "$n" "mutex_locks=$mutex_locks" -- mutex --mutex-locks="$mutex_locks"; done ;;
  esac
done

finish_out "quick=$quick" "duration_s=$duration" "threads=$threads" "tests=$tests" \
  "fileio_size=$size" "fileio_dir=$parent" "direct=$direct"
