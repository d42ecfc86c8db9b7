/*
 * The agent's listening socket: a 0600 socket in a directory that is
 * ours, no symlink and not writable by others (made 0700 when absent,
 * never chmodded), a stale socket left by a killed agent replaced, a
 * live one never.  Or the socket a service manager passed (systemd
 * socket activation).
 */
#ifndef P11A_AGENT_LISTEN_H
#define P11A_AGENT_LISTEN_H

#include <stddef.h>

struct listener {
	int fd;
	char path[108];
	char dir[108]; /* directory we created, removed at exit; or "" */
	int activated; /* passed by the service manager: never unlinked */
};

/*
 * Take the listening socket passed by a service manager (sd_listen_fds
 * semantics: LISTEN_PID is our pid, LISTEN_FDS >= 1, the socket is fd 3;
 * it must be a listening AF_UNIX stream socket), or else bind and listen
 * at path (NULL: $XDG_RUNTIME_DIR/p11agent/agent.sock, or a fresh
 * /tmp/p11agent-XXXXXX/ without XDG_RUNTIME_DIR).  LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES are removed from the environment either
 * way, so no child inherits them.  Errors are logged; returns a p11a_err.
 */
int listener_open(const char *path, struct listener *l);
/*
 * After daemonising: make the socket's peer credentials (SO_PEERCRED,
 * which -k uses to find the agent) name this process.  Linux records
 * them at listen(), in the parent that has exited since; listening again
 * records them anew.  Not for a passed socket.  Returns a p11a_err.
 */
int listener_claim(struct listener *l);
/* Close and remove the socket (and the directory we made); a passed
 * socket is only closed: it belongs to the service manager. */
void listener_close(struct listener *l);

#endif
