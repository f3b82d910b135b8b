#!/usr/bin/env bash
# Lock Python requirements with hashes: each FILE.in (the top-level pins a person edits) becomes
# FILE.txt beside it, every package of the resolved tree pinned with the sha256 of every file
# PyPI has for that version (pip-tools' `pip-compile --generate-hashes`). scripts/ci/venv.sh
# installs the .txt with --require-hashes, so a file swapped on the index fails the install.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ci/pip-lock.sh [--upgrade] [FILE.in ...]
  Compiles each FILE.in into FILE.txt (same folder, same name) with hashes for every package.
  No FILE: every tracked requirements*.in (git ls-files '*requirements*.in').
  --upgrade   re-resolve transitive packages to their newest allowed versions (default: keep
              the versions FILE.txt already pins, changing only what FILE.in asks for)
  Resolves for Debian's /usr/bin/python3 (3.11.2 on bookworm: the one scripts/ci/venv.sh builds
  venvs with, so the oldest 3.11 the suites meet); pip-tools
  itself comes from scripts/ci/pip-tools-requirements.txt, locked the same way. Needs PyPI.
USAGE
}
upgrade=() files=()
for a in "$@"; do
  case $a in
    --help|-h) usage; exit 0 ;;
    --upgrade) upgrade=(--upgrade) ;;
    -*) echo "pip-lock: unknown option $a" >&2; usage >&2; exit 2 ;;
    *.in) files+=("$a") ;;
    *) echo "pip-lock: $a is not an .in file (the .txt beside it is what gets written)" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
(( ${#files[@]} )) || mapfile -t files < <(git ls-files '*requirements*.in')
(( ${#files[@]} )) || { echo "pip-lock: no requirements*.in found" >&2; exit 1; }
venv=$(scripts/ci/venv.sh pip-tools scripts/ci/pip-tools-requirements.txt)
for in in "${files[@]}"; do
  [[ -f $in ]] || { echo "pip-lock: no such file: $in" >&2; exit 1; }
  out=${in%.in}.txt
  echo "pip-lock: $in -> $out" >&2
  # --allow-unsafe: pin setuptools/pip too when something depends on them; --require-hashes
  # refuses any package of the tree that the file does not pin.
  CUSTOM_COMPILE_COMMAND="scripts/ci/pip-lock.sh $in" "$venv/bin/pip-compile" --quiet --generate-hashes \
    --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links "${upgrade[@]}" --output-file "$out" "$in"
done
