/*
 * p11a_threads_sign - THREADS threads of one process sign at once
 * through the p11agent provider, as a multithreaded TLS server or client
 * would.
 *
 *   p11a_threads_sign PROVIDER_DIR KEY_URI PUBKEY.pem DIGEST|none THREADS
 *                     COUNT
 *
 * It loads the default provider and p11agent.so from PROVIDER_DIR and the
 * key (once, shared by every thread).  Each thread signs one message and
 * verifies it (not timed: it opens the thread's connection), waits until
 * every thread has, then signs and verifies COUNT fresh messages.  It
 * prints
 *
 *   THREADS threads: N verified signatures in MS ms, R sig/s
 *
 * for the timed part.  Exit status 0 when every signature verified.
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "clock.h"
#include "provtest.h"

#define THREADS_MAX 64

struct run {
	EVP_PKEY *key, *pub;
	const char *md;
	int count;
	pthread_barrier_t ready; /* every thread signed once */
	pthread_barrier_t timed; /* and the clock started */
};

struct worker {
	pthread_t thread;
	struct run *run;
	int made; /* verified signatures of the timed part */
	int ok;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	int i;

	w->ok = pt_sign_verify(w->run->key, w->run->pub, w->run->md);
	pthread_barrier_wait(&w->run->ready);
	pthread_barrier_wait(&w->run->timed);
	for (i = 0; i < w->run->count; i++)
		w->made += pt_sign_verify(w->run->key, w->run->pub, w->run->md);
	return NULL;
}

/* Start n workers, time the part after the barrier; 1 if all verified. */
static int
run_threads(struct run *run, int n)
{
	struct worker w[THREADS_MAX];
	uint64_t start, us;
	int i, made = 0, warm = 0;

	memset(w, 0, sizeof(w));
	pthread_barrier_init(&run->ready, NULL, (unsigned)n + 1);
	pthread_barrier_init(&run->timed, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++) {
		w[i].run = run;
		if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) {
			fprintf(stderr, "cannot start thread %d\n", i);
			exit(1);
		}
	}
	pthread_barrier_wait(&run->ready);
	start = p11a_clock_us();
	pthread_barrier_wait(&run->timed);
	for (i = 0; i < n; i++) {
		pthread_join(w[i].thread, NULL);
		made += w[i].made;
		warm += w[i].ok;
	}
	us = p11a_clock_us() - start;
	pthread_barrier_destroy(&run->ready);
	pthread_barrier_destroy(&run->timed);
	printf("%d threads: %d verified signatures in %llu ms, %.1f sig/s\n", n,
	       made, (unsigned long long)(us / 1000u),
	       us > 0 ? made * 1e6 / (double)us : 0.0);
	if (warm + made != n * (run->count + 1)) {
		fprintf(stderr, "%d of %d signatures failed\n",
			n * (run->count + 1) - warm - made,
			n * (run->count + 1));
		return 0;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	struct run run;
	int n, ok;

	memset(&run, 0, sizeof(run));
	if (argc != 7) {
		fprintf(stderr, "usage: p11a_threads_sign PROVIDER_DIR KEY_URI "
				"PUBKEY.pem DIGEST|none THREADS COUNT\n");
		return 2;
	}
	run.md = strcmp(argv[4], "none") == 0 ? NULL : argv[4];
	if ((n = pt_parse_count(argv[5], THREADS_MAX)) == 0 ||
	    (run.count = pt_parse_count(argv[6], INT_MAX / THREADS_MAX)) == 0) {
		fprintf(stderr,
			"THREADS (1..%d) and COUNT must be positive "
			"numbers\n",
			THREADS_MAX);
		return 2;
	}
	if (!pt_load_providers(argv[1]))
		return 1;
	if ((run.key = pt_load_key(argv[2])) == NULL ||
	    (run.pub = pt_load_public(argv[3])) == NULL) {
		fprintf(stderr, "cannot load the key or the public key\n");
		ERR_print_errors_fp(stderr);
		return 1;
	}
	ok = run_threads(&run, n);
	EVP_PKEY_free(run.key);
	EVP_PKEY_free(run.pub);
	return ok ? 0 : 1;
}
