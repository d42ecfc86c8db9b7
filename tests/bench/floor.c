/*
 * p11agent-floor: what a blocking Unix-socket hop costs on this machine,
 * to read the agent's figures against (docs/PERFORMANCE.md, "The floor").
 *
 * Two shapes, each with the processes placed three ways:
 *   hop    client <-> server                  (a client and the agent)
 *   relay  client <-> relay <-> server        (client, agent, helper)
 * placements:
 *   same   every process on CPU 0 (taskset -c 0)
 *   cross  neighbours on different CPUs (0, 1, 0): every hop crosses
 *   free   no pinning: where the scheduler puts them
 *
 * Each process is single-threaded and sleeps in a blocking read: this is
 * the least a blocking request through one or two processes can cost,
 * with no work done on the way.  The client measures each round trip;
 * CPU time of each process comes from /proc/PID/schedstat.
 *
 *   p11agent-floor [--seconds S] [--size BYTES]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FLOOR_MAX_SAMPLES 4000000
#define FLOOR_MAX_MSG 4096

struct floor_result {
	unsigned long trips;
	double wall_s;
	double p50_us, p99_us;
	double cpu_us[3]; /* per round trip: client, relay/server, server */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run time of a whole process (one thread here) in ns, or -1. */
static int64_t
schedstat_ns(pid_t pid)
{
	char path[64], line[64], *end = line;
	long long ns = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) != NULL)
		ns = strtoll(line, &end, 10);
	if (end == line)
		ns = -1;
	fclose(f);
	return ns;
}

static void
pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		perror("sched_setaffinity");
}

static int
read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const void *p, size_t n)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = write(fd, (const char *)p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Server: answer each message with one of the same size, until EOF. */
static void
serve(int fd, size_t size)
{
	char buf[FLOOR_MAX_MSG];

	while (read_full(fd, buf, size) == 0 && write_full(fd, buf, size) == 0)
		;
	_exit(0);
}

/* Relay: pass each message on and its reply back, until EOF. */
static void
relay(int up, int down, size_t size)
{
	char buf[FLOOR_MAX_MSG];

	while (read_full(up, buf, size) == 0 &&
	       write_full(down, buf, size) == 0 &&
	       read_full(down, buf, size) == 0 &&
	       write_full(up, buf, size) == 0)
		;
	_exit(0);
}

static pid_t
spawn_server(int fd, int other, int cpu, size_t size)
{
	pid_t pid = fork();

	if (pid == 0) {
		close(other);
		pin_to(cpu);
		serve(fd, size);
	}
	return pid;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_us(uint64_t *v, unsigned long n, double p)
{
	unsigned long i = (unsigned long)(p * (double)n + 0.999999);

	if (n == 0)
		return 0;
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1e3;
}

/* The client's timed loop on fd; fills trips, wall time and latencies. */
static int
client_loop(int fd, size_t size, double seconds, uint64_t *lat,
	    struct floor_result *r)
{
	char buf[FLOOR_MAX_MSG];
	uint64_t start, end, t0, t1;
	unsigned long n = 0;

	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 1000; i++) { /* warm up */
		if (write_full(fd, buf, size) || read_full(fd, buf, size))
			return -1;
	}
	start = now_ns();
	end = start + (uint64_t)(seconds * 1e9);
	t1 = start;
	while (t1 < end && n < FLOOR_MAX_SAMPLES) {
		t0 = t1;
		if (write_full(fd, buf, size) || read_full(fd, buf, size))
			return -1;
		t1 = now_ns();
		lat[n++] = t1 - t0;
	}
	r->trips = n;
	r->wall_s = (double)(t1 - start) / 1e9;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	r->p50_us = pct_us(lat, n, 0.50);
	r->p99_us = pct_us(lat, n, 0.99);
	return 0;
}

/*
 * One measurement: hops = 1 (client, server) or 2 (client, relay,
 * server); cpus[i] is the CPU of process i, -1 for none.
 */
static int
measure(int hops, const int cpus[3], size_t size, double seconds, uint64_t *lat,
	struct floor_result *r)
{
	int a[2] = {-1, -1}, b[2] = {-1, -1}, rc = -1;
	pid_t kids[2] = {-1, -1};
	int64_t c0[3], c1[3];
	int nk = 0;

	memset(r, 0, sizeof(*r));
	/* the server first, so that it holds no end of the client's pair */
	if (hops == 2) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, b) != 0)
			return -1;
		kids[nk++] = spawn_server(b[1], b[0], cpus[2], size);
		close(b[1]);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) != 0)
		goto out;
	if (hops == 1) {
		kids[nk++] = spawn_server(a[1], a[0], cpus[1], size);
	} else {
		kids[nk] = fork();
		if (kids[nk] == 0) {
			close(a[0]);
			pin_to(cpus[1]);
			relay(a[1], b[0], size);
		}
		nk++;
		close(b[0]);
		b[0] = -1;
	}
	close(a[1]);
	a[1] = -1;
	pin_to(cpus[0]);
	c0[0] = schedstat_ns(getpid());
	for (int i = 0; i < nk; i++)
		c0[i + 1] = schedstat_ns(kids[i]);
	rc = client_loop(a[0], size, seconds, lat, r);
	c1[0] = schedstat_ns(getpid());
	for (int i = 0; i < nk; i++)
		c1[i + 1] = schedstat_ns(kids[i]);
	for (int i = 0; rc == 0 && i <= nk; i++)
		r->cpu_us[i] = (double)(c1[i] - c0[i]) / 1e3 / (double)r->trips;
