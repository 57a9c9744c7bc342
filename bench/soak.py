#!/usr/bin/env python3
"""Load client of bench/soak.sh: paced mixed traffic for a fixed time.

    soak.py URL ADMIN_KEY LINK_PATH SECONDS CLICKS_PER_S POSTBACKS_PER_S ADMIN_PER_S OUT

Clicks on LINK_PATH, each from its own address (X-Forwarded-For, trusted
from loopback by the local stack) with a browser's headers; postbacks on
click ids this client received at least 10 s before (so ingest has stored
most of them; 202 pending_click is a normal answer too), each with its own
transaction_id; admin reads (offers, links, health). Every request is
timed; unexpected statuses and connection errors are counted. Each kind
runs on its own threads with keep-alive connections and a schedule (the
request due at t0 + n/rate), so the rate stays flat when answers slow down
and the machine is never saturated. Writes OUT (JSON) at the end and a
progress line per minute on stderr.
"""
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")


class Kind:
    def __init__(self, name, ok):
        self.name, self.ok = name, ok
        self.lock = threading.Lock()
        self.n = self.bad = self.errors = 0
        self.statuses = {}
        self.lat = []  # ms
        self.bad_samples = []

    def note(self, status, ms, body=b""):
        with self.lock:
            self.n += 1
            self.lat.append(ms)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status not in self.ok:
                self.bad += 1
                if len(self.bad_samples) < 10:
                    self.bad_samples.append("%s %s" % (status, body[:200]))

    def error(self, what):
        with self.lock:
            self.errors += 1
            if len(self.bad_samples) < 10:
                self.bad_samples.append(what)

    def summary(self):
        lat = sorted(self.lat)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(len(lat) * p))], 2) if lat else None
        return {"requests": self.n, "unexpected_status": self.bad, "connection_errors": self.errors,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
                "max_ms": round(lat[-1], 2) if lat else None, "samples": self.bad_samples}


def main():
    url, key, link, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    rates = {"click": float(sys.argv[5]), "postback": float(sys.argv[6]), "admin": float(sys.argv[7])}
    out = sys.argv[8]
    u = urllib.parse.urlsplit(url)
    kinds = {"click": Kind("click", {302}), "postback": Kind("postback", {200, 202}),
             "admin": Kind("admin", {200})}
    ids = []  # (monotonic time received, click id)
    ids_lock = threading.Lock()
    t0 = time.monotonic()
    end = t0 + seconds
    run = "%x" % random.getrandbits(40)

    def conn():
        return http.client.HTTPConnection(u.hostname, u.port, timeout=20)

    def one(c, kind, n, tid):
        if kind == "click":
            ip = "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255), random.randint(1, 254))
            c.request("GET", link + "?sub1=soak&sub2=%s" % run,
                      headers={"User-Agent": UA, "Accept-Language": "en-US,en;q=0.9", "X-Forwarded-For": ip})
        elif kind == "postback":
            with ids_lock:
                now = time.monotonic()
                ready = [i for t, i in ids[-5000:] if now - t >= 10]
            if not ready:
                return None
            cid = random.choice(ready)
            ip = "10.200.%d.%d" % (random.randint(0, 255), random.randint(1, 254))
            c.request("GET", "/postback?click_id=%s&transaction_id=soak-%s-%d-%d&amount=12.50" % (cid, run, tid, n),
                      headers={"X-API-Key": key, "X-Forwarded-For": ip})
        else:
            path = ("/admin/offers?limit=20", "/admin/links?limit=20", "/admin/health")[n % 3]
            c.request("GET", path, headers={"X-API-Key": key, "X-Forwarded-For": "10.201.0.%d" % (tid + 1)})
        r = c.getresponse()
        body = r.read()
        if kind == "click" and r.status == 302:
            cid = r.getheader("X-Click-Id")
            if cid:
                with ids_lock:
                    ids.append((time.monotonic(), cid))
                    if len(ids) > 20000:
                        del ids[:10000]
        return r.status, body

    def worker(kind, tid, nthreads):
        k = kinds[kind]
        rate = rates[kind] / nthreads
        if rate <= 0:
            return
        c = conn()
        n = 0
        while True:
            due = t0 + (n + tid / nthreads) / rate
            if due >= end:
                break
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
            n += 1
            s = time.monotonic()
            try:
                res = one(c, kind, n, tid)
            except Exception as e:  # connection reset, timeout: counted, new connection
                k.error("%s: %s" % (type(e).__name__, e))
                c.close()
                c = conn()
                continue
            if res is not None:
                k.note(res[0], (time.monotonic() - s) * 1000, res[1])
        c.close()

    threads = []
    for kind, nthreads in (("click", 6), ("postback", 2), ("admin", 1)):
        for tid in range(nthreads):
            t = threading.Thread(target=worker, args=(kind, tid, nthreads), daemon=True)
            t.start()
            threads.append(t)
    last = t0
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        if time.monotonic() - last >= 60:
            last = time.monotonic()
            print("soak: %4.0f s: %s" % (last - t0, ", ".join(
                "%s %d (bad %d, errors %d)" % (n, k.n, k.bad, k.errors) for n, k in kinds.items())),
                file=sys.stderr, flush=True)
    res = {n: k.summary() for n, k in kinds.items()}
    res["seconds"] = round(time.monotonic() - t0, 1)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
