/*
 * p11a-stress: many libp11agent connections signing against a running
 * p11agentd, every signature verified with OpenSSL.
 *
 *   p11a-stress [options] --key ID,SCHEME,PEM[,WEIGHT] ...
 *
 *   --connections N    well-behaved connections, one thread each (64)
 *   --depth D          SIGNs in flight per connection (16); 0: blocking
 *                      p11a_client_sign() calls
 *   --total N          signatures to make in all (20000)
 *   --garbage N        garbage threads alongside (stress_garbage.c)
 *   --agent-pid PID    check the agent's RSS: at the end (connections
 *                      still open) it may exceed the RSS after warm-up
 *                      by at most max(--rss-margin-kb, --rss-margin-pct)
 *   --warmup-pct P     share of --total that counts as warm-up (20)
 *   --ready-file PATH  created once warm-up is done (for a test that
 *                      kills the agent under load then)
 *   --deadline SEC     give up (FAIL) after SEC seconds (300)
 *   --restart          the agent may die and come back: broken
 *                      connections and missing agents are waited out and
 *                      lost requests sent again (see client.h)
 *
 * Every reply must answer an outstanding request id exactly once, carry
 * a signature that verifies under the key's PEM public key, and no
 * ERROR may come back.  Prints one summary line; exit 0 when all holds.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p11agent/client.h"
#include "stress.h"

#define MAX_KEYS 16
#define MAX_DEPTH 256
#define MSG_MAX 64
#define WAIT_AGENT_MS 30000 /* how long --restart waits for an agent */

struct options {
	struct stress_key keys[MAX_KEYS];
	size_t n_keys;
	unsigned weight_total;
	unsigned connections, depth, garbage, warmup_pct;
	unsigned long total;
	long agent_pid;
	unsigned long rss_margin_kb, rss_margin_pct;
	const char *ready_file;
	int restart;
	unsigned deadline_s;
};

struct slot {
	int used;
	uint32_t id;
	size_t key;
	uint8_t msg[MSG_MAX];
	size_t len;
};

struct worker {
	pthread_t thread;
	const struct options *opt;
	struct stress_stats *st;
	unsigned long quota;
	unsigned seed;
	pthread_barrier_t *end; /* hold connections open for the RSS check */
	struct slot slots[MAX_DEPTH];
	unsigned inflight;
};

static atomic_ulong done_total;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static size_t
pick_key(const struct options *opt, unsigned *seed)
{
	unsigned w = (unsigned)rand_r(seed) % opt->weight_total;
	size_t i;

	for (i = 0; i + 1 < opt->n_keys && w >= opt->keys[i].weight; i++)
		w -= opt->keys[i].weight;
	return i;
}

static void
record_error(struct stress_stats *st, int code, const char *msg)
{
	int none = 0;

	atomic_fetch_add(&st->errors, 1);
	if (atomic_compare_exchange_strong(&st->first_error, &none, code))
		fprintf(stderr, "p11a-stress: first error: %s: %s\n",
			p11a_err_name(code), msg != NULL ? msg : "");
}

/* A failure that --restart waits out: the agent is (re)starting. */
static int
transient(const struct options *opt, int r)
{
	return opt->restart && (r == P11A_ERR_IO || r == P11A_ERR_CONNECT);
}

static int
connect_agent(struct worker *w, p11a_client **c)
{
	uint64_t until = now_ms() + WAIT_AGENT_MS;
	int r;

	while ((r = p11a_client_connect(NULL, c)) != P11A_OK) {
		if (!transient(w->opt, r) || now_ms() > until) {
			record_error(w->st, r, "connect");
			return r;
		}
		atomic_fetch_add(&w->st->reconnects, 1);
		sleep_ms(20);
	}
	return P11A_OK;
}

static void
make_request(struct worker *w, struct slot *s, struct p11a_sign_request *req)
{
	s->key = pick_key(w->opt, &w->seed);
	s->len = 32 + (size_t)rand_r(&w->seed) % (MSG_MAX - 32);
	for (size_t i = 0; i < s->len; i++)
		s->msg[i] = (uint8_t)rand_r(&w->seed);
	memset(req, 0, sizeof(*req));
	req->identity = w->opt->keys[s->key].id;
	req->scheme = w->opt->keys[s->key].scheme;
	req->data = s->msg;
	req->data_len = s->len;
}

