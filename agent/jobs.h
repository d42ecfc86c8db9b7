/*
 * Per-token work queues and worker threads.
 *
 * Each token has its own FIFO, its own sessions and one worker per
 * session, so a slow or hung token only ever occupies its own threads.
 * A job takes whichever session is idle.  An event-loop thread may run
 * a SIGN in place on an idle session (jobs_submit_inline) when nothing
 * waits before it: that saves the hand-over to a worker.  A job carries the
 * function that performs it on a worker's session; that function owns and frees
 * the job.
 *
 * A job with a deadline is tracked from submission until it is freed, so
 * the monitor thread can answer it with a timeout while a hung token
 * holds it.  Whoever answers a job first claims it (job_claim); the
 * other side then stays silent.
 */
#ifndef P11A_AGENT_JOBS_H
#define P11A_AGENT_JOBS_H

#include <stdatomic.h>
#include <stdint.h>

struct token;
struct token_session;

struct job {
	struct job *next;	     /* queue link */
	struct job *t_prev, *t_next; /* tracking list (deadline jobs) */
	/* perform the job on a session of the token, then job_done() */
	void (*run)(struct job *j, struct token *t, struct token_session *s);
	/* optional: answer a job whose deadline passed (after job_claim) */
	void (*expire)(struct job *j);
	/* optional: drop a queued job whose owner went away; frees it */
	void (*discard)(struct job *j, struct token *t);
	const void *owner; /* e.g. the client connection; may be NULL */
	int in_place; /* may run on an event-loop thread (never waits long) */
	/* what it is expected to take on the token, in µs; 0: unknown */
	uint32_t cost_us;
	uint64_t deadline_ms; /* CLOCK_MONOTONIC ms; 0: none */
	atomic_int claimed;
};

/* Start one worker per open session of the token. */
int jobs_start(struct token *t);
/*
 * Queue a job; never blocks on the token.  P11A_ERR_SHUTTING_DOWN late;
 * P11A_ERR_BUSY for a job with a deadline when the token already has
 * 4096 waiting.
 */
int jobs_submit(struct token *t, struct job *j);
/*
 * Like jobs_submit(), but when no job waits and a session is idle, queue
 * nothing: *s is set to that session and the caller must run the job
 * with jobs_run_inline() (the deadline is tracked as for a queued job).
 * *s stays NULL when the job was queued.
 */
int jobs_submit_inline(struct token *t, struct job *j,
		       struct token_session **s);
/*
 * For a caller that holds a session from jobs_submit_inline(): j stays
 * with the caller (*kept = 1), who links it behind the job it runs first
 * (by next) and passes that chain to jobs_run_inline(); with unless_idle,
 * it is queued instead (*kept = 0) when another session is idle to take
 * it at once.  Tracked and refused as with jobs_submit().
 */
int jobs_keep(struct token *t, struct job *j, int unless_idle, int *kept);
/*
 * Replies of consecutive jobs of one owner can go out together: hold(owner)
 * before the first runs, release() after the last.  Set once at start-up.
 */
void jobs_set_batching(void (*hold)(const void *owner), void (*release)(void));
/*
 * Run a job jobs_submit_inline() kept for the caller, the jobs_keep() ones
 * linked behind it, and what queued up behind them for a short while;
 * then the session is idle again.  Kept jobs left when the time is up go
 * to the front of the queue.
 */
void jobs_run_inline(struct token *t, struct job *j, struct token_session *s);
/*
 * Stop taking jobs, let the workers finish the queue and join them,
 * waiting at most timeout_ms.  Returns 0, or -1 if a worker is stuck
 * in the module (the caller must then not finalise it).  The queue
 * stays allocated (a late job is refused with SHUTTING_DOWN) until
 * jobs_free(), once every token has stopped.
 */
int jobs_stop(struct token *t, int timeout_ms);
/* Release a stopped token's queue; nothing if a worker is stuck. */
void jobs_free(struct token *t);
/*
 * Take every queued job of this owner off the queue and discard it, so a
 * client that hung up leaves no backlog behind.  Jobs a thread already
 * took (a run, a loop's kept ones) are skipped when their turn comes.
 */
void jobs_cancel_owner(struct token *t, const void *owner);
/* Jobs waiting (not yet taken by a worker). */
unsigned jobs_pending(struct token *t);
/*
 * Monitor: jobs a thread took to run after the one it is stuck in (a
 * session busy for JOBS_STUCK_MS) go back to the queue for the others.
 */
void jobs_unstick(struct token *t, uint64_t now_ms);
/* Answer every tracked job of the token whose deadline is before now. */
void jobs_expire(struct token *t, uint64_t now_ms);
/* 1 if the caller is the first to answer this job. */
int job_claim(struct job *j);
/* Stop tracking a finished job; the caller frees it afterwards. */
void job_done(struct token *t, struct job *j);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t jobs_now_ms(void);

#endif
