/*
 * Reading the agent's frames, by the worker that holds the reading turn
 * (helper.h).
 */
#ifndef P11A_HELPER_INTAKE_H
#define P11A_HELPER_INTAKE_H

#include "helper.h"

/*
 * One read from the agent (it blocks until bytes come) and every whole
 * frame in h->in handled: requests queued on their token, HELLO and
 * PING answered.  0: go on; 1: SHUTDOWN came; -1: EOF or an error.  A
 * malformed frame ends the process (status 2).
 */
int intake_read(struct helper *h);

#endif
