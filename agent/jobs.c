#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "p11agent/error.h"
#include "token.h"

/*
 * Requests waiting for one token.  Past this a SIGN is answered BUSY at
 * once: a slow token must not collect an unbounded backlog in memory.
 */
#define JOBS_MAX_PENDING 4096
/* How long a loop thread that signed in place goes on with the queue. */
#define JOBS_INLINE_BUDGET_US 2000
/* Replies of one client held at most before they are written. */
#define JOBS_BATCH_MAX 16

struct job_queue {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct job *head, *tail;
	struct job *tracked; /* jobs with a deadline, queued or running */
	unsigned pending;
	int stopping;
	/*
	 * Sessions no job is using.  A worker takes one with each job; an
	 * event-loop thread takes one to sign in place (jobs_submit_inline).
	 */
	struct token_session **idle;
	unsigned n_idle;
	pthread_t *threads;
	unsigned n_threads;
	atomic_uint running;	    /* workers that have not exited */
	atomic_uint inline_running; /* jobs run in place, not finished */
	int joined;		    /* jobs_stop() joined every worker */
};

uint64_t
jobs_now_ms(void)
{
	return p11a_clock_ms();
}

int
job_claim(struct job *j)
{
	return atomic_exchange(&j->claimed, 1) == 0;
}

/* Take the first queued job off the queue; NULL when it is empty. */
static struct job *
jobs_pop_locked(struct job_queue *q)
{
	struct job *j = q->head;

	if (j == NULL)
		return NULL;
	q->head = j->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->pending--;
	return j;
}

/* The first queued job and a session to run it on; NULL when stopped. */
static struct job *
jobs_take(struct job_queue *q, struct token_session **s)
{
	struct job *j;

	pthread_mutex_lock(&q->lock);
	/* a stopping queue still hands out what it holds, then NULL */
	while ((q->head == NULL && !q->stopping) ||
	       (q->head != NULL && q->n_idle == 0))
		pthread_cond_wait(&q->ready, &q->lock);
	if ((j = jobs_pop_locked(q)) != NULL)
		*s = q->idle[--q->n_idle];
	pthread_mutex_unlock(&q->lock);
	return j;
}

static struct {
	void (*hold)(const void *owner);
	void (*release)(void);
} batching;

void
jobs_set_batching(void (*hold)(const void *owner), void (*release)(void))
{
	batching.hold = hold;
	batching.release = release;
}

/*
 * Whether the first queued job has the same (non-NULL) owner as j, so
 * that j's reply may be held for the next one's.
 */
static int
jobs_head_shares_owner_locked(struct job_queue *q, const struct job *j)
{
	return batching.hold != NULL && j->owner != NULL && q->head != NULL &&
	       q->head->owner == j->owner;
}

static int
jobs_head_shares_owner(struct job_queue *q, const struct job *j)
{
	int same;

	pthread_mutex_lock(&q->lock);
	same = jobs_head_shares_owner_locked(q, j);
	pthread_mutex_unlock(&q->lock);
	return same;
}

/*
 * The next queued job for a session that has just finished one, while
 * the caller's time lasts, and in *same whether the job after it has
 * its owner; otherwise the session goes back to the idle ones (and a
 * worker is woken for what is queued).
 */
static struct job *
jobs_next_or_release(struct job_queue *q, struct token_session *s,
		     uint64_t until_us, int *same)
{
	/* a loop thread (time-limited) takes only what may run in place */
	int in_place_only = until_us != UINT64_MAX;
	struct job *j = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->head != NULL && p11a_clock_us() < until_us &&
	    (!in_place_only || q->head->in_place)) {
		j = jobs_pop_locked(q);
		*same = jobs_head_shares_owner_locked(q, j);
	} else {
		q->idle[q->n_idle++] = s;
		if (q->head != NULL)
			pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->lock);
	return j;
}

/*
 * Run j on session s, then the jobs queued after it back to back (no
 * hand-over, no wake-up) until the queue is empty or until_us, then give
 * s back.  Replies to consecutive jobs of one owner (a pipelining client)
 * are held and go out together after the last of them.
 */
