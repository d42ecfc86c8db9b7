#!/usr/bin/env python3
"""Hostile clients for p11agentd's bounds (docs/RELIABILITY.md).

    hostile.py flood SOCKET N [options]

Opens N connections, says HELLO on each, then pipelines requests on all
of them without reading a single reply, until the agent stops reading
them (no connection has been writable for --settle seconds) or closes
them.  Then it prints one line

    ready open=O closed=C requests=R rss_peak_kb=P [closed_by=WHY,...]

(O connections still open, C closed by the agent and how they ended, R
requests sent in full) and waits for a line on stdin.  With --drain K it then reads every
reply on K of the connections still open, finishing any request it left
half sent, and prints

    drained conns=K requests=R replies=A once=yes|no

(once=yes: every request id got exactly one reply), then closes all.

Options:
  --list                 send LIST_IDENTITIES (the default)
  --sign ID:BYTES        send SIGN (Ed25519) of BYTES bytes with identity ID
  --mix K                the first K connections send --sign, the rest LIST
  --pid PID --rss-limit-kb KB
                         watch the agent's VmRSS while flooding and stop
                         (so the machine survives an unbounded agent) as
                         soon as it passes KB
  --count N              send at most N requests per connection
  --settle SEC           quiet time that means "the agent stopped reading"
                         (default 2)
  --max-seconds SEC      stop flooding after this long anyway (default 60)
  --drain K              see above
  --close-at-once        with no stdin wait: close right after "ready"
"""
import argparse
import select
import socket
import struct
import sys
import time

HELLO, LIST, SIGN = 0x01, 0x02, 0x03
HELLO_REPLY = 0x81
ED25519 = 0x0807


def frame(mtype, rid, payload=b""):
    return struct.pack(">IBI", 5 + len(payload), mtype, rid) + payload


def string(b):
    return struct.pack(">I", len(b)) + b


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Flooder:
    """One connection that pipelines requests and reads nothing."""

    def __init__(self, path, make_request, count=0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.make_request = make_request
        self.count = count   # 0: no end
        self.pending = b""   # bytes of the request being sent
        self.next_id = 1
        self.sent = 0        # requests sent in full
        self.closed = ""     # why the agent's end is gone, once it is
        self.done = False
        self.rbuf = b""
        self.replies = {}
        self.hello()
        self.s.setblocking(False)

    def hello(self):
        self.s.sendall(frame(HELLO, 0xFFFFFFF0, struct.pack(">HH", 1, 1)
                             + string(b"hostile.py")))
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("agent closed the connection at HELLO")
            buf += chunk
        if buf[4] != HELLO_REPLY:
            raise RuntimeError(f"HELLO answered with type {buf[4]:#x}")

    def fileno(self):
        return self.s.fileno()

    def push(self):
        """Send as much as the socket takes; False when it is full."""
        while True:
            if not self.pending:
                if self.count and self.sent >= self.count:
                    self.done = True
                    return False
                self.pending = self.make_request(self.next_id)
            try:
                n = self.s.send(self.pending)
            except BlockingIOError:
                return False
            except OSError as e:
                self.closed = e.strerror or type(e).__name__
                return False
            self.pending = self.pending[n:]
            if self.pending:
                return False
            self.sent += 1
            self.next_id += 1

    def read_replies(self):
        try:
            chunk = self.s.recv(1 << 20)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        self.rbuf += chunk
        while len(self.rbuf) >= 4:
            n = struct.unpack(">I", self.rbuf[:4])[0]
            if len(self.rbuf) < 4 + n:
                break
            rid = struct.unpack(">I", self.rbuf[5:9])[0]
            self.replies[rid] = self.replies.get(rid, 0) + 1
            self.rbuf = self.rbuf[4 + n:]
        return True

    def drain(self, deadline):
        """Finish the half-sent request, then read every reply."""
        want = self.want = self.sent + (1 if self.pending else 0)
        while time.monotonic() < deadline and len(self.replies) < want:
            wr = [self.s] if self.pending else []
            r, w, _ = select.select([self.s], wr, [], 1.0)
            if w:
                try:
                    n = self.s.send(self.pending)
                    self.pending = self.pending[n:]
                except BlockingIOError:
                    pass
                except OSError:
                    return want
            if r and not self.read_replies():
                break
        return want


def make_list(rid):
    return frame(LIST, rid)


def make_sign_factory(ident, size):
    data = string(b"\x5a" * size)
    head = string(ident.encode()) + struct.pack(">HI", ED25519, 0)

    def make(rid):
        return frame(SIGN, rid, head + data)
    return make


def flood(conns, args):
    t0 = time.monotonic()
    quiet_since = time.monotonic()
    peak = 0
    while time.monotonic() - t0 < args.max_seconds:
        live = [c for c in conns if not c.closed and not c.done]
        if not live:
            break
        _, w, _ = select.select([], live, [], 0.2)
        for c in w:
            c.push()
        if args.pid:
            peak = max(peak, rss_kb(args.pid))
            if args.rss_limit_kb and peak > args.rss_limit_kb:
                break
        if w:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= args.settle:
            break
    # a connection the agent closed shows as readable EOF / reset
    for c in conns:
        if not c.closed:
            try:
                if c.s.recv(1, socket.MSG_PEEK) == b"":
                    c.closed = "EOF"
            except BlockingIOError:
                pass
            except OSError as e:
                c.closed = e.strerror or type(e).__name__
    return peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["flood"])
    ap.add_argument("socket")
    ap.add_argument("n", type=int)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--sign")
    ap.add_argument("--mix", type=int, default=-1)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--rss-limit-kb", type=int, default=0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--drain", type=int, default=0)
    ap.add_argument("--close-at-once", action="store_true")
    args = ap.parse_args()

    sign = None
    if args.sign:
        ident, size = args.sign.rsplit(":", 1)
        sign = make_sign_factory(ident, int(size))
    n_sign = args.n if sign and args.mix < 0 else max(args.mix, 0)
    conns = []
    for i in range(args.n):
        conns.append(Flooder(args.socket,
                             sign if sign and i < n_sign else make_list,
                             args.count))
    peak = flood(conns, args)
    open_ = [c for c in conns if not c.closed]
    why = sorted({c.closed for c in conns if c.closed})
    print(f"ready open={len(open_)} closed={len(conns) - len(open_)} "
          f"requests={sum(c.sent for c in conns)} rss_peak_kb={peak}"
          + (f" closed_by={','.join(why).replace(' ', '_')}" if why else ""),
          flush=True)
    if not args.close_at_once:
        sys.stdin.readline()
    if args.drain:
        deadline = time.monotonic() + 60
        chosen = open_[:args.drain]
        want = sum(c.drain(deadline) for c in chosen)
        got = sum(len(c.replies) for c in chosen)
        once = all(sorted(c.replies) == list(range(1, c.want + 1))
                   and all(v == 1 for v in c.replies.values())
                   for c in chosen)
        print(f"drained conns={len(chosen)} requests={want} replies={got} "
              f"once={'yes' if once and got == want else 'no'}", flush=True)
    for c in conns:
        c.s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
