#!/usr/bin/env bash
# Entrypoint of the `rabbitmq` service (compose.yaml mounts it; the official image and the offline
# one alike): render the broker's definitions -- definitions.json from this folder with each
# `@secret:NAME@` marker replaced by RabbitMQ's salted SHA-256 hash of the password in
# $ZUFANG_RABBITMQ_SECRETS_DIR/NAME -- into the file rabbitmq.conf's load_definitions names, then
# exec the image's own entrypoint (official) or the command itself (offline).
# The passwords stay in this shell's memory: never in argv, the environment, a log line or a file
# other than the secrets volume; the rendered file holds hashes only, on a tmpfs, mode 0600.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: entrypoint.sh COMMAND [ARGS...]     (compose: entrypoint.sh rabbitmq-server)
       entrypoint.sh --render-only          render the definitions and exit (a check)
Environment (defaults):
  ZUFANG_RABBITMQ_SECRETS_DIR=/run/stack-secrets/rabbitmq       NAME files, first line = password
  ZUFANG_RABBITMQ_DEFINITIONS_TEMPLATE=/etc/zufang-rabbitmq/definitions.json
  ZUFANG_RABBITMQ_DEFINITIONS=/run/rabbitmq-definitions/definitions.json   (rabbitmq.conf's load_definitions)
USAGE
}
[[ ${1:-} == --help || ${1:-} == -h ]] && { usage; exit 0; }
[[ $# -gt 0 ]] || { usage >&2; exit 2; }

: "${ZUFANG_RABBITMQ_SECRETS_DIR:=/run/stack-secrets/rabbitmq}"
: "${ZUFANG_RABBITMQ_DEFINITIONS_TEMPLATE:=/etc/zufang-rabbitmq/definitions.json}"
: "${ZUFANG_RABBITMQ_DEFINITIONS:=/run/rabbitmq-definitions/definitions.json}"

die() { echo "rabbitmq-entrypoint: $*" >&2; exit 1; }

# hex_to_bin HEX: the bytes (NUL included: printf is a builtin and writes them as they are).
hex_to_bin() {
  local escaped="" i
  for ((i = 0; i < ${#1}; i += 2)); do escaped+="\\x${1:i:2}"; done
  printf '%b' "$escaped"
}

# password_hash PASSWORD: base64(salt || sha256(salt || password)), 4 random bytes of salt, the
# format of rabbit_password_hashing_sha256 (what `rabbitmqctl hash_password` prints).
password_hash() {
  local salt digest
  salt=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  digest=$({ hex_to_bin "$salt"; printf '%s' "$1"; } | sha256sum | cut -c1-64)
  { hex_to_bin "$salt"; hex_to_bin "$digest"; } | base64 -w0
}

render() {
  [[ -r $ZUFANG_RABBITMQ_DEFINITIONS_TEMPLATE ]] || die "no definitions template at $ZUFANG_RABBITMQ_DEFINITIONS_TEMPLATE"
  local text name file password marker
  text=$(<"$ZUFANG_RABBITMQ_DEFINITIONS_TEMPLATE")
  while [[ $text =~ @secret:([A-Za-z0-9_.-]*)@ ]]; do
    marker=${BASH_REMATCH[0]} name=${BASH_REMATCH[1]}
    [[ -n $name && $name != .* ]] || die "bad secret marker $marker in $ZUFANG_RABBITMQ_DEFINITIONS_TEMPLATE"
    file=$ZUFANG_RABBITMQ_SECRETS_DIR/$name
    [[ -r $file ]] || die "secret file $file missing or unreadable (secrets-init writes it)"
    IFS= read -r password < "$file" || true
    [[ ${#password} -ge 16 ]] || die "secret file $file: the password must have at least 16 characters"
    text=${text//"$marker"/$(password_hash "$password")}
  done
  password=""
  local out=$ZUFANG_RABBITMQ_DEFINITIONS
  mkdir -p "$(dirname "$out")" || die "cannot create $(dirname "$out") (a tmpfs writable by uid $(id -u) is expected)"
  (umask 077 && printf '%s\n' "$text" > "$out.tmp") || die "cannot write $out.tmp"
  mv -f "$out.tmp" "$out"
  echo "rabbitmq-entrypoint: rendered $out ($(grep -c '"password_hash"' "$out") users)" >&2
}

render
[[ $1 == --render-only ]] && exit 0
# The official image's entrypoint (drops root with gosu, long host names); the offline image has
# none and already runs as the rabbitmq user.
if command -v docker-entrypoint.sh >/dev/null 2>&1; then exec docker-entrypoint.sh "$@"; fi
exec "$@"
