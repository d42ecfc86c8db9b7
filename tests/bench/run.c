#include "run.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "keys.h"

/* Latencies a thread has room for before the timed part (it grows). */
#define SAMPLES_HINT 65536

enum phase { PHASE_SETUP, PHASE_GO, PHASE_RELEASE };

/* The main thread moves every client thread through the phases. */
struct sync {
	pthread_mutex_t m;
	pthread_cond_t cv;
	enum phase phase;
	unsigned ready, done; /* threads that reached each point */
};

struct worker {
	pthread_t t;
	const struct bench_driver *d;
	const struct bench_cell *c;
	struct bench_stop *stop; /* set by main before PHASE_GO */
	struct sync *sync;
	struct bench_input in;
	struct bench_samples s;
	uint64_t n;
	int failed;
	char why[BENCH_WHY];
};

static void
sync_count(struct sync *y, unsigned *counter)
{
	pthread_mutex_lock(&y->m);
	++*counter;
	pthread_cond_broadcast(&y->cv);
	pthread_mutex_unlock(&y->m);
}

static void
sync_wait_phase(struct sync *y, enum phase p)
{
	pthread_mutex_lock(&y->m);
	while (y->phase < p)
		pthread_cond_wait(&y->cv, &y->m);
	pthread_mutex_unlock(&y->m);
}

static void
sync_wait_count(struct sync *y, const unsigned *counter, unsigned n)
{
	pthread_mutex_lock(&y->m);
	while (*counter < n)
		pthread_cond_wait(&y->cv, &y->m);
	pthread_mutex_unlock(&y->m);
}

static void
sync_set_phase(struct sync *y, enum phase p)
{
	pthread_mutex_lock(&y->m);
	y->phase = p;
	pthread_cond_broadcast(&y->cv);
	pthread_mutex_unlock(&y->m);
}

/* A random message and, for hashed schemes, its digest. */
static int
make_input(struct bench_input *in, const struct bench_cell *c)
{
	const struct p11a_scheme_info *sc = c->scheme->sc;

	memset(in, 0, sizeof(*in));
	in->sc = sc;
	in->msg_len = c->o->msg_len;
	in->message_form = c->o->message_form;
	if (RAND_bytes(in->msg, (int)in->msg_len) != 1)
		return -1;
	if (sc->hash == P11A_HASH_NONE)
		return 0;
	return p11a_scheme_hash(sc, in->msg, in->msg_len, in->digest,
				sizeof(in->digest), &in->digest_len) == 0
		       ? 0
		       : -1;
}

/* One signature, checked with OpenSSL, before the clock starts. */
static int
warm_up(struct worker *w, void *conn)
{
	uint8_t sig[BENCH_SIG_MAX];
	size_t len = 0;

	if (w->d->sign(conn, &w->in, sig, &len, w->why) != 0)
		return -1;
	if (bench_verify(w->c->key, &w->in, sig, len) != 0)
		return bench_why(w->why, "%s: the %s signature does not verify",
				 bench_mode_name(w->d->mode),
				 w->c->scheme->sc->name);
	return 0;
}

static int
blocking_loop(struct worker *w, void *conn)
{
	uint64_t t0, t1;

	for (w->n = 0;; w->n++) {
		t0 = bench_now_ns();
		if (bench_stop_reached(w->stop, w->n, t0))
			return 0;
		if (w->d->sign(conn, &w->in, NULL, NULL, w->why) != 0)
			return -1;
		t1 = bench_now_ns();
		samples_add(&w->s, t1 - t0);
	}
}

static int
timed_part(struct worker *w, void *conn)
{
	if (w->d->loop != NULL)
		return w->d->loop(conn, &w->in, w->stop, &w->s, &w->n, w->why);
	return blocking_loop(w, conn);
}

/* Input, session or connection, warm-up. */
static int
prepare(struct worker *w, void **conn)
{
	if (w->failed)
		return -1;
	if (make_input(&w->in, w->c) != 0)
		return bench_why(w->why, "cannot make the input");
	if (w->d->open(w->c, conn, w->why) != 0)
		return -1;
	return warm_up(w, *conn);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	void *conn = NULL;

	if (prepare(w, &conn) != 0)
		w->failed = 1;
	sync_count(w->sync, &w->sync->ready);
	sync_wait_phase(w->sync, PHASE_GO);
	if (!w->failed && timed_part(w, conn) != 0)
		w->failed = 1;
	sync_count(w->sync, &w->sync->done);
	/* connections stay open until every CPU figure is taken: a
	 * server that forks per connection must not lose its children */
	sync_wait_phase(w->sync, PHASE_RELEASE);
	if (conn != NULL)
		w->d->close(conn);
	return NULL;
}

