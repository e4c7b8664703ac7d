#!/usr/bin/env python3
"""Lab 05's patient clients: `clients.py HOST PORT COUNT` opens COUNT connections, keeps them
open for two seconds and closes them. Each connect() waits at most 1 s, so a server whose
queues are full makes some attempts time out instead of hanging the step.
"""
import socket
import sys
import time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
opened, failed = [], 0
for _ in range(count):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((host, port))
        opened.append(s)
    except OSError:
        failed += 1
        s.close()
print(f"{len(opened)} connected, {failed} timed out")
time.sleep(2)
