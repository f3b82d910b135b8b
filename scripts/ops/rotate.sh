#!/usr/bin/env bash
# Secret rotation on the compose stack (docs/runbooks/rotation.md).
#   jwt            the JWT signing key, without logging anyone out: (1) the new key becomes
#                  verify-only on every replica (drained restart), (2) it becomes current and the
#                  old one verify-only (drained restart). Tokens of the old key keep working.
#   jwt --finish   (3) drop the old key, once every token it signed has expired
#                  (jwt.access_ttl_seconds + leeway: 15.5 min by default); refresh tokens are
#                  opaque Redis families, not JWTs, so they are not affected.
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; echo "Environment: STACK_ENV_FILE (scripts/ops/lib.sh)"; }
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

case "${1:-} ${2:-}" in
  "jwt ") jwt_start ;;
  "jwt --finish") jwt_finish ;;
  "-h "|"--help ") usage ;;
  *) usage >&2; exit 2 ;;
esac
