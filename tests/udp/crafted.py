#!/usr/bin/env python3
"""A hand-made wirelab-udp sender for tests/udp.rs: sends exactly the sequence numbers it is
given, in that order (reordered, repeated, skipped), so the receiver's counting can be checked
against a known answer. Then, if asked, an end datagram and a wait for the report.

usage: crafted.py HOST PORT SESSION SEQS [--size N] [--end COUNT] [--end-size N] [--wait S]
                  [--sessions N]
       SEQS is a comma list, e.g. 0,1,3,2,2,5 ("-" for none); --sessions N sends SEQS for each
       of the sessions SESSION .. SESSION+N-1 (and no end)
Prints one line: "report received=R lost=L reordered=O duplicated=D expected=E" or "no report".
"""
import socket
import struct
import sys
import time

MAGIC = b"WLUD"
HEADER = struct.Struct("!4sBBHIQQ")  # magic, version, kind, zero, session, sequence, sent_at
REPORT = struct.Struct("!11Q")


def datagram(kind, session, sequence, size):
    head = HEADER.pack(MAGIC, 1, kind, 0, session, sequence, time.time_ns())
    return head + bytes(max(0, size - len(head)))


def main(argv):
    host, port, session, seqs = argv[1], int(argv[2]), int(argv[3], 0), argv[4]
    options = dict(zip(argv[5::2], argv[6::2]))
    size = int(options.get("--size", "200"))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.connect((host, port))
    for number in range(session, session + int(options.get("--sessions", "1"))):
        for text in [] if seqs == "-" else seqs.split(","):
            sock.send(datagram(0, number, int(text), size))
            time.sleep(0.002)
    if "--end" not in options:
        print("no end sent")
        return 0
    end = datagram(1, session, int(options["--end"]), int(options.get("--end-size", "200")))
    sock.settimeout(float(options.get("--wait", "1")))
    time.sleep(0.05)
    sock.send(end)
    try:
        answer = sock.recv(2048)
    except (socket.timeout, ConnectionRefusedError):
        print("no report")
        return 0
    _, _, kind, _, got_session, expected, _ = HEADER.unpack_from(answer)
    fields = REPORT.unpack_from(answer, HEADER.size)
    print(
        f"report kind={kind} session={got_session:#x} received={fields[0]} lost={fields[1]} "
        f"reordered={fields[2]} duplicated={fields[3]} expected={expected}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
