#!/usr/bin/env python3
"""Hostile DNS responders for wirelab-dig's tests (lab 03): each mode misbehaves in one way a
real client must survive. Run inside a lab node; listens on port 53 (UDP, and TCP where the
mode needs it), prints "ready" once bound, and answers until killed or until it has served
--limit queries.

Modes:
  wrong-id     a reply with the wrong ID (data 192.0.2.66) first, then the right one
  cut512       40 A records cut at 512 bytes mid-record with TC set; the full answer on TCP
  tc-no-tcp    TC set on UDP, and no TCP listener (the retry is refused)
  tc-over-tcp  TC set on UDP, and TC set on the TCP reply too (a client must not loop)
  silent       never replies
  partial-tc   TC set on a reply that parses (10 of 40 records); the full answer on TCP
"""
import signal
import socket
import struct
import sys
import threading

MODE = sys.argv[1]
RECORDS = 40


def question_end(query):
    """Offset just past the question (name, type, class) of a query."""
    at = 12
    while query[at] != 0:
        at += 1 + query[at]
    return at + 1 + 4


def reply(query, count, flags=0x8400, qid=None, first=1):
    """A reply to `query` with `count` A records 192.0.2.first.. (no EDNS)."""
    if qid is None:
        qid = struct.unpack("!H", query[:2])[0]
    rd = struct.unpack("!H", query[2:4])[0] & 0x0100
    header = struct.pack("!HHHHHH", qid, flags | rd, 1, count, 0, 0)
    body = query[12:question_end(query)]
    for i in range(count):
        body += struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + bytes([192, 0, 2, first + i])
    return header + body


def serve_tcp(tc_flag):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 53))
    listener.listen(8)
    connections = 0
    while True:
        conn, _ = listener.accept()
        connections += 1
        print(f"tcp connection {connections}", flush=True)
        with conn:
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if len(data) < 2:
                continue
            query = data[2:]
            answer = reply(query, RECORDS, flags=0x8400 | tc_flag)
            conn.sendall(struct.pack("!H", len(answer)) + answer)


def main():
    # A safety net: the test stops us with SIGTERM, but never outlive a minute.
    signal.alarm(60)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 53))
    if MODE in ("cut512", "partial-tc"):
        threading.Thread(target=serve_tcp, args=(0,), daemon=True).start()
    if MODE == "tc-over-tcp":
        threading.Thread(target=serve_tcp, args=(0x0200,), daemon=True).start()
    print("ready", flush=True)
    while True:
        query, peer = udp.recvfrom(4096)
        print(f"udp query from {peer[0]}", flush=True)
        if MODE == "silent":
            continue
        if MODE == "wrong-id":
            qid = struct.unpack("!H", query[:2])[0]
            udp.sendto(reply(query, 1, qid=qid ^ 0x5A5A, first=66), peer)
            udp.sendto(reply(query, 1), peer)
        elif MODE == "cut512":
            full = reply(query, RECORDS, flags=0x8600)
            udp.sendto(full[:512], peer)
        elif MODE in ("tc-no-tcp", "tc-over-tcp"):
            udp.sendto(reply(query, 0, flags=0x8600), peer)
        elif MODE == "partial-tc":
            udp.sendto(reply(query, 10, flags=0x8600, first=100), peer)


if __name__ == "__main__":
    main()
