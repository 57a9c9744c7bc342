#!/usr/bin/env python3
"""A small affiliate postback receiver on loopback for the tests: answers
500 to the first FAIL requests and 200 after that, and appends
"<status> <path>" for every request to LOG.
usage: pb-receiver.py PORTFILE LOG FAIL   (writes the port it listens on to PORTFILE)"""
import http.server
import sys

portfile, log, fail = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = 0


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global seen
        seen += 1
        code = 500 if seen <= fail else 200
        with open(log, "a") as f:
            f.write("%d %s\n" % (code, self.path))
        body = b"nope" if code == 500 else b"ok"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(portfile, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
