#!/usr/bin/env python3
"""Send LOCK/UNLOCK requests back to back on one connection (standard
library only) and print the reply of each UNLOCK as OK or the error name's
number.  Usage:
  pipelined_unlocks.py SOCKET PIN[,PIN...] COUNT [--lock-first] [--token URI]
UNLOCK i sends the i-th PIN of the list (round robin), for the tokens
matching URI (default: all).  With --lock-first each UNLOCK is preceded by
a LOCK in the same burst."""
import socket
import struct
import sys

HELLO, LOCK, UNLOCK = 0x01, 0x05, 0x06
OK, ERROR, HELLO_REPLY = 0x85, 0xFF, 0x81


def frame(msg_type, req_id, payload=b""):
    body = struct.pack(">BI", msg_type, req_id) + payload
    return struct.pack(">I", len(body)) + body


def string(b):
    return struct.pack(">I", len(b)) + b


def read_frame(sock):
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise SystemExit("agent closed the connection")
            data += chunk
        return data

    (length,) = struct.unpack(">I", exact(4))
    body = exact(length)
    msg_type, req_id = struct.unpack(">BI", body[:5])
    return msg_type, req_id, body[5:]


def main():
    path, count = sys.argv[1], int(sys.argv[3])
    pins = [p.encode() for p in sys.argv[2].split(",")]
    lock_first = "--lock-first" in sys.argv
    uri = b""
    if "--token" in sys.argv:
        uri = sys.argv[sys.argv.index("--token") + 1].encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(frame(HELLO, 1, struct.pack(">HH", 1, 1) + string(b"t")))
    if read_frame(sock)[0] != HELLO_REPLY:
        raise SystemExit("no HELLO_REPLY")
    burst, unlock_ids = b"", []
    for i in range(count):
        if lock_first:
            burst += frame(LOCK, 1000 + i)
        burst += frame(UNLOCK, 2000 + i, string(uri) + string(pins[i % len(pins)]))
        unlock_ids.append(2000 + i)
    sock.sendall(burst)
    replies = {}
    expected = count * (2 if lock_first else 1)
    while len(replies) < expected:
        msg_type, req_id, payload = read_frame(sock)
        code = struct.unpack(">I", payload[:4])[0] if msg_type == ERROR else 0
        replies[req_id] = "OK" if msg_type == OK else "ERROR:%d" % code
    for i in unlock_ids:
        print(replies[i])


main()
