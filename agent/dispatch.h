/*
 * Request handlers: one function per message type, run on the event loop
 * thread.  Anything that touches a token is queued as a job (jobs.h) and
 * answered from the worker that performs it.
 */
#ifndef P11A_AGENT_DISPATCH_H
#define P11A_AGENT_DISPATCH_H

#include "agent.h"
#include "conn.h"
#include "wire.h"

/*
 * Handle one frame.  Returns P11A_OK to keep the connection, or an error
 * after queuing an ERROR reply when the connection must be closed
 * (malformed message, protocol violation).
 */
int dispatch_frame(struct agent *a, struct conn *c, struct p11a_frame *f);

/*
 * Lock every token now: SIGN fails with LOCKED from here on, cached PINs
 * are wiped and each token logs out from its own queue.  Used by LOCK,
 * --lock-after and --max-signs.
 */
void agent_lock(struct agent *a, const char *why);

#endif
