#!/usr/bin/env python3
"""Keep DEPTH SIGN requests (message form) in flight on one connection for
SECONDS: a new request goes out as each reply comes back.  Then wait for
the rest and print "OK n=N errors=E" (E: replies that were not a
signature).  Usage: deep_pipeline.py SOCKET IDENTITY SCHEME MESSAGE DEPTH
SECONDS"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "contrib", "python"))
import p11agent_client as pc  # noqa: E402


def main():
    path, identity, scheme, msg_file, depth, secs = sys.argv[1:7]
    depth, secs = int(depth), float(secs)
    data = open(msg_file, "rb").read()
    c = pc.Client(path, timeout=60)
    payload = pc.put_string(identity) + pc.u16(pc.SCHEMES[scheme]) + \
        pc.u32(0) + pc.put_bytes(data)
    next_id, inflight, ok, errors = 1, 0, 0, 0
    end = time.monotonic() + secs
    c.sock.sendall(b"".join(pc.frame(pc.SIGN, i, payload)
                            for i in range(1, depth + 1)))
    next_id, inflight = depth + 1, depth
    while inflight > 0:
        msg_type, _, _ = c._recv_frame()
        inflight -= 1
        if msg_type == pc.SIGNATURE:
            ok += 1
        else:
            errors += 1
        if time.monotonic() < end:
            c.sock.sendall(pc.frame(pc.SIGN, next_id, payload))
            next_id += 1
            inflight += 1
    c.close()
    print("OK n=%d errors=%d" % (ok, errors))


main()
