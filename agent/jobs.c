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
/*
 * Jobs started at once per session: two, so that the helper has the
 * next request of a session at hand when a signature ends instead of
 * waiting a round trip through the agent for it.  More would only move
 * the queue into the helper, where it is one FIFO and not fair.
 */
#define JOBS_WINDOW_PER_SESSION 2

/* The queued jobs of one owner; in the ring while it has any. */
struct owner_q {
	const void *owner;
	struct job *head, *tail;
	struct owner_q *next; /* the ring of owners with work */
};

struct job_queue {
	pthread_mutex_t lock;
	pthread_cond_t ready; /* a job was queued, or stopping */
	pthread_cond_t gone;  /* a worker exited */
	/*
	 * Owners with queued jobs, served in turn: a worker takes the
	 * first job of the owner at ring, and the ring moves on by one.
	 */
	struct owner_q *ring; /* the last served; ring->next is next */
	struct job *tracked;  /* started jobs with a deadline */
	struct job *work_head, *work_tail; /* started, for the workers */
	struct job *held_head, *held_tail; /* started, waiting for a session */
	unsigned timed;			   /* started jobs with a deadline */
	unsigned window;		   /* jobs started at most at once */
	unsigned started_sync;	   /* with a worker or waiting for one */
	unsigned started_async;	   /* in flight without a thread */
	uint64_t last_progress_ms; /* a job started or finished */
	unsigned pending;
	int stopping;
	pthread_t *threads;
	unsigned n_threads;
	unsigned running; /* workers that have not exited */
	int joined;	  /* jobs_stop() joined every worker */
};

static void (*deadline_hook)(uint64_t due_ms);

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

void
jobs_set_deadline_hook(void (*fn)(uint64_t due_ms))
{
	deadline_hook = fn;
}

/* The owner's FIFO in the ring, or NULL. */
static struct owner_q *
owner_find_locked(struct job_queue *q, const void *owner)
{
	struct owner_q *o = q->ring;

	if (o == NULL)
		return NULL;
	do {
		if (o->owner == owner)
			return o;
		o = o->next;
	} while (o != q->ring);
	return NULL;
}

/* Take o out of the ring (prev is the one before it) and free it. */
static void
owner_unlink_locked(struct job_queue *q, struct owner_q *prev,
		    struct owner_q *o)
{
	if (o->next == o) {
		q->ring = NULL;
	} else {
		prev->next = o->next;
		if (q->ring == o)
			q->ring = prev;
	}
	free(o);
}

/* The next owner's first job, round-robin; NULL when none waits. */
static struct job *
jobs_pop_locked(struct job_queue *q)
{
	struct owner_q *prev = q->ring, *o;
	struct job *j;

	if (prev == NULL)
		return NULL;
	o = prev->next;
	j = o->head;
	if ((o->head = j->next) == NULL)
		owner_unlink_locked(q, prev, o);
	else
		q->ring = o; /* served: the next owner comes next time */
	j->next = NULL;
	q->pending--;
	return j;
}

