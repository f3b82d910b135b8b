#!/usr/bin/env bash
# Run every test suite, even after one fails, so that one red suite does not hide the state of the
# others; then print a summary table (suite, result, seconds) and exit non-zero if any failed.
#
# When test-stack is among the suites, the offline images it needs are built in the background
# once the CPU-heavy first suite (test-app: the host's cargo compiles) is done, at a low CPU
# weight, while the light suites run: on a cold machine Garage, the Rust builder and the app
# compile in CPU time those suites leave idle. scripts/images/build.sh serializes on a
# machine-wide lock, so a suite that needs an image waits for the pre-build (or finds it built)
# instead of building it twice. The Makefile orders the suites for it: the ones that need no
# image first (terraform, k8s, edge, monitoring, bench, images: ~10 min), then those that run
# the broker, the store or the Zabbix images (contract, zabbix, queue, s3, photos, worker), then
# the stack.
set -euo pipefail
usage() {
  cat <<'USAGE'
usage: scripts/ci/run-suites.sh SUITE [SUITE...]   (each SUITE is a make target, e.g. test-app)
  Runs 'make SUITE' for each, continues after failures, prints a summary.
Environment (defaults):
  PREBUILD=1                    0 = no background image build
  PREBUILD_AFTER=test-app       the suite after which the pre-build starts (when test-stack runs)
  PREBUILD_CPU_SHARES=2         its docker builds' --cpu-shares (build.sh IMAGE_BUILD_CPU_SHARES)
  PREBUILD_LOG=artifacts/images-prebuild.log
USAGE
}
if [[ "${1:-}" == "--help" || "${1:-}" == -h || $# -eq 0 ]]; then usage; exit 0; fi
cd "$(dirname "$0")/../.."
: "${PREBUILD:=1}" "${PREBUILD_AFTER:=test-app}" "${PREBUILD_CPU_SHARES:=2}"
: "${PREBUILD_LOG:=artifacts/images-prebuild.log}"
[[ $PREBUILD == 0 || $PREBUILD == 1 ]] || { echo "run-suites: PREBUILD must be 0 or 1" >&2; exit 2; }

# The pre-build, in its own process group (so an interrupted run stops it, docker builds and
# all). Two build.sh runs: first everything but the app (Garage among it: test-contract and
# test-s3 come before test-stack), then the Rust builder and the app; between them the lock is free for a moment,
# so a suite that waited on the first gets its turn before the second.
prebuild_pid=""
prebuild() {
  mkdir -p "$(dirname "$PREBUILD_LOG")"
  echo "=== images: background build started at $(date -u +%H:%M:%SZ), CPU shares $PREBUILD_CPU_SHARES (log: $PREBUILD_LOG) ==="
  set -m
  (
    t0=$SECONDS
    export IMAGE_BUILD_CPU_SHARES=$PREBUILD_CPU_SHARES
    if scripts/images/build.sh --no-app --all-profiles && sleep 5 && scripts/images/build.sh --all-profiles; then
      echo "=== images: background build done in $((SECONDS - t0)) s ($(date -u +%H:%M:%SZ)) ===" >&3
    else
      echo "=== images: background build FAILED after $((SECONDS - t0)) s: test-stack builds again and shows why (log: $PREBUILD_LOG) ===" >&3
    fi
  ) 3>&1 > "$PREBUILD_LOG" 2>&1 < /dev/null &
  prebuild_pid=$!
  set +m
}
stop_prebuild() {
  [[ -n $prebuild_pid ]] && kill -0 "$prebuild_pid" 2>/dev/null || return 0
  kill -TERM -- "-$prebuild_pid" 2>/dev/null || true
}
trap 'stop_prebuild; exit 130' INT
trap 'stop_prebuild; exit 143' TERM

want_prebuild=0
if [[ $PREBUILD == 1 && " $* " == *" test-stack "* ]]; then
  want_prebuild=1
  # PREBUILD_AFTER not among the suites: at once.
  if [[ " $* " != *" $PREBUILD_AFTER "* ]]; then prebuild; want_prebuild=0; fi
fi

names=() results=() times=()
failed=0
for s in "$@"; do
  echo "=== make $s ($(date -u +%H:%M:%SZ)) ==="
  start=$SECONDS
  if make --no-print-directory "$s"; then r=passed; else r=FAILED; failed=$((failed + 1)); fi
  names+=("$s") results+=("$r") times+=($((SECONDS - start)))
  echo "=== make $s: $r in ${times[-1]} s ==="
  if (( want_prebuild )) && [[ $s == "$PREBUILD_AFTER" ]]; then prebuild; want_prebuild=0; fi
done
# test-stack's build.sh waited for the pre-build; still running means test-stack stopped before
# it needed the images: nothing is left to use them.
if [[ -n $prebuild_pid ]] && kill -0 "$prebuild_pid" 2>/dev/null; then
  echo "=== images: background build stopped (no suite left that needs it) ==="
  stop_prebuild
  wait "$prebuild_pid" 2>/dev/null || true
fi
echo
printf '%-18s %-8s %8s\n' suite result seconds
for i in "${!names[@]}"; do
  printf '%-18s %-8s %8s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
echo "suites: $(( ${#names[@]} - failed )) passed, $failed failed"
[[ $failed -eq 0 ]]
