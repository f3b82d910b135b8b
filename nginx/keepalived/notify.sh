#!/usr/bin/env bash
# notify.sh: keepalived's `notify` hook. Records every VRRP transition of this node:
#   - a log line on stderr and in $STATE_DIR/<node>.log (and syslog when `logger` exists)
#   - $STATE_DIR/<node>.state with one word, MASTER | BACKUP | FAULT | STOP (Zabbix reads it)
#   - $TEXTFILE_DIR/keepalived_<node>.prom for node-exporter's textfile collector:
#       keepalived_vrrp_state{node,instance,state} 1|0   (one series per state)
#       keepalived_vrrp_master{node,instance} 1|0        (sum over nodes != 1: no master / split brain)
# Files are replaced atomically (write + rename): a scrape never sees half a file.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: notify.sh NODE TYPE NAME STATE [PRIORITY]
  keepalived appends TYPE (INSTANCE|GROUP), NAME (VI_EDGE), STATE (MASTER|BACKUP|FAULT|STOP), PRIORITY
  to the configured command `notify.sh NODE`.
Environment: STATE_DIR=/var/lib/keepalived/state  TEXTFILE_DIR=/var/lib/node_exporter/textfile
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
(( $# >= 4 )) || { usage >&2; exit 2; }

node=$1 type=$2 name=$3 state=$4 priority=${5:-}
: "${STATE_DIR:=/var/lib/keepalived/state}"
: "${TEXTFILE_DIR:=/var/lib/node_exporter/textfile}"

[[ $node =~ ^[a-z0-9][a-z0-9-]*$ ]] || { echo "notify.sh: bad node name: $node" >&2; exit 2; }
[[ $name =~ ^[A-Za-z0-9_-]+$ ]] || { echo "notify.sh: bad instance name: $name" >&2; exit 2; }
case $state in
  MASTER|BACKUP|FAULT|STOP) ;;
  *) echo "notify.sh: unknown state $state" >&2; exit 2 ;;
esac

mkdir -p "$STATE_DIR" "$TEXTFILE_DIR"
line="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) keepalived node=$node $type=$name state=$state priority=${priority:-?}"
echo "$line" >&2
echo "$line" >> "$STATE_DIR/$node.log"
if command -v logger >/dev/null; then logger -t keepalived-notify -- "$line" || true; fi

write_atomic() { # FILE, content on stdin
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$1"
}

echo "$state" | write_atomic "$STATE_DIR/$node.state"

# STOP (keepalived shutting down) holds no VIP: every state series and the master series are 0.
{
  echo "# HELP keepalived_vrrp_state VRRP state of this edge node (1 for the current state)."
  echo "# TYPE keepalived_vrrp_state gauge"
  for s in MASTER BACKUP FAULT; do
    v=0; [[ $s == "$state" ]] && v=1
    echo "keepalived_vrrp_state{node=\"$node\",instance=\"$name\",state=\"$s\"} $v"
  done
  echo "# HELP keepalived_vrrp_master 1 when this node holds the VIP."
  echo "# TYPE keepalived_vrrp_master gauge"
  m=0; [[ $state == MASTER ]] && m=1
  echo "keepalived_vrrp_master{node=\"$node\",instance=\"$name\"} $m"
} | write_atomic "$TEXTFILE_DIR/keepalived_$node.prom"
