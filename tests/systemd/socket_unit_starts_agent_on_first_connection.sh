#!/usr/bin/env bash
# The user unit's ExecStart, started the way p11agent.socket starts it:
# systemd-socket-activate listens on %t/p11agent/agent.sock (in a 0700
# directory, the socket 0600, as the unit's DirectoryMode/SocketMode
# say) and only on the first connection executes the ExecStart command,
# handing over the listening socket as fd 3 (LISTEN_FDS=1, LISTEN_PID).
# The agent must serve that socket (not bind its own), stay in the
# foreground, sign (verified with OpenSSL), exit 0 on SIGTERM and leave
# the socket, which belongs to systemd, in place.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/../integration/lib.sh"
. "$here/units.sh"

command -v systemd-socket-activate >/dev/null 2>&1 ||
	p11a_skip "systemd-socket-activate not installed (package systemd)"
p11a_setup_dir
p11a_units_generate
p11a_make_token sock 1357 k-p256:p256 k-rsa:rsa2048
export P11A_PIN=1357

# %t and the unit's modes
export XDG_RUNTIME_DIR=$P11A_TMP/runtime
mkdir -m 0700 "$XDG_RUNTIME_DIR"
unit_sock=$(p11a_unit_value "$P11A_TMP/units/p11agent.socket" ListenStream)
sock=${unit_sock/\%t/$XDG_RUNTIME_DIR}
mkdir -m "$(p11a_unit_value "$P11A_TMP/units/p11agent.socket" DirectoryMode)" \
	"$(dirname "$sock")"

read -r -a cmd <<<"$(p11a_unit_value "$P11A_TMP/units/p11agent.service" ExecStart)"
[[ ${cmd[0]} == "$P11AGENTD" ]] || p11a_fail "ExecStart runs ${cmd[0]}, not $P11AGENTD"
envs=(-E SOFTHSM2_CONF -E P11A_PIN -E XDG_RUNTIME_DIR)
for v in LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS; do
	[[ -z ${!v:-} ]] || envs+=(-E "$v")
done
systemd-socket-activate -l "$sock" "${envs[@]}" -- "${cmd[@]}" \
	--module "$P11A_MODULE" --pin-source env:P11A_PIN \
	</dev/null >"$P11A_TMP/agent.stdout" 2>"$P11A_AGENT_LOG" &
P11A_AGENT_PID=$! # the agent replaces it by exec: same pid, killed by lib.sh

for ((i = 0; i < P11A_TIMEOUT * 20; i++)); do
	[[ -S $sock ]] && break
	sleep 0.05
done
[[ -S $sock ]] || p11a_fail "systemd-socket-activate did not create $sock"
chmod "$(p11a_unit_value "$P11A_TMP/units/p11agent.socket" SocketMode)" "$sock"
inode=$(stat -c %i "$sock")

# nothing started before the first connection
sleep 0.2
[[ $(readlink "/proc/$P11A_AGENT_PID/exe") == */systemd-socket-activate ]] ||
	p11a_fail "the agent started before any connection"

export P11AGENT_SOCK=$sock
p11a_expect_exit 0 "$P11AGENT" status # the first connection starts it
[[ $(readlink "/proc/$P11A_AGENT_PID/exe") == "$(readlink -f "$P11AGENTD")" ]] ||
	p11a_fail "pid $P11A_AGENT_PID is not p11agentd after the first connection"

p11a_list
[[ ${#P11A_ID_ID[@]} -eq 2 ]] || p11a_fail "${#P11A_ID_ID[@]} identities, expected 2"
p11a_sign_verify "$(p11a_identity_id k-p256)" ecdsa_secp256r1_sha256 "$P11A_TMP/sock" k-p256
p11a_sign_verify "$(p11a_identity_id k-rsa)" rsa_pss_rsae_sha256 "$P11A_TMP/sock" k-rsa

# served on the passed socket, still in the foreground
[[ $(stat -c %i "$sock") == "$inode" ]] ||
	p11a_fail "the agent replaced the socket systemd passed it"
p11a_agent_alive
[[ ! -s $P11A_TMP/agent.stdout ]] || grep -q P11AGENT_SOCK "$P11A_TMP/agent.stdout" ||
	p11a_fail "unexpected output on stdout: $(cat "$P11A_TMP/agent.stdout")"

rc=0
p11a_stop_agent || rc=$?
[[ $rc -eq 0 ]] || p11a_fail "p11agentd exited $rc on SIGTERM, expected 0"
[[ -S $sock ]] || p11a_fail "the agent removed the socket, which belongs to systemd"
echo "ok: socket-activated ExecStart served $sock"
