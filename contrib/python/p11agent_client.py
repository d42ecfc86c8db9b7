#!/usr/bin/env python3
"""A small client of the p11agent socket protocol, version 1.

Written from docs/PROTOCOL.md alone, with nothing but the Python 3
standard library, to show how another program speaks to p11agentd:

    from p11agent_client import Client

    with Client() as agent:                 # $P11AGENT_SOCK or the default
        for ident in agent.list_identities():
            print(ident.id, ident.uri, ident.scheme_names())
        sig = agent.sign(ident.id, "rsa_pss_rsae_sha256", b"message")

As a command:

    p11agent_client.py [--socket PATH] hello
    p11agent_client.py [--socket PATH] list [--json]
    p11agent_client.py [--socket PATH] sign --identity ID|URI --scheme NAME
                       [--digest | --tls13-client] [--in FILE] [--out FILE]
    p11agent_client.py [--socket PATH] status [--json]

Exit status: 0 ok, 1 the agent answered ERROR (its code name goes to
stderr), 2 usage, 3 no agent at the socket.

Like libp11agent, it sends nothing to a socket whose listener runs as a
uid it does not trust (section 1: ours, root, the account p11agent, or
$P11AGENT_AGENT_UID), and fails with UNTRUSTED_AGENT instead.
"""

import argparse
import base64
import json
import os
import pwd
import socket
import struct
import sys

PROTOCOL_VERSION = 1
MAX_FRAME = 262144  # largest frame body either side accepts (section 3)

# Message types (section 6)
HELLO = 0x01
LIST_IDENTITIES = 0x02
SIGN = 0x03
STATUS = 0x04
LOCK = 0x05
UNLOCK = 0x06
HELLO_REPLY = 0x81
IDENTITIES = 0x82
SIGNATURE = 0x83
STATUS_REPLY = 0x84
OK = 0x85
ERROR = 0xFF

# SIGN flags (section 8.1)
SIGN_DIGEST = 0x01
SIGN_TLS13_CLIENT_CV = 0x02

# UNLOCK flags (section 6.9)
UNLOCK_FINAL_TRY = 0x01
STATUS_DETAIL = 0x01  # STATUS flags (6.3): sessions, queue, signing paths

# Identity flags (8.2), token flags (8.3), capabilities (8.4)
IDENTITY_FLAGS = {0x01: "AVAILABLE", 0x02: "TLS13_CLIENT_ONLY",
                  0x04: "ALWAYS_AUTH", 0x08: "AGENT_PADS",
                  0x10: "MESSAGE_ONLY"}
TOKEN_FLAGS = {0x01: "PRESENT", 0x02: "LOGGED_IN", 0x04: "PROTECTED_AUTH",
               0x08: "NEEDS_UNLOCK", 0x10: "RECOVERING", 0x20: "FAILED",
               0x40: "PIN_COUNT_LOW", 0x80: "PIN_FINAL_TRY",
               0x100: "PIN_LOCKED"}
CAPABILITIES = {0x01: "PIPELINING", 0x02: "LOCK", 0x04: "STATUS_DETAIL"}
# signing paths in a STATUS_REPLY with detail (6.7)
SIGN_PATHS = {1: "native", 2: "raw", 3: "hashed"}

KEY_TYPES = {1: "rsa", 2: "ec", 3: "ed25519"}

# Signature schemes (section 7)
SCHEMES = {
    "rsa_pkcs1_sha1": 0x0201,
    "rsa_pkcs1_sha256": 0x0401,
    "rsa_pkcs1_sha384": 0x0501,
    "rsa_pkcs1_sha512": 0x0601,
    "rsa_pss_rsae_sha256": 0x0804,
    "rsa_pss_rsae_sha384": 0x0805,
    "rsa_pss_rsae_sha512": 0x0806,
    "ecdsa_sha1": 0x0203,
    "ecdsa_secp256r1_sha256": 0x0403,
    "ecdsa_secp384r1_sha384": 0x0503,
    "ecdsa_secp521r1_sha512": 0x0603,
    "ed25519": 0x0807,
    "rsa_pkcs1_md5_sha1": 0xFE00,
}
SCHEME_NAMES = {code: name for name, code in SCHEMES.items()}

