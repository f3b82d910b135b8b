#!/usr/bin/env bash
# fetch-secrets.sh: copy the app's secrets from Secrets Manager into one file each under SECRETS_DIR
# (a tmpfs: /run never touches the disk), readable only by the container's user. The container
# mounts SECRETS_DIR at /run/secrets, where zufang reads <section>_<key> files
# (database_password, redis_password, jwt_secret). zufang.service runs this before every start,
# so a secret changed in Secrets Manager reaches the app with a restart; with --restart-on-change
# (zufang-secrets-refresh.timer) it makes that restart itself when a secret changed, e.g. after RDS
# rotated the database password.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: fetch-secrets.sh [--restart-on-change UNIT]   (as root)
  zufang.service runs it as ExecStartPre; zufang-secrets-refresh.timer runs it with
  --restart-on-change zufang.service: when any file's content changed, `systemctl restart UNIT`.
Reads SECRETS_ENV_FILE (default /etc/zufang/secrets.env): AWS_REGION, CONTAINER_UID and one
SECRET_<file name>=<secret ARN> line per secret, e.g. SECRET_database_password=arn:aws:...;
JSONKEY_<file name>=<field> takes that field of a JSON secret (RDS's managed secret: password).
Writes SECRETS_DIR (default /run/zufang/secrets)/<file name>, mode 0400, owner CONTAINER_UID.
USAGE
}
restart_unit=""
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --restart-on-change)
    [[ -n ${2:-} ]] || { usage >&2; exit 2; }
    restart_unit=$2 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

: "${SECRETS_ENV_FILE:=/etc/zufang/secrets.env}"
: "${SECRETS_DIR:=/run/zufang/secrets}"
command -v aws >/dev/null || { echo "fetch-secrets: the AWS CLI is missing" >&2; exit 1; }
[[ -r $SECRETS_ENV_FILE ]] || { echo "fetch-secrets: cannot read $SECRETS_ENV_FILE" >&2; exit 1; }

region="" uid=""
declare -A arns=() json_keys=()
while IFS='=' read -r key value; do
  case $key in
    AWS_REGION) region=$value ;;
    CONTAINER_UID) uid=$value ;;
    SECRET_*) arns[${key#SECRET_}]=$value ;;
    JSONKEY_*) json_keys[${key#JSONKEY_}]=$value ;;
    ''|'#'*) ;;
    *) echo "fetch-secrets: unknown line $key in $SECRETS_ENV_FILE" >&2; exit 1 ;;
  esac
done < "$SECRETS_ENV_FILE"
[[ -n $region && $uid =~ ^[0-9]+$ ]] || { echo "fetch-secrets: AWS_REGION and CONTAINER_UID are required" >&2; exit 1; }
(( ${#arns[@]} > 0 )) || { echo "fetch-secrets: no SECRET_ lines" >&2; exit 1; }
for name in "${!json_keys[@]}"; do
  [[ -n ${arns[$name]:-} ]] || { echo "fetch-secrets: JSONKEY_$name without SECRET_$name" >&2; exit 1; }
  command -v python3 >/dev/null || { echo "fetch-secrets: python3 is missing (JSON secrets)" >&2; exit 1; }
done

install -d -m 0700 -o "$uid" -g "$uid" "$SECRETS_DIR"
umask 077
changed=0
for name in "${!arns[@]}"; do
  [[ $name =~ ^[a-z]+_[a-z_]+$ ]] || { echo "fetch-secrets: bad secret file name $name" >&2; exit 1; }
  tmp="$SECRETS_DIR/.$name.tmp"
  aws secretsmanager get-secret-value --region "$region" --secret-id "${arns[$name]}" \
    --query SecretString --output text > "$tmp"
  if [[ -n ${json_keys[$name]:-} ]]; then
    # The field alone, never echoed: a missing field fails without printing the document.
    python3 -c '
import json, sys
try:
    value = json.load(open(sys.argv[1]))[sys.argv[2]]
except (ValueError, KeyError, TypeError):
    sys.exit(f"fetch-secrets: the secret of {sys.argv[3]} is not JSON with a string field {sys.argv[2]}")
if not isinstance(value, str) or not value:
    sys.exit(f"fetch-secrets: field {sys.argv[2]} of the secret of {sys.argv[3]} is empty or not a string")
with open(sys.argv[1], "w") as f:
    f.write(value + "\n")
' "$tmp" "${json_keys[$name]}" "$name" || { rm -f "$tmp"; exit 1; }
  fi
  chown "$uid:$uid" "$tmp"
  chmod 0400 "$tmp"
  if cmp -s "$tmp" "$SECRETS_DIR/$name"; then
    rm -f "$tmp"
    continue
  fi
  if [[ -e $SECRETS_DIR/$name ]]; then changed=1; fi
  mv -f "$tmp" "$SECRETS_DIR/$name"
  echo "fetch-secrets: wrote $name" >&2
done

if [[ -n $restart_unit ]] && (( changed )); then
  echo "fetch-secrets: a secret changed; restarting $restart_unit" >&2
  systemctl restart "$restart_unit"
fi
