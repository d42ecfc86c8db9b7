#!/usr/bin/env bash
# The Python client encodes the requests of docs/PROTOCOL.md section 10
# byte for byte, and decodes the replies given there: the examples are
# read from the document itself, so the client and the document cannot
# drift apart unnoticed.
set -euo pipefail

command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3" >&2; exit 77; }
[[ -r ${P11A_PY_CLIENT:-} ]] || { echo "FAIL: P11A_PY_CLIENT not set" >&2; exit 1; }
doc=$(dirname "${BASH_SOURCE[0]}")/../../docs/PROTOCOL.md

PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$(dirname "$P11A_PY_CLIENT") python3 - "$doc" <<'PY'
import hashlib, re, sys
import p11agent_client as p

text = open(sys.argv[1], encoding="utf-8").read()
section = text[text.index("## 10. Examples"):]
blocks = []
for block in re.findall(r"```\n(.*?)```", section, re.S):
    data = b""
    for line in block.splitlines():
        hexpart = re.split(r"\s{2,}", line.strip())[0]
        if not re.fullmatch(r"([0-9a-f]{2} )*[0-9a-f]{2}", hexpart):
            break
        data += bytes.fromhex(hexpart)
    blocks.append(data)
hello, hello_reply, sign, signature, error = blocks[:5]

def check(what, cond):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)

def payload(frame_bytes, want_type, want_id):
    length = int.from_bytes(frame_bytes[:4], "big")
    check("frame length of 0x%02x matches its bytes" % want_type,
          length == len(frame_bytes) - 4)
    check("type and request id of 0x%02x" % want_type,
          frame_bytes[4] == want_type and
          int.from_bytes(frame_bytes[5:9], "big") == want_id)
    return p.Reader(frame_bytes[9:])

ours = p.frame(p.HELLO, 1, p.u16(1) + p.u16(1) + p.put_string("example-client"))
check("HELLO encodes as in 10.1", ours == hello)

r = payload(hello_reply, p.HELLO_REPLY, 1)
h = (r.u16(), r.string(), r.string(), r.u32(), r.u32())
r.end()
check("HELLO_REPLY decodes as in 10.1",
      h == (1, "p11agentd", "p11agent 0.1.0", 3, 262144))
check("capabilities 3 are PIPELINING and LOCK",
      p.flag_names(h[3], p.CAPABILITIES) == ["PIPELINING", "LOCK"])

req = (p.put_string("0123456789abcdef0123456789abcdef") +
       p.u16(p.SCHEMES["ecdsa_secp256r1_sha256"]) + p.u32(p.SIGN_DIGEST) +
       p.put_bytes(hashlib.sha256(b"abc").digest()))
check("SIGN encodes as in 10.2", p.frame(p.SIGN, 2, req) == sign)

r = payload(signature, p.SIGNATURE, 2)
sig = r.bytes()
r.end()
check("SIGNATURE holds a 71-byte DER sequence", len(sig) == 71 and sig[:2] == b"\x30\x45")

r = payload(error, p.ERROR, 3)
code, message = r.u32(), r.string()
r.end()
check("ERROR decodes as IDENTITY_NOT_FOUND",
      p.error_name(code) == "IDENTITY_NOT_FOUND" and message == "no identity matches")

try:
    rr = p.Reader(error[9:] + b"x"); rr.u32(); rr.string(); rr.end()
    check("trailing byte is refused", False)
except p.AgentError as e:
    check("trailing byte is refused as TRAILING_DATA", e.name == "TRAILING_DATA")
try:
    rr = p.Reader(error[9:-1]); rr.u32(); rr.string()
    check("short payload is refused", False)
except p.AgentError as e:
    check("short payload is refused as TRUNCATED", e.name == "TRUNCATED")
PY
