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
/*
 * Jobs taken for a session whose current one has run this long go back
 * to the queue, where another session may take them.
 */
#define JOBS_STUCK_MS 100
/*
 * A thread takes a client's jobs together, and holds their replies to
 * write them together, for about this long at what each is expected to
 * take (job.cost_us), at most JOBS_BATCH_MAX: a fast token's replies then
 * cost one send, and a slow token's go out one by one, as each is ready,
 * so that its client refills its pipeline and other sessions share it.
 */
#define JOBS_RUN_US 1000
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
	j->next = NULL;
	return j;
}

/* The last job of a chain linked by next, and in *n its length. */
static struct job *
jobs_chain_last(struct job *first, unsigned *n)
{
	struct job *last = first;

	for (*n = 1; last->next != NULL; last = last->next)
		(*n)++;
	return last;
}

/* Put a chain of jobs at the front of the queue (they came first). */
static void
jobs_push_front_locked(struct job_queue *q, struct job *first)
{
	unsigned n;
	struct job *last = jobs_chain_last(first, &n);

	last->next = q->head;
	if (q->head == NULL)
		q->tail = last;
	q->head = first;
	q->pending += n;
}

/* Put a chain of jobs at the back of the queue. */
static void
jobs_push_back_locked(struct job_queue *q, struct job *first)
{
	unsigned n;
	struct job *last = jobs_chain_last(first, &n);

	if (q->tail != NULL)
		q->tail->next = first;
	else
		q->head = first;
	q->tail = last;
	q->pending += n;
}

/*
 * How many jobs like j of one client go together (JOBS_RUN_US); one
 * while the cost is unknown.
 */
static unsigned
jobs_run_max(const struct job *j)
{
	unsigned n = j->cost_us > 0 ? JOBS_RUN_US / j->cost_us : 1;

	return n < 1 ? 1 : n > JOBS_BATCH_MAX ? JOBS_BATCH_MAX : n;
}

/*
 * Take the first queued job for session s and, into s->run, the jobs of
 * the same owner that follow it: one thread then answers a pipelining
 * client's requests together, in one write.  At most jobs_run_max(), and
 * a fair share of what is queued among this thread and the idle sessions,
 * so that one client keeps them all busy; with in_place_only, only jobs
 * that may run in place.  Another thread is woken for what is left.
 */
static struct job *
jobs_pop_run_locked(struct job_queue *q, struct token_session *s,
		    int in_place_only)
{
	unsigned share = (q->pending + q->n_idle) / (q->n_idle + 1);
	struct job *j = jobs_pop_locked(q), **tail = &s->run;
	unsigned n = 1, run_max;

	if (j == NULL)
		return NULL;
	run_max = jobs_run_max(j);
	while (j->owner != NULL && q->head != NULL &&
	       q->head->owner == j->owner && n < run_max && n < share &&
	       (!in_place_only || q->head->in_place)) {
		*tail = jobs_pop_locked(q);
		tail = &(*tail)->next;
		n++;
	}
	/* a chain put back on the queue got one wake-up: pass it on */
	if (q->head != NULL && q->n_idle > 0)
		pthread_cond_signal(&q->ready);
	return j;
}

typedef void (*jobs_hold_fn)(const void *owner);
typedef void (*jobs_release_fn)(void);

/*
 * Set once by the server, which starts after the tokens' workers: atomic,
 * since a worker may already look at them for a control job.
 */
static _Atomic(jobs_hold_fn) batching_hold;
static _Atomic(jobs_release_fn) batching_release;

void
jobs_set_batching(void (*hold)(const void *owner), void (*release)(void))
{
	atomic_store(&batching_release, release);
	atomic_store(&batching_hold, hold);
}

/*
 * Whether next (the job to run after j) has j's (non-NULL) owner, so
 * that j's reply may be held for next's.
 */
static int
jobs_owner_follows(const struct job *j, const struct job *next)
{
	return j->owner != NULL && next != NULL &&
	       atomic_load(&batching_hold) != NULL && next->owner == j->owner;
}

/*
 * Hand j to the thread using session s (under the lock): from now on the
 * monitor judges what s->run holds by j's start (jobs_unstick).  Returns
 * whether the job after j has its owner, so that j's reply may be held.
 */
static int
jobs_hand_out_locked(struct token_session *s, const struct job *j)
{
	atomic_store(&s->started_ms, p11a_clock_ms());
	return jobs_owner_follows(j, s->run);
}

/*
 * The first queued jobs (jobs_pop_run_locked) and a session to run them
 * on; NULL when stopped.  *same: whether the job after it has its owner.
 */
