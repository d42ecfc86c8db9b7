/*
 * Garbage connections for p11a-stress: each round connects to the agent
 * and misbehaves in one of the ways a broken or hostile client would.
 * Where the protocol says the agent must close the connection, the
 * thread checks that it does (within CLOSE_WAIT_MS); the agent must
 * survive every round and go on serving the well-behaved clients.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "p11agent/error.h"
#include "stress.h"
#include "wire.h"

#define CLOSE_WAIT_MS 5000
#define RANDOM_MAX 65536

enum garbage_kind {
	G_RANDOM_BYTES,	 /* length prefix above the maximum */
	G_HUGE_LENGTH,	 /* 0xfffffff0 */
	G_SHORT_LENGTH,	 /* body shorter than type + id */
	G_RANDOM_BODY,	 /* valid length, random type and payload */
	G_NO_HELLO,	 /* a request before HELLO */
	G_TRUNCATED,	 /* HELLO, then half a frame, then our close */
	G_PARTIAL_HEAD,	 /* two bytes of a length, then our close */
	G_CLOSE_MID_REQ, /* HELLO and pipelined SIGNs, close at once */
	G_KINDS
};

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path) ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send what the agent takes; it may hang up before reading it all. */
static void
send_quietly(int fd, const void *p, size_t n)
{
	(void)!send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
send_buf(int fd, const struct p11a_buf *b)
{
	send_quietly(fd, p11a_buf_ptr(b), p11a_buf_remaining(b));
}

/* 1 when the agent closes fd (EOF or reset) in time; replies are read. */
static int
closed_by_agent(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct timespec t0, t1;
	char buf[4096];
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = CLOSE_WAIT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
					(t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0 && errno != EINTR)
			return 0;
	}
}

static void
put_hello(struct p11a_buf *b)
{
	struct p11a_hello h = {.version = 1, .min_version = 1, .name = "junk"};

	p11a_encode_hello(b, 1, &h);
}

/* A SIGN for a real key, so that it reaches the token's workers. */
static void
put_sign(struct p11a_buf *b, uint32_t id, const struct garbage_arg *g,
	 const uint8_t *msg)
{
	struct p11a_sign_request s = {.identity = g->identity,
				      .scheme = g->scheme,
				      .data = msg,
				      .data_len = 32};

	p11a_encode_sign(b, id, &s);
}

static void
fill_random(uint8_t *p, size_t n, unsigned *seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand_r(seed);
}

/* Misbehave once on fd; returns 1 when the agent must close it. */
static int
misbehave(int fd, enum garbage_kind kind, const struct garbage_arg *g,
	  unsigned *seed, uint8_t *rnd)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xf0, 3, 0, 0, 0, 1};
	static const uint8_t shorty[] = {0, 0, 0, 3, 1, 0, 0};
	static const uint8_t cut[] = {0, 0, 0, 100, 3, 0, 0, 0, 9, 0};
	struct p11a_buf b;
	size_t n;
	int must_close = 1;

	p11a_buf_init(&b, 1u << 20);
	switch (kind) {
	case G_RANDOM_BYTES:
		n = 4 + (size_t)rand_r(seed) % (RANDOM_MAX - 4);
		fill_random(rnd, n, seed);
		/* a first byte of 4 or more: a length above P11A_MAX_FRAME */
		rnd[0] = (uint8_t)(0x04 + (unsigned)rand_r(seed) % 0xfc);
		send_quietly(fd, rnd, n);
		break;
	case G_HUGE_LENGTH:
		send_quietly(fd, huge, sizeof(huge));
		break;
	case G_SHORT_LENGTH:
		send_quietly(fd, shorty, sizeof(shorty));
		break;
	case G_RANDOM_BODY:
		n = 5 + (size_t)rand_r(seed) % 200;
		fill_random(rnd + 5, n - 1, seed);
		rnd[0] = rnd[1] = 0;
		rnd[2] = (uint8_t)(n >> 8);
		rnd[3] = (uint8_t)n;
		/* any type but HELLO: before HELLO it must be refused */
		rnd[4] = (uint8_t)(2 + (unsigned)rand_r(seed) % 254);
		send_quietly(fd, rnd, n + 4);
		break;
	case G_NO_HELLO:
		fill_random(rnd, 32, seed);
		put_sign(&b, 7, g, rnd);
		send_buf(fd, &b);
		break;
	case G_TRUNCATED:
		put_hello(&b);
		send_buf(fd, &b);
		send_quietly(fd, cut, sizeof(cut));
		must_close = 0;
		break;
	case G_PARTIAL_HEAD:
		send_quietly(fd, cut, 2);
		must_close = 0;
		break;
	case G_CLOSE_MID_REQ:
		put_hello(&b);
		fill_random(rnd, 32, seed);
		n = 1 + (size_t)rand_r(seed) % 64;
		for (uint32_t id = 2; id < 2 + n; id++)
			put_sign(&b, id, g, rnd);
		send_buf(fd, &b);
		must_close = 0;
		break;
	default:
		must_close = 0;
		break;
	}
	p11a_buf_free(&b);
	return must_close;
}

void *
stress_garbage_thread(void *arg)
{
	struct garbage_arg *g = arg;
	uint8_t *rnd = malloc(RANDOM_MAX + 256);
	unsigned seed = g->seed;
	int fd;

	if (rnd == NULL)
		return NULL;
	while (!atomic_load(&g->st->stop_garbage)) {
		enum garbage_kind kind =
			(enum garbage_kind)(rand_r(&seed) % G_KINDS);

		if ((fd = connect_to(g->path)) < 0) {
			/* at the connection limit, or the agent restarting */
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
			continue;
		}
		atomic_fetch_add(&g->st->garbage, 1);
		if (misbehave(fd, kind, g, &seed, rnd) && !closed_by_agent(fd))
			atomic_fetch_add(&g->st->garbage_bad, 1);
		close(fd);
	}
	free(rnd);
	return NULL;
}
