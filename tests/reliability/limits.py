#!/usr/bin/env python3
"""Raw-socket checks of p11agentd's limits (docs/RELIABILITY.md).

    limits.py CASE SOCKET [ARGS...]

Cases:
  frame MAX ID          HELLO announces MAX; a frame of MAX bytes is served,
                        one of MAX+1 gets ERROR FRAME_TOO_LARGE and a close
  inflight ID N LIMIT   N pipelined SIGNs on a slow token: LIMIT signatures,
                        N-LIMIT BUSY, connection stays open
  connections LIMIT     LIMIT connections are served, the next gets ERROR
                        BUSY and a close; after one closes, a new one works
  slow TIMEOUT          half a frame: ERROR TIMEOUT and a close after
                        TIMEOUT s; a slow but complete frame is served
  idle IDLE             a silent connection is closed after IDLE s, a
                        chatty one is not
  per-uid LIMIT ID      with --max-per-uid LIMIT, a new connection closes
                        the uid's longest-idle one instead of being
                        refused; when every connection of the uid has a
                        SIGN in flight (a slow token), it gets ERROR BUSY
  hello TIMEOUT         a connection that sends no HELLO gets ERROR TIMEOUT
                        and a close after TIMEOUT s; one that did and then
                        stays silent as long is kept
  failing ID N M        N connections pipeline M SIGNs each to a token that
                        fails them: every request gets exactly one ERROR

Every case also checks that a witness connection opened first keeps
working: a limit closes only the connection that broke it.  Prints one
line per check; exit status 0 when all pass.
"""
import socket
import struct
import sys
import time

HELLO, LIST, SIGN, STATUS = 0x01, 0x02, 0x03, 0x04
HELLO_REPLY, SIGNATURE, STATUS_REPLY, ERROR = 0x81, 0x83, 0x84, 0xFF
ERR = {"FRAME_TOO_LARGE": 4, "TIMEOUT": 19, "BUSY": 21}
ED25519 = 0x0807

failures = 0


def check(ok, what):
    global failures
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def frame(mtype, rid, payload=b""):
    return struct.pack(">IBI", 5 + len(payload), mtype, rid) + payload


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


def hello_frame(rid=1):
    return frame(HELLO, rid, struct.pack(">HH", 1, 1) + string("limits.py"))


def sign_frame(rid, ident, data):
    return frame(SIGN, rid, string(ident) + struct.pack(">HI", ED25519, 0)
                 + string(data))


