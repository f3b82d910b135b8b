#!/usr/bin/env bash
# zufang-backup: MariaDB backups with point-in-time restore, inside the `backup` service (image
# scripts/images/backup). Full physical backups (mariadb-backup, prepared, tar.gz, optionally
# encrypted) on a schedule, plus a continuous copy of the binary logs streamed from the server, so
# that a restore can replay up to any second the copy covers. Operators call it through
# scripts/ops/backup.sh (`make backup`, `make backups`, `make restore [UNTIL=...]`).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: zufang-backup COMMAND [options]
  agent                     run forever: stream binlogs, take a full backup every interval, prune,
                            write metrics (the service's default command)
  backup                    take a full backup now (waits for a running one)
  list                      the full backups (id, finished, age, size, encrypted) and the binlog window
  verify [ID]               check a backup's checksum and archive (default: the newest)
  restore [--until 'YYYY-MM-DD HH:MM:SS'] [--check]
                            rebuild the datadir from the newest full backup at or before UNTIL (UTC,
                            inclusive to the second; default: everything the copy holds) and replay
                            the copied binlogs up to it. The server must be stopped; the datadir is
                            replaced only after every check passed. --check: the checks only.
Environment (defaults):
  BACKUP_DIR=/backups                      full/<id>/, binlog/<timeline>/
  BACKUP_INTERVAL_SECONDS=21600            schedule of full backups (6 h)
  BACKUP_RETENTION_DAYS=7                  full backups (and the binlogs they need) kept this long;
                                           the newest full backup is always kept
  BACKUP_DB_HOST=mysql  BACKUP_DB_USER=backup
  BACKUP_SECRETS_DIR=/run/stack-secrets    backup/database_password, backup/encryption_key (optional:
                                           encrypt at rest when present), mysql/root_password (restore)
  BACKUP_TEXTFILE_DIR=/var/lib/node_exporter/textfile   backup.prom for node-exporter
  DATADIR=/var/lib/mysql
USAGE
}

: "${BACKUP_DIR:=/backups}"
: "${BACKUP_INTERVAL_SECONDS:=21600}"
: "${BACKUP_RETENTION_DAYS:=7}"
: "${BACKUP_DB_HOST:=mysql}"
: "${BACKUP_DB_USER:=backup}"
: "${BACKUP_SECRETS_DIR:=/run/stack-secrets}"
: "${BACKUP_TEXTFILE_DIR:=/var/lib/node_exporter/textfile}"
: "${DATADIR:=/var/lib/mysql}"
export TZ=UTC
full_dir=$BACKUP_DIR/full
binlog_root=$BACKUP_DIR/binlog
key_file=$BACKUP_SECRETS_DIR/backup/encryption_key
# Binlog base name: the server runs with --log-bin=mysql-bin (compose.yaml).
binlog_base=mysql-bin

