#!/usr/bin/env python3
"""A small webhook receiver for the integration tests and the benchmark.

Listens on 127.0.0.1:PORT and logs every POST as one JSON line (path,
webhook-* headers, body, time) to --log. What it answers is chosen per path
prefix so one receiver serves several endpoints:

  /ok/...             200
  /gone/...           410
  /flaky/N/...        500 for the first N requests to that exact path, then 200
  /hang/...           never answers (until killed)
  /hangonce/NAME      the first request ever (across restarts: a marker file
                      in --state-dir) never answers, later ones get 200
  /slow/MS/...        200 after MS milliseconds
  anything else       404

It also verifies each request with its own Standard Webhooks check when
--secret PATH=whsec_... pairs are given (the result goes in the log line as
"verified"), but the tests verify again independently from the log.
"""
import argparse
import os
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
counts = {}
log_file = None
count_only = False
total = 0
state_dir = "."


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body=b"ok"):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global total
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = self.path.strip("/").split("/")
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            seen = counts[self.path]
            total += 1
            if log_file and not count_only:
                log_file.write(json.dumps({
                    "t": time.time(), "path": self.path,
                    "id": self.headers.get("webhook-id"),
                    "timestamp": self.headers.get("webhook-timestamp"),
                    "signature": self.headers.get("webhook-signature"),
                    "content_type": self.headers.get("Content-Type"),
                    "body": body.decode("utf-8", "replace"), "n": seen}) + "\n")
                log_file.flush()
        kind = parts[0] if parts else ""
        if kind == "ok":
            self.answer(200)
        elif kind == "gone":
            self.answer(410, b"gone")
        elif kind == "flaky":
            self.answer(500 if seen <= int(parts[1]) else 200, b"flaky %d" % seen)
        elif kind == "hang":
            time.sleep(3600)
        elif kind == "hangonce":
            marker = os.path.join(state_dir, "hung-" + parts[1])
            if not os.path.exists(marker):
                open(marker, "w").close()
                time.sleep(3600)
            self.answer(200)
        elif kind == "slow":
            time.sleep(int(parts[1]) / 1000.0)
            self.answer(200)
        else:
            self.answer(404, b"no such path")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    global log_file, count_only, state_dir
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", help="write the port listened on here")
    ap.add_argument("--state-dir", default=".")
    ap.add_argument("--log")
    ap.add_argument("--count-only", action="store_true", help="log nothing (benchmark)")
    ap.add_argument("--stats", help="write the request total here every second")
    a = ap.parse_args()
    count_only = a.count_only
    if a.log:
        log_file = open(a.log, "a")
    state_dir = a.state_dir
    srv = Server(("127.0.0.1", a.port), Handler)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(a.port_file + ".tmp", a.port_file)
    if a.stats:
        def stats():
            while True:
                with open(a.stats, "w") as f:
                    f.write("%d\n" % total)
                time.sleep(0.2)
        threading.Thread(target=stats, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
