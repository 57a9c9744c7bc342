#!/usr/bin/env python3
"""Fires N identical requests with C at once (threads, one connection each
request) and prints a count per "HTTP status/JSON status" answer, e.g.
"200/recorded 1" lines. Each request presents its own X-Forwarded-For, so
the per-address rate limit of the shipped nginx site does not apply.
usage: burst.py URL N C [Header: value]..."""
import concurrent.futures
import http.client
import json
import sys
import threading
import urllib.parse
from collections import Counter

url, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
headers = dict(h.split(": ", 1) for h in sys.argv[4:])
u = urllib.parse.urlsplit(url)
start = threading.Barrier(min(c, n))


def one(i):
    h = dict(headers)
    h["X-Forwarded-For"] = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255 or 1)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.connect()
    if i < c:
        try:
            start.wait(timeout=30)  # the first C leave together
        except threading.BrokenBarrierError:
            pass
    conn.request("GET", u.path + "?" + u.query, headers=h)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    try:
        st = json.loads(body).get("status", "-")
    except ValueError:
        st = "-"
    return "%d/%s" % (r.status, st)


with concurrent.futures.ThreadPoolExecutor(max_workers=c) as ex:
    counts = Counter(ex.map(one, range(n)))
for k, v in sorted(counts.items()):
    print(k, v)
