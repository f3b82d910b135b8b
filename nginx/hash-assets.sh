#!/usr/bin/env bash
# hash-assets.sh: give the static site's assets content-hashed names (app.<sha256:10>.css/js) and
# point index.html at them, so nginx can cache /assets/ for a year. Run after editing an asset;
# nginx/tests/run.sh fails when a name does not match its content. Not a build step: the output
# is committed and nothing else is transformed.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  echo "usage: nginx/hash-assets.sh   (renames nginx/html/assets/app.*.{css,js}, rewrites index.html)"; exit 0
fi
html="$(cd "$(dirname "$0")" && pwd)/html"
for ext in css js; do
  files=()
  for f in "$html"/assets/app.*."$ext" "$html"/assets/app."$ext"; do
    if [[ -f $f ]]; then files+=("$f"); fi
  done
  (( ${#files[@]} == 1 )) || { echo "hash-assets: expected exactly one app.*.$ext, found ${#files[@]}" >&2; exit 1; }
  src=${files[0]}
  hash=$(sha256sum "$src" | cut -c1-10)
  dst="$html/assets/app.$hash.$ext"
  [[ $src == "$dst" ]] || mv "$src" "$dst"
  sed -i -E "s#/assets/app\.[A-Za-z0-9]+\.$ext\"#/assets/app.$hash.$ext\"#" "$html/index.html"
  echo "hash-assets: assets/app.$hash.$ext"
done
