# shellcheck shell=sh
# p11agent for bash and zsh (and other POSIX shells): use the agent that
# is already running, or start one, and export P11AGENT_SOCK, as people
# do with ssh-agent.  Source it from ~/.bashrc or ~/.zshrc:
#
#   . /usr/share/p11agent/shell/p11agent.sh
#
# In order, the first agent that answers wins:
#   1. $P11AGENT_SOCK as set already (e.g. a socket forwarded by ssh -R);
#   2. the default socket $XDG_RUNTIME_DIR/p11agent/agent.sock, which is
#      where p11agent.socket (systemd) listens: connecting starts it;
#   3. the agent this snippet started before, remembered in
#      $P11AGENT_ENV_FILE (default ~/.p11agent-env);
#   4. a new `p11agentd $P11AGENTD_ARGS`, remembered there for the next
#      shell.  Its modules, identities and PIN source come from its
#      configuration file (p11agent.conf(5)) or P11AGENTD_ARGS.
#
# Returns non-zero, leaving P11AGENT_SOCK unset, when no agent can be
# reached or started.  `p11agentd -k` stops the agent again.

# _p11agent_answers PATH: true if an agent answers at PATH.
_p11agent_answers() {
	[ -S "$1" ] && p11agent --socket "$1" status >/dev/null 2>&1
}

# _p11agent_use PATH: export PATH as the agent's socket.
_p11agent_use() {
	P11AGENT_SOCK=$1
	export P11AGENT_SOCK
}

# _p11agent_find: export the socket of an agent that answers, starting one
# if need be; uses $_p11agent_env, the remembered agent's file.
_p11agent_find() {
	if [ -n "${P11AGENT_SOCK:-}" ] && _p11agent_answers "$P11AGENT_SOCK"; then
		return 0
	fi
	if [ -n "${XDG_RUNTIME_DIR:-}" ] &&
		_p11agent_answers "$XDG_RUNTIME_DIR/p11agent/agent.sock"; then
		_p11agent_use "$XDG_RUNTIME_DIR/p11agent/agent.sock"
		return 0
	fi
	if [ -r "$_p11agent_env" ]; then
		# shellcheck disable=SC1090 # written by p11agentd below
		. "$_p11agent_env" >/dev/null
		if [ -n "${P11AGENT_SOCK:-}" ] && _p11agent_answers "$P11AGENT_SOCK"; then
			return 0
		fi
	fi
	unset P11AGENT_SOCK P11AGENT_PID
	# the agent's output is shell commands: keep them for the next shell
	(umask 077 && eval "p11agentd ${P11AGENTD_ARGS:-}" >"$_p11agent_env") || {
		rm -f "$_p11agent_env"
		# a shell started at the same moment may have won the race
		if [ -n "${XDG_RUNTIME_DIR:-}" ] &&
			_p11agent_answers "$XDG_RUNTIME_DIR/p11agent/agent.sock"; then
			_p11agent_use "$XDG_RUNTIME_DIR/p11agent/agent.sock"
			return 0
		fi
		echo "p11agent.sh: could not start p11agentd" >&2
		return 1
	}
	# shellcheck disable=SC1090
	. "$_p11agent_env" >/dev/null
}

# p11agent_init: what sourcing this file does; call it again at will.
p11agent_init() {
	_p11agent_env=${P11AGENT_ENV_FILE:-$HOME/.p11agent-env}
	_p11agent_find
	set -- $?
	unset _p11agent_env
	return "$1"
}

p11agent_init