static void
jobs_run_batch(struct token *t, struct job *j, struct token_session *s,
	       uint64_t until_us)
{
	struct job_queue *q = t->queue;
	const void *held = NULL; /* the owner whose replies are held */
	unsigned n_held = 0;
	int same = jobs_head_shares_owner(q, j);

	do {
		/*
		 * The job taken may not be the one seen queued (another thread
		 * took that): what is held goes out before a job of another
		 * owner runs, and at least every JOBS_BATCH_MAX replies.
		 */
		if (held != NULL &&
		    (j->owner != held || n_held >= JOBS_BATCH_MAX)) {
			batching.release();
			held = NULL;
		}
		if (held == NULL && same) {
			batching.hold(j->owner);
			held = j->owner;
			n_held = 0;
		}
		token_session_refresh(t, s);
		j->run(j, t, s);
		n_held += held != NULL;
	} while ((j = jobs_next_or_release(q, s, until_us, &same)) != NULL);
	if (held != NULL)
		batching.release();
}

static void *
jobs_worker(void *arg)
{
	struct token *t = arg;
	struct job_queue *q = t->queue;
	struct token_session *s = NULL;
	struct job *j;

	while ((j = jobs_take(q, &s)) != NULL)
		jobs_run_batch(t, j, s, UINT64_MAX);
	atomic_fetch_sub(&q->running, 1);
	return NULL;
}

static int
jobs_spawn(struct token *t, unsigned index)
{
	atomic_fetch_add(&t->queue->running, 1);
	if (pthread_create(&t->queue->threads[index], NULL, jobs_worker, t) !=
	    0) {
		atomic_fetch_sub(&t->queue->running, 1);
		return P11A_ERR_NO_MEMORY;
	}
	t->queue->n_threads++;
	return P11A_OK;
}

int
jobs_start(struct token *t)
{
	struct job_queue *q;
	int r;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return P11A_ERR_NO_MEMORY;
	q->threads = calloc(t->n_sessions, sizeof(*q->threads));
	q->idle = calloc(t->n_sessions, sizeof(*q->idle));
	if (q->threads == NULL || q->idle == NULL) {
		free(q->threads);
		free(q->idle);
		free(q);
		return P11A_ERR_NO_MEMORY;
	}
	for (unsigned i = 0; i < t->n_sessions; i++)
		q->idle[q->n_idle++] = &t->sessions[i];
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->ready, NULL);
	t->queue = q;
	for (unsigned i = 0; i < t->n_sessions; i++)
		if ((r = jobs_spawn(t, i)) != P11A_OK) {
			log_error("token %s: cannot start worker thread",
				  t->label);
			return r;
		}
	return P11A_OK;
}

static void
jobs_track_locked(struct job_queue *q, struct job *j)
{
	j->t_prev = NULL;
	j->t_next = q->tracked;
	if (q->tracked != NULL)
		q->tracked->t_prev = j;
	q->tracked = j;
}

/*
 * Queue j, or with s != NULL hand the caller an idle session to run it
 * on at once when nothing is waiting before it.
 */
static int
jobs_enqueue(struct token *t, struct job *j, struct token_session **s)
{
	struct job_queue *q = t->queue;
	int r = P11A_OK;

	j->next = NULL;
	j->t_prev = j->t_next = NULL;
	atomic_store(&j->claimed, 0);
	if (q == NULL)
		return P11A_ERR_SHUTTING_DOWN;
	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		r = P11A_ERR_SHUTTING_DOWN;
		goto out;
	}
	if (s != NULL && q->head == NULL && q->n_idle > 0) {
		*s = q->idle[--q->n_idle];
		atomic_fetch_add(&q->inline_running, 1);
	} else if (j->deadline_ms != 0 && q->pending >= JOBS_MAX_PENDING) {
		/* client requests only: control jobs must always get in */
		r = P11A_ERR_BUSY;
		goto out;
	} else {
		if (q->tail != NULL)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
		q->pending++;
		if (q->n_idle > 0)
			pthread_cond_signal(&q->ready);
	}
	if (j->deadline_ms != 0)
		jobs_track_locked(q, j);
