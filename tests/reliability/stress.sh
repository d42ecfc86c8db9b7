# shellcheck shell=bash
#
# Harness of the stress tests on top of tests/integration/lib.sh: three
# tokens with several key types, a running agent, and the --key
# arguments p11a-stress wants (public keys from the token maker's PEM
# files, not from the agent).
#
#   stress_setup            tokens A, B, C and the agent (extra agent
#                           arguments are passed on)
#   STRESS_KEYS             array of --key arguments, mostly P-256 and
#                           Ed25519 (RSA signs at ~1k/s here)
#   STRESS_RSS              --agent-pid PID (the RSS check), or nothing in
#                           a sanitizer build: ASan's quarantine keeps
#                           freed memory (hundreds of MiB) by design, so
#                           the plain build is where memory is judged

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

STRESS_KEYS=()
STRESS_RSS=()

stress_setup() {
	[[ -n ${P11A_STRESS:-} && -x $P11A_STRESS ]] ||
		p11a_fail "P11A_STRESS must name the p11a-stress tool"
	p11a_setup_dir
	p11a_make_token A 1234 a-ec:p256 a-ed:ed25519
	p11a_make_token B 1234 b-ec:p256 b-rsa:rsa2048
	p11a_make_token C 1234 c-ed:ed25519 c-ec:p384
	export P11A_PIN=1234
	p11a_start_agent --pin-source env:P11A_PIN "$@"
	p11a_list
	STRESS_RSS=(--agent-pid "$P11A_AGENT_PID")
	if [[ ${P11A_SANITIZED:-0} == 1 ]]; then
		p11a_log "sanitizer build: the agent's RSS is not checked here"
		STRESS_RSS=()
	fi
	local spec name tok scheme weight id
	STRESS_KEYS=()
	for spec in "a-ec A ecdsa_secp256r1_sha256 4" "a-ed A ed25519 4" \
		"b-ec B ecdsa_secp256r1_sha256 4" \
		"b-rsa B rsa_pss_rsae_sha256 1" "c-ed C ed25519 4" \
		"c-ec C ecdsa_secp384r1_sha384 1"; do
		read -r name tok scheme weight <<<"$spec"
		id=$(p11a_identity_id "$name")
		STRESS_KEYS+=(--key "$id,$scheme,$P11A_TMP/$tok/$name.pub.pem,$weight")
	done
}