/* The job jobs_pop_locked() would return next. */
static struct job *
jobs_peek_locked(const struct job_queue *q)
{
	return q->ring != NULL ? q->ring->next->head : NULL;
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

/* j's time on the token begins now: its deadline is tracked. */
static void
jobs_time_locked(struct job_queue *q, struct job *j, uint64_t now)
{
	j->started_ms = now;
	j->deadline_ms = now + j->timeout_ms;
	q->timed++;
	jobs_track_locked(q, j);
	if (deadline_hook != NULL)
		deadline_hook(j->deadline_ms);
}

/*
 * j is started.  Its deadline runs from now only if a session is free
 * for it; else it waits behind another request of the same session
 * (the window) and its time begins when one ends (jobs_promote_locked):
 * the timeout is the token's time, not the wait before it.
 */
static void
jobs_start_locked(struct job_queue *q, struct job *j)
{
	uint64_t now = q->last_progress_ms = jobs_now_ms();

	j->started_ms = now;
	if (j->timeout_ms == 0)
		return;
	if (q->timed < q->n_threads) {
		jobs_time_locked(q, j, now);
		return;
	}
	j->held = 1;
	j->h_next = NULL;
	if (q->held_tail != NULL)
		q->held_tail->h_next = j;
	else
		q->held_head = j;
	q->held_tail = j;
}

/* A session became free: the oldest held job's time begins. */
static void
jobs_promote_locked(struct job_queue *q)
{
	struct job *j;

	while (q->timed < q->n_threads && (j = q->held_head) != NULL) {
		if ((q->held_head = j->h_next) == NULL)
			q->held_tail = NULL;
		j->held = 0;
		jobs_time_locked(q, j, jobs_now_ms());
	}
}

/* j ended while still held (answered before its turn came). */
static void
jobs_unhold_locked(struct job_queue *q, struct job *j)
{
	struct job **p, *prev = NULL;

	for (p = &q->held_head; *p != NULL; prev = *p, p = &(*p)->h_next)
		if (*p == j) {
			*p = j->h_next;
			if (q->held_tail == j)
				q->held_tail = prev;
			break;
		}
	j->held = 0;
}

static void
work_push_locked(struct job_queue *q, struct job *j)
{
	j->next = NULL;
	if (q->work_tail != NULL)
		q->work_tail->next = j;
	else
		q->work_head = j;
	q->work_tail = j;
	pthread_cond_signal(&q->ready);
}

static struct job *
work_pop_locked(struct job_queue *q)
{
	struct job *j = q->work_head;

	if (j != NULL && (q->work_head = j->next) == NULL)
		q->work_tail = NULL;
	return j;
}

/*
 * Start what the window allows, in round-robin order: a job that needs
 * a thread goes to the workers (while one is free), the others are
 * returned for jobs_start_async() outside the lock.  A job needing a
 * thread when none is free stops the round: order is kept.
 */
static struct job *
jobs_pump_locked(struct job_queue *q)
{
	struct job *async = NULL, **tail = &async, *j;

	while (q->started_sync + q->started_async < q->window &&
	       (j = jobs_peek_locked(q)) != NULL) {
		if (j->start == NULL && q->started_sync >= q->n_threads)
			break;
		jobs_pop_locked(q);
		jobs_start_locked(q, j);
		if (j->start == NULL) {
			q->started_sync++;
			work_push_locked(q, j);
			continue;
		}
		q->started_async++;
		*tail = j;
		tail = &j->next;
	}
	return async;
}

void
jobs_async_fallback(struct token *t, struct job *j)
{
	struct job_queue *q = t->queue;

	pthread_mutex_lock(&q->lock);
	q->started_async--;
	q->started_sync++;
	work_push_locked(q, j);
	pthread_mutex_unlock(&q->lock);
}

/* Send the jobs jobs_pump_locked() returned; a refused one needs a worker. */
static void
jobs_start_async(struct token *t, struct job *list)
{
	struct job *j, *next;

	for (j = list; j != NULL; j = next) {
		next = j->next; /* once sent, j may be done and gone */
		j->next = NULL;
		if (j->start(j, t) != 0)
			jobs_async_fallback(t, j);
	}
}

/* A started job finished (under the lock): the token made progress. */
static struct job *
jobs_finished_locked(struct job_queue *q, int async)
{
	if (async)
		q->started_async--;
	else
		q->started_sync--;
	q->last_progress_ms = jobs_now_ms();
	if (q->stopping)
		pthread_cond_broadcast(&q->ready); /* a worker may exit now */
	return jobs_pump_locked(q);
}

void
jobs_async_done(struct token *t)
{
	struct job_queue *q = t->queue;
	struct job *next;

	pthread_mutex_lock(&q->lock);
	next = jobs_finished_locked(q, 1);
	pthread_mutex_unlock(&q->lock);
	jobs_start_async(t, next);
}

static void *
jobs_worker(void *arg)
{
	struct token_session *s = arg;
	struct token *t = s->token;
	struct job_queue *q = t->queue;
	struct job *j, *next;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		/* while a job is in flight, its fallback may need us */
		while ((j = work_pop_locked(q)) == NULL &&
		       !(q->stopping && q->pending == 0 &&
			 q->started_async == 0))
			pthread_cond_wait(&q->ready, &q->lock);
		if (j == NULL)
			break;
		pthread_mutex_unlock(&q->lock);
		j->run(j, t, s);
		pthread_mutex_lock(&q->lock);
		if ((next = jobs_finished_locked(q, 0)) != NULL) {
			pthread_mutex_unlock(&q->lock);
			jobs_start_async(t, next);
			pthread_mutex_lock(&q->lock);
		}
	}
	q->running--;
	pthread_cond_broadcast(&q->gone);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int
jobs_start(struct token *t)
{
	struct job_queue *q;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->threads = calloc(t->n_sessions, sizeof(*q->threads))) == NULL) {
		free(q);
		return P11A_ERR_NO_MEMORY;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->ready, NULL);
	pthread_cond_init(&q->gone, NULL);
	q->window = t->n_sessions * JOBS_WINDOW_PER_SESSION;
	t->queue = q;
	for (unsigned i = 0; i < t->n_sessions; i++) {
		t->sessions[i].token = t;
		pthread_mutex_lock(&q->lock);
		q->running++;
		pthread_mutex_unlock(&q->lock);
		if (pthread_create(&q->threads[i], NULL, jobs_worker,
				   &t->sessions[i]) != 0) {
			pthread_mutex_lock(&q->lock);
			q->running--;
			pthread_mutex_unlock(&q->lock);
			log_error("token %s: cannot start worker thread",
				  t->label);
			return P11A_ERR_NO_MEMORY;
		}
		q->n_threads++;
	}
	return P11A_OK;
}

