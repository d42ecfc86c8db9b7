#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "jobs.h"
#include "log.h"
#include "p11agent/error.h"
#include "token.h"

#define MAX_EVENTS 64
/* blocking waits end this often, so ticks (sweeps) run on idle loops */
#define LOOP_TICK_MS 500
/* threads one loop may collect while tokens hold the others */
#define LOOP_MAX_THREADS 8
/*
 * What one wake-up keeps for its thread: SIGNs expected to take this long
 * together (job.cost_us), and more only while no other session is idle
 * (a hand-over to a worker costs far less than a slower signature, which
 * an idle session may make meanwhile); never more than LOOP_KEEP_MAX (the
 * rest is queued, where the token's limit on waiting requests applies)
 */
#define LOOP_KEEP_US 300
#define LOOP_KEEP_MAX 64
/* tokens slower than this per signature are never signed on in place */
#define LOOP_SLOW_TOKEN_US 20000u

/* The SIGNs kept for the loop thread that read them. */
struct loop_deferred {
	struct job *job, *last; /* linked by next */
	unsigned n;
	int handed_over;  /* a later SIGN for the token went to the workers */
	uint64_t cost_us; /* what they are expected to take (unknown: 1) */
	struct token *token;
	struct token_session *session;
};

struct loop {
	unsigned index;
	int epfd;
	pthread_mutex_t role;  /* held by the thread serving the loop */
	atomic_uint attending; /* threads holding or waiting for the role */
	atomic_uint n_threads; /* threads started for this loop */
	atomic_uint_fast64_t unattended_since_ms;
	atomic_uint n_conns;
	/* the rest belongs to the role holder */
	struct loop_deferred deferred;
	int queued;	 /* this wake-up queued a SIGN (do not spin) */
	int just_served; /* the last wake-up signed in place: spin */
};

static struct {
	struct loop loops[LOOP_MAX];
	unsigned n;
	unsigned spin_us;
	const struct loop_ops *ops;
	void *ctx;
	atomic_int started; /* loops_start() ran: the rescue may act */
	atomic_int stop;
	atomic_uint running; /* loop threads that have not returned */
	pthread_mutex_t spawn_lock;
} lp = {.spawn_lock = PTHREAD_MUTEX_INITIALIZER};

/* The loop whose role this thread holds; NULL outside loop threads. */
static _Thread_local struct loop *current_loop;

int
loops_init(unsigned n, unsigned spin_us)
{
	if (n == 0)
		n = 1;
	if (n > LOOP_MAX)
		n = LOOP_MAX;
	lp.spin_us = spin_us;
	for (lp.n = 0; lp.n < n; lp.n++) {
		struct loop *l = &lp.loops[lp.n];

		memset(l, 0, sizeof(*l));
		l->index = lp.n;
		pthread_mutex_init(&l->role, NULL);
		if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
			return P11A_ERR_IO;
	}
	return P11A_OK;
}

unsigned
loops_count(void)
{
	return lp.n;
}

struct loop *
loops_get(unsigned i)
{
	return i < lp.n ? &lp.loops[i] : NULL;
}

struct loop *
loops_least_loaded(void)
{
	struct loop *best = &lp.loops[0];

	for (unsigned i = 1; i < lp.n; i++)
		if (atomic_load(&lp.loops[i].n_conns) <
		    atomic_load(&best->n_conns))
			best = &lp.loops[i];
	return best;
}

int
loop_epfd(const struct loop *l)
{
	return l->epfd;
}

unsigned
loop_index(const struct loop *l)
{
	return l->index;
}

void
loop_conn_added(struct loop *l)
{
	atomic_fetch_add(&l->n_conns, 1);
}

void
loop_conn_removed(struct loop *l)
{
	atomic_fetch_sub(&l->n_conns, 1);
}

/*
 * A token that takes long per signature (a smartcard) gains nothing from
 * in-place signing and would hold the loop for the rescue time each time.
 */
static int
token_is_slow(struct token *t)
{
	return sign_stats_avg_us(&t->stats) > LOOP_SLOW_TOKEN_US;
}

/*
 * What j is expected to take, for what a wake-up keeps; unknown (no
 * signature on the token yet) counts as a whole LOOP_KEEP_US.
 */
static uint64_t
loop_job_cost(const struct job *j)
{
	return j->cost_us > 0 ? j->cost_us : LOOP_KEEP_US;
}

/*
 * Whether this wake-up keeps enough with j (LOOP_KEEP_US): j then goes
 * to a worker if a session is idle (loop_submit).
 */
static int
loop_keeps_enough(const struct loop *l, const struct job *j)
{
	return l->deferred.cost_us + loop_job_cost(j) > LOOP_KEEP_US;
}

