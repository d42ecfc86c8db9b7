/*
 * The results: the machine they were measured on, the table on stdout
 * and the same figures as JSON.
 */
#ifndef P11A_BENCH_REPORT_H
#define P11A_BENCH_REPORT_H

#include <stdio.h>

#include "bench.h"

struct bench_machine {
	char date[32]; /* UTC, ISO 8601 */
	char cpu[128]; /* model name from /proc/cpuinfo */
	char kernel[160];
	long nproc;
	char load_start[64], load_end[64]; /* /proc/loadavg */
};

/* Results of a whole run.  Cells are indexed with bench_cell_index(). */
struct bench_table {
	const struct bench_opts *o;
	const struct bench_machine *m;
	const struct bench_result *med;	 /* median over the repetitions */
	const struct bench_result *runs; /* repeat blocks of cells */
};

/* Index of (scheme s, thread count t, mode) in a block of cells. */
size_t bench_cell_index(const struct bench_opts *o, size_t s, size_t t,
			int mode);
/* Cells in one block. */
size_t bench_cell_count(const struct bench_opts *o);

void bench_machine_begin(struct bench_machine *m);
void bench_machine_end(struct bench_machine *m);

/* The median of each figure over the repetitions that succeeded. */
void bench_median_cell(const struct bench_opts *o,
		       const struct bench_result *runs, size_t cell,
		       struct bench_result *out);

void bench_print_table(FILE *f, const struct bench_table *t);
int bench_write_json(const char *path, const struct bench_table *t);

#endif
