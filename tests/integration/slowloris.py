#!/usr/bin/env python3
"""A slowloris client for the fault tests (15-faults.sh): opens N
connections to HOST:PORT, sends the start of a request on each and then
one more header byte per connection every INTERVAL seconds, never ending
the header, for SECONDS at most. Prints one JSON object: how many
connections opened, how many the server closed, and the longest and
median time a connection was kept open by the server (seconds).
usage: slowloris.py HOST PORT N SECONDS [INTERVAL]"""
import json
import selectors
import socket
import sys
import time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
interval = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
sel = selectors.DefaultSelector()
conns = {}  # socket -> opened at
closed = []  # seconds each was kept
opened = 0
start = time.monotonic()
for i in range(n):
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /c/slowloris HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.59.%d.%d\r\nX-Slow: " %
                  (i // 250, i % 250 + 1))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        conns[s] = time.monotonic()
        opened += 1
    except OSError:
        pass
last = 0.0
while conns and time.monotonic() - start < seconds:
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:  # the server gave up on us (any answer then EOF)
            closed.append(time.monotonic() - conns.pop(s))
            sel.unregister(s)
            s.close()
    if time.monotonic() - last >= interval:
        last = time.monotonic()
        for s in list(conns):
            try:
                s.send(b"a")
            except OSError:
                closed.append(time.monotonic() - conns.pop(s))
                sel.unregister(s)
                s.close()
for s in conns:
    s.close()
closed.sort()
print(json.dumps({"opened": opened, "closed_by_server": len(closed), "still_open": len(conns),
                  "max_kept_s": round(closed[-1], 2) if closed else None,
                  "median_kept_s": round(closed[len(closed) // 2], 2) if closed else None}))
