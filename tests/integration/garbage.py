#!/usr/bin/env python3
"""Open connections to p11agentd that send garbage, and check the agent
closes each of them while a well-behaved client keeps working.

    garbage.py SOCKET -- COMMAND...

COMMAND (a `p11agent sign ...`) is run twice: once while every garbage
connection is open and half-sent, once after they have been dealt with;
it must succeed both times.  "{n}" in its arguments becomes 1 or 2 (so
each run can write its own output file).  Exit 0 when all is well, 1
otherwise.
"""
import os
import socket
import struct
import subprocess
import sys
import time

TIMEOUT = 10.0  # seconds the agent gets to close a garbage connection
MAX_FRAME = 256 * 1024  # P11A_MAX_FRAME


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    return s


def send_quietly(s, data):
    """Send what the agent takes; it may hang up before reading it all."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def closed_by_agent(s):
    """True when the agent closes s (EOF or reset) within TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):  # replies (an ERROR frame) are allowed
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def run(cmd, n, when):
    cmd = [a.replace("{n}", str(n)) for a in cmd]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=TIMEOUT * 3)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {r.returncode} {when}:\n"
              f"{r.stdout.decode(errors='replace')}", file=sys.stderr)
        return False
    return True


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd = sys.argv[1], sys.argv[3:]
    ok = True

    # random bytes; the first byte is forced to >= 0x04 so that the length
    # prefix is above the maximum frame size whatever the rest is
    rnd = bytearray(os.urandom(64 * 1024))
    rnd[0] = 0x04 + rnd[0] % 0xfc
    assert struct.unpack(">I", rnd[:4])[0] > MAX_FRAME
    # a length far above the maximum, with a plausible body start
    huge = struct.pack(">IBI", 0xFFFFFFF0, 0x03, 1) + b"\0" * 100
    # just above the maximum: the agent must not wait for 256 KiB
    over = struct.pack(">IBI", MAX_FRAME + 1, 0x03, 1) + b"\0" * 100
    # a frame that announces 100 body bytes and delivers 10, then EOF
    trunc = struct.pack(">I", 100) + bytes([0x01]) + b"\0" * 9

    conns = {name: connect(path) for name in ("random", "huge", "over",
                                              "truncated")}
    send_quietly(conns["truncated"], trunc)  # kept open, half-sent
    send_quietly(conns["random"], bytes(rnd))
    send_quietly(conns["huge"], huge)
    send_quietly(conns["over"], over)

    ok &= run(cmd, 1, "while garbage connections were open")

    for name in ("random", "huge", "over"):
        if not closed_by_agent(conns[name]):
            print(f"FAIL: the agent did not close the '{name}' connection "
                  f"within {TIMEOUT}s", file=sys.stderr)
            ok = False
    conns["truncated"].shutdown(socket.SHUT_WR)  # EOF in mid-frame
    if not closed_by_agent(conns["truncated"]):
        print("FAIL: the agent did not close the truncated-frame "
              f"connection within {TIMEOUT}s of EOF", file=sys.stderr)
        ok = False
    for s in conns.values():
        s.close()

    ok &= run(cmd, 2, "after the garbage connections")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
