#!/usr/bin/env bash
# notify-fifo.sh: keepalived's `vrrp_notify_fifo_script`. keepalived starts it once and writes one
# line per VRRP transition into the FIFO, in the order the transitions happened:
#   INSTANCE "VI_EDGE" MASTER 250
# Each line is applied with notify.sh before the next is read. A `notify` script, by contrast, is
# started anew for every transition, so two transitions in the same millisecond could finish in
# either order and leave the earlier state in the state file (MASTER after MASTER -> BACKUP).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: notify-fifo.sh NODE FIFO
  Reads keepalived's vrrp_notify_fifo lines (TYPE "NAME" STATE PRIORITY) from FIFO and runs
  notify.sh NODE TYPE NAME STATE PRIORITY for each, one at a time, in order. keepalived appends
  FIFO to the configured command `notify-fifo.sh NODE`. Exits at STOP (keepalived's last event)
  or when keepalived closes the FIFO.
Environment: passed on to notify.sh (STATE_DIR, TEXTFILE_DIR).
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
(( $# == 2 )) || { usage >&2; exit 2; }
node=$1 fifo=$2
[[ -p $fifo ]] || { echo "notify-fifo.sh: not a FIFO: $fifo" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

# keepalived sends SIGTERM when it stops and only then writes the STOP events: keep reading for them.
trap '' TERM

while IFS= read -r line; do
  read -r type name state priority _ <<<"$line" || true
  name=${name//\"/}
  if [[ $type != INSTANCE ]]; then
    echo "notify-fifo.sh: ignored: $line" >&2
    continue
  fi
  # One bad event must not stop the reader: the next transition still has to be recorded.
  "$here/notify.sh" "$node" "$type" "$name" "$state" "${priority:-}" || echo "notify-fifo.sh: notify.sh failed on: $line" >&2
  [[ $state != STOP ]] || exit 0
done < "$fifo"
