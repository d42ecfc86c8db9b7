/* p11agent-bench command line. */
#ifndef P11A_BENCH_OPTS_H
#define P11A_BENCH_OPTS_H

#include "bench.h"

/*
 * Parse argv into o (defaults first).  Returns 0 to run, 1 when --help
 * was printed, -1 on a usage error (message already on stderr).
 */
int bench_opts_parse(int argc, char **argv, struct bench_opts *o);

/* Wipe and free the PIN. */
void bench_opts_free(struct bench_opts *o);

#endif
