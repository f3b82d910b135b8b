#!/usr/bin/env bash
# Expand now, contract later: a migration runs while the previous release still serves (make
# deploy migrates first, then replaces the replicas one by one), so it must not take away what
# that release reads or writes. This refuses statements that do — DROP/RENAME of a table or
# column, CHANGE/MODIFY COLUMN, TRUNCATE — unless the file carries the marker line
#   -- zufang:contract <why the running release no longer needs it>
# (a later release, after the one that stopped using the column is everywhere). docs/runbooks/deploy.md.
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
  echo "usage: scripts/ops/check-migrations.sh [DIR]   (default app/migrations; exit 1 on an unmarked destructive statement)"; exit 0
fi
dir=${1:-$(cd "$(dirname "$0")/../.." && pwd)/app/migrations}
[[ -d $dir ]] || { echo "check-migrations: no folder $dir" >&2; exit 2; }
bad=0 n=0
shopt -s nullglob
for f in "$dir"/*.sql; do
  n=$((n + 1))
  grep -qiE '^[[:space:]]*--[[:space:]]*zufang:contract[[:space:]]+[^[:space:]]' "$f" && continue
  # Comments out, one statement per line, then the destructive forms.
  hits=$(sed -E 's/--.*$//' "$f" | tr '\n' ' ' | tr ';' '\n' | grep -inE \
    'drop[[:space:]]+(table|column)|alter[[:space:]]+table[^;]*[[:space:]]drop[[:space:]]|rename[[:space:]]+(table|column|to)|alter[[:space:]]+table[^;]*[[:space:]](change|modify)[[:space:]]|truncate[[:space:]]' || true)
  if [[ -n $hits ]]; then
    bad=$((bad + 1))
    echo "check-migrations: $(basename "$f") removes or changes what the running release uses:" >&2
    sed -E 's/^[0-9]+:[[:space:]]*/    /' <<< "$hits" | cut -c1-160 >&2
    echo "  expand now, contract later (docs/runbooks/deploy.md); if the running release no longer needs it, add a line: -- zufang:contract <reason>" >&2
  fi
done
(( bad == 0 )) || exit 1
echo "check-migrations: $n migration(s), none destructive without a contract marker" >&2
