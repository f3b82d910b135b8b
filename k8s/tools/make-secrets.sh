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
    rabbitmq_app_password.txt, rabbitmq_worker_password.txt (the broker users zufang-app, zufang-worker)
    rabbitmq_admin_password.txt (dev only: zufang-admin of the in-cluster RabbitMQ)
    s3_rpc_secret.txt (32 bytes hex), s3_admin_token.txt, s3_{app,worker}_access_key_id.txt (GK + 24 hex)
    and s3_{app,worker}_secret_access_key.txt (64 hex) (dev only: Garage; prod uses the pods' IAM role)
    sms_webhook_token.txt (prod only: a placeholder for the SMS gateway's token)
  and, for prod, an empty sentry_dsn.txt (Sentry off until you write the DSN into it).
  For prod, overwrite database_password.txt, redis_password.txt, rabbitmq_{app,worker}_password.txt and
  sms_webhook_token.txt with the managed services' and the gateway's credentials (or have your secret store write these files) before
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

names=(database_password jwt_secret redis_password rabbitmq_app_password rabbitmq_worker_password)
[[ $env == dev ]] && names+=(mysql_root_password mysqld_exporter_password rabbitmq_admin_password
                             s3_rpc_secret s3_admin_token s3_app_access_key_id s3_app_secret_access_key
                             s3_worker_access_key_id s3_worker_secret_access_key)
[[ $env == prod ]] && names+=(sms_webhook_token)
for name in "${names[@]}"; do
  file="$dir/$name.txt"
  if [[ -s $file && $force -eq 0 ]]; then
    echo "make-secrets: keeping $file"
    continue
  fi
  case $name in
    # Garage's formats (s3/README.md): an RPC secret of 32 bytes hex, key ids GK + 24 hex, 64-hex secrets.
    s3_rpc_secret|s3_*_secret_access_key) openssl rand -hex 32 | tr -d '\n' > "$file" ;;
    s3_*_access_key_id) printf 'GK%s' "$(openssl rand -hex 12)" > "$file" ;;
    *)
      bytes=24
      [[ $name == jwt_secret ]] && bytes=48
      # URL-safe base64 without padding: no character that needs quoting in a DSN or a shell.
      openssl rand -base64 "$bytes" | tr -d '\n=' | tr '+/' '-_' > "$file" ;;
  esac
  echo "make-secrets: wrote $file"
done
if [[ $env == prod && ! -e $dir/sentry_dsn.txt ]]; then
  : > "$dir/sentry_dsn.txt"
  echo "make-secrets: wrote $dir/sentry_dsn.txt (empty: Sentry off)"
fi
