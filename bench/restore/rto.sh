#!/usr/bin/env bash
# Backup and restore times of the compose stack at a given seed scale: a fresh stack seeded at
# --scale, a full backup under no load (time, size), then `make restore` (RTO: MariaDB stopped to
# every service healthy), then the row counts checked through the API. Writes a Markdown table.
# It DROPS the stack's data (volumes, backups included): it needs --fresh-stack to run.
set -euo pipefail
usage() {
  cat <<'USAGE'
usage: bench/restore/rto.sh --fresh-stack [--scale bench|small] [--out FILE]
  --fresh-stack   required: the stack's volumes (data, secrets, backups) are dropped first
  --scale S       seed scale (default bench: 100,000 estates, 1,000,000 houses)
  --out FILE      Markdown written (default docs/restore-benchmark.md)
Environment: STACK_ENV_FILE (scripts/ops/lib.sh); the stack's images must exist (make up once).
USAGE
}
fresh=0 scale=bench out=docs/restore-benchmark.md
while (( $# )); do
  case $1 in
    --help|-h) usage; exit 0 ;;
    --fresh-stack) fresh=1; shift ;;
    --scale) scale=${2:?--scale needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    *) echo "rto.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $scale == bench || $scale == small ]] || { echo "rto.sh: --scale is bench or small" >&2; exit 2; }
(( fresh )) || { echo "rto.sh: this drops the stack's data; run it with --fresh-stack" >&2; exit 2; }
export OPS_NAME=rto
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/ops/lib.sh
. "$root/scripts/ops/lib.sh"
command -v docker >/dev/null || ops_die "docker not found (make up installs it)"

ops_log "dropping the stack and its volumes"
"$root/scripts/ops/clean.sh" --all >/dev/null
ops_log "MariaDB, then migrations and the $scale seed (progress below)"
compose up -d --wait --no-build --pull never mysql redis >/dev/null
t0=$SECONDS
compose run --rm --no-deps --pull never -T --entrypoint sh migrate -c "zufang migrate && zufang seed --scale $scale"
seed_s=$((SECONDS - t0))
compose up -d --wait --no-build --pull never >/dev/null
houses() { compose exec -T lb1 curl -fsS 'http://127.0.0.1/api/houses/?page=1&size=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
before=$(houses)
datadir=$(compose exec -T mysql du -sb /var/lib/mysql | cut -f1)
ops_log "full backup of $before houses ($((datadir / 1000000)) MB datadir)"
t0=$SECONDS
"$root/scripts/ops/backup.sh" backup >/dev/null
backup_s=$((SECONDS - t0))
# shellcheck disable=SC2016 # expanded by the container's shell
size=$(compose exec -T backup sh -c 'du -sb "$(ls -d /backups/full/2* | tail -n 1)"' | cut -f1)
ops_log "restore (make restore)"
t0=$SECONDS
"$root/scripts/ops/backup.sh" restore 2> "${TMPDIR:-/tmp}/rto-restore.log" \
  || { tail -n 30 "${TMPDIR:-/tmp}/rto-restore.log" >&2; ops_die "the restore failed"; }
rto_s=$((SECONDS - t0))
after=$(houses)
[[ $after == "$before" ]] || ops_die "houses before the restore: $before, after: $after"
mkdir -p "$(dirname "$root/$out")"
cat > "$root/$out" <<MD
# Backup and restore at the $scale seed (compose stack)

Measured by \`bench/restore/rto.sh --fresh-stack --scale $scale\` on $(date -u +%F), $(nproc) CPUs,
$(free -g | awk '/^Mem:/ {print $2}') GiB, $(docker info -f '{{.Driver}}' 2>/dev/null) storage; the stack's offline images; no load.
The drill in \`make test\` (tests/tests/ops.rs) measures the small seed under load: [runbooks/restore.md](runbooks/restore.md).

| what | value |
|---|---|
| houses | $before (the same after the restore) |
| seed ($scale) | ${seed_s} s |
| MariaDB datadir | $((datadir / 1000000)) MB |
| full backup (mariadb-backup --backup + --prepare, tar + gzip -1) | ${backup_s} s |
| backup size as stored | $((size / 1000000)) MB |
| RTO: \`make restore\`, checks to every replica ready again (checks, MariaDB stopped, datadir replaced, binlog replay, MariaDB up, replicas ready, caches emptied) | ${rto_s} s |
MD
ops_log "wrote $out: backup ${backup_s}s, $((size / 1000000)) MB, RTO ${rto_s}s"
