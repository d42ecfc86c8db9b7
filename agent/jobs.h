/*
 * Per-token work queues and worker threads.
 *
 * Each token has its own FIFO and its own workers, one per session, so a
 * slow or hung token only ever occupies its own threads; the event loop
 * only enqueues and never waits for a token.  A job carries the function
 * that performs it on a worker's session; that function owns and frees
 * the job.
 */
#ifndef P11A_AGENT_JOBS_H
#define P11A_AGENT_JOBS_H

#include <p11-kit/pkcs11.h>

struct token;

struct job {
	struct job *next;
	/* perform the job on a session of the token, then free it */
	void (*run)(struct job *j, struct token *t, CK_SESSION_HANDLE s);
};

/* Start one worker per open session of the token. */
int jobs_start(struct token *t);
/* Queue a job; never blocks on the token.  P11A_ERR_SHUTTING_DOWN late. */
int jobs_submit(struct token *t, struct job *j);
/* Let the workers finish every queued job, then join them. */
void jobs_stop(struct token *t);
/* Jobs waiting (not yet taken by a worker), for STATUS and limits. */
unsigned jobs_pending(struct token *t);

#endif