int
loop_submit(struct token *t, struct job *j)
{
	struct loop *l = current_loop;
	struct token_session *s = NULL;
	int r, kept;

	if (l == NULL)
		return jobs_submit(t, j);
	if (!j->in_place || token_is_slow(t) ||
	    j->cost_us > LOOP_SLOW_TOKEN_US) {
		/* the workers sign it: their CPU, not a poller's */
		l->queued = 1;
		return jobs_submit(t, j);
	}
	/*
	 * Later SIGNs of this wake-up for the same token follow the first on
	 * its session, up to LOOP_KEEP_US of them and beyond while no other
	 * session is idle: a pipelining client's requests then cost no
	 * hand-over to a worker and their replies go out together.  Once one
	 * went to a worker, the rest follows it: halves, not 7 and 1.
	 */
	if (l->deferred.job != NULL && l->deferred.token == t &&
	    l->deferred.n < LOOP_KEEP_MAX && !l->deferred.handed_over) {
		if ((r = jobs_keep(t, j, loop_keeps_enough(l, j), &kept)) !=
		    P11A_OK)
			return r;
		if (!kept) {
			l->deferred.handed_over = 1;
			l->queued = 1;
			return P11A_OK;
		}
		l->deferred.last->next = j;
		l->deferred.last = j;
		l->deferred.n++;
		l->deferred.cost_us += loop_job_cost(j);
		return P11A_OK;
	}
	if (l->deferred.job != NULL) {
		if (l->deferred.token == t)
			l->deferred.handed_over = 1;
		l->queued = 1;
		return jobs_submit(t, j);
	}
	if ((r = jobs_submit_inline(t, j, &s)) != P11A_OK || s == NULL) {
		l->queued = 1;
		return r;
	}
	l->deferred.job = l->deferred.last = j;
	l->deferred.n = 1;
	l->deferred.cost_us = loop_job_cost(j);
	l->deferred.token = t;
	l->deferred.session = s;
	return P11A_OK;
}

/*
 * Poll the loop's epoll set for up to --spin microseconds, yielding the
 * CPU between polls; 0 when nothing came (or the CPU had other work).
 */
static int
loop_poll(struct loop *l, struct epoll_event *ev)
{
	uint64_t until = p11a_clock_us() + lp.spin_us;
	struct p11a_spin spin;
	int n;

	p11a_spin_begin(&spin);
	do {
		n = epoll_wait(l->epfd, ev, MAX_EVENTS, 0);
		if (n != 0)
			return n;
		/* a busy CPU: the others' work goes first, we sleep */
		if (p11a_spin_yield(&spin))
			break;
	} while (p11a_clock_us() < until && !atomic_load(&lp.stop));
	return 0;
}

/*
 * Wait for events.  Right after serving a request, poll first: the same
 * client's next request usually follows within microseconds.
 */
static int
loop_wait(struct loop *l, struct epoll_event *ev)
{
	int n;

	if (l->just_served && lp.spin_us > 0 && (n = loop_poll(l, ev)) != 0)
		return n;
	return epoll_wait(l->epfd, ev, MAX_EVENTS, LOOP_TICK_MS);
}

static int loop_spawn(struct loop *l);

/*
 * Whether the loop has clients to spare while another loop sits with
 * fewer: placement counts connections whose hang-up no loop has read yet,
 * so two busy clients can end up on one loop while another is idle.
 * A second thread then takes the role while the first signs, so neither
 * client waits for the other's signature.  When every loop is busy a
 * second thread would only add a wake-up per request.
 */
static int
loop_wants_standby(struct loop *l)
{
	unsigned n = atomic_load(&l->n_conns);

	return n >= 2 && atomic_load(&loops_least_loaded()->n_conns) + 1 < n;
}

static void
loop_ensure_standby(struct loop *l)
{
	if (atomic_load(&l->n_threads) >= 2 || !loop_wants_standby(l))
		return;
	pthread_mutex_lock(&lp.spawn_lock);
	if (atomic_load(&l->n_threads) < 2 && !atomic_load(&lp.stop))
		loop_spawn(l);
	pthread_mutex_unlock(&lp.spawn_lock);
}

/*
 * After signing in place: a thread more than the loop needs, since no
 * standby is wanted and another thread holds or waits for the role (not
 * a rescue thread whose fellows are all inside a hung token).
 */
static int
loop_thread_spare(struct loop *l)
{
	unsigned wanted = loop_wants_standby(l) ? 2 : 1;

	return atomic_load(&l->n_threads) > wanted &&
	       atomic_load(&l->attending) > 0;
}

static void
loop_thread_leave(struct loop *l)
{
	current_loop = NULL;
	atomic_fetch_sub(&l->n_threads, 1);
	atomic_fetch_sub(&lp.running, 1);
}

/*
 * Run the kept SIGN without the role, so another thread may serve.
 * Returns 0 when this thread is spare and has left the loop (without
 * the role), else 1 with the role held again.
 */
