#!/usr/bin/env bash
# health-report.sh: tell the auto scaling group this app server is Unhealthy once zufang's /healthz
# has failed FAILURES checks in a row, so the group replaces it. The group's own EC2 status checks
# see only the virtual machine, not a crashed or wedged app; there is no load balancer to ask.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: health-report.sh
  One check of http://127.0.0.1:APP_PORT/healthz (run every 30 s by zufang-health-report.timer).
  Counts consecutive failures in STATE_DIR/health-failures; at FAILURES it calls
  `aws autoscaling set-instance-health --health-status Unhealthy --should-respect-grace-period`
  for this instance (id from IMDSv2). A success resets the count.
Reads HEALTH_ENV_FILE (default /etc/zufang/health.env): AWS_REGION APP_PORT FAILURES
Environment: STATE_DIR=/run/zufang  IMDS=http://169.254.169.254
USAGE
}
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

: "${HEALTH_ENV_FILE:=/etc/zufang/health.env}"
: "${STATE_DIR:=/run/zufang}"
: "${IMDS:=http://169.254.169.254}"
set -a
# shellcheck source=/dev/null
. "$HEALTH_ENV_FILE"
set +a
for v in AWS_REGION APP_PORT FAILURES; do
  [[ -n ${!v:-} ]] || { echo "health-report: $v is not set in $HEALTH_ENV_FILE" >&2; exit 1; }
done
[[ $FAILURES =~ ^[1-9][0-9]*$ ]] || { echo "health-report: FAILURES must be a positive number" >&2; exit 1; }

mkdir -p "$STATE_DIR"
counter="$STATE_DIR/health-failures"
if curl -fsS -m 5 -o /dev/null "http://127.0.0.1:$APP_PORT/healthz"; then
  echo 0 >"$counter"
  exit 0
fi
failed=$(( $(cat "$counter" 2>/dev/null || echo 0) + 1 ))
echo "$failed" >"$counter"
echo "health-report: /healthz failed ($failed/$FAILURES)" >&2
(( failed >= FAILURES )) || exit 0

token=$(curl -fsS -m 2 -X PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
id=$(curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/instance-id")
echo "health-report: reporting $id Unhealthy to its auto scaling group" >&2
aws autoscaling set-instance-health --region "$AWS_REGION" --instance-id "$id" \
  --health-status Unhealthy --should-respect-grace-period
