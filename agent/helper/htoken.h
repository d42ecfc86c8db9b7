/*
 * The helper's tokens: one per slot with an initialised token at start,
 * each with a FIFO of jobs and workers that run them on their sessions
 * and take turns reading the agent's frames (intake.h).
 */
#ifndef P11A_HELPER_HTOKEN_H
#define P11A_HELPER_HTOKEN_H

#include "helper.h"

/*
 * Find the tokens of h->fn, open up to `sessions` sessions on each and
 * start a worker per session.  P11A_OK or an error already logged.
 */
int htokens_start(struct helper *h, unsigned sessions);

/* The token in this slot, or NULL. */
struct htoken *htoken_find(struct helper *h, uint64_t slot);

/* Queue a job at the end of the token's FIFO (the token now owns it). */
void htoken_push(struct htoken *t, struct hjob *j);

/*
 * Let the workers read and serve the agent (the start holds the reading
 * turn until then), and return once it sent SHUTDOWN (the FIFOs are
 * then finished) or closed its end (they are dropped).
 */
void htokens_run(struct helper *h);

/*
 * Stop every worker and wait for them (after the jobs they are running,
 * and after SHUTDOWN the queued ones too), then free the tokens.
 */
void htokens_stop(struct helper *h);

#endif
