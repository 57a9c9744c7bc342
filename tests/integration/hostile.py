#!/usr/bin/env python3
"""Hostile input table: malicious and malformed requests, each sent raw over
a socket (so NUL bytes, invalid UTF-8 and odd framing reach nginx as they
are) and each checked for the right 4xx (or, where the route must still
answer, its normal status) and for never reflecting the payload unescaped:
no injected header line, no raw markup or quote of the payload in a body or
a Location. Prints PASS:/FAIL: lines like lib.sh; run by 80-hostile.sh.

usage: hostile.py PORT DEMO_CODE ADMIN_KEY [--show]
"""
import json
import re
import socket
import sys

PORT = int(sys.argv[1])
DEMO = sys.argv[2]
KEY = sys.argv[3]
SHOW = "--show" in sys.argv
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")
failed = 0
count = 0


def send(raw, timeout=10):
    """One request on its own connection; returns (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0] if lines else b"")
    status = int(m.group(1)) if m else 0
    headers = [l.decode("latin-1") for l in lines[1:]]
    if any(h.lower() == "transfer-encoding: chunked" for h in headers):
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return status, headers, body


sent = 0


def request(method, target, headers=(), body=b""):
    # A client address of its own per request (nginx trusts X-Forwarded-For
    # from loopback), so the per-address limit on failed key checks answers
    # none of them 429 in place of the status under test.
    global sent
    sent += 1
    xff = f"X-Forwarded-For: 198.18.{sent // 250}.{sent % 250 + 1}".encode()
    h = [f"{method} ".encode() + target + b" HTTP/1.1", b"Host: 127.0.0.1",
         b"User-Agent: " + UA.encode(), b"Accept-Language: en-US,en;q=0.9", b"Connection: close", xff]
    h += [x if isinstance(x, bytes) else x.encode("latin-1") for x in headers]
    if body or method in ("POST", "PATCH"):
        h.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(h) + b"\r\n\r\n" + body


def result(name, ok, why=""):
    global failed, count
    count += 1
    if ok:
        print(f"PASS: hostile: {name}")
    else:
        failed += 1
        print(f"FAIL: hostile: {name} ({why})")


# What must never come back: an injected header line, or the payload's
# markup/quotes raw in a body (JSON escapes '"' as \", and never emits '<'
# from a value unescaped is not guaranteed by JSON, so the error bodies must
# not echo values at all) or in the Location header.
DANGER = [b"<script", b"\r\nSet-Cookie: injected", b"injected=1", b"' OR 1=1", b"\x00",
          b"alert(1)", b"$(reboot)", b"DROP TABLE"]


def check(name, raw, want, location_from_demo=False):
    try:
        status, headers, body = send(raw)
    except OSError as e:
        result(name, False, f"no answer: {e}")
        return
    if SHOW:
        print(f"SHOW {status} {name}")
    problems = []
    if status not in want:
        problems.append(f"status {status}, want {sorted(want)}")
    for h in headers:
        if h.lower().startswith("set-cookie:") or h.lower().startswith("injected"):
            problems.append(f"injected header {h[:80]!r}")
    ctype = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("content-type:")), "")
    if not ctype.startswith("image/"):
        for d in DANGER:
            if d in body:
                problems.append(f"payload reflected in body ({d!r})")
    if 400 <= status < 500 and ctype.startswith("application/json"):
        try:
            err = json.loads(body)
            if not isinstance(err.get("error", {}).get("code"), str):
                problems.append("error body without error.code")
        except ValueError:
            problems.append("error body is not JSON")
    if location_from_demo and status == 302:
        loc = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("location:")), "")
        # Only URL characters: everything a value brought in is %-encoded.
        if not re.fullmatch(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{}]*", loc):
            problems.append(f"raw characters in Location {loc[:120]!r}")
        for d in ("<", '"', " ", "\\"):
            if d in loc:
                problems.append(f"{d!r} in Location")
    result(name, not problems, "; ".join(problems))


# Payloads as they appear in a URL (already %-encoded where a client would),
# and whether the query string they are in is still well-formed.
PAYLOADS = [
    ("sql injection", b"'%20OR%201=1--", True),
    ("sql stacked", b"1;DROP%20TABLE%20clicks", True),
    ("xss", b"%3Cscript%3Ealert(1)%3C/script%3E", True),
    ("xss raw", b"<script>alert(1)</script>", True),
    ("header injection", b"x%0d%0aSet-Cookie:%20injected=1", True),
    ("lf injection", b"x%0aSet-Cookie:%20injected=1", True),
    ("nul byte", b"a%00b", False),
    ("invalid utf-8", b"%C3%28%FF%FE", True),
    ("overlong utf-8", b"%C0%AF%E0%80%AF", True),
    ("utf-16 surrogate", b"%ED%A0%80", True),
    ("malformed escape", b"%zz", False),
    ("truncated escape", b"abc%4", False),
    ("path traversal", b"..%2f..%2f..%2fetc%2fpasswd", True),
    ("json breakout", b"%22%7D%2C%22status%22%3A%22approved", True),
    ("format string", b"%25s%25s%25n%25x", True),
    ("shell", b"%24(reboot)%60id%60", True),
    ("long value", b"A" * 3000, True),
    ("control characters", b"%01%02%1b%5B31m%7f", True),
    ("bidi override", b"%E2%80%AEtxt.exe", True),
    ("backslashes", b"%5C%5C%5C%22", True),
    ("ldap", b"*)(uid=*))(%7C(uid=*", True),
    ("many ampersands", b"&" * 500, True),
    ("emoji", b"%F0%9F%98%80", True),
    ("plus signs", b"+++", True),
]

ADMIN = "X-API-Key: " + KEY


def table():
    for name, p, wellformed in PAYLOADS:
        # Click on an unknown code: 404 whatever the sub-ids hold.
        check(f"unknown link, sub1 {name}", request("GET", b"/c/nosuchcode?sub1=" + p), {404})
        # Click on the demo link: still redirected, the value encoded in Location.
        check(f"demo link, sub1 {name}", request("GET", f"/c/{DEMO}?sub1=".encode() + p), {302},
              location_from_demo=True)
        # Link code itself hostile: no such link (or not a code at all).
        check(f"link code {name}", request("GET", b"/c/" + p), {400, 404})
        # Postback without a key: 401 before anything is looked at.
        check(f"postback without key, click_id {name}", request("GET", b"/postback?click_id=" + p), {401})
        # Postback with a key: the click id is refused or not found, never a 5xx.
        check(f"postback click_id {name}", request("GET", b"/postback?click_id=" + p, [ADMIN]),
              {400, 404} if wellformed else {400})
        # Postback, JSON body with the decoded payload as the transaction id.
        val = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), p)
        js = b'{"click_id":"0000000000000000000000000000","transaction_id":"' + \
            val.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n").replace(b"\r", b"\\r") + b'"}'
        check(f"postback JSON transaction_id {name}",
              request("POST", b"/postback", [ADMIN, "Content-Type: application/json"], js), {400, 404})
        # Stats with a hostile date.
        check(f"stats from {name}", request("GET", b"/api/stats?to=2026-01-01&from=" + p, [ADMIN]), {400})
        # Admin resource id.
        check(f"admin offer id {name}", request("GET", b"/admin/offers/" + p, [ADMIN]), {400, 404})
        # The payload as an API key.
        hdr = b"X-API-Key: " + re.sub(rb"%0[da]|%00|[\r\n\x00]", b"", val)
        check(f"API key {name}", request("GET", b"/admin/offers", [hdr]), {401})

    # Bodies and framing.
    check("body over the app limit (100 KB JSON)",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"], b'{"a":"' + b"x" * 100000 + b'"}'),
          {413})
    check("body over nginx's limit (2 MB)",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"], b"x" * 2_000_000), {413})
    check("JSON nested 100000 deep",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"], b"[" * 60000), {400, 413})
    check("JSON with trailing garbage",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"], b'{"click_id":"x"} {}'), {400})
    check("JSON not an object",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"], b'["click_id"]'), {400})
    check("JSON amount is an object",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"],
                  b'{"click_id":"0000000000000000000000000000","amount":{"$gt":0}}'), {400})
    check("JSON amount 1e309",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"],
                  b'{"click_id":"0000000000000000000000000000","amount":1e309}'), {400})
    check("JSON invalid UTF-8 string",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"],
                  b'{"click_id":"\xc3\x28\xff"}'), {400})
    check("JSON NUL escape",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"],
                  b'{"click_id":"abc\\u0000def"}'), {400})
    check("JSON duplicate keys",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"],
                  b'{"click_id":"x","click_id":"%3Cscript%3E"}'), {400, 404})
    check("XML body as JSON",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/json"], b"<?xml version='1.0'?><a/>"), {400})
    check("XML content type",
          request("POST", b"/postback", [ADMIN, "Content-Type: text/xml"], b"<click_id>x</click_id>"), {400})
    check("form body with malformed escapes",
          request("POST", b"/postback", [ADMIN, "Content-Type: application/x-www-form-urlencoded"], b"click_id=%zz"), {400})
    check("multipart body",
          request("POST", b"/postback", [ADMIN, "Content-Type: multipart/form-data; boundary=x"],
                  b"--x\r\nContent-Disposition: form-data; name=\"click_id\"\r\n\r\nabc\r\n--x--\r\n"), {400})
    check("admin create with a JSON array", request("POST", b"/admin/advertisers", [ADMIN, "Content-Type: application/json"], b"[1,2]"), {400})
    check("admin create with broken JSON", request("POST", b"/admin/advertisers", [ADMIN, "Content-Type: application/json"], b'{"name":'), {400})
    check("admin name of the wrong type",
          request("POST", b"/admin/advertisers", [ADMIN, "Content-Type: application/json"], b'{"name":1}'), {400})

    # Headers and request lines.
    check("header over nginx's buffers (40 KB cookie)", request("GET", b"/health", ["Cookie: a=" + "x" * 40000]), {400, 431, 494})
    check("URI over nginx's buffers (40 KB)", request("GET", b"/c/" + b"a" * 40000), {414, 400})
    check("API key 10 KB", request("GET", b"/admin/offers", ["X-API-Key: " + "a" * 10000]), {401})
    check("Bearer with junk", request("GET", b"/admin/offers", ["Authorization: Bearer \x01\x02<script>"]), {401})
    check("Basic auth instead of a key", request("GET", b"/admin/offers", ["Authorization: Basic YWRtaW46YWRtaW4="]), {401})
    check("unknown method", request("BREW", b"/health"), {405, 400})
    check("TRACE", request("TRACE", b"/health"), {405})
    check("method on the wrong route", request("DELETE", b"/postback", [ADMIN]), {405})
    check("absolute URI to another host", request("GET", b"http://evil.example/c/nosuchcode"), {404, 400})
    check("encoded slash in the code", request("GET", b"/c/abc%2F..%2Fhealth"), {400, 404})
    check("dot segments to the admin API", request("GET", b"/c/../admin/offers"), {401, 404})
    check("NUL in the path", request("GET", b"/c/abc%00def"), {400, 404})
    check("raw NUL in the request line", request("GET", b"/c/abc\x00def"), {400})
    check("Content-Length and chunked together",
          b"POST /postback HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
          b"Connection: close\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\n\r\n", {400, 401})
    check("negative Content-Length",
          b"POST /postback HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n", {400})
    check("HTTP/0.9 style request", b"GET /health\r\n\r\n", {0, 400})
    check("pixel with hostile values still answers the GIF",
          request("GET", b"/pixel?click_id=%3Cscript%3E&transaction_id=%0d%0aSet-Cookie:%20injected=1"), {200})


table()
print(f"hostile: {count} requests, {failed} failed", file=sys.stderr)
sys.exit(1 if failed else 0)
