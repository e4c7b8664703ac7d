#!/usr/bin/env python3
"""Lab 05's listener: `listener.py PORT BACKLOG accept|never`.

`accept` takes every finished handshake off the accept queue and closes it at once (a server
that keeps up). `never` listens but never calls accept(), so after BACKLOG (+1) finished
handshakes the accept queue is full: the kernel then drops every new SYN without a SYN-ACK
and counts it in ListenOverflows (a server that is stuck).
"""
import socket
import sys
import time

port, backlog, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
server.bind(("::", port))
server.listen(backlog)
while True:
    if mode == "accept":
        connection, _ = server.accept()
        connection.close()
    else:
        time.sleep(3600)
