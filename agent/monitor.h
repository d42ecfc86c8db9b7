/*
 * The monitor thread: answers requests a token holds past their deadline
 * and polls every token's presence at an interval (SoftHSM and many
 * modules lack C_WaitForSlotEvent).  The poll itself runs as a job on the
 * token's own queue, so a hung module never stalls the monitor.
 */
#ifndef P11A_AGENT_MONITOR_H
#define P11A_AGENT_MONITOR_H

#include "agent.h"

struct token;

int monitor_start(struct agent *a);
/* Queue a presence probe on the token's queue (one at a time). */
void monitor_probe(struct token *t);
void monitor_stop(void);

#endif
