#!/usr/bin/env python3
"""Lab 05's patient clients: `clients.py HOST PORT COUNT [TIMEOUT]` opens COUNT connections one
after the other and says how long each handshake took, or that it gave up; then it keeps them
open for two seconds and closes them.

Each connect() waits at most TIMEOUT seconds (default 1), so a server whose queues are full
makes an attempt time out instead of hanging the step. While it waits, the kernel resends the
SYN every second (net.ipv4.tcp_syn_linear_timeouts), and the socket is in state SYN-SENT: a
connection still waiting after 0.1 s says so, read from the kernel (TCP_INFO's tcpi_state).
"""
import os
import select
import socket
import sys
import time

# tcpi_state values (include/net/tcp_states.h)
STATES = {1: "ESTABLISHED", 2: "SYN-SENT", 3: "SYN-RECV", 7: "CLOSE"}

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
opened, failed = [], 0
for number in range(1, count + 1):
    s = socket.socket()
    s.setblocking(False)
    started = time.monotonic()
    s.connect_ex(address)
    said = False
    while True:
        waited = time.monotonic() - started
        left = timeout - waited
        if left <= 0:
            break
        _, writable, _ = select.select([], [s], [], min(left, 0.1) if not said else left)
        if writable:
            break
        if not said:
            state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            print(f"connection {number}: {STATES.get(state, state)} after 0.1 s, waiting for a SYN-ACK", flush=True)
            said = True
    waited = time.monotonic() - started
    error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if waited < timeout and error == 0:
        opened.append(s)
        print(f"connection {number}: connected after {waited:.3f} s", flush=True)
        continue
    failed += 1
    s.close()
    if error:
        print(f"connection {number}: {os.strerror(error)} after {waited:.3f} s", flush=True)
    else:
        print(f"connection {number}: no answer after {timeout:g} s, gave up", flush=True)
print(f"{len(opened)} connected, {failed} failed", flush=True)
time.sleep(2)
