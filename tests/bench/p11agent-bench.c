/*
 * p11agent-bench - signatures per second and latency of the same key on
 * the same token, made directly with C_Sign in this process and through
 * p11agentd (blocking and pipelined), optionally also through p11-kit
 * server and ssh-agent.  See docs/PERFORMANCE.md and `--help`.
 *
 * Exit status: 0 when every cell ran (or was not applicable to its mode),
 * 1 when a cell failed or a signature did not verify, 2 on a usage error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers.h"
#include "keys.h"
#include "opts.h"
#include "report.h"
#include "run.h"

struct bench_state {
	struct bench_opts o;
	struct bench_key keys[BENCH_MAX_SCHEMES];
	void *shared[MODE_COUNT];
	char setup_why[MODE_COUNT][BENCH_WHY];
	struct bench_result *runs, *med;
	int failed;
};

static void
setup_drivers(struct bench_state *st)
{
	int m;

	for (m = 0; m < MODE_COUNT; m++) {
		if (!(st->o.modes & (1u << m)))
			continue;
		if (bench_driver_for(m)->setup(&st->o, &st->shared[m],
					       st->setup_why[m]) != 0) {
			fprintf(stderr, "p11agent-bench: %s: %s\n",
				bench_mode_name(m), st->setup_why[m]);
			st->shared[m] = NULL;
		}
	}
}

static void
teardown_drivers(struct bench_state *st)
{
	int m;

	for (m = 0; m < MODE_COUNT; m++) {
		if (st->shared[m] != NULL)
			bench_driver_for(m)->teardown(st->shared[m]);
	}
}

static void
run_one(struct bench_state *st, size_t s, size_t th, int m,
	struct bench_result *res)
{
	const struct bench_driver *d = bench_driver_for(m);
	struct bench_cell c = {&st->o, &st->o.schemes[s], &st->keys[s],
			       st->o.threads[th], st->shared[m]};
	char why[BENCH_WHY];

	memset(res, 0, sizeof(*res));
	if (c.shared == NULL) {
		snprintf(res->why, sizeof(res->why), "%s", st->setup_why[m]);
		st->failed = 1;
		return;
	}
	if (d->supports(c.shared, c.scheme, c.key, why) != 0) {
		res->na = 1;
		snprintf(res->why, sizeof(res->why), "%s", why);
		return;
	}
	if (bench_run_cell(d, &c, res) != 0) {
		st->failed = 1;
		fprintf(stderr, "p11agent-bench: %s, %u threads, %s: %s\n",
			c.scheme->sc->name, c.threads, bench_mode_name(m),
			res->why);
		return;
	}
	fprintf(stderr, "  %-24s %3u %-10s %9.0f sig/s\n", c.scheme->sc->name,
		c.threads, bench_mode_name(m), res->rate);
}

/* One repetition: every scheme, thread count and mode, in that order,
 * so that the modes of a row run close together in time. */
static void
run_repetition(struct bench_state *st, struct bench_result *block)
{
	const struct bench_opts *o = &st->o;
	size_t s, th;
	int m;

	for (s = 0; s < o->n_schemes; s++) {
		for (th = 0; th < o->n_threads; th++) {
			for (m = 0; m < MODE_COUNT; m++) {
				if (o->modes & (1u << m))
					run_one(st, s, th, m,
						&block[bench_cell_index(
							o, s, th, m)]);
			}
		}
	}
}

static void
run_matrix(struct bench_state *st)
{
	const struct bench_opts *o = &st->o;
	size_t n = bench_cell_count(o), r;

	for (r = 0; r < o->repeat; r++) {
		fprintf(stderr, "run %zu of %u\n", r + 1, o->repeat);
		run_repetition(st, &st->runs[r * n]);
	}
	for (r = 0; r < n; r++)
		bench_median_cell(o, st->runs, r, &st->med[r]);
}

static int
report(struct bench_state *st, struct bench_machine *m)
{
	struct bench_table t = {&st->o, m, st->med, st->runs};

	bench_machine_end(m);
	bench_print_table(stdout, &t);
	fflush(stdout);
	if (st->o.json != NULL && bench_write_json(st->o.json, &t) != 0) {
		fprintf(stderr, "p11agent-bench: cannot write %s\n",
			st->o.json);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct bench_state st;
	struct bench_machine machine;
	char why[BENCH_WHY];
	int r, rc = 1;

	if ((r = bench_opts_parse(argc, argv, &st.o)) != 0)
		return r > 0 ? 0 : 2;
	/* a server that goes away must fail a cell, not kill the run */
	signal(SIGPIPE, SIG_IGN);
	bench_machine_begin(&machine);
	if (bench_keys_load(&st.o, st.keys, why) != 0) {
		fprintf(stderr, "p11agent-bench: %s\n", why);
		goto out;
	}
	st.runs =
		calloc(st.o.repeat * bench_cell_count(&st.o), sizeof(*st.runs));
	st.med = calloc(bench_cell_count(&st.o), sizeof(*st.med));
	if (st.runs == NULL || st.med == NULL)
		goto out;
	setup_drivers(&st);
	run_matrix(&st);
	if (report(&st, &machine) == 0 && !st.failed)
		rc = 0;
	teardown_drivers(&st);
out:
	free(st.runs);
	free(st.med);
	bench_keys_free(st.keys, st.o.n_schemes);
	bench_opts_free(&st.o);
	return rc;
}
