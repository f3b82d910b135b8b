#!/usr/bin/env bash
# Make the build context of the Garage image: the crates.io crate of crate.env (checked against
# its pinned SHA-256) unpacked into DIR/garage, and `cargo vendor --locked` of its Cargo.lock into
# DIR/vendor (on the host: containers here cannot reach crates.io). Reuses DIR when it already
# holds this crate's context. Prints nothing on success but progress on stderr.
set -euo pipefail
usage() {
  cat <<'USAGE'
usage: scripts/images/garage/fetch.sh DIR
  Fills DIR with garage/ (the crate, with its Cargo.lock) and vendor/ (its dependencies), the
  context scripts/images/garage/Dockerfile builds from. Needs cargo and crates.io (or cargo's
  local registry cache holding every crate of the lock).
Environment: CRATES_DL=https://static.crates.io/crates (where the .crate file is downloaded)
USAGE
}
[[ ${1:-} == --help || ${1:-} == -h ]] && { usage; exit 0; }
[[ $# -eq 1 ]] || { usage >&2; exit 2; }
dir=$(realpath -m "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/images/garage/crate.env
source "$here/crate.env"
: "${CRATES_DL:=https://static.crates.io/crates}"
stamp="$GARAGE_VERSION $GARAGE_CRATE_SHA256"
[[ -f $dir/.fetched && $(cat "$dir/.fetched") == "$stamp" ]] && exit 0
command -v cargo >/dev/null || { echo "garage fetch: cargo is needed on the host" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir"
crate="$dir/garage-$GARAGE_VERSION.crate"
# cargo's own download cache first (offline re-runs), then crates.io.
cached=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/cache" -name "garage-$GARAGE_VERSION.crate" 2>/dev/null | head -n 1 || true)
if [[ -n $cached ]]; then cp "$cached" "$crate"
else
  echo "garage fetch: downloading garage $GARAGE_VERSION from $CRATES_DL" >&2
  curl -fsS --retry 3 --max-time 120 -o "$crate" "$CRATES_DL/garage/garage-$GARAGE_VERSION.crate"
fi
echo "$GARAGE_CRATE_SHA256  $crate" | sha256sum -c --quiet - \
  || { echo "garage fetch: $crate does not match crate.env's GARAGE_CRATE_SHA256" >&2; exit 1; }
tar -xzf "$crate" -C "$dir" && mv "$dir/garage-$GARAGE_VERSION" "$dir/garage" && rm "$crate"
# A workspace of its own: cargo would otherwise take the checkout's Cargo.toml (above .cache/) as
# the crate's workspace root and refuse to vendor.
printf '\n[workspace]\n' >> "$dir/garage/Cargo.toml"
echo "garage fetch: vendoring the crates of garage $GARAGE_VERSION's Cargo.lock (host network)" >&2
(cd "$dir/garage" && cargo vendor --locked --versioned-dirs "$dir/vendor" > "$dir/vendor.log" 2>&1) \
  || { tail -n 20 "$dir/vendor.log" >&2; exit 1; }
echo "$stamp" > "$dir/.fetched"
