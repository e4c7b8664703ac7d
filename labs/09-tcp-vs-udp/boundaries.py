#!/usr/bin/env python3
"""Lab 09: does the receiver get the messages the sender sent, or only bytes?

The sender makes COUNT separate send() calls of SIZE bytes each, over TCP or UDP. The
receiver waits half a second, so everything has arrived, then reads with a 64 KiB buffer and
prints what each read returned. UDP keeps each datagram whole and apart (one read, one
datagram); TCP hands over a stream of bytes and forgets where one send() ended.

usage: boundaries.py serve tcp|udp PORT
       boundaries.py send tcp|udp HOST PORT COUNT SIZE
"""
import socket
import sys
import time

BUFFER = 65536


def serve(proto, port):
    if proto == "tcp":
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::", port))
        listener.listen(1)
        listener.settimeout(20)
        conn, _ = listener.accept()
        time.sleep(0.5)
        sizes = []
        while True:
            data = conn.recv(BUFFER)
            if not data:
                break
            sizes.append(len(data))
            print(f"read {len(data)} bytes")
        conn.close()
    else:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
        sock.settimeout(20)
        data = sock.recv(BUFFER)
        time.sleep(0.5)
        sizes = [len(data)]
        print(f"read {len(data)} bytes")
        sock.settimeout(0.5)
        while True:
            try:
                data = sock.recv(BUFFER)
            except socket.timeout:
                break
            sizes.append(len(data))
            print(f"read {len(data)} bytes")
    word = "read" if len(sizes) == 1 else "reads"
    print(f"{proto.upper()}: {len(sizes)} {word}, {sum(sizes)} bytes in all")


def send(proto, host, port, count, size):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    address = socket.getaddrinfo(host, port, socket.AF_INET, kind)[0][4]
    sock = socket.socket(socket.AF_INET, kind)
    sock.connect(address)
    for number in range(count):
        sock.send(bytes([ord("a") + number % 26]) * size)
    sock.close()
    print(f"{proto.upper()}: {count} send() calls of {size} bytes")


def main(argv):
    if len(argv) == 4 and argv[1] == "serve" and argv[2] in ("tcp", "udp"):
        serve(argv[2], int(argv[3]))
    elif len(argv) == 7 and argv[1] == "send" and argv[2] in ("tcp", "udp"):
        send(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
    else:
        usage = __doc__.strip().splitlines()[-2:]
        print("\n".join(line.strip() for line in usage), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
