#!/usr/bin/env bash
# Create (or reuse) a Python virtualenv for one test area, keyed by its requirements file's hash.
# Usage: scripts/ci/venv.sh NAME REQUIREMENTS_FILE   -> prints the venv's path
set -euo pipefail
if [[ "${1:-}" == "--help" || $# -ne 2 ]]; then
  echo "usage: $0 NAME REQUIREMENTS_FILE  (prints the path of a ready virtualenv)"; exit 0
fi
name=$1 req=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.cache/venv/$name"
hash=$(sha256sum "$req" | cut -c1-16)
if [[ ! -f "$venv/.req-$hash" ]]; then
  echo "venv: building $name from $req" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  touch "$venv/.req-$hash"
fi
echo "$venv"
