#!/usr/bin/env bash
# notify-eip-aws.sh: keepalived `notify_master` hook for AWS. In a VPC a gratuitous ARP moves
# nothing (the VPC routes by its own tables), so the node that becomes MASTER re-associates the
# public Elastic IP with its own network interface through the EC2 API. The instance role needs
# ec2:AssociateAddress and ec2:DescribeAddresses (deploy/terraform edge module).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: notify-eip-aws.sh ALLOCATION_ID [PRIVATE_IP]
  Associates the Elastic IP ALLOCATION_ID (eipalloc-...) with this instance's primary interface
  (or its PRIVATE_IP), taking it over from the peer (--allow-reassociation). Retries 3 times.
Environment (for tests and unusual setups):
  AWS_CLI=aws  IMDS_ENDPOINT=http://169.254.169.254
  INSTANCE_ENI, AWS_REGION   skip the instance-metadata lookups when set
Needs the AWS CLI v2 and curl; logs to stderr and syslog (logger).
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }
(( $# >= 1 )) || { usage >&2; exit 2; }

alloc=$1 private_ip=${2:-}
[[ $alloc =~ ^eipalloc-[0-9a-f]+$ ]] || { echo "notify-eip-aws: bad allocation id: $alloc" >&2; exit 2; }
: "${AWS_CLI:=aws}" "${IMDS_ENDPOINT:=http://169.254.169.254}" "${INSTANCE_ENI:=}" "${AWS_REGION:=}"

log() {
  echo "notify-eip-aws: $*" >&2
  if command -v logger >/dev/null; then logger -t keepalived-eip -- "$*" || true; fi
}
command -v "$AWS_CLI" >/dev/null || { log "AWS CLI '$AWS_CLI' not found"; exit 1; }

imds() { # PATH -> value, with an IMDSv2 session token
  local token
  token=$(curl -fsS --max-time 2 -X PUT "$IMDS_ENDPOINT/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60")
  curl -fsS --max-time 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS_ENDPOINT/latest/meta-data/$1"
}

if [[ -z $INSTANCE_ENI ]]; then
  mac=$(imds mac)
  INSTANCE_ENI=$(imds "network/interfaces/macs/$mac/interface-id")
fi
[[ -n $AWS_REGION ]] || AWS_REGION=$(imds placement/region)

args=(ec2 associate-address --region "$AWS_REGION" --allocation-id "$alloc"
      --network-interface-id "$INSTANCE_ENI" --allow-reassociation)
[[ -z $private_ip ]] || args+=(--private-ip-address "$private_ip")

for attempt in 1 2 3; do
  if out=$("$AWS_CLI" "${args[@]}" 2>&1); then
    log "associated $alloc with $INSTANCE_ENI (attempt $attempt): $out"
    exit 0
  fi
  log "attempt $attempt failed: $out"
  sleep "$attempt"
done
log "giving up: $alloc stays where it is; the VIP address will not follow this MASTER"
exit 1