static int
loop_run_deferred(struct loop *l)
{
	struct loop_deferred d = l->deferred;

	memset(&l->deferred, 0, sizeof(l->deferred));
	loop_ensure_standby(l);
	/* before the count drops: the monitor must never see a stale time */
	atomic_store(&l->unattended_since_ms, jobs_now_ms());
	atomic_fetch_sub(&l->attending, 1);
	pthread_mutex_unlock(&l->role);
	current_loop = NULL;
	jobs_run_inline(d.token, d.job, d.session);
	pthread_mutex_lock(&lp.spawn_lock);
	if (loop_thread_spare(l)) {
		loop_thread_leave(l);
		pthread_mutex_unlock(&lp.spawn_lock);
		return 0;
	}
	pthread_mutex_unlock(&lp.spawn_lock);
	atomic_fetch_add(&l->attending, 1);
	pthread_mutex_lock(&l->role);
	current_loop = l;
	return 1;
}

static void *
loop_thread(void *arg)
{
	struct epoll_event ev[MAX_EVENTS];
	struct loop *l = arg;
	int n;

	pthread_mutex_lock(&l->role);
	current_loop = l;
	while (!atomic_load(&lp.stop)) {
		n = loop_wait(l, ev);
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		if (n > 0)
			lp.ops->handle(lp.ctx, l, ev, n);
		lp.ops->tick(lp.ctx, l, jobs_now_ms());
		/*
		 * Spin only for a client that waits for each reply before its
		 * next request; one that pipelines keeps the workers busy, and
		 * a spinning loop would take their CPU.
		 */
		l->just_served = l->deferred.job != NULL && !l->queued;
		l->queued = 0;
		if (l->deferred.job != NULL && !loop_run_deferred(l))
			return NULL;
	}
	atomic_fetch_sub(&l->attending, 1);
	pthread_mutex_unlock(&l->role);
	loop_thread_leave(l);
	return NULL;
}

static int
loop_spawn(struct loop *l)
{
	pthread_attr_t attr;
	pthread_t th;
	int r;

	pthread_attr_init(&attr);
	/* nobody joins: a thread stuck in a module is left behind */
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&lp.running, 1);
	atomic_fetch_add(&l->attending, 1);
	atomic_fetch_add(&l->n_threads, 1);
	r = pthread_create(&th, &attr, loop_thread, l);
	pthread_attr_destroy(&attr);
	if (r == 0)
		return P11A_OK;
	atomic_fetch_sub(&lp.running, 1);
	atomic_fetch_sub(&l->attending, 1);
	atomic_fetch_sub(&l->n_threads, 1);
	return P11A_ERR_NO_MEMORY;
}

int
loops_start(const struct loop_ops *ops, void *ctx)
{
	int r;

	lp.ops = ops;
	lp.ctx = ctx;
	for (unsigned i = 0; i < lp.n; i++)
		if ((r = loop_spawn(&lp.loops[i])) != P11A_OK)
			return r;
	atomic_store(&lp.started, 1);
	return P11A_OK;
}

void
loops_rescue(uint64_t now_ms)
{
	if (!atomic_load(&lp.started))
		return;
	pthread_mutex_lock(&lp.spawn_lock);
	for (unsigned i = 0; i < lp.n && !atomic_load(&lp.stop); i++) {
		struct loop *l = &lp.loops[i];
		uint64_t since = atomic_load(&l->unattended_since_ms);

		/* since may be after now: now was read before the jobs walk */
		if (atomic_load(&l->attending) != 0 || since > now_ms ||
		    now_ms - since < LOOP_RESCUE_MS ||
		    atomic_load(&l->n_threads) >= LOOP_MAX_THREADS)
			continue;
		log_warn("event loop %u: every thread is waiting for a token; "
			 "starting another for its clients",
			 i);
		loop_spawn(l);
	}
	pthread_mutex_unlock(&lp.spawn_lock);
}

int
loops_stop(int timeout_ms)
{
	uint64_t until = jobs_now_ms() + (uint64_t)timeout_ms;

	pthread_mutex_lock(&lp.spawn_lock);
	atomic_store(&lp.stop, 1);
	pthread_mutex_unlock(&lp.spawn_lock);
	while (atomic_load(&lp.running) > 0 && jobs_now_ms() < until) {
		struct timespec pause = {0, 5 * 1000 * 1000};

		nanosleep(&pause, NULL);
	}
	return atomic_load(&lp.running) > 0 ? -1 : 0;
}

void
loops_free(void)
{
	for (unsigned i = 0; i < lp.n; i++) {
		close(lp.loops[i].epfd);
		pthread_mutex_destroy(&lp.loops[i].role);
	}
	lp.n = 0;
}
