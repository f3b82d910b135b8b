#!/usr/bin/env bash
# fetch-rds-ca.sh: put the RDS certificate authorities' bundle on the host, where zufang.service
# mounts it into the container (/etc/ssl/certs/rds-global-bundle.pem): the app verifies MariaDB's
# certificate and host name against it (database.ssl_mode = verify_identity). The bundle is public;
# it comes over HTTPS from AWS's trust store, checked against the system's CAs. A fetch that fails
# keeps a bundle already in place (AWS changes it rarely), so an outage of the trust store does not
# stop a restart; without any bundle the service does not start.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: fetch-rds-ca.sh   (as root; zufang.service runs it as ExecStartPre)
Environment (from /etc/zufang/runtime.env):
  RDS_CA_URL   https URL of the bundle (default https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)
  RDS_CA_FILE  where to write it (default /etc/zufang/tls/rds-global-bundle.pem), mode 0644
Refuses anything that is not a PEM list of CA certificates; keeps the old file when the fetch fails.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }

: "${RDS_CA_URL:=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem}"
: "${RDS_CA_FILE:=/etc/zufang/tls/rds-global-bundle.pem}"
die() { echo "fetch-rds-ca: $*" >&2; exit 1; }
[[ $RDS_CA_URL == https://* ]] || die "RDS_CA_URL must be an https URL: $RDS_CA_URL"
for tool in curl openssl; do command -v "$tool" >/dev/null || die "$tool is missing"; done

install -d -m 0755 "$(dirname "$RDS_CA_FILE")"
tmp=$(mktemp "$RDS_CA_FILE.XXXXXX")
trap 'rm -f "$tmp"' EXIT

keep_or_die() {
  if [[ -s $RDS_CA_FILE ]]; then
    echo "fetch-rds-ca: $*; keeping the bundle in place" >&2
    exit 0
  fi
  die "$*; no bundle in $RDS_CA_FILE"
}

curl -fsS --proto '=https' --tlsv1.2 --max-time 60 --retry 3 -o "$tmp" "$RDS_CA_URL" \
  || keep_or_die "cannot fetch $RDS_CA_URL"
count=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$tmp" || true)
(( count > 0 )) || keep_or_die "$RDS_CA_URL is not a PEM certificate bundle"
# Every block must parse as a certificate: a truncated download fails here.
openssl crl2pkcs7 -nocrl -certfile "$tmp" 2>/dev/null | openssl pkcs7 -print_certs -noout >/dev/null 2>&1 \
  || keep_or_die "$RDS_CA_URL holds a certificate that does not parse"
chmod 0644 "$tmp"
mv -f "$tmp" "$RDS_CA_FILE"
trap - EXIT
echo "fetch-rds-ca: wrote $RDS_CA_FILE ($count certificates)" >&2
