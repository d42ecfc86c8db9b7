/*
 * Per-token work queues and worker threads.
 *
 * A token has one worker per session its helper opened.  A job that
 * needs a thread (a login, a confirmation, a PIN prompt) is run by a
 * worker through the helper (hlink.h); a plain signature is started by
 * whichever thread finds room for it (the event loop, the link's reader
 * or a worker) and ended by the link's reader when the reply comes, so
 * it costs no thread hand-over.  At most two jobs per session are
 * started at once; the rest wait here.
 * Jobs wait in one FIFO per owner (a client connection; NULL for the
 * agent's own logins, logouts and probes), and the workers serve the
 * owners round-robin: a client with 512 requests queued delays another
 * client by at most one job per session, not by 512.
 *
 * A job with a timeout gets its deadline when its token starts it (when
 * it is started and a session is free for it: one waiting in the
 * helper behind another request of its session starts when that one
 * ends), so that a slow card serves a long queue in order without the
 * waiting ones timing out; from then on it is tracked until it is done, and
 * the monitor answers it with its expire() when the deadline passes
 * first.  A queued job times out only when the token makes no progress
 * (no job started or finished) for its timeout: a token whose every
 * session hangs does not keep its queue waiting for ever.  Whoever answers a
 * job first claims it (job_claim); the other side then stays silent.  A job
 * carries the function that performs it; that function owns and frees the job.
 */
#ifndef P11A_AGENT_JOBS_H
#define P11A_AGENT_JOBS_H

#include <stdatomic.h>
#include <stdint.h>

struct token;
struct token_session;

struct job {
	struct job *next;	     /* its owner's FIFO */
	struct job *t_prev, *t_next; /* tracking list (running, timed) */
	struct job *h_next;	     /* started, its session not yet free */
	int held;
	/* perform the job on a session of the token, then job_done() */
	void (*run)(struct job *j, struct token *t, struct token_session *s);
	/*
	 * optional: start the job without a thread (send its request to
	 * the helper) and return 0; its reply then ends it with
	 * jobs_async_done(), or hands it to a worker with
	 * jobs_async_fallback().  Non-zero: run() it on a worker instead.
	 */
	int (*start)(struct job *j, struct token *t);
	/* optional: answer a job whose deadline passed (after job_claim) */
	void (*expire)(struct job *j);
	/* optional: drop a queued job whose owner went away; frees it */
	void (*discard)(struct job *j, struct token *t);
	const void *owner;   /* e.g. the client connection; may be NULL */
	uint32_t timeout_ms; /* from its start; 0: none */
	uint64_t queued_ms;  /* when it was submitted */
	uint64_t started_ms; /* when a worker took it; 0: queued */
	uint64_t deadline_ms;
	atomic_int claimed;
};

/*
 * An asynchronous job ended (its owner freed it): the next jobs start.
 * Called on whatever thread ended it; never waits for the token.
 */
void jobs_async_done(struct token *t);
/* Hand an asynchronous job to a worker, which run()s it. */
void jobs_async_fallback(struct token *t, struct job *j);

/* Start one worker per session of the token. */
int jobs_start(struct token *t);
/*
 * Queue a job behind its owner's earlier ones; never blocks on the
 * token.  P11A_ERR_SHUTTING_DOWN late; P11A_ERR_BUSY for a job with a
 * timeout when the token already has 4096 waiting.
 */
int jobs_submit(struct token *t, struct job *j);
/*
 * Stop taking jobs, let the workers finish the queue and join them,
 * waiting at most timeout_ms.  Returns 0, or -1 if a worker is still
 * waiting for the token (stopping its helper frees it; call again).
 * The queue stays allocated (a late job is refused with SHUTTING_DOWN)
 * until jobs_free(), once every token has stopped.
 */
int jobs_stop(struct token *t, int timeout_ms);
/* Release a stopped token's queue; nothing if a worker is left. */
void jobs_free(struct token *t);
/* Discard every queued job of this owner: a client that hung up. */
void jobs_cancel_owner(struct token *t, const void *owner);
/* Jobs waiting (not yet started). */
unsigned jobs_pending(struct token *t);
/* Jobs waiting and jobs started (with a worker or sent to the helper), read
 * together. */
void jobs_counts(struct token *t, unsigned *queued, unsigned *active);
/*
 * Answer every tracked job of the token whose deadline is before now;
 * returns the earliest deadline still ahead (UINT64_MAX: none).
 */
uint64_t jobs_expire(struct token *t, uint64_t now_ms);
/*
 * Called with the deadline of every timed job queued or started, so that
 * a sleeping monitor can learn of one nearer than it sleeps for.  Set
 * once at start-up.
 */
void jobs_set_deadline_hook(void (*fn)(uint64_t due_ms));
/* 1 if the caller is the first to answer this job. */
int job_claim(struct job *j);
/* Stop tracking a finished job; the caller frees it afterwards. */
void job_done(struct token *t, struct job *j);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t jobs_now_ms(void);

#endif
