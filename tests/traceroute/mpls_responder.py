#!/usr/bin/env python3
"""A router that answers like an MPLS core router (tests/traceroute_diff.rs, the -e cases).

Linux routers send no ICMP extensions, so this stands in for one: on the router, nft drops
the probes whose TTL (hop limit) runs out here, before the kernel could answer them, and this
script, which sees them first on a packet socket, answers each with an ICMP (ICMPv6) Time
Exceeded in RFC 4884's form: the quoted datagram padded to 128 bytes, its length in the
header, then an extension structure holding an MPLS label stack object (RFC 4950: label
24001, traffic class 0, bottom of stack, TTL 1).

Usage: mpls_responder.py INTERFACE SECONDS. Prints "ready" once listening, and stops by
itself after SECONDS (every helper a test starts is bounded in time).
"""

import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_HOST = 0


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def extension():
    """Version 2 header, checksum, and one MPLS object with one label stack entry."""
    label, tc, bottom, ttl = 24001, 0, 1, 1
    entry = struct.pack("!I", (label << 12) | (tc << 9) | (bottom << 8) | ttl)
    obj = struct.pack("!HBB", 4 + len(entry), 1, 1) + entry
    header = struct.pack("!BBH", 2 << 4, 0, 0)
    structure = header + obj
    return structure[:2] + struct.pack("!H", checksum(structure)) + structure[4:]


def quote(datagram):
    """The original datagram, cut or zero-padded to exactly 128 bytes (RFC 4884 §5)."""
    return datagram[:128].ljust(128, b"\0")


def answer_v4(raw4, packet):
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return
    ihl = (packet[0] & 0x0F) * 4
    ttl, protocol = packet[8], packet[9]
    if ttl != 1 or protocol not in (1, 17):
        return
    if protocol == 1 and (len(packet) < ihl + 1 or packet[ihl] != 8):
        return  # only echo requests among ICMP
    source = socket.inet_ntoa(packet[12:16])
    # Type 11, code 0; byte 5 is the original datagram's length in 32-bit words.
    body = quote(packet) + extension()
    header = struct.pack("!BBHBBH", 11, 0, 0, 0, 128 // 4, 0)
    message = header + body
    message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
    raw4.sendto(message, (source, 0))


def answer_v6(raw6, packet):
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return
    next_header, hop_limit = packet[6], packet[7]
    if hop_limit != 1 or next_header not in (17, 58):
        return
    if next_header == 58 and (len(packet) < 41 or packet[40] != 128):
        return
    source = socket.inet_ntop(socket.AF_INET6, packet[8:24])
    # Type 3, code 0; byte 4 is the original datagram's length in 64-bit words (RFC 4884).
    header = struct.pack("!BBHBBH", 3, 0, 0, 128 // 8, 0, 0)
    raw6.sendto(header + quote(packet) + extension(), (source, 0))


def main():
    interface, seconds = sys.argv[1], float(sys.argv[2])
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    sniffer.bind((interface, 0))
    raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    raw6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select([sniffer], [], [], left)
        if not readable:
            continue
        packet, address = sniffer.recvfrom(65535)
        if address[2] != PACKET_HOST:
            continue
        if address[1] == 0x0800:
            answer_v4(raw4, packet)
        elif address[1] == 0x86DD:
            answer_v6(raw6, packet)


if __name__ == "__main__":
    main()