# Error codes (section 9)
ERRORS = [
    "OK", "INTERNAL", "NO_MEMORY", "PROTOCOL", "FRAME_TOO_LARGE",
    "TRUNCATED", "TRAILING_DATA", "UNKNOWN_MESSAGE", "VERSION",
    "IDENTITY_NOT_FOUND", "IDENTITY_AMBIGUOUS", "SCHEME_UNSUPPORTED",
    "UNKNOWN_SCHEME", "BAD_INPUT", "LOCKED", "PIN_INCORRECT", "PIN_LOCKED",
    "TOKEN_NOT_PRESENT", "TOKEN", "TIMEOUT", "DENIED", "BUSY", "CONNECT",
    "IO", "INVALID_ARGUMENT", "SHUTTING_DOWN", "INCOMPLETE",
    "TOKEN_NOT_FOUND",
    "UNTRUSTED_AGENT",
    "PIN_FINAL_TRY",
]


def error_name(code):
    """The name of an error code; unknown codes count as INTERNAL (9)."""
    return ERRORS[code] if 0 <= code < len(ERRORS) else "INTERNAL"


def flag_names(value, table):
    return [name for bit, name in sorted(table.items()) if value & bit]


class AgentError(Exception):
    """The agent answered ERROR, or the conversation broke (code IO,
    PROTOCOL, CONNECT, ... with the same numbers as on the wire)."""

    def __init__(self, code, message=""):
        self.code = code
        self.name = error_name(code)
        self.message = message
        text = "%s (%d)" % (self.name, code)
        super().__init__(text + ": " + message if message else text)


# ---- encoding (section 2) ---------------------------------------------

def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def put_bytes(b):
    return u32(len(b)) + bytes(b)


def put_string(s):
    b = s.encode("utf-8")
    if b"\0" in b:
        raise ValueError("a protocol string cannot hold a NUL byte")
    return put_bytes(b)


def frame(msg_type, request_id, payload=b""):
    """One frame: u32 body length, then type, request id and payload."""
    body = u8(msg_type) + u32(request_id) + payload
    if len(body) > MAX_FRAME:
        raise ValueError("frame body of %d bytes is over the maximum" %
                         len(body))
    return u32(len(body)) + body


