#!/usr/bin/env python3
"""A TCP proxy for the fault tests (15-faults.sh) whose behaviour is changed
while it runs:

    faultproxy.py serve LISTEN_PORT TARGET CONTROL_SOCKET &
        TARGET: host:port or unix:/path
    faultproxy.py set CONTROL_SOCKET MODE [ARG]
        pass          forward both ways (the start)
        delay MS      forward each chunk MS milliseconds after it arrived
        blackhole     accept and keep connections but forward nothing: held
                      bytes stay in the socket buffers (the peer's kernel
                      still acknowledges them, like a hung server), and
                      flow again with the next pass or delay
        reset         reset (RST) every connection, and each new one at once
    faultproxy.py stats CONTROL_SOCKET
        accepted, open and reset connection counts, as JSON

The mode applies to connections already open as much as to new ones.
"""
import asyncio
import json
import os
import socket
import struct
import sys


class Proxy:
    def __init__(self, target):
        self.target = target
        self.mode = "pass"
        self.delay_ms = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.conns = set()  # (client writer, upstream writer or None)
        self.accepted = self.resets = 0

    def set_mode(self, mode, arg):
        if mode not in ("pass", "delay", "blackhole", "reset"):
            return "unknown mode"
        self.mode = mode
        self.delay_ms = int(arg) if mode == "delay" and arg else 0
        if mode == "blackhole":
            self.flowing.clear()
        else:
            self.flowing.set()
        if mode == "reset":
            for c in list(self.conns):
                self.reset(c)
        return "ok"

    def reset(self, c):
        for w in c:
            if w is None:
                continue
            sock = w.get_extra_info("socket")
            try:
                # SO_LINGER 0: close() sends RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            w.transport.abort()
        self.conns.discard(c)
        self.resets += 1

    async def pump(self, reader, writer, c):
        try:
            while True:
                await self.flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                if self.delay_ms:
                    await asyncio.sleep(self.delay_ms / 1000)
                await self.flowing.wait()  # blackholed while it waited: hold it
                if c not in self.conns:
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        if c in self.conns:
            self.conns.discard(c)
            for w in c:
                if w is not None:
                    w.close()

    async def client(self, creader, cwriter):
        self.accepted += 1
        c = (cwriter, None)
        self.conns.add(c)
        if self.mode == "reset":
            self.reset(c)
            return
        # A connection made during a blackhole waits, unconnected upstream.
        await self.flowing.wait()
        if c not in self.conns:
            return
        try:
            if self.target.startswith("unix:"):
                ureader, uwriter = await asyncio.open_unix_connection(self.target[5:])
            else:
                host, port = self.target.rsplit(":", 1)
                ureader, uwriter = await asyncio.open_connection(host, int(port))
        except OSError:
            self.conns.discard(c)
            cwriter.close()
            return
        self.conns.discard(c)
        c = (cwriter, uwriter)
        self.conns.add(c)
        await asyncio.gather(self.pump(creader, uwriter, c), self.pump(ureader, cwriter, c))

    async def control(self, reader, writer):
        line = (await reader.readline()).decode().split()
        if line and line[0] == "stats":
            out = json.dumps({"mode": self.mode, "accepted": self.accepted, "open": len(self.conns),
                              "resets": self.resets})
        elif line:
            out = self.set_mode(line[0], line[1] if len(line) > 1 else None)
        else:
            out = "empty command"
        writer.write((out + "\n").encode())
        await writer.drain()
        writer.close()


async def serve(port, target, ctl):
    p = Proxy(target)
    if os.path.exists(ctl):
        os.unlink(ctl)
    srv = await asyncio.start_server(p.client, "127.0.0.1", port, reuse_address=True, backlog=512)
    csrv = await asyncio.start_unix_server(p.control, ctl)
    async with srv, csrv:
        await asyncio.gather(srv.serve_forever(), csrv.serve_forever())


def send(ctl, words):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(ctl)
    s.sendall((" ".join(words) + "\n").encode())
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    return out.decode().strip()


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "set":
        r = send(sys.argv[2], sys.argv[3:])
        print(r)
        sys.exit(0 if r == "ok" else 1)
    elif len(sys.argv) == 3 and sys.argv[1] == "stats":
        print(send(sys.argv[2], ["stats"]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(64)


if __name__ == "__main__":
    main()