log() { printf '%s backup: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Client options in a file on the tmpfs, never on a command line (ps would show them).
client_cnf() {
  local cnf=/tmp/zufang-backup-client.cnf pw_file=$BACKUP_SECRETS_DIR/backup/database_password
  [[ -s $pw_file ]] || die "$pw_file is missing (secrets-init creates it; docker compose up secrets-init)"
  if [[ ! -s $cnf ]]; then
    (umask 077; printf '[client]\nhost=%s\nport=3306\nuser=%s\npassword=%s\n' \
      "$BACKUP_DB_HOST" "$BACKUP_DB_USER" "$(head -n 1 "$pw_file")" > "$cnf")
  fi
  echo "$cnf"
}
sql() { mariadb --defaults-extra-file="$(client_cnf)" -N -B -e "$1"; }

# The timeline: one id per datadir life. initdb (30-backup-user.sh) writes it when the volume is
# created, a restore writes a new one: binlog numbering restarts with every new datadir, so each
# timeline keeps its copies in its own folder and one never overwrites another's.
timeline() {
  local f=$DATADIR/zufang-timeline
  [[ -s $f ]] || die "$f is missing: run 'docker compose exec mysql bash /docker-entrypoint-initdb.d/30-backup-user.sh' once"
  head -n 1 "$f"
}

now() { date -u +%s; }
human_size() { numfmt --to=iec --suffix=B "$1" 2>/dev/null || echo "${1}B"; }
human_age() { local s=$1; if (( s < 3600 )); then echo "$((s / 60))m"; elif (( s < 172800 )); then echo "$((s / 3600))h$((s % 3600 / 60))m"; else echo "$((s / 86400))d$((s % 86400 / 3600))h"; fi; }
# manifest.json is written one key per line (below): read a value without a JSON tool (the image
# has none).
manifest_get() { sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$1"; }

# ---- binlog stream ----------------------------------------------------------------------------
first_server_binlog() { sql "SHOW BINARY LOGS" | awk 'NR==1 {print $1}'; }

stream_binlogs() {
  local tl dir start
  while true; do
    if ! tl=$(timeline 2>/dev/null); then sleep 5; continue; fi
    dir=$binlog_root/$tl
    mkdir -p "$dir"
    # Re-fetch the newest local file from its start (it may be partial), else begin at the
    # server's oldest binlog.
    start=$(find "$dir" -maxdepth 1 -name "$binlog_base.[0-9]*" -printf '%f\n' | sort | tail -n 1)
    if [[ -n $start ]] && ! sql "SHOW BINARY LOGS" | awk '{print $1}' | grep -qx "$start"; then
      local first; first=$(first_server_binlog) || { sleep 5; continue; }
      log "binlog $start is no longer on the server (expired): continuing at $first; point-in-time restore cannot cross this gap"
      touch "$dir/gap-before-$first"
      start=$first
    fi
    [[ -n $start ]] || start=$(first_server_binlog) || { sleep 5; continue; }
    [[ -n $start ]] || { log "the server writes no binary log (--log-bin missing?)"; sleep 30; continue; }
    log "streaming binlogs of timeline $tl from $start into $dir"
    mariadb-binlog --defaults-extra-file="$(client_cnf)" --read-from-remote-server --raw --stop-never \
      --stop-never-slave-server-id=4242 --result-file="$dir/" "$start" || true
    log "binlog stream ended; reconnecting in 5 s"
    sleep 5
  done
}

# Is the copy of the timeline's binlogs as far as the server? Then record the time: the
# point-in-time window ends there.
check_caught_up() {
  local tl dir file pos size
  tl=$(timeline) || return 0
  dir=$binlog_root/$tl
  read -r file pos _ < <(sql "SHOW MASTER STATUS") || return 0
  [[ -n ${file:-} ]] || return 0
  size=$(stat -c %s "$dir/$file" 2>/dev/null || echo 0)
  if (( size >= pos )); then
    now > "$dir/caught-up.tmp" && mv "$dir/caught-up.tmp" "$dir/caught-up"
  fi
}

# ---- full backups -----------------------------------------------------------------------------
encrypting() { [[ -s $key_file ]]; }

take_backup() {
  local id tl started t0 work data info file pos gtid archive size sum finished
  id=$(date -u +%Y%m%dT%H%M%SZ)
  tl=$(timeline)
  started=$(now); t0=$SECONDS
  local gtid_start; gtid_start=$(sql 'SELECT @@gtid_binlog_pos' 2>/dev/null || true)
  work=$full_dir/.partial-$id
  data=$work/data
  mkdir -p "$data"
  log "full backup $id: copying the datadir (mariadb-backup --backup)"
  if ! mariadb-backup --defaults-extra-file="$(client_cnf)" --backup --datadir="$DATADIR" \
      --target-dir="$data" > "$work/backup.log" 2>&1; then
    tail -n 20 "$work/backup.log" >&2; rm -rf "$work"; return 1
  fi
  local consistent; consistent=$(now)
  log "full backup $id: preparing (crash recovery on the copy)"
  if ! mariadb-backup --prepare --target-dir="$data" > "$work/prepare.log" 2>&1; then
    tail -n 20 "$work/prepare.log" >&2; rm -rf "$work"; return 1
  fi
  info=$(cat "$data/mariadb_backup_binlog_info" 2>/dev/null || cat "$data/xtrabackup_binlog_info" 2>/dev/null || true)
  read -r file pos gtid <<< "$info"
  [[ -n ${file:-} && -n ${pos:-} ]] || { log "full backup $id: no binlog position in the backup"; rm -rf "$work"; return 1; }
  archive=$work/backup.tar.gz
  log "full backup $id: archiving$(encrypting && echo ' and encrypting') ($(du -sh "$data" | cut -f1) of files)"
  if encrypting; then
    archive+=.enc
    tar -C "$data" -cf - . | gzip -1 | openssl enc -aes-256-cbc -pbkdf2 -iter 200000 -salt -pass "file:$key_file" -out "$archive"
  else
    tar -C "$data" -cf - . | gzip -1 > "$archive"
  fi
  rm -rf "$data" "$work/backup.log" "$work/prepare.log"
  size=$(stat -c %s "$archive")
  sum=$(sha256sum "$archive" | cut -d' ' -f1)
  finished=$(now)
  cat > "$work/manifest.json" <<JSON
{
  "id": "$id",
  "timeline": "$tl",
  "started": $started,
  "consistent": $consistent,
  "finished": $finished,
  "binlog_file": "$file",
  "binlog_position": $pos,
  "gtid_start": "${gtid_start:-}",
  "gtid": "${gtid:-}",
  "archive": "$(basename "$archive")",
  "encrypted": $(encrypting && echo true || echo false),
  "size": $size,
  "sha256": "$sum",
  "tool": "$(mariadb-backup --version 2>&1 | head -n 1 | tr -d '"')",
  "server": "$(sql 'SELECT VERSION()' | tr -d '"')"
}
JSON
  mv "$work" "$full_dir/$id"
  log "full backup $id done in $((SECONDS - t0)) s: $(human_size "$size"), binlog $file:$pos, gtid ${gtid:-none}"
  echo "$id"
}

backups() { find "$full_dir" -mindepth 2 -maxdepth 2 -name manifest.json -printf '%h\n' 2>/dev/null | sort | xargs -r -n1 basename; }

prune() {
  local cutoff ids keep=() id newest
  cutoff=$(( $(now) - BACKUP_RETENTION_DAYS * 86400 ))
  mapfile -t ids < <(backups)
  (( ${#ids[@]} )) || return 0
  newest=${ids[-1]}
  for id in "${ids[@]}"; do
    if [[ $id != "$newest" ]] && (( $(manifest_get "$full_dir/$id/manifest.json" finished) < cutoff )); then
      log "retention: removing full backup $id (older than $BACKUP_RETENTION_DAYS days)"
      rm -rf "${full_dir:?}/$id"
    else
      keep+=("$id")
    fi
  done
  find "$full_dir" -maxdepth 1 -name '.partial-*' -mmin +720 -exec rm -rf {} + 2>/dev/null || true
  # Binlogs: per timeline, keep from the oldest retained backup's start file on; a timeline no
  # retained backup needs goes once it is older than the retention and not the current one.
  local tl dir oldest f cur
  cur=$(timeline 2>/dev/null || true)
  for dir in "$binlog_root"/*/; do
    [[ -d $dir ]] || continue
    tl=$(basename "$dir"); oldest=""
    for id in "${keep[@]}"; do
      [[ $(manifest_get "$full_dir/$id/manifest.json" timeline) == "$tl" ]] || continue
      oldest=$(manifest_get "$full_dir/$id/manifest.json" binlog_file); break
    done
    if [[ -z $oldest ]]; then
      if [[ $tl != "$cur" && -n $(find "$dir" -maxdepth 0 -mtime +"$BACKUP_RETENTION_DAYS") ]]; then
        log "retention: removing binlogs of old timeline $tl"; rm -rf "$dir"
      fi
      continue
    fi
    for f in "$dir/$binlog_base".[0-9]*; do
      [[ -e $f ]] || continue
      if [[ $(basename "$f") < "$oldest" ]]; then rm -f "$f"; fi
    done
  done
  return 0
}

# ---- metrics (node-exporter textfile) ---------------------------------------------------------
state_file() { echo "$BACKUP_DIR/.last-run"; }

write_metrics() {
  [[ -d $BACKUP_TEXTFILE_DIR && -w $BACKUP_TEXTFILE_DIR ]] || return 0
  local ids last_ok=0 size=0 dur=0 run_ts=0 run_ok=0 caught=0 tl m
  mapfile -t ids < <(backups)
  if (( ${#ids[@]} )); then
    m=$full_dir/${ids[-1]}/manifest.json
    last_ok=$(manifest_get "$m" finished); size=$(manifest_get "$m" size)
    dur=$(( last_ok - $(manifest_get "$m" started) ))
  fi
  [[ -s $(state_file) ]] && read -r run_ts run_ok < "$(state_file)"
  if tl=$(timeline 2>/dev/null) && [[ -s $binlog_root/$tl/caught-up ]]; then caught=$(cat "$binlog_root/$tl/caught-up"); fi
  local tmp=$BACKUP_TEXTFILE_DIR/.backup.prom.$$
  cat > "$tmp" <<PROM
# HELP backup_last_success_timestamp_seconds Unix time the newest full backup finished (0: none).
# TYPE backup_last_success_timestamp_seconds gauge
backup_last_success_timestamp_seconds $last_ok
# HELP backup_last_run_timestamp_seconds Unix time the last full-backup attempt finished.
# TYPE backup_last_run_timestamp_seconds gauge
backup_last_run_timestamp_seconds $run_ts
# HELP backup_last_run_success 1 if the last full-backup attempt succeeded, else 0.
# TYPE backup_last_run_success gauge
backup_last_run_success $run_ok
# HELP backup_last_duration_seconds Duration of the newest full backup.
# TYPE backup_last_duration_seconds gauge
backup_last_duration_seconds $dur
# HELP backup_last_size_bytes Size of the newest full backup as stored.
# TYPE backup_last_size_bytes gauge
backup_last_size_bytes $size
# HELP backup_full_backups Full backups retained.
# TYPE backup_full_backups gauge
backup_full_backups ${#ids[@]}
# HELP backup_interval_seconds Configured interval between full backups.
# TYPE backup_interval_seconds gauge
backup_interval_seconds $BACKUP_INTERVAL_SECONDS
# HELP backup_binlog_copied_timestamp_seconds Last time the binlog copy was caught up with the server.
# TYPE backup_binlog_copied_timestamp_seconds gauge
backup_binlog_copied_timestamp_seconds $caught
PROM
  chmod 0644 "$tmp"
  mv "$tmp" "$BACKUP_TEXTFILE_DIR/backup.prom"
}

# backup + bookkeeping (result for the metrics) + prune
run_backup() {
  local rc=0
  # One backup at a time (the agent's schedule and `make backup`); the lock goes with the subshell.
  (
    exec 9> "$BACKUP_DIR/.backup.lock"
    flock -n 9 || { log "another full backup is running: waiting for it"; flock 9; }
    take_backup
  ) || rc=$?
  echo "$(now) $(( rc == 0 ? 1 : 0 ))" > "$(state_file)"
  if (( rc == 0 )); then prune; fi
  write_metrics
  return "$rc"
}

agent() {
  [[ -w $BACKUP_DIR ]] || die "$BACKUP_DIR is not writable for uid $(id -u) (a host folder: chown 999:999 it)"
  mkdir -p "$full_dir" "$binlog_root"
  log "agent: full backup every ${BACKUP_INTERVAL_SECONDS}s, retention ${BACKUP_RETENTION_DAYS}d, $(encrypting && echo encrypted || echo 'not encrypted (no backup/encryption_key)')"
  until sql 'SELECT 1' >/dev/null 2>&1; do log "waiting for MariaDB at $BACKUP_DB_HOST"; sleep 3; done
  stream_binlogs &
  local streamer=$! tl cur last ids failed_at=0
  trap 'kill "$streamer" 2>/dev/null; pkill -P "$streamer" 2>/dev/null; exit 0' TERM INT
  cur=$(timeline)
  while true; do
    tl=$(timeline 2>/dev/null || echo "$cur")
    if [[ $tl != "$cur" ]]; then
      log "new timeline $tl (a restore): restarting the binlog stream"
      pkill -P "$streamer" mariadb-binlog 2>/dev/null || true
      cur=$tl
    fi
    check_caught_up || true
    # Due: no full backup of this timeline yet, or the newest is older than the interval.
    mapfile -t ids < <(backups)
    last=0
    for ((i = ${#ids[@]} - 1; i >= 0; i--)); do
      if [[ $(manifest_get "$full_dir/${ids[i]}/manifest.json" timeline) == "$cur" ]]; then
        last=$(manifest_get "$full_dir/${ids[i]}/manifest.json" finished); break
      fi
    done
    # A failed attempt is retried after 5 minutes, not at once in a loop.
    if (( $(now) - last >= BACKUP_INTERVAL_SECONDS && $(now) - failed_at >= 300 )); then
      if ! run_backup >/dev/null; then
        failed_at=$(now); log "full backup failed (next attempt in 5 min)"
      fi
    fi
    write_metrics
    sleep 5 & wait $!
  done
}

# ---- list / verify ----------------------------------------------------------------------------
list() {
  local ids id m t
  mapfile -t ids < <(backups)
  if (( ! ${#ids[@]} )); then echo "no full backups in $full_dir"; return 0; fi
  printf '%-18s %-20s %-9s %-9s %-9s %-14s %s\n' ID FINISHED AGE SIZE ENCRYPTED TIMELINE BINLOG
  for id in "${ids[@]}"; do
    m=$full_dir/$id/manifest.json; t=$(manifest_get "$m" finished)
    printf '%-18s %-20s %-9s %-9s %-9s %-14s %s\n' "$id" "$(date -u -d "@$t" '+%F %T')" \
      "$(human_age $(( $(now) - t )))" "$(human_size "$(manifest_get "$m" size)")" \
      "$(manifest_get "$m" encrypted)" "$(manifest_get "$m" timeline)" \
      "$(manifest_get "$m" binlog_file):$(manifest_get "$m" binlog_position)"
  done
  local dir tl c
  for dir in "$binlog_root"/*/; do
    [[ -d $dir ]] || continue
    tl=$(basename "$dir"); c=$(cat "$dir/caught-up" 2>/dev/null || echo 0)
    echo "timeline $tl: $(find "$dir" -maxdepth 1 -name "$binlog_base.[0-9]*" | wc -l) binlog files, point-in-time restore possible up to $( (( c )) && date -u -d "@$c" '+%F %T' || echo 'never (not caught up yet)') UTC"
  done
}

decrypt_stream() { # archive -> tar stream on stdout
  if [[ $1 == *.enc ]]; then
    [[ -s $key_file ]] || die "$1 is encrypted and $key_file is missing"
    openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass "file:$key_file" -in "$1" | gzip -dc
  else
    gzip -dc < "$1"
  fi
}

verify() {
  local id=${1:-} m archive want got
  [[ -n $id ]] || id=$(backups | tail -n 1)
  [[ -n $id ]] || die "no full backup in $full_dir"
  m=$full_dir/$id/manifest.json
  [[ -s $m ]] || die "no backup $id in $full_dir"
  archive=$full_dir/$id/$(manifest_get "$m" archive)
  [[ -s $archive ]] || die "backup $id: $archive is missing"
  want=$(manifest_get "$m" sha256)
  log "backup $id: checking the sha256 of $(basename "$archive")"
  got=$(sha256sum "$archive" | cut -d' ' -f1)
  [[ $got == "$want" ]] || die "backup $id is corrupt: sha256 $got, manifest says $want"
  decrypt_stream "$archive" | tar -tf - > /dev/null || die "backup $id: the archive does not read back"
  log "backup $id: checksum and archive OK"
}

# ---- restore ----------------------------------------------------------------------------------
restore() {
  local until="" check=0
  while (( $# )); do
    case $1 in
      --until) until=${2:-}; shift 2 || die "--until needs a value" ;;
      --check) check=1; shift ;;
      *) die "restore: unknown argument $1" ;;
    esac
  done
  local until_ts=""
  if [[ -n $until ]]; then
    [[ $until =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}[\ T][0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] \
      || die "UNTIL must be 'YYYY-MM-DD HH:MM:SS' (UTC), got '$until'"
    until_ts=$(date -u -d "${until/T/ }" +%s) || die "UNTIL '$until' is not a valid time"
    (( until_ts <= $(now) )) || die "UNTIL $until is in the future"
  fi
  # The newest backup finished consistent at or before UNTIL.
  local ids id="" m i
  mapfile -t ids < <(backups)
  (( ${#ids[@]} )) || die "no full backup in $full_dir: nothing to restore (take one: make backup)"
  for ((i = ${#ids[@]} - 1; i >= 0; i--)); do
    m=$full_dir/${ids[i]}/manifest.json
    if [[ -z $until_ts ]] || (( $(manifest_get "$m" consistent) <= until_ts )); then id=${ids[i]}; break; fi
  done
  [[ -n $id ]] || die "UNTIL $until is before the oldest full backup ($(date -u -d "@$(manifest_get "$full_dir/${ids[0]}/manifest.json" consistent)" '+%F %T') UTC): outside the window"
  m=$full_dir/$id/manifest.json
  local tl file pos dir caught
  tl=$(manifest_get "$m" timeline); file=$(manifest_get "$m" binlog_file); pos=$(manifest_get "$m" binlog_position)
  dir=$binlog_root/$tl
  caught=$(cat "$dir/caught-up" 2>/dev/null || echo 0)
  if [[ -n $until_ts ]] && (( until_ts > caught )); then
    die "UNTIL $until is after the end of the binlog copy of timeline $tl ($( (( caught )) && date -u -d "@$caught" '+%F %T' || echo never) UTC): outside the window"
  fi
  # The binlog files from the backup's position on, without a gap in their numbering.
  local files=() f n expect
  mapfile -t files < <(find "$dir" -maxdepth 1 -name "$binlog_base.[0-9]*" -printf '%f\n' 2>/dev/null | sort | awk -v s="$file" '$0 >= s')
  if (( ! ${#files[@]} )) || [[ ${files[0]} != "$file" ]]; then
    die "the binlog copy of timeline $tl lacks $file (where backup $id ends): cannot replay"
  fi
  expect=$((10#${file##*.}))
  for f in "${files[@]}"; do
    n=$((10#${f##*.}))
    (( n == expect )) || die "the binlog copy of timeline $tl has a gap before $f"
    [[ -e $dir/gap-before-$f ]] && die "the binlog copy of timeline $tl has a gap before $f (expired on the server before it was copied)"
    expect=$((n + 1))
  done
  verify "$id"
  log "restore plan: backup $id (consistent $(date -u -d "@$(manifest_get "$m" consistent)" '+%F %T') UTC) + ${#files[@]} binlog file(s) from $file:$pos up to ${until:-the end of the copy}"
  (( check )) && { log "check only: nothing changed"; return 0; }

  local rootpw=$BACKUP_SECRETS_DIR/mysql/root_password
  [[ -s $rootpw ]] || die "$rootpw is missing (needed to replay the binlogs)"
  [[ -w $DATADIR ]] || die "$DATADIR is not writable (mounted read-only?)"
  if [[ -S /run/mysqld/mysqld.sock ]] || mariadb-admin --socket="$DATADIR/mysql.sock" ping >/dev/null 2>&1; then
    die "a server is running on $DATADIR: stop it first"
  fi
  local t0=$SECONDS
  log "step 1/4: replacing the datadir with backup $id"
  find "$DATADIR" -mindepth 1 -delete
  decrypt_stream "$full_dir/$id/$(manifest_get "$m" archive)" | tar -C "$DATADIR" -xf -
  local newtl; newtl="t$(date -u +%Y%m%dT%H%M%SZ)"
  echo "$newtl" > "$DATADIR/zufang-timeline"
  log "step 2/4: starting a private server (no network) on the restored datadir"
  local sock=/tmp/restore.sock
  mariadbd --no-defaults --datadir="$DATADIR" --socket="$sock" --pid-file=/tmp/restore.pid --skip-networking \
    --log-bin="$binlog_base" --server-id=1 --binlog-format=ROW --innodb-buffer-pool-size=256M \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci > /tmp/restore-server.log 2>&1 &
  local server=$!
  local cnf=/tmp/restore-root.cnf
  (umask 077; printf '[client]\nuser=root\npassword=%s\nsocket=%s\n' "$(head -n 1 "$rootpw")" "$sock" > "$cnf")
  for _ in $(seq 1 120); do mariadb-admin --defaults-extra-file="$cnf" ping >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb-admin --defaults-extra-file="$cnf" ping >/dev/null 2>&1 || { tail -n 30 /tmp/restore-server.log >&2; kill "$server"; die "the restored server did not start"; }
  log "step 3/4: replaying ${#files[@]} binlog file(s) from $file:$pos up to ${until:-the end}"
  local stop=()
  [[ -n $until_ts ]] && stop=(--stop-datetime="$(date -u -d "@$((until_ts + 1))" '+%F %T')")
  local paths=()
  for f in "${files[@]}"; do paths+=("$dir/$f"); done
  if ! mariadb-binlog --start-position="$pos" "${stop[@]}" "${paths[@]}" | mariadb --defaults-extra-file="$cnf"; then
    mariadb-admin --defaults-extra-file="$cnf" shutdown || kill "$server"
    die "replaying the binlogs failed (the datadir holds the backup plus a partial replay; run the restore again)"
  fi
  log "step 4/4: stopping the private server"
  mariadb-admin --defaults-extra-file="$cnf" shutdown
  wait "$server" || true
  rm -f "$cnf"
  log "restore done in $((SECONDS - t0)) s: timeline $newtl (backup $id + binlogs up to ${until:-the end of the copy})"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
  agent) agent ;;
  backup) mkdir -p "$full_dir"; run_backup ;;
  list) list ;;
  verify) verify "${1:-}" ;;
  restore) restore "$@" ;;
  -h|--help|help) usage ;;
  "") usage >&2; exit 2 ;;
  *) usage >&2; die "unknown command $cmd" ;;
esac
