#!/usr/bin/env bash
# Smoke test of p11agent-bench (not a measurement): with tiny counts it
# runs every mode (direct, agent, pipelined, p11-kit server, ssh-agent)
# on one token, exits 0, prints its table, and writes JSON in which every
# cell ran and has sane figures (rates and latencies above zero, p50 <=
# p99, ratios and the agent's CPU time present), the only cells not run
# being those the peers cannot do.  Then it must fail when a signature
# does not verify against the key it was given.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

[[ -n ${P11A_BENCH:-} && -x $P11A_BENCH ]] ||
	p11a_fail "P11A_BENCH must name the p11agent-bench binary"
command -v python3 >/dev/null 2>&1 || p11a_skip "python3 not installed"
bench_setup 2
bench_start_p11kit
bench_start_ssh_agent

json=$P11A_TMP/bench.json
p11a_expect_exit 0 "$P11A_BENCH" "${P11A_BENCH_ARGS[@]}" \
	--modes direct,agent,pipelined,p11kit,ssh-agent \
	--count 40 --threads 1,2 --depth 4 --json "$json"
echo "$P11A_OUTPUT"
p11a_expect_output_matches '^ecdsa_secp256r1_sha256 \(key p256\)'
p11a_expect_output_matches '^ +2 +pipelined +[0-9]+ +[0-9.]+ '

python3 - "$json" <<'EOF'
import json, sys

doc = json.load(open(sys.argv[1]))
cells = doc["cells"]
errors = []
# what the peers cannot do: SSH has no PSS and OpenSSH 9.2 no PKCS#11
# Ed25519; p11-kit 0.24's RPC does not carry CKM_EDDSA
not_applicable = {("ssh-agent", "rsa_pss_rsae_sha256"),
                  ("ssh-agent", "ed25519"), ("p11kit", "ed25519")}
if doc["machine"]["nproc"] < 1 or not doc["machine"]["cpu"]:
    errors.append("machine description missing")
if len(cells) != 4 * 2 * 5:
    errors.append(f"{len(cells)} cells, expected 40")
for c in cells:
    name = f'{c["scheme"]} {c["threads"]} {c["mode"]}'
    if (c["mode"], c["scheme"]) in not_applicable:
        if c["ok"] or not c.get("na"):
            errors.append(f"{name}: should be n/a: {c}")
        continue
    if not c["ok"]:
        errors.append(f'{name}: failed: {c.get("why")}')
        continue
    if c["signatures"] < 40:
        errors.append(f'{name}: only {c["signatures"]} signatures')
    if not (c["sig_per_sec"] > 0 and 0 < c["p50_us"] <= c["p99_us"]):
        errors.append(f"{name}: bad rate or latency: {c}")
    if not (c["client_cpu_us_per_sig"] or 0) > 0:
        errors.append(f"{name}: no client CPU time")
    if not (c["ratio_to_direct"] or 0) > 0:
        errors.append(f"{name}: no ratio to direct")
    if c["mode"] != "direct" and c["server_cpu_us_per_sig"] is None:
        errors.append(f"{name}: no server CPU time")
    if c["mode"] == "direct" and c["ratio_to_direct"] != 1.0:
        errors.append(f"{name}: direct ratio {c['ratio_to_direct']}")
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
EOF

# a public key that is not the token's: the warm-up signature must not
# verify, and the benchmark must say so and fail
mkdir "$P11A_TMP/wrong"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
	openssl pkey -pubout -out "$P11A_TMP/wrong/p256.pub.pem"
p11a_expect_exit 1 "$P11A_BENCH" "${P11A_BENCH_ARGS[@]}" \
	--pubkey-dir "$P11A_TMP/wrong" --schemes ecdsa_secp256r1_sha256 \
	--modes direct --count 5 --threads 1
p11a_expect_output_matches 'does not verify'

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM"
echo ok
