#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
samples_init(struct bench_samples *s, size_t hint)
{
	memset(s, 0, sizeof(*s));
	if (hint < 1024)
		hint = 1024;
	if ((s->v = malloc(hint * sizeof(*s->v))) == NULL)
		return -1;
	s->cap = hint;
	return 0;
}

void
samples_free(struct bench_samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int
samples_grow(struct bench_samples *s)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	uint64_t *v = realloc(s->v, cap * sizeof(*v));

	if (v == NULL)
		return -1;
	s->v = v;
	s->cap = cap;
	return 0;
}

int
samples_append(struct bench_samples *dst, const struct bench_samples *src)
{
	while (dst->cap - dst->n < src->n) {
		if (samples_grow(dst) != 0)
			return -1;
	}
	if (src->n > 0)
		memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
	dst->n += src->n;
	dst->oom |= src->oom;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
samples_percentile_us(struct bench_samples *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	/* nearest rank: the smallest value with at least p% at or below */
	rank = (size_t)((p / 100.0) * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (double)s->v[rank - 1] / 1000.0;
}

double
bench_median(double *v, size_t n)
{
	size_t known = 0, i;

	for (i = 0; i < n; i++) {
		if (v[i] >= 0)
			v[known++] = v[i];
	}
	if (known == 0)
		return -1;
	qsort(v, known, sizeof(*v), cmp_double);
	if (known % 2)
		return v[known / 2];
	return (v[known / 2 - 1] + v[known / 2]) / 2;
}

int64_t
cpu_self_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The decimal number that starts s and ends at a space, a newline or the
 * end of s; -1 if there is none or it overflows.  Digits only: no sign,
 * no leading blanks.
 */
static int
parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -1;
	return 0;
}

/* Field n (0-based) of the space-separated fields in s; NULL if fewer. */
static const char *
field(const char *s, int n)
{
	while (n-- > 0) {
		if ((s = strchr(s, ' ')) == NULL)
			return NULL;
		s++;
	}
	return s;
}

/*
 * Parent pid and utime + stime (clock ticks) of a process from
 * /proc/PID/stat.  The command name in parentheses may hold spaces and
 * parentheses, so fields are counted from the last ')'.
 */
static int
proc_stat(pid_t pid, pid_t *ppid, unsigned long long *ticks)
{
	char path[64], line[1024], *p;
	unsigned long long pp = 0, ut = 0, st = 0;
	const char *fp, *fu, *fs;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	if ((p = strrchr(line, ')')) == NULL || p[1] != ' ')
		return -1;
	/* after ") ": "S ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime", i.e. fields 1, 11 and 12 */
	p += 2;
	if ((fp = field(p, 1)) == NULL || (fu = field(p, 11)) == NULL ||
	    (fs = field(p, 12)) == NULL || parse_ull(fp, &pp) != 0 ||
	    parse_ull(fu, &ut) != 0 || parse_ull(fs, &st) != 0 || pp > INT_MAX)
		return -1;
	*ppid = (pid_t)pp;
	*ticks = ut + st;
	return 0;
}

/*
 * CPU time of a process in nanoseconds: the sum of its threads'
 * /proc/PID/task/TID/schedstat run times, which the scheduler keeps to the
 * nanosecond; -1 when that is not available (then the caller falls back
 * on /proc/PID/stat's clock ticks).  Threads that already exited are not
 * in it: the servers measured keep their threads.
 */
static int64_t
proc_schedstat_ns(pid_t pid)
{
	char path[96], line[128];
	unsigned long long run, total = 0;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int seen = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/schedstat",
			 (int)pid, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		/* "run_ns wait_ns slices": the first field */
		if (fgets(line, sizeof(line), f) != NULL &&
		    parse_ull(line, &run) == 0) {
			total += run;
			seen = 1;
		}
		fclose(f);
	}
	closedir(d);
	return seen ? (int64_t)total : -1;
}

/* Whether pid descends from root, given the (pid, ppid) table. */
static int
descends(pid_t pid, pid_t root, const pid_t (*tab)[2], size_t n)
{
	size_t hops, i;

	for (hops = 0; hops < 64 && pid > 1; hops++) {
		if (pid == root)
			return 1;
		for (i = 0; i < n && tab[i][0] != pid; i++)
			;
		if (i == n)
			return 0;
		pid = tab[i][1];
	}
	return pid == root;
}

/* Called from the main thread only: the tables are static to keep 200 KiB
 * off the stack. */
int64_t
cpu_tree_ns(pid_t root)
{
	static pid_t tab[8192][2];
	static unsigned long long ticks[8192];
	unsigned long long total = 0, t;
	long hz = sysconf(_SC_CLK_TCK);
	struct dirent *de;
	size_t n = 0, i;
	pid_t ppid;
	DIR *d;

	if (root <= 0 || proc_stat(root, &ppid, &t) != 0 || hz <= 0)
		return -1;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && n < 8192) {
		unsigned long long v;
		pid_t pid;

		/* only the numeric entries are processes */
		if (parse_ull(de->d_name, &v) != 0 || v == 0 || v > INT_MAX)
			continue;
		pid = (pid_t)v;
		if (proc_stat(pid, &ppid, &t) != 0)
			continue;
		tab[n][0] = pid;
		tab[n][1] = ppid;
		ticks[n++] = t;
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		int64_t ns;

		if (!descends(tab[i][0], root, (const pid_t(*)[2])tab, n))
			continue;
		ns = proc_schedstat_ns(tab[i][0]);
		total += ns >= 0 ? (unsigned long long)ns
				 : ticks[i] * (1000000000ull /
					       (unsigned long long)hz);
	}
	return (int64_t)total;
}
