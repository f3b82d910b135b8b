#!/usr/bin/env bash
# The photo routes' suite: the `photos` test target (app/Cargo.toml, test = false) against a real
# MariaDB and Redis (scripts/ci/services.sh) and a real RabbitMQ and Garage
# (scripts/ci/photo-services.sh), one test at a time (one stops and restarts the broker).
#   app/tests/photos/run.sh [test name filter...]     (make test-photos)
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
command -v cargo >/dev/null || { echo "test-photos: cargo not found (install Rust stable)" >&2; exit 1; }
[[ $EUID -eq 0 ]] || { echo "test-photos: needs root (photo-services.sh runs docker)" >&2; exit 1; }
eval "$(scripts/ci/services.sh --env)"
export MARIADB_HOST MARIADB_PORT MARIADB_USER MARIADB_PASSWORD_FILE REDIS_URL
eval "$(scripts/ci/photo-services.sh --env)"
export ZUFANG_TEST_AMQP_PORT ZUFANG_TEST_AMQP_HTTP_PORT ZUFANG_TEST_AMQP_APP_PASSWORD \
  ZUFANG_TEST_AMQP_WORKER_PASSWORD ZUFANG_TEST_AMQP_ADMIN_PASSWORD ZUFANG_TEST_S3_ENDPOINT \
  ZUFANG_TEST_S3_REGION ZUFANG_TEST_S3_BUCKET ZUFANG_TEST_S3_APP_KEY_ID ZUFANG_TEST_S3_APP_SECRET \
  ZUFANG_TEST_S3_WORKER_KEY_ID ZUFANG_TEST_S3_WORKER_SECRET
cargo test -p zufang --locked --test photos -- --test-threads=1 "$@"
