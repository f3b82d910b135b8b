#!/usr/bin/env python3
"""vrrp_forge.py: send hand-made VRRPv3 adverts (RFC 5798) from a raw socket, with any source address
and TTL, to check what keepalived accepts from whom (test_failover_netns.py runs it in the client
namespace). Needs root (a raw socket). Standard library only."""
import argparse
import socket
import struct
import time

VRRP_PROTO = 112


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def advert(src: str, dst: str, vrid: int, priority: int, vips: list[str], interval_cs: int) -> bytes:
    """One VRRPv3 advertisement; the checksum covers the IPv4 pseudo-header, as RFC 5798 5.2.8 says."""
    addrs = b"".join(socket.inet_aton(v) for v in vips)
    head = struct.pack("!BBBBH", 0x31, vrid, priority, len(vips), interval_cs & 0x0FFF)  # version 3, type 1
    body = head + b"\0\0" + addrs
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, VRRP_PROTO, len(body))
    return head + struct.pack("!H", checksum(pseudo + body)) + addrs


def ip_packet(src: str, dst: str, ttl: int, payload: bytes) -> bytes:
    """An IPv4 header written by hand (the kernel fills in the id and the header checksum)."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, ttl, VRRP_PROTO, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + payload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 usage="vrrp_forge.py --src IP --dst IP --vip IP [--vrid 51] [--priority 255] "
                                       "[--ttl 255] [--interval-cs 20] [--count 4] [--every 0.5]")
    ap.add_argument("--src", required=True, help="source address written into the packet (may be forged)")
    ap.add_argument("--dst", required=True, help="the keepalived node to send to")
    ap.add_argument("--vip", required=True, action="append", help="virtual address listed in the advert")
    ap.add_argument("--vrid", type=int, default=51)
    ap.add_argument("--priority", type=int, default=255)
    ap.add_argument("--ttl", type=int, default=255, help="VRRP speakers send 255")
    ap.add_argument("--interval-cs", type=int, default=20, help="advert interval in hundredths of a second")
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between adverts")
    a = ap.parse_args()
    packet = ip_packet(a.src, a.dst, a.ttl, advert(a.src, a.dst, a.vrid, a.priority, a.vip, a.interval_cs))
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:  # IP_HDRINCL implied
        for i in range(a.count):
            if i:
                time.sleep(a.every)
            s.sendto(packet, (a.dst, 0))


if __name__ == "__main__":
    main()
