/*
 * The event loop: one thread that accepts clients, checks their
 * credentials, reads frames and hands them to dispatch.c, until SIGTERM
 * or SIGINT.  It never calls into a token.
 */
#ifndef P11A_AGENT_SERVER_H
#define P11A_AGENT_SERVER_H

#include "agent.h"

/*
 * Serve on the listening socket until a termination signal.  Then stop
 * accepting, let the token workers finish every queued request, deliver
 * the replies and close the connections.  Returns a p11a_err.
 */
int server_run(struct agent *a, int listen_fd);

#endif
