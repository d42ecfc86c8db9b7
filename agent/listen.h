/*
 * The agent's listening socket: a private 0700 directory, a 0600 socket,
 * a stale socket left by a killed agent replaced, a live one never.
 */
#ifndef P11A_AGENT_LISTEN_H
#define P11A_AGENT_LISTEN_H

#include <stddef.h>

struct listener {
	int fd;
	char path[108];
	char dir[108]; /* directory we created, removed at exit; or "" */
};

/*
 * Bind and listen at path (NULL: $XDG_RUNTIME_DIR/p11agent/agent.sock,
 * or a fresh /tmp/p11agent-XXXXXX/ without XDG_RUNTIME_DIR).  Errors are
 * logged; returns a p11a_err.
 */
int listener_open(const char *path, struct listener *l);
/* Close and remove the socket (and the directory we made). */
void listener_close(struct listener *l);

#endif
