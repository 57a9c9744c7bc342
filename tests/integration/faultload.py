#!/usr/bin/env python3
"""Paced load for the fault tests (15-faults.sh): RATE requests a second
for SECONDS over THREADS keep-alive connections, each request timed.

    faultload.py click URL SECONDS RATE THREADS OUT
    faultload.py postback URL SECONDS RATE THREADS OUT KEY CLICKIDS PREFIX

click: GET URL with a browser's headers, each from its own address.
postback: GET URL?click_id=<one of the CLICKIDS file>&transaction_id=
PREFIX-<n>&amount=10.00 with the advertiser KEY, each a new conversion.
OUT gets one line per request: start (epoch ms), latency (ms), HTTP status
(000 when the connection failed), and the X-Click-Id (click) or the
transaction id (postback). The schedule is fixed (request n is due at
t0 + n/RATE), so a slow answer does not lower the rate of the others.
"""
import http.client
import random
import sys
import threading
import time
import urllib.parse

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")


def main():
    kind, url, seconds, rate, nthreads, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
        float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    key = ids = prefix = None
    if kind == "postback":
        key, prefix = sys.argv[7], sys.argv[9]
        ids = [l.strip() for l in open(sys.argv[8]) if l.strip()]
    u = urllib.parse.urlsplit(url)
    lock = threading.Lock()
    lines = []
    counter = [0]
    t0 = time.monotonic()
    wall0 = time.time()

    def worker(tid):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        n = tid
        while True:
            due = t0 + n / rate
            if due - t0 >= seconds:
                break
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
            with lock:
                counter[0] += 1
                k = counter[0]
            ip = "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255), random.randint(1, 254))
            if kind == "click":
                path, tag = u.path + ("?" + u.query if u.query else ""), ""
                hdrs = {"User-Agent": UA, "Accept-Language": "en", "X-Forwarded-For": ip}
            else:
                tag = "%s-%d" % (prefix, k)
                path = "%s?click_id=%s&transaction_id=%s&amount=10.00" % (u.path, ids[k % len(ids)], tag)
                hdrs = {"X-API-Key": key, "X-Forwarded-For": ip}
            s = time.monotonic()
            status = "000"
            try:
                c.request("GET", path, headers=hdrs)
                r = c.getresponse()
                r.read()
                status = str(r.status)
                if kind == "click":
                    tag = r.getheader("X-Click-Id") or ""
            except Exception:
                c.close()
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            lat = (time.monotonic() - s) * 1000
            with lock:
                lines.append("%d\t%.2f\t%s\t%s" % ((wall0 + (s - t0)) * 1000, lat, status, tag))
            n += nthreads
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "w") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))


if __name__ == "__main__":
    main()
