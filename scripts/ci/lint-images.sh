#!/usr/bin/env bash
# Lint every Dockerfile with hadolint (from PyPI, pinned in scripts/images/lint-requirements.txt)
# and the stack's shell scripts with shellcheck. Part of `make test-stack`.
#   scripts/ci/lint-images.sh
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
"$root/scripts/ci/apt.sh" shellcheck python3-venv
hadolint="$("$root/scripts/ci/venv.sh" hadolint scripts/images/lint-requirements.txt)/bin/hadolint"
passed=0 failed=0
while IFS= read -r f; do
  # Every finding counts, info level included; an ignore must carry its reason in a comment.
  if "$hadolint" --failure-threshold info "$f"; then passed=$((passed + 1)); else echo "FAIL hadolint $f" >&2; failed=$((failed + 1)); fi
done < <(git ls-files '*Dockerfile')
while IFS= read -r f; do
  # -x: follow `source` (the bench scripts share bench/lib/common.sh; each file is checked alone).
  if shellcheck -x "$f"; then passed=$((passed + 1)); else echo "FAIL shellcheck $f" >&2; failed=$((failed + 1)); fi
done < <(git ls-files 'scripts/ci/*.sh' 'scripts/images/*.sh' 'scripts/images/**/*.sh' 'scripts/ops/*.sh' 'scripts/up.sh' 'scripts/dev.sh' 'bench/*.sh')
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
