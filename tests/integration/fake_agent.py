#!/usr/bin/env python3
"""A fake agent, for the test that clients check whose agent they talk
to: it listens on SOCKET, answers HELLO with a HELLO_REPLY and every
other request with OK, and appends every byte a client sends to LOG
(so the test sees whether a PIN reached it).

    fake_agent.py SOCKET LOG

It creates SOCKET (mode 0666, so any uid can reach it), then serves
until killed, one connection at a time.
"""
import os
import socket
import struct
import sys

HELLO, HELLO_REPLY, OK = 0x01, 0x81, 0x85


def put_string(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


def frame(msg_type, request_id, payload=b""):
    body = struct.pack(">BI", msg_type, request_id) + payload
    return struct.pack(">I", len(body)) + body


def recv_exact(conn, n, log):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        log.write(chunk)
        log.flush()
        buf += chunk
    return buf


def serve(conn, log):
    while True:
        head = recv_exact(conn, 4, log)
        if head is None:
            return
        body = recv_exact(conn, struct.unpack(">I", head)[0], log)
        if body is None or len(body) < 5:
            return
        msg_type, request_id = struct.unpack(">BI", body[:5])
        if msg_type == HELLO:
            payload = (struct.pack(">H", 1) + put_string("p11agentd") +
                       put_string("fake") + struct.pack(">II", 3, 262144))
            conn.sendall(frame(HELLO_REPLY, request_id, payload))
        else:
            conn.sendall(frame(OK, request_id))


def main():
    path, log_path = sys.argv[1], sys.argv[2]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0)
    srv.bind(path)
    os.umask(old)
    srv.listen(8)
    with open(log_path, "ab") as log:
        while True:
            conn, _ = srv.accept()
            with conn:
                serve(conn, log)


if __name__ == "__main__":
    main()
