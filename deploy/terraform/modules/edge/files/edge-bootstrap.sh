#!/usr/bin/env bash
# edge-bootstrap.sh: turn a fresh Debian 12 instance into one of the two edge proxies, with the very
# files of the repository's nginx/ folder (fetched from the config bucket Terraform filled):
#   /etc/nginx            nginx.conf, conf.d/, snippets/, html/ + generated/ (docker-entrypoint.sh render)
#   /etc/keepalived       keepalived.conf rendered by nginx/keepalived/render.sh, hooks beside it
#   zufang-edge-upstreams.timer keeps the upstream pool equal to the app auto scaling group
# cloud-init runs it once (runcmd); it is idempotent, so an operator may run it again.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: edge-bootstrap.sh   (as root, on an edge instance; cloud-init runs it at first boot)
Reads EDGE_ENV_FILE (default /etc/zufang/edge.env, written by Terraform's user data):
  NODE_NAME PRIORITY SELF_IP PEER_IP VIP VRID AWS_REGION EIP_ALLOCATION_ID
  CONFIG_BUCKET CONFIG_PREFIX [TLS_SECRET_ARN] [TLS_REQUIRED] [SERVER_NAME]
  APP_ASG_NAME APP_PORT EDGE_HTTP_MODE [EDGE_HSTS_INCLUDE_SUBDOMAINS]
TLS_REQUIRED=true: without TLS_SECRET_ARN the bootstrap stops (no self-signed fallback).
Needs: aws (CLI v2), nginx, keepalived, openssl, python3, curl.
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }

