#!/usr/bin/env bash
# Print this node's keepalived state (MASTER|BACKUP|FAULT) from the file written by the edge's
# notify script: <dir>/<node>.state. Used by the UserParameter zufang.keepalived.state[node,dir].
# Prints UNKNOWN when the file is missing or holds anything else: agent 2 returns a UserParameter's
# combined output as the value whatever the exit code, so the answer is a state, never an error text.
#   keepalived-state.sh NODE [DIR]     DIR defaults to /var/lib/keepalived/state
set -euo pipefail
if [[ "${1:-}" == "--help" || $# -lt 1 ]]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
node=$1
dir=${2:-}
: "${dir:=/var/lib/keepalived/state}"
# The node name becomes part of a path: refuse anything but a plain name.
if [[ ! $node =~ ^[A-Za-z0-9_.-]+$ || $node == .* ]]; then
  echo UNKNOWN; exit 0
fi
f="$dir/$node.state"
state=
# Agent 2 returns stderr with stdout: test readability first rather than let `<` complain.
if [[ -f $f && -r $f ]]; then state=$(tr -d '[:space:]' < "$f"); fi
case $state in
  MASTER | BACKUP | FAULT) echo "$state" ;;
  *) echo UNKNOWN ;;
esac
