#!/usr/bin/env bash
# zufang worker's integration suite: the real `zufang worker` and `zufang jobs dlq` binaries against
# a real RabbitMQ and Garage (scripts/ci/photo-services.sh) and MariaDB and Redis
# (scripts/ci/services.sh), each test on its own database, Redis prefix and broker vhost.
#   app/tests/worker/run.sh [cargo test args...]     TEST_THREADS (default 2), TEST_LOG=info: the worker's log
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
command -v cargo >/dev/null || { echo "worker tests: cargo not found (install Rust stable)" >&2; exit 1; }
eval "$("$root/scripts/ci/services.sh" --env)"
export MARIADB_HOST MARIADB_PORT MARIADB_USER MARIADB_PASSWORD_FILE REDIS_URL
eval "$("$root/scripts/ci/photo-services.sh" --env)"
echo "worker tests: cargo test --test worker" >&2
cargo test -p zufang --locked --test worker -- --test-threads="${TEST_THREADS:-2}" "$@"