int
jobs_submit(struct token *t, struct job *j)
{
	struct job_queue *q = t->queue;
	struct job *async = NULL;
	struct owner_q *o;
	int r = P11A_OK;
	/* once queued, a worker may run and free j before we unlock */
	uint64_t due = 0;

	j->next = NULL;
	j->started_ms = j->deadline_ms = 0;
	j->held = 0;
	j->queued_ms = jobs_now_ms();
	if (j->timeout_ms != 0)
		due = j->queued_ms + j->timeout_ms;
	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		r = P11A_ERR_SHUTTING_DOWN;
		goto out;
	}
	if (j->timeout_ms != 0 && q->pending >= JOBS_MAX_PENDING) {
		r = P11A_ERR_BUSY;
		goto out;
	}
	if ((o = owner_find_locked(q, j->owner)) == NULL) {
		if ((o = calloc(1, sizeof(*o))) == NULL) {
			r = P11A_ERR_NO_MEMORY;
			goto out;
		}
		o->owner = j->owner;
		/* a new owner joins the ring last: it is served after the
		 * owners already waiting have had their turn */
		if (q->ring == NULL) {
			o->next = o;
		} else {
			o->next = q->ring->next;
			q->ring->next = o;
		}
		q->ring = o;
	}
	if (o->tail != NULL)
		o->tail->next = j;
	else
		o->head = j;
	o->tail = j;
	if (q->pending++ == 0)
		q->last_progress_ms = j->queued_ms; /* it waits from now */
	async = jobs_pump_locked(q);
out:
	pthread_mutex_unlock(&q->lock);
	if (r == P11A_OK && due != 0 && deadline_hook != NULL)
		deadline_hook(due);
	jobs_start_async(t, async);
	return r;
}

void
job_done(struct token *t, struct job *j)
{
	struct job_queue *q = t->queue;

	if (j->deadline_ms == 0 && !j->held)
		return;
	pthread_mutex_lock(&q->lock);
	if (j->held) {
		jobs_unhold_locked(q, j);
	} else {
		if (j->t_prev != NULL)
			j->t_prev->t_next = j->t_next;
		else
			q->tracked = j->t_next;
		if (j->t_next != NULL)
			j->t_next->t_prev = j->t_prev;
		q->timed--;
		jobs_promote_locked(q);
	}
	pthread_mutex_unlock(&q->lock);
}

/*
 * When the first queued job of o has waited too long: its timeout after
 * it was queued or after the token last made progress, whichever is
 * later.  A slow token that keeps serving its queue never gets there; a
 * token stuck with every session busy does.
 */
static uint64_t
jobs_stall_due_locked(const struct job_queue *q, const struct owner_q *o)
{
	const struct job *j = o->head;
	uint64_t since = j->queued_ms > q->last_progress_ms
				 ? j->queued_ms
				 : q->last_progress_ms;

	return j->timeout_ms == 0 ? UINT64_MAX : since + j->timeout_ms;
}

/* Take the queued jobs that waited too long; returns the next due time. */
static uint64_t
jobs_take_stalled_locked(struct job_queue *q, uint64_t now_ms, struct job **out)
{
	uint64_t next_due = UINT64_MAX, due;
	struct owner_q *o, *prev;
	size_t n = 0;

	if (q->ring == NULL)
		return next_due;
	/* count them first: unlinking an owner changes the ring */
	o = q->ring;
	do {
		n++;
		o = o->next;
	} while (o != q->ring);
	prev = q->ring;
	for (size_t i = 0; i < n; i++) {
		o = prev->next;
		while (o->head != NULL &&
		       jobs_stall_due_locked(q, o) <= now_ms) {
			struct job *j = o->head;

			o->head = j->next;
			j->next = *out;
			*out = j;
			q->pending--;
		}
		if (o->head == NULL) {
			owner_unlink_locked(q, prev, o);
			if (q->ring == NULL)
				break;
			continue; /* prev is followed by o's successor now */
		}
		if ((due = jobs_stall_due_locked(q, o)) < next_due)
			next_due = due;
		prev = o;
	}
	return next_due;
}

