#!/usr/bin/env bash
# The zufang service suite: fmt, dependency audit, clippy (-D warnings), unit and integration tests against a real
# MariaDB and Redis (installed from Debian's packages and started when missing).
#   scripts/ci/test-app.sh [cargo test args...]
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v cargo >/dev/null || { echo "test-app: cargo not found (install Rust stable)" >&2; exit 1; }
"$root/scripts/ci/apt.sh" curl ca-certificates
eval "$("$root/scripts/ci/services.sh" --env)"
export MARIADB_HOST MARIADB_PORT MARIADB_USER MARIADB_PASSWORD_FILE REDIS_URL

# Databases left by earlier runs (each test creates its own zt_* database).
stale=$(mariadb --protocol=socket -N -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'zt\\_%'")
for db in $stale; do mariadb --protocol=socket -e "DROP DATABASE \`$db\`"; done
redis-cli -h 127.0.0.1 --scan --pattern 'zt_*' | xargs -r -n 500 redis-cli -h 127.0.0.1 DEL >/dev/null

echo "test-app: no import cycles between modules" >&2
python3 "$root/scripts/ci/module_cycles.py" "$root/app/src"
echo "test-app: migrations expand, never contract without a marker (a deploy migrates under the old release)" >&2
"$root/scripts/ops/check-migrations.sh" "$root/app/migrations"
echo "test-app: cargo fmt --check" >&2
cargo fmt --all -- --check
echo "test-app: cargo audit (offline, RustSec snapshot)" >&2
"$root/scripts/ci/audit.sh"
echo "test-app: cargo clippy -D warnings" >&2
cargo clippy -p zufang --all-targets --locked -- -D warnings
echo "test-app: cargo test" >&2
# Integration tests each spawn the service (2 workers) and their own database; cap parallelism
# so a 2-core machine is not oversubscribed into timeouts.
cargo test -p zufang --locked -- --test-threads="${TEST_THREADS:-4}" "$@"
