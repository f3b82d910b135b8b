#!/usr/bin/env bash
# Backups of the compose stack's MariaDB, operator side: runs the `backup` service's commands
# (scripts/images/backup/zufang-backup.sh) and orchestrates a restore. Runbook:
# docs/runbooks/restore.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ops/backup.sh COMMAND
  backup              take a full backup now (make backup)
  list                full backups with age and size, and the point-in-time window (make backups)
  verify [ID]         check a backup's checksum and archive (default: the newest)
  restore [UNTIL]     restore the newest backup and replay the binlog copy: to its end, or up to
                      UNTIL='YYYY-MM-DD HH:MM:SS' (UTC, inclusive). Checks first and changes nothing
                      when a check fails; then stops the backup agent and MariaDB (the replicas'
                      readiness answers 503 meanwhile), rebuilds the datadir, starts the stack
                      again, empties the app's Redis caches, and waits until every replica is ready
                      (make restore [UNTIL=...])
  key                 create backup/encryption_key in the secrets volume (backups taken after it are
                      encrypted) and print it once: keep a copy away from this machine
Environment: STACK_ENV_FILE (default .env; see scripts/ops/lib.sh),
             RESTORE_WAIT_TIMEOUT=600 (seconds for the stack to be healthy after a restore)
USAGE
}
export OPS_NAME=backup
# shellcheck source=scripts/ops/lib.sh
. "$(dirname "$0")/lib.sh"
: "${RESTORE_WAIT_TIMEOUT:=600}"

in_agent() {
  running_services | grep -qx backup || ops_die "the backup service is not running (make up, or: docker compose up -d backup)"
  compose exec -T backup zufang-backup "$@"
}

# The app's Redis caches describe the database as it was: drop them (generations restart from the
# clock, see app/src/list_cache.rs). Sessions, SMS codes and rate limits are left alone.
flush_caches() {
  local prefix=${REDIS_KEY_PREFIX:-zufang:}
  # shellcheck disable=SC2016 # expanded by the container's shell
  compose exec -T redis sh -c '
    pw=$(head -n 1 /run/stack-secrets/redis/admin_password)
    n=0
    for pattern in "$1cache:*" "$1gen:*"; do
      for k in $(REDISCLI_AUTH=$pw redis-cli --user admin --no-auth-warning --scan --pattern "$pattern"); do
        REDISCLI_AUTH=$pw redis-cli --user admin --no-auth-warning unlink "$k" >/dev/null; n=$((n + 1))
      done
    done
    echo "$n"' sh "$prefix"
}

# Every app replica answers its readiness check again (the database reachable), asked in the
# replica with its own binary (docker's health status lags by its interval).
wait_replicas_ready() {
  local deadline=$((SECONDS + RESTORE_WAIT_TIMEOUT)) unready svc
  while :; do
    unready=""
    for svc in $(running_services | grep -E '^app[0-9]+$'); do
      compose exec -T "$svc" zufang healthcheck --url http://127.0.0.1:8080/readyz >/dev/null 2>&1 || unready+=" $svc"
    done
    [[ -z $unready ]] && return 0
    (( SECONDS < deadline )) || ops_die "replicas not ready ${RESTORE_WAIT_TIMEOUT}s after the restore:$unready"
    sleep 1
  done
}

restore() {
  local until=${1:-} args=()
  [[ -n $until ]] && args=(--until "$until")
  ops_log "checking: backup, checksum, binlog copy, window (nothing changes if a check fails)"
  compose run --rm --no-deps --pull never -T backup-restore restore --check "${args[@]}" \
    || ops_die "restore refused; the stack is unchanged"
  local t0=$SECONDS serving=0
  if running_services | grep -qx app1; then serving=1; fi
  ops_log "stopping the backup agent and MariaDB: the replicas answer 503 until the restore is done"
  compose stop backup mysql
  if ! compose run --rm --no-deps --pull never -T backup-restore restore "${args[@]}"; then
    ops_die "the restore failed after the datadir was replaced; MariaDB stays stopped. Fix the cause and run the restore again"
  fi
  if (( serving )); then
    # The rest of the stack kept running: MariaDB and the agent come back, the replicas reconnect
    # by themselves (a whole-stack `up --wait` would also rerun finished one-shots such as
    # zabbix-init, and --wait counts their exit as a failure).
    ops_log "starting MariaDB and the backup agent again"
    compose up -d --wait --wait-timeout "$RESTORE_WAIT_TIMEOUT" --no-build --pull never mysql backup \
      || ops_die "MariaDB did not become healthy after the restore (scripts/ci/stack.sh status)"
    wait_replicas_ready
    # Their in-memory title indexes hold rows from before the restore: every one reloads.
    local app; app=$(running_services | grep -E '^app[0-9]+$' | head -n 1)
    compose exec -T "$app" zufang search reload >/dev/null \
      || ops_die "the replicas' title indexes could not be told to reload (zufang search reload)"
    ops_log "every replica reloads its title index (zufang search reload)"
  else
    ops_log "starting the stack (docker compose up -d --wait)"
    compose up -d --wait --wait-timeout "$RESTORE_WAIT_TIMEOUT" --no-build --pull never \
      || ops_die "the stack did not become healthy after the restore (scripts/ci/stack.sh status)"
  fi
  ops_log "emptied $(flush_caches) cache keys in Redis"
  ops_log "restore complete: $((SECONDS - t0)) s from stopping MariaDB to every replica ready (RTO)"
}

key() {
  running_services | grep -qx backup || ops_die "the backup service is not running"
  if compose exec -T backup test -s /run/stack-secrets/backup/encryption_key; then
    ops_die "backup/encryption_key exists already (rotating it: docs/runbooks/restore.md)"
  fi
  # secrets-init owns the volume: run it with a one-off command that writes the key.
  compose run --rm --no-deps -T --entrypoint bash secrets-init -c '
    umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" > /secrets/backup/encryption_key
    chown 999:999 /secrets/backup/encryption_key; chmod 0400 /secrets/backup/encryption_key
    echo "backup encryption key (store it away from this machine; without it the encrypted backups cannot be read):" >&2
    cat /secrets/backup/encryption_key; echo'
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
  backup) in_agent backup ;;
  list) in_agent list ;;
  verify) in_agent verify "$@" ;;
  restore) restore "$@" ;;
  key) key ;;
  -h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