out:
	if (a[0] >= 0)
		close(a[0]);
	if (a[1] >= 0)
		close(a[1]);
	if (b[0] >= 0)
		close(b[0]);
	for (int i = 0; i < nk; i++)
		waitpid(kids[i], NULL, 0);
	return rc;
}

static void
print_row(const char *shape, const char *place, int hops,
	  const struct floor_result *r)
{
	double total = r->cpu_us[0] + r->cpu_us[1] + r->cpu_us[2];
	char relay_cpu[32] = "-";

	/* cpu_us[1] is the server's; with a relay cpu_us[2] the relay's */
	if (hops == 2)
		snprintf(relay_cpu, sizeof(relay_cpu), "%.1f", r->cpu_us[2]);
	printf("| %s | %s | %.0f | %.1f | %.1f | %.1f | %s | %.1f | %.1f |\n",
	       shape, place, (double)r->trips / r->wall_s, r->p50_us, r->p99_us,
	       r->cpu_us[0], relay_cpu, r->cpu_us[1], total);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int cpus[3];
	} places[] = {
		{"same", {0, 0, 0}},
		{"cross", {0, 1, 0}},
		{"free", {-1, -1, -1}},
	};
	double seconds = 2;
	size_t size = 128;
	uint64_t *lat;
	struct floor_result r;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = strtod(argv[i + 1], NULL);
		else if (strcmp(argv[i], "--size") == 0)
			size = (size_t)strtoul(argv[i + 1], NULL, 10);
	}
	if (seconds <= 0 || size == 0 || size > FLOOR_MAX_MSG) {
		fprintf(stderr, "usage: %s [--seconds S] [--size 1..%d]\n",
			argv[0], FLOOR_MAX_MSG);
		return 2;
	}
	lat = malloc(FLOOR_MAX_SAMPLES * sizeof(*lat));
	if (lat == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	printf("Blocking round trips of %zu bytes, %.1f s each; CPU in us per "
	       "round trip (schedstat).\n\n",
	       size, seconds);
	printf("| shape | placement | trips/s | p50 us | p99 us | client CPU "
	       "| relay CPU | server CPU | total CPU |\n");
	printf("|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int hops = 1; hops <= 2; hops++) {
		for (size_t p = 0; p < sizeof(places) / sizeof(places[0]);
		     p++) {
			if (measure(hops, places[p].cpus, size, seconds, lat,
				    &r) != 0) {
				fprintf(stderr, "floor: %s %s failed\n",
					hops == 1 ? "hop" : "relay",
					places[p].name);
				free(lat);
				return 1;
			}
			print_row(hops == 1 ? "hop" : "relay", places[p].name,
				  hops, &r);
			fflush(stdout);
		}
	}
	free(lat);
	return 0;
}
