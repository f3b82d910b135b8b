#!/usr/bin/env bash
# make dev: from a fresh clone to a running service on 127.0.0.1:8080.
# Starts MariaDB and Redis (Debian packages on this machine, installed if missing), creates the
# database zufang_dev, applies migrations, loads the small seed, and runs `zufang serve` in the
# foreground (Ctrl-C stops it gracefully).
#   scripts/dev.sh [--port 8080] [--scale small|bench]
set -euo pipefail
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
port=8080 scale=small
while [[ $# -gt 0 ]]; do
  case $1 in
    --help|-h) usage; exit 0 ;;
    --port) port=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    *) echo "dev: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
command -v cargo >/dev/null || { echo "dev: cargo not found; install Rust stable (https://rustup.rs)" >&2; exit 1; }
eval "$("$root/scripts/ci/services.sh" --env)"
echo "dev: building zufang" >&2
(cd "$root" && cargo build -p zufang --bin zufang)
export ZUFANG_CONFIG_DIR="$root/app/config" ZUFANG_ENV=development ZUFANG_SECRETS_DIR="$root/.cache/dev-secrets"
export ZUFANG__DATABASE__HOST=$MARIADB_HOST ZUFANG__DATABASE__PORT=$MARIADB_PORT
export ZUFANG__DATABASE__USERNAME=$MARIADB_USER ZUFANG__DATABASE__NAME=zufang_dev
export ZUFANG__APPLICATION__PORT=$port
mkdir -p "$ZUFANG_SECRETS_DIR" && chmod 700 "$ZUFANG_SECRETS_DIR"
cp "$MARIADB_PASSWORD_FILE" "$ZUFANG_SECRETS_DIR/database_password"
bin="$root/target/debug/zufang"
"$bin" migrate
"$bin" seed --scale "$scale"
echo "dev: serving on http://127.0.0.1:$port  (try /api/districts/, /openapi.json; Ctrl-C to stop)" >&2
exec "$bin" serve
