#!/usr/bin/env bash
# make-dev-cert.sh: a self-signed TLS certificate for development and tests (EC P-256, SANs for
# localhost, 127.0.0.1, ::1, the compose VIP and proxies, plus any --san). Never commit the output:
# secrets/ is gitignored; production uses real certificates through TLS_CERT_FILE/TLS_KEY_FILE.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/tls/make-dev-cert.sh [--cert FILE] [--key FILE] [--cn NAME] [--days N] [--san SAN]...
  defaults: --cert secrets/tls/tls.crt --key secrets/tls/tls.key --cn zufang.local --days 30
  --san takes openssl syntax: DNS:example.test or IP:10.0.0.1 (repeatable)
  Overwrites existing files; the key is written with mode 600.
USAGE
}

cert=secrets/tls/tls.crt key=secrets/tls/tls.key cn=zufang.local days=30
sans="DNS:localhost,DNS:zufang.local,DNS:lb1,DNS:lb2,IP:127.0.0.1,IP:::1,IP:172.28.10.100,IP:172.28.10.11,IP:172.28.10.12"
while (( $# )); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --cert) cert=${2:?--cert needs a file}; shift 2 ;;
    --key) key=${2:?--key needs a file}; shift 2 ;;
    --cn) cn=${2:?--cn needs a name}; shift 2 ;;
    --days) days=${2:?--days needs a number}; shift 2 ;;
    --san) sans+=",${2:?--san needs a value}"; shift 2 ;;
    *) echo "make-dev-cert: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "make-dev-cert: needs openssl (apt-get install openssl)" >&2; exit 1; }

mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
tmpkey=$(mktemp "$(dirname "$key")/.key.XXXXXX")
trap 'rm -f "$tmpkey"' EXIT
(umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmpkey" 2>/dev/null)
openssl req -x509 -new -key "$tmpkey" -out "$cert" -days "$days" -subj "/CN=$cn" \
  -addext "subjectAltName=$sans" -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth" 2>/dev/null
chmod 600 "$tmpkey"
mv "$tmpkey" "$key"
trap - EXIT
echo "make-dev-cert: wrote $cert and $key (self-signed, $days days, CN=$cn)"
