#!/usr/bin/env python3
"""Send two SIGN requests (message form) back to back on one connection
and print, for each reply as it arrives: the request id, OK or the error
code, and the milliseconds since the requests were sent.  The signature
of request 1 is written to SIG1.
Usage: two_pipelined_signs.py SOCKET IDENTITY SCHEME MESSAGE SIG1"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "contrib", "python"))
import p11agent_client as pc  # noqa: E402


def main():
    path, identity, scheme, msg_file, sig_file = sys.argv[1:6]
    data = open(msg_file, "rb").read()
    c = pc.Client(path, timeout=30)
    payload = pc.put_string(identity) + pc.u16(pc.SCHEMES[scheme]) + \
        pc.u32(0) + pc.put_bytes(data)
    t0 = time.monotonic()
    c.sock.sendall(pc.frame(pc.SIGN, 1, payload) +
                   pc.frame(pc.SIGN, 2, payload))
    for _ in range(2):
        msg_type, req_id, r = c._recv_frame()
        ms = int((time.monotonic() - t0) * 1000)
        if msg_type == pc.SIGNATURE:
            sig = r.bytes()
            if req_id == 1:
                open(sig_file, "wb").write(sig)
            print("%d OK %d" % (req_id, ms))
        else:
            print("%d %d %d" % (req_id, r.u32(), ms))
    c.close()


main()