: "${EDGE_ENV_FILE:=/etc/zufang/edge.env}"
: "${SRC_DIR:=/opt/zufang/nginx}"
die() { echo "edge-bootstrap: $*" >&2; exit 1; }
log() { echo "edge-bootstrap: $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -r $EDGE_ENV_FILE ]] || die "cannot read $EDGE_ENV_FILE"
for tool in aws nginx keepalived openssl python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is missing (cloud-init installs: nginx keepalived awscli openssl curl)"
done
set -a
# shellcheck source=/dev/null
. "$EDGE_ENV_FILE"
set +a
for v in NODE_NAME PRIORITY SELF_IP PEER_IP VIP VRID AWS_REGION EIP_ALLOCATION_ID CONFIG_BUCKET \
  CONFIG_PREFIX APP_ASG_NAME APP_PORT EDGE_HTTP_MODE; do
  [[ -n ${!v:-} ]] || die "$v is not set in $EDGE_ENV_FILE"
done
: "${TLS_SECRET_ARN:=}" "${TLS_REQUIRED:=false}" "${SERVER_NAME:=localhost}"
[[ $TLS_REQUIRED == true || $TLS_REQUIRED == false ]] || die "TLS_REQUIRED must be true or false, not $TLS_REQUIRED"
# Checked before anything is installed: a proxy that must serve a real certificate never starts
# with a self-signed one (prod).
[[ $TLS_REQUIRED == false || -n $TLS_SECRET_ARN ]] \
  || die "TLS_REQUIRED=true but TLS_SECRET_ARN is empty: no self-signed fallback here"

secret() { # ARN -> SecretString on stdout
  aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" \
    --query SecretString --output text
}

log "1/6 fetching s3://$CONFIG_BUCKET/$CONFIG_PREFIX"
mkdir -p "$SRC_DIR"
aws s3 sync --region "$AWS_REGION" --only-show-errors --delete \
  "s3://$CONFIG_BUCKET/$CONFIG_PREFIX" "$SRC_DIR"
[[ -f $SRC_DIR/nginx.conf ]] || die "no nginx.conf in the config bucket"

log "2/6 installing the nginx configuration into /etc/nginx"
# Debian's own nginx.conf and conf.d are replaced; mime.types and the modules stay from the package.
rm -rf /etc/nginx/conf.d /etc/nginx/snippets /etc/nginx/html
cp -r "$SRC_DIR/conf.d" "$SRC_DIR/snippets" "$SRC_DIR/html" /etc/nginx/
install -m 0644 "$SRC_DIR/nginx.conf" /etc/nginx/nginx.conf
install -m 0755 "$SRC_DIR/docker-entrypoint.sh" /usr/local/sbin/zufang-nginx-render

log "3/6 TLS certificate"
install -d -m 0750 /etc/nginx/tls
if [[ -n $TLS_SECRET_ARN ]]; then
  # The secret is JSON {"certificate": "<PEM chain>", "private_key": "<PEM key>"}.
  secret "$TLS_SECRET_ARN" | python3 -c '
import json, os, sys
doc = json.load(sys.stdin)
for key, path in (("certificate", "/etc/nginx/tls/tls.crt"), ("private_key", "/etc/nginx/tls/tls.key")):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(doc[key])
'
elif [[ ! -s /etc/nginx/tls/tls.crt ]]; then
  # No certificate configured: a self-signed one keeps :443 answering until a real one is set.
  log "no TLS_SECRET_ARN: making a self-signed certificate for $SERVER_NAME"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$SERVER_NAME" \
    -keyout /etc/nginx/tls/tls.key -out /etc/nginx/tls/tls.crt 2>/dev/null
  chmod 0600 /etc/nginx/tls/tls.key
fi

log "4/6 nginx under systemd with the repository's prefix"
# The package started nginx with Debian's own configuration and pid file: stop it under the old
# unit definition before the drop-in changes where systemd looks for the pid.
systemctl stop nginx || true
install -d /etc/systemd/system/nginx.service.d /var/log/nginx
cat > /etc/systemd/system/nginx.service.d/zufang.conf <<'UNIT'
# The repository's nginx.conf resolves pid, temp and html against the prefix (-p /etc/nginx/).
[Service]
PIDFile=/etc/nginx/run/nginx.pid
ExecStartPre=
ExecStartPre=/usr/sbin/nginx -p /etc/nginx/ -c /etc/nginx/nginx.conf -t -q
ExecStart=
ExecStart=/usr/sbin/nginx -p /etc/nginx/ -c /etc/nginx/nginx.conf
ExecReload=
ExecReload=/usr/sbin/nginx -p /etc/nginx/ -c /etc/nginx/nginx.conf -s reload
ExecStop=
ExecStop=-/sbin/start-stop-daemon --quiet --stop --retry QUIT/5 --pidfile /etc/nginx/run/nginx.pid
# access_log /dev/stdout cannot be opened on journald's socket: give stdout a file instead.
StandardOutput=append:/var/log/nginx/access.json.log
Restart=always
RestartSec=2
UNIT
cat > /etc/logrotate.d/zufang-nginx <<'ROTATE'
/var/log/nginx/access.json.log {
    daily
    rotate 14
    compress
    missingok
    notifempty
    # nginx writes through the unit's stdout descriptor, which a rename would not follow.
    copytruncate
}
ROTATE
systemctl daemon-reload
/usr/local/sbin/zufang-edge-upstreams --no-reload
systemctl enable nginx
systemctl restart nginx

log "5/6 keepalived (unicast VRRP to $PEER_IP, Elastic IP $EIP_ALLOCATION_ID on MASTER)"
install -d -m 0755 /etc/keepalived
for f in render.sh notify.sh notify-fifo.sh check_nginx.sh notify-eip-aws.sh; do
  install -o root -g root -m 0755 "$SRC_DIR/keepalived/$f" "/etc/keepalived/$f"
done
install -o root -g root -m 0644 "$SRC_DIR/keepalived/keepalived.conf.tmpl" /etc/keepalived/keepalived.conf.tmpl
INTERFACE=$(ip -o -4 route show default | awk '{print $5; exit}')
[[ -n $INTERFACE ]] || die "no default route: cannot tell the interface"
# No secret here: VRRPv3 has no password; the peer check and the security group protect the pair
# (nginx/keepalived/README.md). VRRP_MIN_TTL stays empty: the TTL check is for peers on one segment,
# and the two nodes sit in two subnets.
export INTERFACE KEEPALIVED_DIR=/etc/keepalived VIP_PREFIX=32
/etc/keepalived/render.sh /etc/keepalived/keepalived.conf.tmpl > /etc/keepalived/keepalived.conf.new
mv /etc/keepalived/keepalived.conf.new /etc/keepalived/keepalived.conf
cat > /etc/default/keepalived <<DEFAULTS
# Written by edge-bootstrap.sh. The hooks read these (keepalived passes its environment on).
DAEMON_ARGS="--log-console --log-detail"
AWS_REGION=$AWS_REGION
NGINX_PID_FILE=/etc/nginx/run/nginx.pid
CHECK_URL=http://127.0.0.1:8081/healthz
DEFAULTS
systemctl enable keepalived
systemctl restart keepalived

log "6/6 upstream refresh timer"
systemctl enable --now zufang-edge-upstreams.timer
log "done: $NODE_NAME is up (priority $PRIORITY)"
