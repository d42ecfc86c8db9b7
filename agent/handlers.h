/*
 * One handler per request type, called by dispatch_frame() on the event
 * loop thread.  Each returns P11A_OK when it has replied (or queued the
 * work that will reply), or an error that closes the connection.
 */
#ifndef P11A_AGENT_HANDLERS_H
#define P11A_AGENT_HANDLERS_H

#include "agent.h"
#include "conn.h"
#include "wire.h"

int handle_hello(struct agent *a, struct conn *c, struct p11a_frame *f);
int handle_list(struct agent *a, struct conn *c, struct p11a_frame *f);
int handle_status(struct agent *a, struct conn *c, struct p11a_frame *f);
int handle_sign(struct agent *a, struct conn *c, struct p11a_frame *f);
int handle_lock(struct agent *a, struct conn *c, struct p11a_frame *f);
int handle_unlock(struct agent *a, struct conn *c, struct p11a_frame *f);

#endif
