#!/usr/bin/env bash
# fetch-secrets.sh: copy the app's secrets from Secrets Manager into one file each under SECRETS_DIR
# (a tmpfs: /run never touches the disk), readable only by the container's user. The container
# mounts SECRETS_DIR at /run/secrets, where zufang reads <section>_<key> files
# (database_password, redis_password, jwt_secret). zufang.service runs this before every start,
# so a secret changed in Secrets Manager reaches the app with a restart.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: fetch-secrets.sh   (as root; zufang.service runs it as ExecStartPre)
Reads SECRETS_ENV_FILE (default /etc/zufang/secrets.env): AWS_REGION, CONTAINER_UID and one
SECRET_<file name>=<secret ARN> line per secret, e.g. SECRET_database_password=arn:aws:...
Writes SECRETS_DIR (default /run/zufang/secrets)/<file name>, mode 0400, owner CONTAINER_UID.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }

: "${SECRETS_ENV_FILE:=/etc/zufang/secrets.env}"
: "${SECRETS_DIR:=/run/zufang/secrets}"
command -v aws >/dev/null || { echo "fetch-secrets: the AWS CLI is missing" >&2; exit 1; }
[[ -r $SECRETS_ENV_FILE ]] || { echo "fetch-secrets: cannot read $SECRETS_ENV_FILE" >&2; exit 1; }

region="" uid=""
declare -A arns=()
while IFS='=' read -r key value; do
  case $key in
    AWS_REGION) region=$value ;;
    CONTAINER_UID) uid=$value ;;
    SECRET_*) arns[${key#SECRET_}]=$value ;;
    ''|'#'*) ;;
    *) echo "fetch-secrets: unknown line $key in $SECRETS_ENV_FILE" >&2; exit 1 ;;
  esac
done < "$SECRETS_ENV_FILE"
[[ -n $region && $uid =~ ^[0-9]+$ ]] || { echo "fetch-secrets: AWS_REGION and CONTAINER_UID are required" >&2; exit 1; }
(( ${#arns[@]} > 0 )) || { echo "fetch-secrets: no SECRET_ lines" >&2; exit 1; }

install -d -m 0700 -o "$uid" -g "$uid" "$SECRETS_DIR"
umask 077
for name in "${!arns[@]}"; do
  [[ $name =~ ^[a-z]+_[a-z_]+$ ]] || { echo "fetch-secrets: bad secret file name $name" >&2; exit 1; }
  tmp="$SECRETS_DIR/.$name.tmp"
  aws secretsmanager get-secret-value --region "$region" --secret-id "${arns[$name]}" \
    --query SecretString --output text > "$tmp"
  chown "$uid:$uid" "$tmp"
  chmod 0400 "$tmp"
  mv -f "$tmp" "$SECRETS_DIR/$name"
  echo "fetch-secrets: wrote $name" >&2
done
