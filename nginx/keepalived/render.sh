#!/usr/bin/env bash
# render.sh: print keepalived.conf for one edge node from keepalived.conf.tmpl and the environment.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: render.sh [TEMPLATE] > keepalived.conf      (TEMPLATE defaults to keepalived.conf.tmpl beside this script)
Environment (required unless a default is shown):
  NODE_NAME       lb1 | lb2 (router_id, state file and metric label)
  STATE           BACKUP (MASTER is accepted and rendered as BACKUP: nopreempt needs BACKUP; PRIORITY elects)
  PRIORITY        1..254, e.g. 250 on lb1 and 240 on lb2 (skew (256-p)/256 s: a high backup priority fails over faster)
  SELF_IP         this node's address on INTERFACE (unicast source)
  PEER_IP         the other node's address
  VIP             the virtual address, e.g. 172.28.10.100
  (VRRP_AUTH_PASS is no longer used: VRRPv3 has no authentication; the template's head says what
  protects the pair instead. When still set it is ignored, with a note on stderr.)
  VIP_PREFIX=24  INTERFACE=eth0  VRID=51  KEEPALIVED_DIR=/etc/keepalived
  VRRP_MIN_TTL    empty (no TTL check) or 1..255: drop the peer's adverts that arrive with a lower
                  TTL. 255 where both nodes share one segment (a routed advert came from elsewhere);
                  leave it empty for peers in two subnets (a cloud's two zones)
  NOTIFY_FIFO=/run/keepalived-notify.fifo  the FIFO keepalived writes transitions into for
                  notify-fifo.sh (one per node: two nodes on one filesystem need two paths)
  EIP_ALLOCATION_ID  (cloud only) adds notify_master calling notify-eip-aws.sh with it
USAGE
}
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] && { usage; exit 0; }

here=$(cd "$(dirname "$0")" && pwd)
tmpl=${1:-$here/keepalived.conf.tmpl}
: "${STATE:=BACKUP}" "${VIP_PREFIX:=24}" "${INTERFACE:=eth0}" "${VRID:=51}" "${KEEPALIVED_DIR:=/etc/keepalived}"
: "${EIP_ALLOCATION_ID:=}" "${VRRP_MIN_TTL:=}" "${NOTIFY_FIFO:=/run/keepalived-notify.fifo}"

die() { echo "render.sh: $*" >&2; exit 1; }
for v in NODE_NAME PRIORITY SELF_IP PEER_IP VIP; do
  [[ -n ${!v:-} ]] || die "$v is required (see --help)"
done
ipv4='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
[[ $NODE_NAME =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || die "NODE_NAME must be a short lowercase name: $NODE_NAME"
in_range() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= $2 && $1 <= $3 )); }
in_range "$PRIORITY" 1 254 || die "PRIORITY must be 1..254: $PRIORITY"
in_range "$VRID" 1 255 || die "VRID must be 1..255: $VRID"
in_range "$VIP_PREFIX" 0 32 || die "VIP_PREFIX must be 0..32: $VIP_PREFIX"
for v in SELF_IP PEER_IP VIP; do [[ ${!v} =~ $ipv4 ]] || die "$v must be an IPv4 address: ${!v}"; done
[[ $SELF_IP != "$PEER_IP" ]] || die "SELF_IP and PEER_IP must differ"
if [[ -n ${VRRP_AUTH_PASS:-} ]]; then
  echo "render.sh: VRRP_AUTH_PASS is ignored: VRRPv3 has no authentication (unicast peers with a source and TTL check instead)" >&2
fi
[[ $INTERFACE =~ ^[A-Za-z0-9._@-]{1,15}$ ]] || die "INTERFACE is not an interface name: $INTERFACE"
[[ $NOTIFY_FIFO =~ ^/[A-Za-z0-9._/-]+$ ]] || die "NOTIFY_FIFO must be an absolute path without spaces: $NOTIFY_FIFO"
case $STATE in
  BACKUP) ;;
  MASTER) echo "render.sh: STATE=MASTER rendered as BACKUP (nopreempt); PRIORITY=$PRIORITY decides the first election" >&2
          STATE=BACKUP ;;
  *) die "STATE must be MASTER or BACKUP: $STATE" ;;
esac
PEER_TTL=""
if [[ -n $VRRP_MIN_TTL ]]; then
  in_range "$VRRP_MIN_TTL" 1 255 || die "VRRP_MIN_TTL must be empty or 1..255: $VRRP_MIN_TTL"
  PEER_TTL=" min_ttl $VRRP_MIN_TTL max_ttl 255"
fi
notify_master=""
if [[ -n $EIP_ALLOCATION_ID ]]; then
  [[ $EIP_ALLOCATION_ID =~ ^eipalloc-[0-9a-f]+$ ]] || die "EIP_ALLOCATION_ID must look like eipalloc-0123abcd"
  notify_master="    # Cloud: gratuitous ARP does not move traffic in a VPC; re-associate the Elastic IP.
    notify_master \"$KEEPALIVED_DIR/notify-eip-aws.sh $EIP_ALLOCATION_ID\""
fi

[[ -r $tmpl ]] || die "cannot read template $tmpl"
out=$(<"$tmpl")
for v in NODE_NAME STATE PRIORITY SELF_IP PEER_IP VIP VIP_PREFIX INTERFACE VRID KEEPALIVED_DIR NOTIFY_FIFO; do
  out=${out//@${v}@/${!v}}
done
out=${out//@PEER_TTL@/$PEER_TTL}
out=${out//@NOTIFY_MASTER_LINE@/$notify_master}
! grep -qE "@[A-Z_]+@" <<<"$out" || die "unrendered placeholder left in $tmpl"
printf '%s\n' "$out"
