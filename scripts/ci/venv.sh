#!/usr/bin/env bash
# Create (or reuse) a Python virtualenv for one test area, keyed by its requirements file's hash.
# Usage: scripts/ci/venv.sh NAME REQUIREMENTS_FILE   -> prints the venv's path
# The file must pin every package with its sha256 (scripts/ci/pip-lock.sh writes it from the
# .in beside it); pip installs with --require-hashes, so a file swapped on the index, or an
# unpinned dependency, fails the install instead of running.
set -euo pipefail
usage() { echo "usage: $0 NAME REQUIREMENTS_FILE  (prints the path of a ready virtualenv)"; }
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
[[ $# -eq 2 ]] || { usage >&2; exit 2; }
name=$1 req=$2
[[ -f $req ]] || { echo "venv: no such requirements file: $req" >&2; exit 2; }
grep -q -- '--hash=sha256:' "$req" \
  || { echo "venv: $req pins no hashes; write it with scripts/ci/pip-lock.sh ${req%.txt}.in" >&2; exit 1; }
root=$(cd "$(dirname "$0")/../.." && pwd)
# Debian's python3 (bookworm: 3.11.2) whenever it exists, not whatever python3 comes first on the
# PATH (a pyenv 3.11.7 in a login shell, Debian's under `env -i`): the hash-locked files are
# resolved for it (scripts/ci/pip-lock.sh), and a newer interpreter would pick wheels it cannot use.
python=${VENV_PYTHON:-/usr/bin/python3}
[[ -x $python ]] || python=$(command -v python3)
# Debian splits venv's pip bootstrap into python3-venv.
if [[ $python == /usr/bin/python3 ]] && ! "$python" -c 'import ensurepip' 2>/dev/null; then
  "$root/scripts/ci/apt.sh" python3-venv >&2
fi
venv="$root/.cache/venv/$name"
hash=$({ sha256sum < "$req"; "$python" --version; } | sha256sum | cut -c1-16)
if [[ ! -f "$venv/.req-$hash" ]]; then
  echo "venv: building $name from $req" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$req" >&2
  touch "$venv/.req-$hash"
fi
echo "$venv"