static struct job *
jobs_take(struct job_queue *q, struct token_session **s, int *same)
{
	struct job *j;

	pthread_mutex_lock(&q->lock);
	/* a stopping queue still hands out what it holds, then NULL */
	while ((q->head == NULL && !q->stopping) ||
	       (q->head != NULL && q->n_idle == 0))
		pthread_cond_wait(&q->ready, &q->lock);
	if (q->head != NULL) {
		*s = q->idle[--q->n_idle];
		j = jobs_pop_run_locked(q, *s, 0);
		*same = jobs_hand_out_locked(*s, j);
	} else {
		j = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	return j;
}

/*
 * The job to run next on session s, which has just finished one: the
 * next of s->run (taken earlier), then a run from the queue, while the
 * caller's time lasts.  Otherwise what s->run still holds goes back to
 * the front of the queue and s back to the idle sessions (with a worker
 * woken for what is queued).  *same as for jobs_take().
 */
static struct job *
jobs_next(struct job_queue *q, struct token_session *s, uint64_t until_us,
	  int *same)
{
	/* a loop thread (time-limited) takes only what may run in place */
	int in_place_only = until_us != UINT64_MAX;
	int in_time = !in_place_only || p11a_clock_us() < until_us;
	struct job *j = NULL;

	pthread_mutex_lock(&q->lock);
	if (s->run != NULL && !in_time) {
		jobs_push_front_locked(q, s->run);
		s->run = NULL;
	}
	if (s->run != NULL) {
		j = s->run;
		s->run = j->next;
		j->next = NULL;
	} else if (q->head != NULL && in_time &&
		   (!in_place_only || q->head->in_place)) {
		j = jobs_pop_run_locked(q, s, in_place_only);
	} else {
		q->idle[q->n_idle++] = s;
		if (q->head != NULL)
			pthread_cond_signal(&q->ready);
	}
	if (j != NULL)
		*same = jobs_hand_out_locked(s, j);
	pthread_mutex_unlock(&q->lock);
	return j;
}

/*
 * Run j on session s, then s->run and what is queued, back to back (no
 * hand-over, no wake-up) until there is nothing left or until_us, then
 * give s back.  Replies to consecutive jobs of one owner (a pipelining
 * client) are held and go out together after the last of them; same:
 * whether the job after j has its owner.
 */
static void
jobs_run_batch(struct token *t, struct job *j, struct token_session *s,
	       uint64_t until_us, int same)
{
	struct job_queue *q = t->queue;
	const void *held = NULL; /* the owner whose replies are held */
	unsigned n_held = 0;

	do {
		/*
		 * The job taken may not be the one seen next (the monitor gave
		 * that back to the queue): what is held goes out before a job
		 * of another owner runs, and at least every jobs_run_max().
		 */
		if (held != NULL &&
		    (j->owner != held || n_held >= jobs_run_max(j))) {
			atomic_load (&batching_release)();
			held = NULL;
		}
		if (held == NULL && same) {
			atomic_load (&batching_hold)(j->owner);
			held = j->owner;
			n_held = 0;
		}
		j->run(j, t, s);
		n_held += held != NULL;
	} while ((j = jobs_next(q, s, until_us, &same)) != NULL);
	if (held != NULL)
		atomic_load (&batching_release)();
}

static void *
jobs_worker(void *arg)
{
	struct token *t = arg;
	struct job_queue *q = t->queue;
	struct token_session *s = NULL;
	struct job *j;
	int same = 0;

	while ((j = jobs_take(q, &s, &same)) != NULL)
		jobs_run_batch(t, j, s, UINT64_MAX, same);
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

/* What jobs_enqueue() does with a job. */
enum jobs_mode {
	JOBS_QUEUE,  /* on the queue */
	JOBS_INLINE, /* to the caller with an idle session, if nothing waits */
	JOBS_KEEP,   /* stays with the caller, who runs it after its first */
	JOBS_KEEP_UNLESS_IDLE, /* the same, unless a session is idle */
};

/*
 * Queue j, or with JOBS_INLINE hand the caller an idle session (*s) to
 * run it on at once when nothing is waiting before it, or with JOBS_KEEP
 * only accept and track it for a caller that already has a session
 * (*kept = 1; JOBS_KEEP_UNLESS_IDLE queues it when a session is idle).
 */
static int
jobs_enqueue(struct token *t, struct job *j, enum jobs_mode mode,
	     struct token_session **s, int *kept)
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
	if (mode == JOBS_INLINE && q->head == NULL && q->n_idle > 0) {
		*s = q->idle[--q->n_idle];
		atomic_fetch_add(&q->inline_running, 1);
	} else if (j->deadline_ms != 0 && q->pending >= JOBS_MAX_PENDING) {
		/* client requests only: control jobs must always get in */
		r = P11A_ERR_BUSY;
		goto out;
	} else if (mode == JOBS_KEEP ||
		   (mode == JOBS_KEEP_UNLESS_IDLE && q->n_idle == 0)) {
		*kept = 1;
	} else {
		jobs_push_back_locked(q, j);
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
	return jobs_enqueue(t, j, JOBS_QUEUE, NULL, NULL);
}

int
jobs_submit_inline(struct token *t, struct job *j, struct token_session **s)
{
	*s = NULL;
	return jobs_enqueue(t, j, JOBS_INLINE, s, NULL);
}

int
jobs_keep(struct token *t, struct job *j, int unless_idle, int *kept)
{
	*kept = 0;
	return jobs_enqueue(t, j,
			    unless_idle ? JOBS_KEEP_UNLESS_IDLE : JOBS_KEEP,
			    NULL, kept);
}

void
jobs_run_inline(struct token *t, struct job *j, struct token_session *s)
{
	struct job_queue *q = t->queue;
	int same;

	pthread_mutex_lock(&q->lock);
	s->run = j->next;
	j->next = NULL;
	same = jobs_hand_out_locked(s, j);
	pthread_mutex_unlock(&q->lock);
	/* then back to the loop's clients, well before the rescue would */
	jobs_run_batch(t, j, s, p11a_clock_us() + JOBS_INLINE_BUDGET_US, same);
	atomic_fetch_sub(&q->inline_running, 1);
}

void
jobs_unstick(struct token *t, uint64_t now_ms)
{
	struct job_queue *q = t->queue;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < t->n_sessions; i++) {
		struct token_session *s = &t->sessions[i];

		if (s->run == NULL ||
		    now_ms < atomic_load(&s->started_ms) + JOBS_STUCK_MS)
			continue;
		jobs_push_front_locked(q, s->run);
		s->run = NULL;
		pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->lock);
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
