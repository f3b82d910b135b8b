#!/usr/bin/env bash
# One-shot `secrets-init` service of compose.yaml: on the first start of a stack, generate random
# secrets, one folder per consumer — each folder its own volume (secrets-<consumer>) that only
# that consumer mounts — owned by the numeric uid that consumer runs as (mode 0500/0400). Later
# starts keep them. A stack of an earlier release kept every folder in one `secrets` volume
# (mounted at /legacy): its files are carried over first, so the passwords the databases already
# hold stay. Nothing secret is in compose.yaml or .env; `docker compose down -v` drops the volumes.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  echo "usage: init-secrets.sh [DIR]   (default DIR=/secrets; idempotent)"; exit 0
fi
dir=${1:-/secrets}
umask 077
legacy=${LEGACY_DIR:-/legacy}

rand() { # N -> N random characters of [A-Za-z0-9]
  local out=""
  while (( ${#out} < $1 )); do out+=$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9'); done
  printf '%s' "${out:0:$1}"
}
# hex N -> N random bytes as 2N hex digits.
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# put FILE CONTENT: write once (an existing secret is never replaced).
put() { [[ -s $dir/$1 ]] || { mkdir -p "$(dirname "$dir/$1")"; printf '%s\n' "$2" > "$dir/$1"; echo "secrets-init: created $1" >&2; }; }
# shared NAME LEN: one value used by several consumers (kept in root-only _shared/).
shared() { put "_shared/$1" "$(rand "$2")"; head -n 1 "$dir/_shared/$1"; }
# put_shared_hex NAME BYTES [PREFIX]: the same for a hex value (N random bytes) with a prefix.
put_shared_hex() { put "_shared/$1" "${3:-}$(hex "$2")"; head -n 1 "$dir/_shared/$1"; }

# carry_over: files of the single volume of earlier releases, into the folders still empty.
if [[ -d $legacy ]]; then
  for src in "$legacy"/*/; do
    [[ -d $src ]] || continue
    name=$(basename "$src")
    [[ -d $dir/$name ]] || continue
    for f in "$src"*; do
      [[ -f $f && ! -s $dir/$name/$(basename "$f") ]] || continue
      # These changed meaning (one Redis password for everyone before, ACL users now).
      case $name/$(basename "$f") in redis/redis.conf|redis-exporter/password|zabbix/redis_password) continue ;; esac
      cp "$f" "$dir/$name/" && echo "secrets-init: carried over $name/$(basename "$f")" >&2
    done
  done
fi

db=$(shared database_password 32)
migrate_db=$(shared migrate_database_password 32)
# Redis ACL users, one per client, each with only the commands it needs (redis/redis.conf below):
# app (the replicas), exporter (redis_exporter), default (the Zabbix agent, whose Redis plugin sends
# no user name: PING and INFO only) and admin (operators: scripts/ops). `redis_password` keeps its
# name: it is the app user's, as it was the one password before.
redis=$(shared redis_password 32)
redis_exporter=$(shared redis_exporter_password 32)
redis_monitor=$(shared redis_monitor_password 32)
redis_admin=$(shared redis_admin_password 32)
exporter=$(shared mysqld_exporter_password 32)
bench_db=$(shared bench_database_password 32)
bench_api=$(shared bench_api_password 32)
backup_db=$(shared backup_database_password 32)

put app/database_password "$db"
put app/redis_password "$redis"
put app/jwt_secret "$(rand 64)"
# The SMS-code HMAC key, its own secret so that a JWT key rotation leaves codes in flight valid.
put app/sms_code_hmac_secret "$(rand 64)"
# The migrate one-shot's account (DDL on zufang; the replicas' account has DML only).
put migrate/database_password "$migrate_db"
put mysql/root_password "$(rand 32)"
put mysql/database_password "$db"
put mysql/migrate_password "$migrate_db"
put mysql/mysqld_exporter_password "$exporter"
put mysql/bench_password "$bench_db"
put mysql/backup_password "$backup_db"
# The backup service (uid 999 like MariaDB: it reads the datadir) logs in as `backup`; its restore
# one-shot replays binlogs as root (mysql/root_password). An encryption key for the backups is not
# generated here: a key that lives only beside the backups would be lost with them. Put one in
# backup/encryption_key (scripts/ops/backup.sh key) and keep a copy off this machine.
put backup/database_password "$backup_db"
put redis/app_password "$redis"
put redis/exporter_password "$redis_exporter"
put redis/monitor_password "$redis_monitor"
put redis/admin_password "$redis_admin"
put mysqld-exporter/my.cnf "$(printf '[client]\nuser=exporter\npassword=%s\nhost=mysql\nport=3306' "$exporter")"
put redis-exporter/password "$redis_exporter"
put grafana/admin_password "$(rand 24)"
# The `bench` profile: the load generator's MariaDB account (schema sbtest only) and API account
# (a plain user, for the authenticated share of bench/http/load.sh), and for the one-shot
# `bench-account` (app image, uid 10001) the API password it creates that account with.
put bench/mariadb_password "$bench_db"
put bench/api_password "$bench_api"
put bench-account/api_password "$bench_api"

# Zabbix profile (compose.yaml, profile zabbix). Two folders because two uids read
# them: zabbix-db (MariaDB, 999; the official image reads *_FILE after dropping root) and zabbix
# (server, web front end and agent 2, all uid 1997 in the official and the offline images).
zbx_db=$(shared zabbix_db_password 32)
zbx_monitor=$(shared zabbix_monitor_password 32)
put zabbix-db/password "$zbx_db"
put zabbix-db/root_password "$(rand 32)"
put zabbix/db_password "$zbx_db"
put zabbix/zabbix_mysql_password "$zbx_monitor"
put zabbix/redis_password "$redis_monitor"
# The front end's Admin password: zabbix-init replaces the well-known default with it.
put zabbix/admin_password "$(rand 24)"
# The stack's MariaDB creates the agent's read-only account zbx_monitor from this file.
put mysql/zabbix_mysql_password "$zbx_monitor"

# The message broker (rabbitmq/entrypoint.sh turns these into the users' password hashes at each
# start): zufang-app publishes, zufang-worker consumes, zufang-admin is the management UI's. The
# app's and worker's copies come from the same shared values when those services mount them.
rabbitmq_app=$(shared rabbitmq_app_password 32)
rabbitmq_worker=$(shared rabbitmq_worker_password 32)
put rabbitmq/app_password "$rabbitmq_app"
put rabbitmq/worker_password "$rabbitmq_worker"
put rabbitmq/admin_password "$(rand 32)"

# The object store (s3/README.md): Garage's RPC secret (32 bytes, hex as Garage requires) and admin
# token, and one S3 key per client in Garage's own format (GK + 24 hex, secret 64 hex), which
# s3-init imports; the app's and the worker's folders get their own key's copy.
s3_app_id=$(put_shared_hex s3_app_access_key_id 12 GK)
s3_app_secret=$(put_shared_hex s3_app_secret_access_key 32)
put s3/rpc_secret "$(hex 32)"
put s3/admin_token "$(rand 48)"
put s3/app_access_key_id "$s3_app_id"
put s3/app_secret_access_key "$s3_app_secret"
put s3/worker_access_key_id "GK$(hex 12)"
put s3/worker_secret_access_key "$(hex 32)"

# The app publishes photo jobs (zufang-app) and stores the uploads (its S3 key).
put app/amqp_password "$rabbitmq_app"
put app/s3_access_key_id "$s3_app_id"
put app/s3_secret_access_key "$s3_app_secret"
# The worker (`zufang worker`, app image, uid 10001): the replicas' MariaDB and Redis accounts (it
# marks photos ready and invalidates their houses' cached lists), the broker's zufang-worker and
# its own S3 key (copied from s3/, where they were made first).
put worker/database_password "$db"
put worker/redis_password "$redis"
put worker/amqp_password "$rabbitmq_worker"
put worker/s3_access_key_id "$(head -n 1 "$dir/s3/worker_access_key_id")"
put worker/s3_secret_access_key "$(head -n 1 "$dir/s3/worker_secret_access_key")"
# `zufang jobs dlq list|replay` (the one-shot `jobs`, profile ops): the broker's administrator,
# the one account that may read the dead-letter queue and publish to the work queue.
put jobs/amqp_password "$(head -n 1 "$dir/rabbitmq/admin_password")"

# The default user is the Zabbix agent 2's Redis plugin: it names its connection (CLIENT SETNAME)
# before any PING, and a refused SETNAME reads as Redis down (redis.ping 0).
# Redis's configuration is derived, rendered on every run from the password files above (so a
# rotation that changed a file, or an upgrade from the single-password release, takes effect at
# Redis's next start). Key patterns: the app's keys are under redis.key_prefix ("zufang:").
pw_of() { head -n 1 "$dir/redis/$1_password"; }
cat > "$dir/redis/redis.conf.new" <<CONF
user default on >$(pw_of monitor) ~* resetchannels -@all +ping +info +client|setname
user app on >$(pw_of app) ~zufang:* resetchannels -@all +@read +@write +@scripting +@connection -@dangerous
user exporter on >$(pw_of exporter) ~* resetchannels -@all +ping +auth +hello +select +client|setname +client|list +info +config|get +slowlog|get +slowlog|len +latency|latest +latency|histogram +memory|stats +module|list +cluster|info +dbsize
user admin on >$(pw_of admin) ~* &* +@all
CONF
if ! cmp -s "$dir/redis/redis.conf.new" "$dir/redis/redis.conf" 2>/dev/null; then
  mv -f "$dir/redis/redis.conf.new" "$dir/redis/redis.conf"
  echo "secrets-init: rendered redis/redis.conf (ACL users app, exporter, default, admin)" >&2
else
  rm -f "$dir/redis/redis.conf.new"
fi

# owner uid of each folder: the user its consumer runs as (official images' uids; the offline
# images use the same ones).
# No edge folder: the proxies hold no secret (VRRPv3 has no password); the vrrp_auth_pass left in
# the secrets-edge volume of an earlier release is not read any more.
declare -A owner=([_shared]=0 [app]=10001 [migrate]=10001 [mysql]=999 [redis]=6379 [mysqld-exporter]=65534
  [redis-exporter]=59000 [grafana]=472 [zabbix-db]=999 [zabbix]=1997
  [bench]=10010 [bench-account]=10001 [backup]=999 [rabbitmq]=999 [s3]=10030
  [worker]=10001 [jobs]=10001)
for d in "${!owner[@]}"; do
  chown -R "${owner[$d]}:${owner[$d]}" "$dir/$d"
  chmod 0500 "$dir/$d"
  chmod 0400 "$dir/$d"/*
done
# One volume holding every folder (an earlier release, the bench image test): readable below.
# Each folder its own volume: /secrets itself is on the read-only root and already 0755.
if [[ -w $dir ]]; then chmod 0755 "$dir"; fi
echo "secrets-init: ready (${#owner[@]} consumers)"
