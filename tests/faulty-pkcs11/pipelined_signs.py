#!/usr/bin/env python3
"""Send N SIGN requests (message form, ids 1..N) on one connection in one
write and print, for each reply as it arrives: the request id, OK or the
error code, and the milliseconds since the requests were sent.  Each
signature is written to SIGDIR/sig.ID.
Usage: pipelined_signs.py SOCKET IDENTITY SCHEME MESSAGE SIGDIR N"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "contrib", "python"))
import p11agent_client as pc  # noqa: E402


def main():
    path, identity, scheme, msg_file, sig_dir, n = sys.argv[1:7]
    n = int(n)
    data = open(msg_file, "rb").read()
    c = pc.Client(path, timeout=30)
    payload = pc.put_string(identity) + pc.u16(pc.SCHEMES[scheme]) + \
        pc.u32(0) + pc.put_bytes(data)
    t0 = time.monotonic()
    c.sock.sendall(b"".join(pc.frame(pc.SIGN, i, payload)
                            for i in range(1, n + 1)))
    for _ in range(n):
        msg_type, req_id, r = c._recv_frame()
        ms = int((time.monotonic() - t0) * 1000)
        if msg_type == pc.SIGNATURE:
            with open(os.path.join(sig_dir, "sig.%d" % req_id), "wb") as f:
                f.write(r.bytes())
            print("%d OK %d" % (req_id, ms))
        else:
            print("%d %d %d" % (req_id, r.u32(), ms))
    c.close()


main()