uint64_t
jobs_expire(struct token *t, uint64_t now_ms)
{
	struct job_queue *q = t->queue;
	struct job *stalled = NULL, *next_j;
	uint64_t next = UINT64_MAX, d;

	if (q == NULL)
		return next;
	pthread_mutex_lock(&q->lock);
	for (struct job *j = q->tracked; j != NULL; j = j->t_next) {
		if (j->deadline_ms > now_ms) {
			if (!atomic_load(&j->claimed) && j->deadline_ms < next)
				next = j->deadline_ms;
			continue;
		}
		if (j->expire != NULL && job_claim(j))
			j->expire(j);
	}
	/* held behind a session that makes no progress: like a queued job */
	for (struct job *j = q->held_head; j != NULL; j = j->h_next) {
		uint64_t since = j->started_ms > q->last_progress_ms
					 ? j->started_ms
					 : q->last_progress_ms;

		if (atomic_load(&j->claimed))
			continue;
		if (since + j->timeout_ms > now_ms) {
			if (since + j->timeout_ms < next)
				next = since + j->timeout_ms;
			continue;
		}
		if (j->expire != NULL && job_claim(j))
			j->expire(j);
	}
	if ((d = jobs_take_stalled_locked(q, now_ms, &stalled)) < next)
		next = d;
	pthread_mutex_unlock(&q->lock);
	/* answered and dropped outside the lock: discard() takes it */
	for (; stalled != NULL; stalled = next_j) {
		next_j = stalled->next;
		if (stalled->expire != NULL && job_claim(stalled))
			stalled->expire(stalled);
		if (stalled->discard != NULL)
			stalled->discard(stalled, t);
	}
	return next;
}

void
jobs_cancel_owner(struct token *t, const void *owner)
{
	struct job_queue *q = t->queue;
	struct owner_q *o, *prev;
	struct job *j, *next, *dropped = NULL;

	if (q == NULL || owner == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	if ((o = owner_find_locked(q, owner)) == NULL) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	/* a client's jobs all have discard(): none must run for nobody */
	for (j = o->head; j != NULL; j = next) {
		next = j->next;
		j->next = dropped;
		dropped = j;
		q->pending--;
	}
	for (prev = q->ring; prev->next != o; prev = prev->next)
		;
	owner_unlink_locked(q, prev, o);
	pthread_mutex_unlock(&q->lock);
	/* outside the lock: discarding stops tracking, which takes it */
	for (j = dropped; j != NULL; j = next) {
		next = j->next;
		if (j->discard != NULL)
			j->discard(j, t);
	}
}

void
jobs_counts(struct token *t, unsigned *queued, unsigned *active)
{
	*queued = *active = 0;
	if (t->queue == NULL)
		return;
	pthread_mutex_lock(&t->queue->lock);
	*queued = t->queue->pending;
	*active = t->queue->started_sync + t->queue->started_async;
	pthread_mutex_unlock(&t->queue->lock);
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

/*
 * Shutdown, time is up: the jobs still queued are answered (TIMEOUT)
 * and dropped instead of run.
 */
static void
jobs_drop_queued(struct token *t)
{
	struct job_queue *q = t->queue;
	struct job *j, *list = NULL;

	pthread_mutex_lock(&q->lock);
	while ((j = jobs_pop_locked(q)) != NULL) {
		j->next = list;
		list = j;
	}
	pthread_mutex_unlock(&q->lock);
	for (; list != NULL; list = j) {
		j = list->next;
		if (list->expire != NULL && job_claim(list))
			list->expire(list);
		if (list->discard != NULL)
			list->discard(list, t);
		else
			free(list);
	}
}

/* Wait, under the lock, until the workers exited or the time is up. */
static int
jobs_wait_gone_locked(struct job_queue *q, int timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (q->running > 0)
		if (pthread_cond_timedwait(&q->gone, &q->lock, &until) ==
		    ETIMEDOUT)
			break;
	return q->running == 0 ? 0 : -1;
}

int
jobs_stop(struct token *t, int timeout_ms)
{
	struct job_queue *q = t->queue;
	int r;

	if (q == NULL || q->joined)
		return 0;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->ready);
	r = jobs_wait_gone_locked(q, timeout_ms);
	pthread_mutex_unlock(&q->lock);
	if (r != 0) {
		/* a worker still waits for the token: answer its clients */
		log_error("token %s: a request is still with the token; "
			  "not waiting for it",
			  t->label);
		jobs_expire(t, UINT64_MAX);
		jobs_drop_queued(t);
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
	struct job *j;

	/* a queue with a worker left is left alone */
	if (q == NULL || !q->joined)
		return;
	/* jobs queued after the workers left (none take them now) */
	while ((j = jobs_pop_locked(q)) != NULL)
		if (j->discard != NULL)
			j->discard(j, t);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->ready);
	pthread_cond_destroy(&q->gone);
	free(q->threads);
	free(q);
	t->queue = NULL;
}
