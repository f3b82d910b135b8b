#!/usr/bin/env bash
# Secret rotation on the compose stack (docs/runbooks/rotation.md).
#   jwt            the JWT signing key, without logging anyone out: (1) the new key becomes
#                  verify-only on every replica (drained restart), (2) it becomes current and the
#                  old one verify-only (drained restart). Tokens of the old key keep working.
#   jwt --finish   (3) drop the old key, once every token it signed has expired
#                  (jwt.access_ttl_seconds + leeway: 15.5 min by default); refresh tokens are
#                  opaque Redis families, not JWTs, so they are not affected.
#   db-app         the app's MariaDB password (the replicas' and the photo worker's account): new
#                  files, ALTER USER, then a drained restart walk (deploy.sh restart: the worker too)
#   db-exporter    mysqld-exporter's password (a scrape or two missed while it restarts)
#   db-bench       the bench profile's sbtest account
#   redis          the Redis password: accepted beside the old one (ACL), files, the app and worker
#                  walk, a restart of redis-exporter and the Zabbix agent, then the old one removed
# The proxy pair has nothing to rotate: VRRPv3 has no password (nginx/keepalived/README.md).
set -euo pipefail
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; echo "Environment: STACK_ENV_FILE (scripts/ops/lib.sh)"; }
export OPS_NAME=rotate
# shellcheck source=scripts/ops/lib.sh
. "$(dirname "$0")/lib.sh"

# A root one-off in the secrets volume (the secrets-init service: it owns the volume).
in_secrets() { compose run --rm --no-deps -T --entrypoint bash secrets-init -c "set -euo pipefail; umask 077; d=/secrets/app; $1"; }
# Own the app's files the way secrets-init does (uid 10001, 0400).
# shellcheck disable=SC2016 # expanded by the one-off's shell
fix_owner='chown 10001:10001 "$d"/jwt_*; chmod 0400 "$d"/jwt_*'
restart() { "$ops_root/scripts/ops/deploy.sh" restart; }