class Conn:
    def __init__(self, path, timeout=10.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read_frame(self):
        """(type, id, payload), or None at EOF/reset."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return body[0], struct.unpack(">I", body[1:5])[0], body[5:]
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def hello(self):
        """HELLO_REPLY, or what the agent sent instead (None: nothing)."""
        try:
            self.send(hello_frame())
        except OSError:
            pass  # refused at once: its ERROR may still be there to read
        return self.read_frame()

    def status_ok(self, rid=99):
        try:
            self.send(frame(STATUS, rid))
            f = self.read_frame()
        except OSError:
            return False
        return f is not None and f[0] == STATUS_REPLY and f[1] == rid

    def at_eof(self):
        """True when the agent closed (after any frames it sent)."""
        try:
            while self.read_frame() is not None:
                pass
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def error_code(f):
    return struct.unpack(">I", f[2][:4])[0] if f and f[0] == ERROR else None


def case_frame(path, maxf, ident):
    maxf = int(maxf)
    witness = Conn(path)
    witness.hello()
    c = Conn(path)
    f = c.hello()
    # a SIGN whose body is exactly max_frame: served
    overhead = 5 + 4 + len(ident) + 2 + 4 + 4
    c.send(sign_frame(2, ident, b"x" * (maxf - overhead)))
    f2 = c.read_frame()
    check(f2 is not None and f2[0] == SIGNATURE and f2[1] == 2,
          f"a frame of exactly {maxf} bytes is signed")
    check(c.status_ok(), "the connection stays open after it")
    c.send(sign_frame(3, ident, b"x" * (maxf - overhead + 1)))
    f3 = c.read_frame()
    check(error_code(f3) == ERR["FRAME_TOO_LARGE"],
          f"a frame of {maxf + 1} bytes gets ERROR FRAME_TOO_LARGE "
          f"(got {f3 and (hex(f3[0]), error_code(f3))})")
    check(c.at_eof(), "and its connection is closed")
    check(witness.status_ok(), "the witness connection still works")
    if f and f[0] == HELLO_REPLY:
        p = f[2]
        off = 2
        for _ in range(2):
            off += 4 + struct.unpack(">I", p[off:off + 4])[0]
        announced = struct.unpack(">I", p[off + 4:off + 8])[0]
    else:
        announced = None
    check(announced == maxf,
          f"HELLO_REPLY announces max_frame {maxf} (got {announced})")


def case_inflight(path, ident, n, limit):
    n, limit = int(n), int(limit)
    witness = Conn(path)
    witness.hello()
    c = Conn(path, timeout=30)
    c.hello()
    c.send(b"".join(sign_frame(10 + i, ident, b"m%d" % i) for i in range(n)))
    sigs, busy, other, ids = 0, 0, 0, []
    for _ in range(n):
        f = c.read_frame()
        if f is None:
            break
        ids.append(f[1])
        if f[0] == SIGNATURE:
            sigs += 1
        elif error_code(f) == ERR["BUSY"]:
            busy += 1
        else:
            other += 1
    check(sorted(ids) == list(range(10, 10 + n)),
          f"each of the {n} requests got exactly one reply")
    check(sigs == limit and busy == n - limit and other == 0,
          f"{limit} signed and {n - limit} BUSY with --max-inflight {limit} "
          f"(got {sigs} signed, {busy} BUSY, {other} other)")
    c.send(sign_frame(100, ident, b"after"))
    f = c.read_frame()
    check(f is not None and f[0] == SIGNATURE and f[1] == 100,
          "the connection stays open and signs again")
    check(witness.status_ok(), "the witness connection still works")


def open_served(path, limit):
    """limit connections, each checked to get HELLO_REPLY."""
    conns = []
    for _ in range(limit):
        c = Conn(path)
        f = c.hello()
        check(f is not None and f[0] == HELLO_REPLY,
              f"connection {len(conns) + 1} of {limit} is served")
        conns.append(c)
    return conns


def case_connections(path, limit):
    limit = int(limit)
    conns = open_served(path, limit)
    extra = Conn(path)
    f = extra.read_frame()
    check(error_code(f) == ERR["BUSY"] and f[1] == 0,
          f"connection {limit + 1} gets ERROR BUSY with request id 0 "
          f"(got {f and (hex(f[0]), error_code(f))})")
    check(extra.at_eof(), "and is closed")
    check(all(c.status_ok() for c in conns),
          "the connections within the limit still work")
    conns.pop().close()
    time.sleep(0.3)
    again = Conn(path)
    f = again.hello()
    check(f is not None and f[0] == HELLO_REPLY,
          "after one closes, a new connection is served")


def case_slow(path, timeout):
    timeout = float(timeout)
    witness = Conn(path)
    witness.hello()
    c = Conn(path, timeout=timeout + 5)
    c.hello()
    t0 = time.monotonic()
    c.send(frame(STATUS, 5)[:3])
    f = c.read_frame()
    dt = time.monotonic() - t0
    check(error_code(f) == ERR["TIMEOUT"] and f[1] == 0,
          f"half a frame gets ERROR TIMEOUT (got "
          f"{f and (hex(f[0]), error_code(f))})")
    check(timeout - 0.2 <= dt <= timeout + 1.5,
          f"after {dt:.2f} s with --frame-timeout {timeout:g}")
    check(c.at_eof(), "and the connection is closed")
    # a slow sender that completes in time is served
    c2 = Conn(path)
    c2.hello()
    for b in frame(STATUS, 6):
        c2.send(bytes([b]))
        time.sleep(timeout / 20)
    f = c2.read_frame()
    check(f is not None and f[0] == STATUS_REPLY,
          "a frame sent byte by byte within the deadline is served")
    check(witness.status_ok(), "the witness connection still works")


def case_idle(path, idle):
    idle = float(idle)
    chatty = Conn(path)
    chatty.hello()
    c = Conn(path, timeout=idle + 5)
    c.hello()
    t0 = time.monotonic()
    ok_chatty = True
    closed = False
    while time.monotonic() - t0 < idle * 2:
        ok_chatty = ok_chatty and chatty.status_ok()
        time.sleep(idle / 4)
    # by now the silent one should be gone
    c.s.settimeout(0.5)
    closed = c.at_eof()
    check(closed, f"a silent connection is closed within {2 * idle:g} s "
          f"(--idle-timeout {idle:g})")
    check(ok_chatty, "a connection that keeps talking stays open")
    c3 = Conn(path, timeout=idle + 5)
    c3.hello()
    t1 = time.monotonic()
    c3.s.settimeout(idle + 3)
    eof = c3.at_eof()
    dt = time.monotonic() - t1
    check(eof and idle - 0.2 <= dt <= idle + 1.5,
          f"closed after {dt:.2f} s of silence, --idle-timeout {idle:g}")


def case_per_uid(path, limit, ident):
    limit = int(limit)
    conns = open_served(path, limit)
    # the first stays silent, so it is the longest idle
    time.sleep(0.3)
    check(all(c.status_ok() for c in conns[1:]),
          "the other connections talk")
    new = Conn(path)
    f = new.hello()
    check(f is not None and f[0] == HELLO_REPLY,
          f"connection {limit + 1} of the uid is served (got "
          f"{f and (hex(f[0]), error_code(f))})")
    conns[0].s.settimeout(3)
    check(conns[0].at_eof(), "and the longest-idle connection is closed")
    conns = conns[1:] + [new]
    check(all(c.status_ok() for c in conns),
          "the uid's other connections still work")
    # every connection waits for a signature from the slow token
    for i, c in enumerate(conns):
        c.send(sign_frame(200 + i, ident, b"busy %d" % i))
    time.sleep(0.2)
    extra = Conn(path)
    f = extra.read_frame()
    check(error_code(f) == ERR["BUSY"] and f[1] == 0,
          f"with a request in flight on each, connection {limit + 1} gets "
          f"ERROR BUSY (got {f and (hex(f[0]), error_code(f))})")
    check(extra.at_eof(), "and is closed")
    got = [c.read_frame() for c in conns]
    check(all(g is not None and g[0] == SIGNATURE for g in got),
          "the busy connections get their signatures")


def case_hello(path, timeout):
    timeout = float(timeout)
    polite = Conn(path)
    polite.hello()
    mute = Conn(path, timeout=timeout + 5)
    t0 = time.monotonic()
    try:
        f = mute.read_frame()
    except socket.timeout:
        f = None
    dt = time.monotonic() - t0
    check(error_code(f) == ERR["TIMEOUT"] and f[1] == 0,
          f"a connection without HELLO gets ERROR TIMEOUT (got "
          f"{f and (hex(f[0]), error_code(f))} after {dt:.1f} s)")
    check(timeout - 0.2 <= dt <= timeout + 1.5,
          f"after {dt:.2f} s, HELLO deadline {timeout:g} s")
    check(mute.at_eof(), "and the connection is closed")
    check(polite.status_ok(),
          "a connection that said HELLO and was as silent is kept")


def case_failing(path, ident, n, m):
    n, m = int(n), int(m)
    conns = [Conn(path, timeout=60) for _ in range(n)]
    for c in conns:
        c.hello()
    for c in conns:
        c.send(b"".join(sign_frame(10 + i, ident, b"f%d" % i)
                        for i in range(m)))
    ok = True
    for c in conns:
        ids = []
        for _ in range(m):
            f = c.read_frame()
            if f is None or f[0] != ERROR:
                ok = False
                break
            ids.append(f[1])
        ok = ok and sorted(ids) == list(range(10, 10 + m))
        c.close()
    check(ok, f"each of {n} x {m} failing SIGNs got exactly one ERROR")


def main():
    cases = {"frame": case_frame, "inflight": case_inflight,
             "connections": case_connections, "slow": case_slow,
             "idle": case_idle, "per-uid": case_per_uid,
             "hello": case_hello, "failing": case_failing}
    if len(sys.argv) < 3 or sys.argv[1] not in cases:
        print(__doc__, file=sys.stderr)
        return 2
    cases[sys.argv[1]](sys.argv[2], *sys.argv[3:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