class Reader:
    """Reads the fields of one payload; any overrun is TRUNCATED and
    unread bytes at the end are TRAILING_DATA (section 3)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n > len(self.data) - self.pos:
            raise AgentError(ERRORS.index("TRUNCATED"),
                             "a field runs past the end of the payload")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def bytes(self):
        return self.take(self.u32())

    def string(self):
        b = self.bytes()
        if b"\0" in b:
            raise AgentError(ERRORS.index("PROTOCOL"),
                             "string with a NUL byte")
        return b.decode("utf-8", errors="replace")

    def remaining(self):
        return len(self.data) - self.pos

    def count(self, min_item_size):
        """A u32 count whose items take at least min_item_size bytes:
        judged against what is left before anything is built."""
        n = self.u32()
        if n > (len(self.data) - self.pos) // min_item_size:
            raise AgentError(ERRORS.index("TRUNCATED"),
                             "count larger than the payload can hold")
        return n

    def end(self):
        if self.pos != len(self.data):
            raise AgentError(ERRORS.index("TRAILING_DATA"),
                             "%d bytes after the last field" %
                             (len(self.data) - self.pos))


# ---- decoded messages -------------------------------------------------

class Identity:
    """One private key the agent can sign with (section 6.4)."""

    def __init__(self, r):
        self.id = r.string()
        self.uri = r.string()
        self.label = r.string()
        self.key_type = r.u8()
        self.bits = r.u16()
        self.curve = r.string()
        self.flags = r.u32()
        n = r.u16()
        if n > 16:
            raise AgentError(ERRORS.index("PROTOCOL"),
                             "identity with %d schemes (at most 16)" % n)
        self.schemes = [r.u16() for _ in range(n)]
        self.cert = r.bytes()
        self.spki = r.bytes()

    def key_type_name(self):
        return KEY_TYPES.get(self.key_type, "unknown(%d)" % self.key_type)

    def scheme_names(self):
        """Names of the schemes this client knows; others are skipped."""
        return [SCHEME_NAMES[s] for s in self.schemes if s in SCHEME_NAMES]

    def as_dict(self):
        return {
            "id": self.id, "uri": self.uri, "label": self.label,
            "key_type": self.key_type_name(), "bits": self.bits,
            "curve": self.curve, "flags": flag_names(self.flags,
                                                     IDENTITY_FLAGS),
            "schemes": self.scheme_names(),
            "cert": base64.b64encode(self.cert).decode(),
            "spki": base64.b64encode(self.spki).decode(),
        }


def decode_status(r):
    st = {"software": r.string(), "uptime_sec": r.u64(),
          "connections": r.u32(), "requests": r.u64(), "tokens": []}
    for _ in range(r.count(48)):
        t = {"label": r.string(), "uri": r.string(), "module": r.string()}
        t["flags"] = flag_names(r.u32(), TOKEN_FLAGS)
        t["identities"] = r.u32()
        t["workers"] = r.u32()
        t["signs"] = r.u64()
        t["errors"] = r.u64()
        t["sign_usec_total"] = r.u64()
        st["tokens"].append(t)
    return st


def decode_status_detail(r, st):
    """What follows the tokens when STATUS asked for STATUS_DETAIL."""
    tokens = st["tokens"]
    if len(tokens) * 12 > r.remaining():
        raise AgentError(ERRORS.index("TRUNCATED"),
                         "token details run past the end")
    for t in tokens:
        t["sessions"] = r.u32()
        t["queued"] = r.u32()
        t["running"] = r.u32()
    st["identities"] = []
    for _ in range(r.count(10)):
        ident = {"id": r.string(), "token": r.u32(), "paths": []}
        n = r.u16()
        if ident["token"] >= len(tokens) or n > 16:
            raise AgentError(ERRORS.index("PROTOCOL"),
                             "signing paths of an unknown token or too many")
        ident["token"] = tokens[ident["token"]]["label"]
        for _ in range(n):
            scheme, path, mech = r.u16(), r.u8(), r.u32()
            ident["paths"].append({
                "scheme": SCHEME_NAMES.get(scheme, "0x%04x" % scheme),
                "path": SIGN_PATHS.get(path, "unknown(%d)" % path),
                "mechanism": "0x%x" % mech})
        st["identities"].append(ident)
    return st


def default_socket_path():
    """Section 1: $P11AGENT_SOCK, else $XDG_RUNTIME_DIR/p11agent/agent.sock."""
    path = os.environ.get("P11AGENT_SOCK")
    if path:
        return path
    rt = os.environ.get("XDG_RUNTIME_DIR")
    if rt:
        return os.path.join(rt, "p11agent", "agent.sock")
    raise AgentError(ERRORS.index("CONNECT"),
                     "neither P11AGENT_SOCK nor XDG_RUNTIME_DIR is set")


# ---- the connection ---------------------------------------------------

AGENT_ACCOUNT = "p11agent"  # the system agent's (p11agent-system.service)


def uid_of(name):
    """A user name or a number as a uid; None for neither."""
    if not name:
        return None
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def agent_uid_trusted(uid):
    """Section 1: ours, root, the system agent's account, or the uid
    $P11AGENT_AGENT_UID names."""
    if uid in (os.getuid(), os.geteuid(), 0):
        return True
    return uid in (uid_of(AGENT_ACCOUNT),
                   uid_of(os.environ.get("P11AGENT_AGENT_UID")))


def check_agent_uid(sock, path):
    """Whoever listens at the path gets every request, a PIN too: send
    nothing before its uid (SO_PEERCRED) is one we trust."""
    cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                           struct.calcsize("3i"))
    uid = struct.unpack("3i", cred)[1]
    if not agent_uid_trusted(uid):
        raise AgentError(ERRORS.index("UNTRUSTED_AGENT"),
                         "the agent at %s runs as uid %d, which is not "
                         "trusted (not ours, root, %s or P11AGENT_AGENT_UID);"
                         " nothing was sent to it" %
                         (path, uid, AGENT_ACCOUNT))

class Client:
    """A blocking connection: one request at a time, HELLO done on open."""

    def __init__(self, path=None, name="p11agent_client.py", timeout=60):
        self.path = path or default_socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
        except OSError as e:
            self.sock.close()
            raise AgentError(ERRORS.index("CONNECT"),
                             "no agent at %s: %s" % (self.path, e.strerror))
        try:
            check_agent_uid(self.sock, self.path)
        except AgentError:
            self.sock.close()
            raise
        self.next_id = 1
        self.max_frame = MAX_FRAME
        self.hello = self._hello(name)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise AgentError(ERRORS.index("IO"),
                                 "the agent closed the connection")
            buf += chunk
        return buf

    def _recv_frame(self):
        length = struct.unpack(">I", self._recv_exact(4))[0]
        if length < 5:
            raise AgentError(ERRORS.index("PROTOCOL"),
                             "frame body of %d bytes" % length)
        if length > MAX_FRAME:
            raise AgentError(ERRORS.index("FRAME_TOO_LARGE"),
                             "frame body of %d bytes" % length)
        body = self._recv_exact(length)
        msg_type, request_id = struct.unpack(">BI", body[:5])
        return msg_type, request_id, Reader(body[5:])

    def request(self, msg_type, payload, want):
        """Send one request and return a Reader over the reply's payload,
        which must be of type want; an ERROR reply raises AgentError."""
        request_id = self.next_id
        self.next_id = self.next_id % 0xFFFFFFFF + 1  # never 0 (section 4)
        data = frame(msg_type, request_id, payload)
        if len(data) - 4 > self.max_frame:
            raise AgentError(ERRORS.index("FRAME_TOO_LARGE"),
                             "request over the agent's limit")
        self.sock.sendall(data)
        got, reply_id, r = self._recv_frame()
        if got == ERROR:
            code, message = r.u32(), r.string()
            r.end()
            raise AgentError(code, message)
        if reply_id != request_id or got != want:
            raise AgentError(ERRORS.index("PROTOCOL"),
                             "reply type 0x%02x id %d to request %d" %
                             (got, reply_id, request_id))
        return r

    def _hello(self, name):
        payload = u16(PROTOCOL_VERSION) + u16(PROTOCOL_VERSION) + \
            put_string(name)
        r = self.request(HELLO, payload, HELLO_REPLY)
        h = {"version": r.u16(), "name": r.string(),
             "software": r.string()}
        h["capabilities"] = flag_names(r.u32(), CAPABILITIES)
        h["max_frame"] = r.u32()
        r.end()
        if h["version"] != PROTOCOL_VERSION:
            raise AgentError(ERRORS.index("VERSION"),
                             "agent chose version %d" % h["version"])
        self.max_frame = min(MAX_FRAME, h["max_frame"])
        return h

    def list_identities(self):
        r = self.request(LIST_IDENTITIES, b"", IDENTITIES)
        ids = [Identity(r) for _ in range(r.count(33))]
        r.end()
        return ids

    def sign(self, identity, scheme, data, flags=0):
        """Sign data with identity (an id or a pkcs11: URI) and scheme (a
        name or a code); returns the signature in its TLS form."""
        code = SCHEMES[scheme] if isinstance(scheme, str) else scheme
        payload = put_string(identity) + u16(code) + u32(flags) + \
            put_bytes(data)
        r = self.request(SIGN, payload, SIGNATURE)
        sig = r.bytes()
        r.end()
        return sig

    def status(self, detail=False):
        """detail: also each token's sessions and queue and each
        identity's signing paths, from an agent that announces
        STATUS_DETAIL (an older one would close the connection on the
        flags: it gets a plain STATUS, and the result has no
        "identities")."""
        detail = detail and "STATUS_DETAIL" in self.hello["capabilities"]
        payload = struct.pack(">I", STATUS_DETAIL) if detail else b""
        r = self.request(STATUS, payload, STATUS_REPLY)
        st = decode_status(r)
        if detail:
            decode_status_detail(r, st)
        r.end()
        return st

    def lock(self):
        self.request(LOCK, b"", OK).end()

    def unlock(self, pin, token_uri="", final_try=False):
        """final_try: a token with one PIN try left may use it (else
        PIN_FINAL_TRY); the flags field is sent only when set."""
        payload = put_string(token_uri) + put_bytes(pin)
        if final_try:
            payload += struct.pack(">I", UNLOCK_FINAL_TRY)
        self.request(UNLOCK, payload, OK).end()


# ---- command line -----------------------------------------------------

def cmd_hello(agent, args):
    h = agent.hello
    print("version %d, %s (%s), capabilities %s, max frame %d" % (
        h["version"], h["name"], h["software"],
        ",".join(h["capabilities"]) or "-", h["max_frame"]))


def cmd_list(agent, args):
    ids = agent.list_identities()
    if args.json:
        json.dump([i.as_dict() for i in ids], sys.stdout, indent=1)
        print()
        return
    for i in ids:
        kind = i.key_type_name() + (":" + i.curve if i.key_type == 2 else "")
        print(i.id, i.uri, kind, i.bits, ",".join(i.scheme_names()) or "-",
              i.label or "-")


def read_input(path):
    if path in (None, "-"):
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def cmd_sign(agent, args):
    flags = (SIGN_DIGEST if args.digest else 0) | \
        (SIGN_TLS13_CLIENT_CV if args.tls13_client else 0)
    sig = agent.sign(args.identity, args.scheme, read_input(args.input),
                     flags)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(sig)
    else:
        with open(args.output, "wb") as f:
            f.write(sig)


def cmd_status(agent, args):
    st = agent.status(detail=True)
    if args.json:
        json.dump(st, sys.stdout, indent=1)
        print()
        return
    print("%s, up %ds, %d connections, %d requests" % (
        st["software"], st["uptime_sec"], st["connections"], st["requests"]))
    for t in st["tokens"]:
        avg = t["sign_usec_total"] // t["signs"] if t["signs"] else 0
        queue = ""
        if "sessions" in t:
            queue = " sessions=%d queued=%d running=%d" % (
                t["sessions"], t["queued"], t["running"])
        print("%s %s %s ids=%d workers=%d%s signs=%d errors=%d avg=%dus" % (
            t["label"], t["uri"], ",".join(t["flags"]) or "-",
            t["identities"], t["workers"], queue, t["signs"], t["errors"],
            avg))
    for i in st.get("identities", []):
        for p in i["paths"]:
            print("%s %s %s %s %s" % (i["id"], i["token"], p["scheme"],
                                      p["path"], p["mechanism"]))


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Talk to p11agentd over its socket (protocol v1).")
    p.add_argument("--socket", help="agent socket (default $P11AGENT_SOCK, "
                   "else $XDG_RUNTIME_DIR/p11agent/agent.sock)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("hello", help="show the agent's HELLO reply")
    sp = sub.add_parser("list", help="list the identities")
    sp.add_argument("--json", action="store_true")
    sp = sub.add_parser("sign", help="sign data with an identity")
    sp.add_argument("--identity", required=True, help="id or pkcs11: URI")
    sp.add_argument("--scheme", required=True, choices=sorted(SCHEMES))
    form = sp.add_mutually_exclusive_group()
    form.add_argument("--digest", action="store_true",
                      help="the input is a digest of the scheme's hash")
    form.add_argument("--tls13-client", action="store_true",
                      help="the input is a TLS 1.3 transcript hash")
    sp.add_argument("--in", dest="input", help="input file (default stdin)")
    sp.add_argument("--out", dest="output", help="output (default stdout)")
    sp = sub.add_parser("status", help="agent and token status")
    sp.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    run = {"hello": cmd_hello, "list": cmd_list, "sign": cmd_sign,
           "status": cmd_status}[args.command]
    try:
        with Client(args.socket) as agent:
            run(agent, args)
    except AgentError as e:
        print("p11agent_client.py: %s" % e, file=sys.stderr)
        return 3 if e.name == "CONNECT" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