static void
check_signature(struct worker *w, const struct slot *s, const uint8_t *sig,
		size_t sig_len)
{
	const struct stress_key *k = &w->opt->keys[s->key];

	if (stress_verify(k->pub, k->scheme, s->msg, s->len, sig, sig_len))
		atomic_fetch_add(&w->st->signed_ok, 1);
	else
		atomic_fetch_add(&w->st->bad_sig, 1);
	atomic_fetch_add(&done_total, 1);
}

/* Blocking calls: one request at a time, repeated across restarts. */
static void
run_blocking(struct worker *w, p11a_client *c)
{
	struct p11a_sign_request req;
	uint8_t *sig;
	size_t sig_len;
	uint64_t until;
	int r;

	for (unsigned long n = 0; n < w->quota; n++) {
		make_request(w, &w->slots[0], &req);
		until = now_ms() + WAIT_AGENT_MS;
		while ((r = p11a_client_sign(c, &req, &sig, &sig_len)) !=
			       P11A_OK &&
		       transient(w->opt, r) && now_ms() < until) {
			atomic_fetch_add(&w->st->reconnects, 1);
			sleep_ms(20);
		}
		if (r != P11A_OK) {
			record_error(w->st, r, p11a_client_last_message(c));
			return;
		}
		check_signature(w, &w->slots[0], sig, sig_len);
		free(sig);
	}
}

static struct slot *
free_slot(struct worker *w)
{
	for (unsigned i = 0; i < w->opt->depth; i++)
		if (!w->slots[i].used)
			return &w->slots[i];
	return NULL;
}

static struct slot *
find_slot(struct worker *w, uint32_t id)
{
	for (unsigned i = 0; i < w->opt->depth; i++)
		if (w->slots[i].used && w->slots[i].id == id)
			return &w->slots[i];
	return NULL;
}

/* The connection broke: its outstanding requests are to be sent again. */
static unsigned long
drop_inflight(struct worker *w)
{
	unsigned long n = w->inflight;

	for (unsigned i = 0; i < w->opt->depth; i++)
		w->slots[i].used = 0;
	w->inflight = 0;
	atomic_fetch_add(&w->st->lost, n);
	return n;
}

/* Send one more request; returns a p11a_err (transient ones waited). */
static int
send_one(struct worker *w, p11a_client *c)
{
	struct p11a_sign_request req;
	struct slot *s = free_slot(w);
	uint64_t until = now_ms() + WAIT_AGENT_MS;
	int r;

	make_request(w, s, &req);
	while ((r = p11a_client_send_sign(c, &req, &s->id)) != P11A_OK) {
		if (!transient(w->opt, r) || now_ms() > until)
			return r;
		/* requests sent before the break are lost with it */
		if (w->inflight > 0)
			return r;
		atomic_fetch_add(&w->st->reconnects, 1);
		sleep_ms(20);
	}
	s->used = 1;
	w->inflight++;
	return P11A_OK;
}

/* Take one reply; returns a p11a_err of the connection, not the reply. */
static int
recv_one(struct worker *w, p11a_client *c)
{
	struct p11a_reply rep;
	struct slot *s;
	int r;

	if ((r = p11a_client_recv(c, &rep)) != P11A_OK)
		return r;
	if ((s = find_slot(w, rep.id)) == NULL) {
		atomic_fetch_add(&w->st->unknown_id, 1);
	} else if (rep.error != 0) {
		record_error(w->st, (int)rep.error, rep.message);
		s->used = 0;
		w->inflight--;
	} else {
		check_signature(w, s, rep.sig, rep.sig_len);
		s->used = 0;
		w->inflight--;
	}
	p11a_reply_free(&rep);
	return P11A_OK;
}