/* CPU and wall time at one end of the timed part. */
struct snapshot {
	uint64_t wall_ns;
	int64_t self_ns, server_ns;
};

/* Reading /proc takes a while: it happens outside the wall-clock
 * interval and outside this process's CPU interval. */
static void
snapshot_start(struct snapshot *s, pid_t server)
{
	s->server_ns = server > 0 ? cpu_tree_ns(server) : -1;
	s->self_ns = cpu_self_ns();
	s->wall_ns = bench_now_ns();
}

static void
snapshot_end(struct snapshot *s, pid_t server)
{
	s->wall_ns = bench_now_ns();
	s->self_ns = cpu_self_ns();
	s->server_ns = server > 0 ? cpu_tree_ns(server) : -1;
}

static void
fill_result(struct bench_result *res, struct worker *w, unsigned n,
	    const struct snapshot *a, const struct snapshot *b)
{
	struct bench_samples all;
	double sigs;
	unsigned i;

	res->ok = 1;
	for (i = 0; i < n; i++) {
		res->signatures += w[i].n;
		if (w[i].failed && res->ok) {
			res->ok = 0;
			snprintf(res->why, sizeof(res->why), "%s", w[i].why);
		}
	}
	res->seconds = (double)(b->wall_ns - a->wall_ns) / 1e9;
	sigs = (double)res->signatures;
	if (!res->ok || sigs == 0 || res->seconds <= 0) {
		res->ok = 0;
		if (res->why[0] == '\0')
			snprintf(res->why, sizeof(res->why), "no signature");
		return;
	}
	res->rate = sigs / res->seconds;
	res->client_cpu_us = (double)(b->self_ns - a->self_ns) / sigs / 1e3;
	res->server_cpu_us = -1;
	if (a->server_ns >= 0 && b->server_ns >= 0)
		res->server_cpu_us =
			(double)(b->server_ns - a->server_ns) / sigs / 1e3;
	if (samples_init(&all, (size_t)res->signatures) != 0)
		return;
	for (i = 0; i < n; i++)
		samples_append(&all, &w[i].s);
	res->p50_us = samples_percentile_us(&all, 50);
	res->p99_us = samples_percentile_us(&all, 99);
	samples_free(&all);
}

/* Start the threads; returns how many started. */
static unsigned
start_workers(struct worker *w, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (pthread_create(&w[i].t, NULL, worker_main, &w[i]) != 0)
			break;
	}
	return i;
}

int
bench_run_cell(const struct bench_driver *d, const struct bench_cell *c,
	       struct bench_result *res)
{
	static struct worker w[BENCH_MAX_THREADS];
	struct sync y = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 PHASE_SETUP, 0, 0};
	struct bench_stop stop = {0, 0};
	pid_t server = d->server_pid(c->shared);
	struct snapshot a, b;
	unsigned i, n;
	uint64_t per_thread = (c->o->count + c->threads - 1) / c->threads;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < c->threads; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].d = d;
		w[i].c = c;
		w[i].stop = &stop;
		w[i].sync = &y;
		if (samples_init(&w[i].s,
				 per_thread && per_thread < SAMPLES_HINT
					 ? per_thread
					 : SAMPLES_HINT))
			w[i].failed = bench_why(w[i].why, "out of memory");
	}
	n = start_workers(w, c->threads);
	sync_wait_count(&y, &y.ready, n);
	snapshot_start(&a, server);
	stop.count = per_thread;
	stop.deadline_ns = a.wall_ns + (uint64_t)(c->o->seconds * 1e9);
	sync_set_phase(&y, PHASE_GO);
	sync_wait_count(&y, &y.done, n);
	snapshot_end(&b, server);
	sync_set_phase(&y, PHASE_RELEASE);
	for (i = 0; i < n; i++)
		pthread_join(w[i].t, NULL);
	fill_result(res, w, n, &a, &b);
	if (n < c->threads && res->ok) {
		res->ok = 0;
		snprintf(res->why, sizeof(res->why), "cannot start threads");
	}
	for (i = 0; i < c->threads; i++)
		samples_free(&w[i].s);
	return res->ok ? 0 : -1;
}
