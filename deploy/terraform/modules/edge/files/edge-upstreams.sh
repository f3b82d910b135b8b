#!/usr/bin/env bash
# edge-upstreams.sh: keep nginx's upstream pool equal to the InService instances of the app auto
# scaling group. An instance the group is terminating (lifecycle state Terminating:Wait, held there by
# the group's termination hook) or still launching (Pending) is left out, so it drains before it stops. nginx 1.22 resolves names only at start, and the group's addresses change when it
# replaces or scales instances, so a timer re-renders generated/upstream-servers.conf (through the
# repository's docker-entrypoint.sh render) and reloads nginx only when the pool changed.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: edge-upstreams.sh [--no-reload]
  Lists the InService instances of APP_ASG_NAME, renders /etc/nginx/generated/ with
  APP_UPSTREAMS="ip:APP_PORT ...", reloads nginx when the pool changed (not with --no-reload).
Reads EDGE_ENV_FILE (default /etc/zufang/edge.env): AWS_REGION APP_ASG_NAME APP_PORT EDGE_HTTP_MODE
Environment: NGINX_PREFIX=/etc/nginx/  RENDER=/usr/local/sbin/zufang-nginx-render (nginx/docker-entrypoint.sh)
An empty group renders a placeholder server that answers nothing (nginx then returns 502).
USAGE
}
reload=1
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --no-reload) reload=0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

: "${EDGE_ENV_FILE:=/etc/zufang/edge.env}"
: "${RENDER:=/usr/local/sbin/zufang-nginx-render}"
: "${NGINX_PREFIX:=/etc/nginx/}"
set -a
# shellcheck source=/dev/null
. "$EDGE_ENV_FILE"
set +a
for v in AWS_REGION APP_ASG_NAME APP_PORT EDGE_HTTP_MODE; do
  [[ -n ${!v:-} ]] || { echo "edge-upstreams: $v is not set in $EDGE_ENV_FILE" >&2; exit 1; }
done

# The group's lifecycle state, not the EC2 state: a terminating instance is still "running" in EC2.
# A failed call stops the script here (set -e), so the pool in place stays as it is.
in_service=$(aws autoscaling describe-auto-scaling-groups --region "$AWS_REGION" \
  --auto-scaling-group-names "$APP_ASG_NAME" \
  --query "AutoScalingGroups[].Instances[?LifecycleState=='InService'].InstanceId[]" --output text)
ids=()
for id in $in_service; do
  [[ $id =~ ^i-[0-9a-f]+$ ]] && ids+=("$id")
done
ips=""
if (( ${#ids[@]} )); then
  ips=$(aws ec2 describe-instances --region "$AWS_REGION" --instance-ids "${ids[@]}" \
    --filters "Name=instance-state-name,Values=running" \
    --query 'Reservations[].Instances[].PrivateIpAddress' --output text)
fi
upstreams=""
for ip in $(tr '\t' '\n' <<<"$ips" | sort -V); do
  [[ $ip =~ ^[0-9.]+$ ]] && upstreams+="$ip:$APP_PORT "
done
if [[ -z $upstreams ]]; then
  echo "edge-upstreams: no InService instance in $APP_ASG_NAME; placeholder upstream" >&2
  upstreams="127.0.0.2:$APP_PORT"
fi

gen="${NGINX_PREFIX%/}/generated/upstream-servers.conf"
before=$(cat "$gen" 2>/dev/null || true)
APP_UPSTREAMS=$upstreams NGINX_PREFIX=$NGINX_PREFIX TLS_SELF_SIGNED=never "$RENDER" render
after=$(cat "$gen")
if [[ $before != "$after" ]]; then
  echo "edge-upstreams: pool is now: $upstreams" >&2
  if (( reload )) && systemctl is-active --quiet nginx; then
    nginx -p "$NGINX_PREFIX" -c "${NGINX_PREFIX%/}/nginx.conf" -t -q && systemctl reload nginx
  fi
fi
