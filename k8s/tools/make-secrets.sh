#!/usr/bin/env bash
# Create the credential files an overlay's secretGenerator reads (k8s/overlays/ENV/secrets/*.txt).
# They are gitignored (k8s/.gitignore) and never committed. Existing files are kept unless --force.
set -euo pipefail

usage() {
  cat <<USAGE
usage: $0 [--force] dev|prod
  Writes random values, without a trailing newline, to k8s/overlays/ENV/secrets/:
    database_password.txt  jwt_secret.txt (48 bytes, the app needs >= 32)  redis_password.txt
    mysql_root_password.txt, mysqld_exporter_password.txt (dev only: the in-cluster MariaDB, its exporter)
    sms_webhook_token.txt (prod only: a placeholder for the SMS gateway's token)
  and, for prod, an empty sentry_dsn.txt (Sentry off until you write the DSN into it).
  For prod, overwrite database_password.txt, redis_password.txt and sms_webhook_token.txt with the
  managed services' and the gateway's credentials (or have your secret store write these files) before
  'kubectl apply -k'.
USAGE
}

force=0
env=""
for arg in "$@"; do
  case $arg in
    -h|--help) usage; exit 0 ;;
    --force) force=1 ;;
    dev|prod) env=$arg ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ -n $env ]] || { usage >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-secrets: needs openssl (apt-get install openssl)" >&2; exit 1; }

dir="$(cd "$(dirname "$0")/.." && pwd)/overlays/$env/secrets"
mkdir -p "$dir"
umask 077

names=(database_password jwt_secret redis_password)
[[ $env == dev ]] && names+=(mysql_root_password mysqld_exporter_password)
[[ $env == prod ]] && names+=(sms_webhook_token)
for name in "${names[@]}"; do
  file="$dir/$name.txt"
  if [[ -s $file && $force -eq 0 ]]; then
    echo "make-secrets: keeping $file"
    continue
  fi
  bytes=24
  [[ $name == jwt_secret ]] && bytes=48
  # URL-safe base64 without padding: no character that needs quoting in a DSN or a shell.
  openssl rand -base64 "$bytes" | tr -d '\n=' | tr '+/' '-_' > "$file"
  echo "make-secrets: wrote $file"
done
if [[ $env == prod && ! -e $dir/sentry_dsn.txt ]]; then
  : > "$dir/sentry_dsn.txt"
  echo "make-secrets: wrote $dir/sentry_dsn.txt (empty: Sentry off)"
fi