/* Pipelined: keep depth requests in flight until the quota is met. */
static void
run_pipelined(struct worker *w, p11a_client *c)
{
	unsigned long sent = 0, got = 0;
	int r;

	while (got < w->quota) {
		while (w->inflight < w->opt->depth && sent < w->quota) {
			if ((r = send_one(w, c)) == P11A_OK) {
				sent++;
				continue;
			}
			if (!transient(w->opt, r)) {
				record_error(w->st, r,
					     p11a_client_last_message(c));
				return;
			}
			sent -= drop_inflight(w);
		}
		r = recv_one(w, c);
		if (r == P11A_OK) {
			got++;
			continue;
		}
		if (!transient(w->opt, r)) {
			record_error(w->st, r, p11a_client_last_message(c));
			return;
		}
		sent -= drop_inflight(w);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	p11a_client *c = NULL;

	if (connect_agent(w, &c) == P11A_OK) {
		if (w->opt->depth == 0)
			run_blocking(w, c);
		else
			run_pipelined(w, c);
	}
	pthread_barrier_wait(w->end);
	pthread_barrier_wait(w->end);
	p11a_client_close(c);
	return NULL;
}

/* ---- options --------------------------------------------------------- */

static int
parse_key(struct options *opt, char *arg)
{
	char *id = strtok(arg, ","), *scheme = strtok(NULL, ","),
	     *pem = strtok(NULL, ","), *weight = strtok(NULL, ",");
	struct stress_key *k;

	if (opt->n_keys >= MAX_KEYS || id == NULL || scheme == NULL ||
	    pem == NULL)
		return -1;
	k = &opt->keys[opt->n_keys];
	k->id = id;
	k->weight = weight != NULL ? (unsigned)strtoul(weight, NULL, 10) : 1;
	if (p11a_scheme_from_name(scheme, &k->scheme) != P11A_OK ||
	    k->weight == 0 || (k->pub = stress_load_pub(pem)) == NULL) {
		fprintf(stderr, "p11a-stress: bad --key %s,%s,%s\n", id, scheme,
			pem);
		return -1;
	}
	opt->weight_total += k->weight;
	opt->n_keys++;
	return 0;
}

static int
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option lo[] = {
		{"key", required_argument, NULL, 'k'},
		{"connections", required_argument, NULL, 'c'},
		{"depth", required_argument, NULL, 'd'},
		{"total", required_argument, NULL, 'n'},
		{"garbage", required_argument, NULL, 'g'},
		{"agent-pid", required_argument, NULL, 'p'},
		{"rss-margin-kb", required_argument, NULL, 'm'},
		{"rss-margin-pct", required_argument, NULL, 'M'},
		{"warmup-pct", required_argument, NULL, 'w'},
		{"ready-file", required_argument, NULL, 'r'},
		{"restart", no_argument, NULL, 'R'},
		{"deadline", required_argument, NULL, 'D'},
		{NULL, 0, NULL, 0}};
	int ch;

	*opt = (struct options){.connections = 64,
				.depth = 16,
				.total = 20000,
				.warmup_pct = 20,
				.rss_margin_kb = 8192,
				.rss_margin_pct = 10,
				.deadline_s = 300};
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (parse_key(opt, optarg) != 0)
				return -1;
			break;
		case 'c':
			opt->connections = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			opt->depth = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			opt->total = strtoul(optarg, NULL, 10);
			break;
		case 'g':
			opt->garbage = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			opt->agent_pid = strtol(optarg, NULL, 10);
			break;
		case 'm':
			opt->rss_margin_kb = strtoul(optarg, NULL, 10);
			break;
		case 'M':
			opt->rss_margin_pct = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			opt->warmup_pct = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			opt->ready_file = optarg;
			break;
		case 'R':
			opt->restart = 1;
			break;
		case 'D':
			opt->deadline_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return -1;
		}
	}
	if (opt->n_keys == 0 || opt->connections == 0 ||
	    opt->depth > MAX_DEPTH || opt->total < opt->connections ||
	    optind != argc) {
		fprintf(stderr, "usage: p11a-stress [--connections N] "
				"[--depth D] [--total N] [--garbage N]\n"
				"  [--agent-pid PID] [--restart] "
				"--key ID,SCHEME,PEM[,WEIGHT]...\n");
		return -1;
	}
	return 0;
}

/* ---- main ------------------------------------------------------------ */

/* Wait for warm-up: then note the RSS and tell the test (ready file). */
static unsigned long
wait_warmup(const struct options *opt, const struct stress_stats *st)
{
	unsigned long warm = opt->total * opt->warmup_pct / 100;
	FILE *f;

	while (atomic_load(&done_total) < warm && atomic_load(&st->errors) == 0)
		sleep_ms(5);
	if (opt->ready_file != NULL && (f = fopen(opt->ready_file, "w")))
		fclose(f);
	return opt->agent_pid > 0 ? stress_rss_kb(opt->agent_pid) : 0;
}

