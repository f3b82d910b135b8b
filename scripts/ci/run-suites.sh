#!/usr/bin/env bash
# Run every test suite, even after one fails, so that one red suite does not hide the state of the
# others; then print a summary table (suite, result, seconds) and exit non-zero if any failed.
# Usage: scripts/ci/run-suites.sh SUITE [SUITE...]   (each SUITE is a make target, e.g. test-app)
set -euo pipefail
if [[ "${1:-}" == "--help" || $# -eq 0 ]]; then
  echo "usage: $0 SUITE [SUITE...]  (runs 'make SUITE' for each, continues after failures, prints a summary)"
  exit 0
fi
cd "$(dirname "$0")/../.."
names=() results=() times=()
failed=0
for s in "$@"; do
  echo "=== make $s ($(date -u +%H:%M:%SZ)) ==="
  start=$SECONDS
  if make --no-print-directory "$s"; then r=passed; else r=FAILED; failed=$((failed + 1)); fi
  names+=("$s") results+=("$r") times+=($((SECONDS - start)))
  echo "=== make $s: $r in ${times[-1]} s ==="
done
echo
printf '%-18s %-8s %8s\n' suite result seconds
for i in "${!names[@]}"; do
  printf '%-18s %-8s %8s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
echo "suites: $(( ${#names[@]} - failed )) passed, $failed failed"
[[ $failed -eq 0 ]]
