/*
 * Running one cell: c->threads client threads each open a session or
 * connection, make one signature and verify it (the warm-up), then sign
 * together until the stop rule says so.  Time and CPU are measured around
 * the timed part only.
 */
#ifndef P11A_BENCH_RUN_H
#define P11A_BENCH_RUN_H

#include "drivers.h"

/* Fills res (res->ok 0 and res->why when the cell failed); returns 0
 * when it ran and every signature was made (and the first ones
 * verified). */
int bench_run_cell(const struct bench_driver *d, const struct bench_cell *c,
		   struct bench_result *res);

#endif