static int
rss_ok(const struct options *opt, unsigned long warm, unsigned long end)
{
	unsigned long margin = warm * opt->rss_margin_pct / 100;

	if (margin < opt->rss_margin_kb)
		margin = opt->rss_margin_kb;
	return opt->agent_pid <= 0 || (warm > 0 && end <= warm + margin);
}

static int
report(const struct options *opt, const struct stress_stats *st,
       unsigned long rss_warm, unsigned long rss_end, double secs)
{
	unsigned long ok = atomic_load(&st->signed_ok);
	int good = ok == opt->total && atomic_load(&st->bad_sig) == 0 &&
		   atomic_load(&st->errors) == 0 &&
		   atomic_load(&st->unknown_id) == 0 &&
		   atomic_load(&st->garbage_bad) == 0 &&
		   rss_ok(opt, rss_warm, rss_end);

	printf("signed=%lu/%lu bad_sig=%lu errors=%lu unknown_id=%lu "
	       "lost=%lu reconnects=%lu garbage=%lu garbage_not_closed=%lu "
	       "rss_warm_kb=%lu rss_end_kb=%lu seconds=%.1f rate=%.0f/s %s\n",
	       ok, opt->total, atomic_load(&st->bad_sig),
	       atomic_load(&st->errors), atomic_load(&st->unknown_id),
	       atomic_load(&st->lost), atomic_load(&st->reconnects),
	       atomic_load(&st->garbage), atomic_load(&st->garbage_bad),
	       rss_warm, rss_end, secs, secs > 0 ? ok / secs : 0.0,
	       good ? "PASS" : "FAIL");
	return good ? 0 : 1;
}

/* A stuck agent must fail the test, not hang it: report and leave. */
static void *
watchdog(void *arg)
{
	const struct options *opt = arg;

	sleep(opt->deadline_s);
	printf("signed=%lu/%lu: not done after --deadline %u s FAIL\n",
	       atomic_load(&done_total), opt->total, opt->deadline_s);
	fflush(stdout);
	_exit(1);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct options opt;
	static struct stress_stats st;
	struct worker *w;
	pthread_t *g;
	struct garbage_arg *ga;
	pthread_barrier_t end;
	unsigned long rss_warm, rss_end;
	uint64_t t0 = now_ms();
	int rc;

	if (parse_options(argc, argv, &opt) != 0)
		return 2;
	w = calloc(opt.connections, sizeof(*w));
	g = calloc(opt.garbage + 1, sizeof(*g));
	ga = calloc(opt.garbage + 1, sizeof(*ga));
	if (w == NULL || g == NULL || ga == NULL) {
		free(w);
		free(g);
		free(ga);
		return 2;
	}
	pthread_barrier_init(&end, NULL, opt.connections + 1);
	if (opt.deadline_s > 0) {
		pthread_t wd;

		pthread_create(&wd, NULL, watchdog, &opt);
		pthread_detach(wd);
	}
	for (unsigned i = 0; i < opt.garbage; i++) {
		ga[i] = (struct garbage_arg){.path = getenv("P11AGENT_SOCK"),
					     .identity = opt.keys[0].id,
					     .scheme = opt.keys[0].scheme,
					     .st = &st,
					     .seed = 7919u * (i + 1)};
		pthread_create(&g[i], NULL, stress_garbage_thread, &ga[i]);
	}
	for (unsigned i = 0; i < opt.connections; i++) {
		w[i].opt = &opt;
		w[i].st = &st;
		w[i].end = &end;
		w[i].seed = 104729u * (i + 1);
		w[i].quota = opt.total / opt.connections +
			     (i < opt.total % opt.connections);
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	rss_warm = wait_warmup(&opt, &st);
	pthread_barrier_wait(&end); /* every worker is done */
	atomic_store(&st.stop_garbage, 1);
	for (unsigned i = 0; i < opt.garbage; i++)
		pthread_join(g[i], NULL);
	rss_end = opt.agent_pid > 0 ? stress_rss_kb(opt.agent_pid) : 0;
	pthread_barrier_wait(&end); /* let them close their connections */
	for (unsigned i = 0; i < opt.connections; i++)
		pthread_join(w[i].thread, NULL);
	rc = report(&opt, &st, rss_warm, rss_end, (now_ms() - t0) / 1000.0);
	for (size_t i = 0; i < opt.n_keys; i++)
		EVP_PKEY_free(opt.keys[i].pub);
	pthread_barrier_destroy(&end);
	free(w);
	free(g);
	free(ga);
	return rc;
}
