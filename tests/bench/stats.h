/*
 * Latency samples, percentiles, medians, and CPU time read from /proc.
 */
#ifndef P11A_BENCH_STATS_H
#define P11A_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Latencies in nanoseconds, one per signature. */
struct bench_samples {
	uint64_t *v;
	size_t n, cap;
	int oom; /* an add failed: the figures are incomplete */
};

/* Room for hint samples up front, so the timed loop rarely grows it. */
int samples_init(struct bench_samples *s, size_t hint);
void samples_free(struct bench_samples *s);

/* Double the room; samples_add() calls it when full. */
int samples_grow(struct bench_samples *s);

/* Record one latency; inline because it runs once per signature. */
static inline void
samples_add(struct bench_samples *s, uint64_t ns)
{
	if (s->n == s->cap && samples_grow(s) != 0) {
		s->oom = 1;
		return;
	}
	s->v[s->n++] = ns;
}

/* Append every sample of src to dst. */
int samples_append(struct bench_samples *dst, const struct bench_samples *src);

/* Sort, then the p-th percentile (0 < p <= 100) in microseconds; 0 when
 * there is no sample.  Nearest-rank definition. */
double samples_percentile_us(struct bench_samples *s, double p);

/* Median of n doubles (sorts v in place); values < 0 ("unknown") are
 * left out; -1 when none is known. */
double bench_median(double *v, size_t n);

/* CPU time (user + system) this process has used, in nanoseconds. */
int64_t cpu_self_ns(void);

/*
 * CPU time (user + system) of process root and every process descended
 * from it (ssh-agent's ssh-pkcs11-helper, p11-kit server's children),
 * in nanoseconds, from /proc (each thread's schedstat, else the clock
 * ticks of /proc/PID/stat); -1 if root cannot be read.  Children and
 * threads that already exited are not counted.
 */
int64_t cpu_tree_ns(pid_t root);

#endif
