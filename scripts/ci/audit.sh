#!/usr/bin/env bash
# Dependency audit: `cargo audit` over Cargo.lock against a local RustSec advisory database,
# offline. Fails on any vulnerability, unsound, unmaintained or yanked crate not ignored (with its
# reason) in .cargo/audit.toml. Installs cargo-audit from crates.io when missing (about 5 min once).
#   scripts/ci/audit.sh            RUSTSEC_DB defaults to ../shared/rustsec-advisory-db
# The database is a dated snapshot (its SNAPSHOT file): a clean audit says nothing about
# advisories published after that day.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${RUSTSEC_DB:=$(dirname "$root")/shared/rustsec-advisory-db}"
if [[ ! -d $RUSTSEC_DB/crates ]]; then
  echo "audit: no advisory database at $RUSTSEC_DB (set RUSTSEC_DB to a checkout of the RustSec advisory-db)" >&2
  exit 1
fi
if ! cargo audit --version >/dev/null 2>&1; then
  echo "audit: installing cargo-audit (cargo install --locked; a few minutes, once per machine)" >&2
  cargo install --locked --quiet cargo-audit
fi
snapshot=$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$RUSTSEC_DB/SNAPSHOT" | head -1 || true)
echo "audit: cargo-audit $(cargo audit --version | awk '{print $NF}') against the advisory database of ${snapshot:-unknown date}" >&2
# --stale: the snapshot is old on purpose; --no-fetch: never reach the network.
cargo audit --db "$RUSTSEC_DB" --no-fetch --stale --deny warnings
