#!/usr/bin/env python3
"""Sends N clicks to a tracking URL, C at a time (one connection per click,
each with its own X-Forwarded-For from the 73.0.0.0/8 range, US in the
packaged geo database, unless --ip gives one address for all), and prints
one JSON object: counts per answer ("302 <location without query>",
"403", ...), the elapsed seconds and the clicks per second.
usage: clicks.py URL N C [--ip ADDR] [--ua UA] [--base K] [Header: value]..."""
import concurrent.futures
import http.client
import json
import sys
import time
import urllib.parse
from collections import Counter

args = sys.argv[1:]
url, n, c = args[0], int(args[1]), int(args[2])
ip, ua, base, headers = None, None, 0, {}
i = 3
while i < len(args):
    if args[i] == "--ip":
        ip = args[i + 1]; i += 2
    elif args[i] == "--ua":
        ua = args[i + 1]; i += 2
    elif args[i] == "--base":
        base = int(args[i + 1]); i += 2
    else:
        k, v = args[i].split(": ", 1); headers[k] = v; i += 1
if ua is None:
    ua = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
u = urllib.parse.urlsplit(url)
path = u.path + ("?" + u.query if u.query else "")


def one(k):
    h = {"User-Agent": ua, "Accept-Language": "en-US,en;q=0.9"}
    h.update(headers)
    k += base
    h["X-Forwarded-For"] = ip or "73.%d.%d.%d" % (k // 62500 % 250, k // 250 % 250, k % 250 + 1)
    for attempt in range(3):
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            conn.request("GET", path, headers=h)
            r = conn.getresponse()
            r.read()
            loc = r.getheader("Location") or ""
            conn.close()
            return "%d %s" % (r.status, loc.split("?")[0]) if loc else str(r.status)
        except OSError:
            time.sleep(0.05)
    return "error"


t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(max_workers=c) as ex:
    counts = Counter(ex.map(one, range(n)))
dt = time.monotonic() - t0
print(json.dumps({"counts": counts, "elapsed": round(dt, 3), "rate": round(n / dt, 1)}))
