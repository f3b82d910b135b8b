#!/usr/bin/env bash
# Install (from Debian's packages, when missing) and start MariaDB and Redis on loopback,
# for tests and `make dev`. Idempotent: does nothing for a service that already answers.
# Creates a MariaDB account for tests with a random password kept in /var/lib/zufang-test/ (one
# per machine, root only: several checkouts share the one server and so the one account; as a
# non-root user in .cache/secrets/ of the checkout). Never committed; prints nothing secret.
#   scripts/ci/services.sh            start both
#   scripts/ci/services.sh --env      also print shell exports (MARIADB_* / REDIS_URL) for the caller
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
if [[ $(id -u) -eq 0 ]]; then secrets=${ZUFANG_TEST_SECRETS_DIR:-/var/lib/zufang-test}; else secrets="$root/.cache/secrets"; fi
mkdir -p "$secrets" && chmod 700 "$secrets"
"$root/scripts/ci/apt.sh" mariadb-server mariadb-client redis-server redis-tools

if ! mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
  echo "services: starting MariaDB" >&2
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  # Every descriptor of the detached server goes to /dev/null, the subshell's own too: this script
  # usually runs inside $(...), which waits until nothing holds its pipe (a forgotten fd hangs CI).
  (cd / && exec setsid mysqld_safe --user=mysql --bind-address=127.0.0.1 --max-connections=1000 \
      --innodb-buffer-pool-size=1G --innodb-flush-log-at-trx-commit=2) </dev/null >/dev/null 2>&1 &
  # Up to 2 minutes: after an unclean stop InnoDB recovers its redo log before it answers.
  for _ in $(seq 1 240); do mariadb-admin --protocol=socket ping >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb-admin --protocol=socket ping >/dev/null 2>&1 || { echo "services: MariaDB did not start" >&2; exit 1; }
fi
pwfile="$secrets/mariadb_test_password"
if [[ ! -s $pwfile ]]; then
  head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$pwfile"; chmod 600 "$pwfile"
fi
pw=$(cat "$pwfile")
# A test account that may create and drop its own databases (each test gets one).
mariadb --protocol=socket -e "
  CREATE USER IF NOT EXISTS 'zufang_test'@'localhost' IDENTIFIED BY '$pw';
  CREATE USER IF NOT EXISTS 'zufang_test'@'127.0.0.1' IDENTIFIED BY '$pw';
  ALTER USER 'zufang_test'@'localhost' IDENTIFIED BY '$pw';
  ALTER USER 'zufang_test'@'127.0.0.1' IDENTIFIED BY '$pw';
  GRANT ALL PRIVILEGES ON *.* TO 'zufang_test'@'localhost';
  GRANT ALL PRIVILEGES ON *.* TO 'zufang_test'@'127.0.0.1';"

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "services: starting Redis" >&2
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
    --maxmemory 512mb --maxmemory-policy allkeys-lru --databases 64 </dev/null >/dev/null 2>&1
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.25; done
  redis-cli -h 127.0.0.1 ping >/dev/null || { echo "services: Redis did not start" >&2; exit 1; }
fi
if [[ "${1:-}" == "--env" ]]; then
  echo "export MARIADB_HOST=127.0.0.1 MARIADB_PORT=3306 MARIADB_USER=zufang_test MARIADB_PASSWORD_FILE=$pwfile"
  echo "export REDIS_URL=redis://127.0.0.1:6379"
fi
