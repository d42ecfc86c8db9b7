# p11agent for fish: use the agent that is already running, or start
# one, and export P11AGENT_SOCK, as people do with ssh-agent.  Source it
# from ~/.config/fish/config.fish:
#
#   source /usr/share/p11agent/shell/p11agent.fish
#
# In order, the first agent that answers wins:
#   1. $P11AGENT_SOCK as set already (e.g. a socket forwarded by ssh -R);
#   2. the default socket $XDG_RUNTIME_DIR/p11agent/agent.sock, which is
#      where p11agent.socket (systemd) listens: connecting starts it;
#   3. the agent this snippet started before, remembered in
#      $P11AGENT_ENV_FILE (default ~/.p11agent-env, Bourne syntax, shared
#      with p11agent.sh);
#   4. a new `p11agentd $P11AGENTD_ARGS`, remembered there.
#
# Returns non-zero, leaving P11AGENT_SOCK unset, when no agent can be
# reached or started.

function __p11agent_answers --argument-names path
    test -S "$path"; and p11agent --socket "$path" status >/dev/null 2>&1
end

# Read P11AGENT_SOCK and P11AGENT_PID from p11agentd's Bourne shell output.
function __p11agent_load --argument-names file
    for line in (cat $file)
        set -l m (string match -r '^(P11AGENT_SOCK|P11AGENT_PID)=([^;]*);' -- $line)
        and set -gx $m[2] $m[3]
    end
end

function p11agent_init
    set -l env_file $HOME/.p11agent-env
    set -q P11AGENT_ENV_FILE; and set env_file $P11AGENT_ENV_FILE
    if set -q P11AGENT_SOCK; and __p11agent_answers $P11AGENT_SOCK
        return 0
    end
    set -l default
    set -q XDG_RUNTIME_DIR; and set default $XDG_RUNTIME_DIR/p11agent/agent.sock
    if test -n "$default"; and __p11agent_answers $default
        set -gx P11AGENT_SOCK $default
        return 0
    end
    if test -r $env_file
        __p11agent_load $env_file
        if set -q P11AGENT_SOCK; and __p11agent_answers $P11AGENT_SOCK
            return 0
        end
    end
    set -e P11AGENT_SOCK P11AGENT_PID
    set -l args
    set -q P11AGENTD_ARGS; and set args (string split -n ' ' -- $P11AGENTD_ARGS)
    set -l out (p11agentd $args)
    if test $status -ne 0
        # a shell started at the same moment may have won the race
        if test -n "$default"; and __p11agent_answers $default
            set -gx P11AGENT_SOCK $default
            return 0
        end
        echo "p11agent.fish: could not start p11agentd" >&2
        return 1
    end
    set -l mask (umask)
    umask 077
    printf '%s\n' $out >$env_file
    umask $mask
    __p11agent_load $env_file
    set -q P11AGENT_SOCK
end

p11agent_init