out:
	pthread_mutex_unlock(&q->lock);
	return r;
}

int
jobs_submit(struct token *t, struct job *j)
{
	return jobs_enqueue(t, j, NULL);
}

int
jobs_submit_inline(struct token *t, struct job *j, struct token_session **s)
{
	*s = NULL;
	return jobs_enqueue(t, j, s);
}

void
jobs_run_inline(struct token *t, struct job *j, struct token_session *s)
{
	struct job_queue *q = t->queue;

	/* then back to the loop's clients, well before the rescue would */
	jobs_run_batch(t, j, s, p11a_clock_us() + JOBS_INLINE_BUDGET_US);
	atomic_fetch_sub(&q->inline_running, 1);
}

void
job_done(struct token *t, struct job *j)
{
	struct job_queue *q = t->queue;

	if (j->deadline_ms == 0)
		return;
	pthread_mutex_lock(&q->lock);
	if (j->t_prev != NULL)
		j->t_prev->t_next = j->t_next;
	else
		q->tracked = j->t_next;
	if (j->t_next != NULL)
		j->t_next->t_prev = j->t_prev;
	pthread_mutex_unlock(&q->lock);
}

void
jobs_expire(struct token *t, uint64_t now_ms)
{
	struct job_queue *q = t->queue;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	for (struct job *j = q->tracked; j != NULL; j = j->t_next)
		if (j->deadline_ms <= now_ms && j->expire != NULL &&
		    job_claim(j))
			j->expire(j);
	pthread_mutex_unlock(&q->lock);
}

void
jobs_cancel_owner(struct token *t, const void *owner)
{
	struct job_queue *q = t->queue;
	struct job *j, *prev = NULL, *next, *dropped = NULL;

	if (q == NULL || owner == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	for (j = q->head; j != NULL; j = next) {
		next = j->next;
		if (j->owner != owner || j->discard == NULL) {
			prev = j;
			continue;
		}
		if (prev != NULL)
			prev->next = next;
		else
			q->head = next;
		if (q->tail == j)
			q->tail = prev;
		q->pending--;
		j->next = dropped;
		dropped = j;
	}
	pthread_mutex_unlock(&q->lock);
	/* outside the lock: discarding stops tracking, which takes it */
	for (j = dropped; j != NULL; j = next) {
		next = j->next;
		j->discard(j, t);
	}
}

unsigned
jobs_pending(struct token *t)
{
	unsigned n;

	if (t->queue == NULL)
		return 0;
	pthread_mutex_lock(&t->queue->lock);
	n = t->queue->pending;
	pthread_mutex_unlock(&t->queue->lock);
	return n;
}

int
jobs_stop(struct token *t, int timeout_ms)
{
	struct job_queue *q = t->queue;
	uint64_t until = jobs_now_ms() + (uint64_t)timeout_ms;

	if (q == NULL || q->joined)
		return 0;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->ready);
	pthread_mutex_unlock(&q->lock);
	while ((atomic_load(&q->running) > 0 ||
		atomic_load(&q->inline_running) > 0) &&
	       jobs_now_ms() < until) {
		struct timespec pause = {0, 10 * 1000 * 1000};

		nanosleep(&pause, NULL);
	}
	if (atomic_load(&q->running) > 0 ||
	    atomic_load(&q->inline_running) > 0) {
		/* a worker is stuck in the module: answer its clients, leave it
		 */
		log_error("token %s: a request is still inside the module; "
			  "not waiting for it",
			  t->label);
		jobs_expire(t, UINT64_MAX);
		return -1;
	}
	for (unsigned i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	q->joined = 1;
	return 0;
}

void
jobs_free(struct token *t)
{
	struct job_queue *q = t->queue;

	/* a queue with a worker still inside the module is left alone */
	if (q == NULL || !q->joined)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->ready);
	free(q->threads);
	free(q->idle);
	free(q);
	t->queue = NULL;
}