jwt_start() {
  running_services | grep -qx app1 || ops_die "the stack is not running (make up)"
  ops_log "step 1/2: a new key, accepted by every replica but not used to sign yet"
  # shellcheck disable=SC2016 # expanded by the one-off's shell
  in_secrets '[ ! -s "$d/jwt_verify_secrets" ] || { echo "rotate: jwt_verify_secrets is not empty: a rotation is not finished (rotate.sh jwt --finish)" >&2; exit 3; }
    new=""; while [ ${#new} -lt 64 ]; do new="$new$(head -c 256 /dev/urandom | tr -dc A-Za-z0-9)"; done
    printf "%s\n" "${new:0:64}" > "$d/jwt_verify_secrets"; '"$fix_owner"
  restart
  ops_log "step 2/2: the new key signs, the old one is verify-only"
  # shellcheck disable=SC2016
  in_secrets 'cp "$d/jwt_secret" "$d/.old"; cp "$d/jwt_verify_secrets" "$d/jwt_secret"; mv "$d/.old" "$d/jwt_verify_secrets"; '"$fix_owner"
  restart
  ops_log "rotated: tokens of the old key keep working until they expire; after 15.5 min (access TTL + leeway) run: scripts/ops/rotate.sh jwt --finish"
}

jwt_finish() {
  ops_log "dropping the old key: tokens it signed are refused from now on"
  # shellcheck disable=SC2016
  in_secrets 'rm -f "$d/jwt_verify_secrets"'
  restart
  ops_log "rotation finished"
}

# A new random password (letters and digits: no quoting anywhere), into NEWPW.
new_password() { NEWPW=$(head -c 512 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32); export NEWPW; }
# set_files LINE...: each "PATH|FORMAT" under /secrets gets printf FORMAT "$NEWPW", keeping its
# owner and mode (written to a temporary file, then renamed).
set_files() {
  local script='' spec
  for spec in "$@"; do
    script+="f=/secrets/${spec%%|*}; o=\$(stat -c %u:%g \"\$f\"); printf '${spec#*|}\\n' \"\$NEWPW\" > \"\$f.new\"; chown \"\$o\" \"\$f.new\"; chmod 0400 \"\$f.new\"; mv \"\$f.new\" \"\$f\"; "
  done
  compose run --rm --no-deps -T -e NEWPW --entrypoint bash secrets-init -c "set -euo pipefail; $script"
}
# SQL as root inside the mysql container (root password from the secrets volume, never argv).
# The statement is expanded by the container's shell first (\$NEWPW, \$(head ...) of a secret file).
root_sql() {
  # shellcheck disable=SC2016 # expanded by the container's shell
  compose exec -T -e NEWPW mysql bash -c 'mariadb --defaults-extra-file=<(printf "[client]\nuser=root\npassword=\"%s\"\n" "$(head -n 1 /run/stack-secrets/mysql/root_password)") -e "$(eval "printf %s \"$1\"")"' sh "$1"
}
running() { running_services | grep -qx "$1"; }

# db_password ACCOUNT OLD_FILE RESTART_FN FILE_SPECS...: MariaDB accepts one account with two
# passwords (IDENTIFIED VIA ... OR ...): old and new both work while the consumers move over,
# then only the new one.
db_password() {
  local account=$1 old_file=$2 restart_fn=$3; shift 3
  running mysql || ops_die "MariaDB is not running (make up)"
  new_password
  ops_log "$account: the new password accepted beside the old one"
  # shellcheck disable=SC2016 # expanded by the container's shell
  root_sql "ALTER USER '$account'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('\$(head -n 1 /run/stack-secrets/$old_file)') OR mysql_native_password USING PASSWORD('\$NEWPW')"
  ops_log "$account: new password into the secrets volume"
  set_files "$@"
  "$restart_fn"
  ops_log "$account: only the new password from now on"
  root_sql "ALTER USER '$account'@'%' IDENTIFIED BY '\$NEWPW'"
}
restart_exporter() { compose restart mysqld-exporter; }
no_restart() { :; }

case "${1:-} ${2:-}" in
  "db-app ")
    db_password zufang mysql/database_password restart \
      "_shared/database_password|%s" "app/database_password|%s" "worker/database_password|%s" \
      "mysql/database_password|%s" ;;
  "db-exporter ")
    db_password exporter mysql/mysqld_exporter_password restart_exporter \
      "_shared/mysqld_exporter_password|%s" "mysql/mysqld_exporter_password|%s" \
      "mysqld-exporter/my.cnf|[client]\\nuser=exporter\\npassword=%s\\nhost=mysql\\nport=3306" ;;
  "db-bench ")
    db_password bench mysql/bench_password no_restart \
      "_shared/bench_database_password|%s" "mysql/bench_password|%s" "bench/mariadb_password|%s" ;;
  "redis ")
    running redis || ops_die "Redis is not running (make up)"
    new_password
    # The app's ACL user (the exporter's, the monitor's and the admin's are read by one service
    # each: rotate them the same way by hand, docs/runbooks/rotation.md).
    ops_log "redis: the app user's new password accepted beside the old one (ACL SETUSER app >new)"
    # shellcheck disable=SC2016 # expanded by the container's shell
    redis_admin='REDISCLI_AUTH=$(head -n 1 /run/stack-secrets/redis/admin_password) redis-cli --user admin --no-auth-warning'
    # shellcheck disable=SC2016
    compose exec -T -e NEWPW redis sh -c "$redis_admin"' acl setuser app ">$NEWPW" >/dev/null'
    # Remember the old one (inside the container only) before the files change.
    compose exec -T redis sh -c 'head -n 1 /run/stack-secrets/redis/app_password > /data/.rotate-old && chmod 600 /data/.rotate-old'
    set_files "_shared/redis_password|%s" "redis/app_password|%s" "app/redis_password|%s" \
      "worker/redis_password|%s"
    # redis.conf is rendered from the password files: the next Redis start keeps the new one.
    compose run --rm --no-deps -T secrets-init >/dev/null 2>&1 || ops_die "secrets-init could not re-render redis.conf"
    restart
    ops_log "redis: only the new password from now on"
    # shellcheck disable=SC2016
    compose exec -T redis sh -c "$redis_admin"' acl setuser app "<$(cat /data/.rotate-old)" >/dev/null; rm -f /data/.rotate-old' ;;

  "jwt ") jwt_start ;;
  "jwt --finish") jwt_finish ;;
  # Asked for by name so that an operator following an older runbook learns why, not just "usage".
  "vrrp ") ops_log "error: nothing to rotate for vrrp: keepalived speaks VRRPv3, which has no password (what protects the pair: nginx/keepalived/README.md)"; exit 2 ;;
  "-h "|"--help ") usage ;;
  *) usage >&2; exit 2 ;;
esac
