#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jobs.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "wire.h"

static atomic_uint conns_live;

unsigned
conn_count_live(void)
{
	return atomic_load(&conns_live);
}

int
conn_is_closed(const struct conn *c)
{
	return atomic_load(&c->closed);
}

struct conn *
conn_new(int fd, int epfd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	atomic_fetch_add(&conns_live, 1);
	c->fd = fd;
	c->epfd = epfd;
	atomic_store(&c->refs, 1);
	pthread_mutex_init(&c->out_lock, NULL);
	p11a_buf_init(&c->out, CONN_MAX_OUTPUT);
	p11a_buf_init(&c->in, P11A_MAX_FRAME + P11A_FRAME_HEADER_LEN);
	return c;
}

int
conn_peer_in_group(const struct conn *c, gid_t gid)
{
	if (c->gid == gid)
		return 1;
	for (size_t i = 0; i < c->n_groups; i++)
		if (c->groups[i] == gid)
			return 1;
	return 0;
}

void
conn_ref(struct conn *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void
conn_unref(struct conn *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->fd >= 0)
		close(c->fd);
	p11a_buf_free(&c->out);
	p11a_buf_free(&c->in);
	pthread_mutex_destroy(&c->out_lock);
	free(c);
	atomic_fetch_sub(&conns_live, 1);
}

static void
conn_set_events_locked(struct conn *c, int want_write)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	if (c->want_write == want_write || c->closed)
		return;
	if (want_write)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_write = want_write;
}

/* Write what the socket takes now; returns -1 if the peer is gone. */
static int
conn_flush_locked(struct conn *c)
{
	ssize_t n;

	while (p11a_buf_remaining(&c->out) > 0) {
		n = send(c->fd, p11a_buf_ptr(&c->out),
			 p11a_buf_remaining(&c->out),
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p11a_buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	p11a_buf_reset(&c->out);
	return 0;
}

struct p11a_buf *
conn_out_begin(struct conn *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->out_lock);
		return NULL;
	}
	/* a client slow to read leaves consumed bytes at the front */
	p11a_buf_compact(&c->out);
	if (p11a_buf_room(&c->out) < P11A_MAX_FRAME + P11A_FRAME_HEADER_LEN) {
		/*
		 * The client does not read its replies: rather than drop one
		 * silently (it would wait for it forever), cut the connection;
		 * the loop sees the hang-up and closes it.
		 */
		log_warn("client pid %d does not read its replies; closing",
			 (int)c->pid);
		shutdown(c->fd, SHUT_RDWR);
		pthread_mutex_unlock(&c->out_lock);
		return NULL;
	}
	return &c->out;
}

/*
 * Connections whose replies some thread holds back, with since when, so
 * the monitor can send what a batch holds when the batch's next job
 * hangs in its token (conn_flush_held).  A thread holds one at a time.
 */
#define HELD_MAX 256

static struct {
	pthread_mutex_t lock;
	struct conn *conn[HELD_MAX];
	uint64_t since_ms[HELD_MAX];
} held = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The connection this thread holds back, and its slot in held. */
static _Thread_local struct conn *conn_held;
static _Thread_local size_t conn_held_slot;

void
conn_hold(const void *owner)
{
	struct conn *c = (struct conn *)owner;
	size_t i;

	conn_release_held();
	pthread_mutex_lock(&held.lock);
	for (i = 0; i < HELD_MAX && held.conn[i] != NULL; i++)
		;
	if (i < HELD_MAX) {
		conn_ref(c);
		held.conn[i] = c;
		held.since_ms[i] = jobs_now_ms();
		conn_held = c;
		conn_held_slot = i;
	}
	/* no slot free: the replies simply go out one by one */
	pthread_mutex_unlock(&held.lock);
}

void
conn_release_held(void)
{
	struct conn *c = conn_held;

	if (c == NULL)
		return;
	pthread_mutex_lock(&held.lock);
	held.conn[conn_held_slot] = NULL;
	pthread_mutex_unlock(&held.lock);
	conn_held = NULL;
	conn_flush(c);
	conn_unref(c);
}

void
conn_flush_held(uint64_t now_ms, uint64_t max_age_ms)
{
	pthread_mutex_lock(&held.lock);
	for (size_t i = 0; i < HELD_MAX; i++) {
		struct conn *c = held.conn[i];

		if (c == NULL || now_ms - held.since_ms[i] < max_age_ms)
			continue;
		/* the holder keeps holding; what it holds so far goes out */
		held.since_ms[i] = now_ms;
		conn_flush(c);
	}
	pthread_mutex_unlock(&held.lock);
}

void
conn_out_end(struct conn *c)
{
	if (c == conn_held) {
		pthread_mutex_unlock(&c->out_lock);
		return;
	}
	if (conn_flush_locked(c) != 0) {
		/* the loop sees the hang-up and closes; drop what is queued */
		p11a_buf_reset(&c->out);
	}
	conn_set_events_locked(c, p11a_buf_remaining(&c->out) > 0);
	pthread_mutex_unlock(&c->out_lock);
}

void
conn_send_error(struct conn *c, uint32_t id, int code, const char *msg)
{
	struct p11a_buf *out;

	if ((out = conn_out_begin(c)) == NULL)
		return;
	if (p11a_encode_error(out, id, (uint32_t)code, msg) != P11A_OK)
		log_warn("client %d: cannot queue an error reply", (int)c->pid);
	conn_out_end(c);
}

void
conn_send_empty(struct conn *c, uint8_t type, uint32_t id)
{
	struct p11a_buf *out;

	if ((out = conn_out_begin(c)) == NULL)
		return;
	if (p11a_encode_empty(out, type, id) != P11A_OK)
		log_warn("client %d: cannot queue a reply", (int)c->pid);
	conn_out_end(c);
}

void
conn_flush(struct conn *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (!c->closed) {
		if (conn_flush_locked(c) != 0)
			p11a_buf_reset(&c->out);
		conn_set_events_locked(c, p11a_buf_remaining(&c->out) > 0);
	}
	pthread_mutex_unlock(&c->out_lock);
}

void
conn_close(struct conn *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (!c->closed) {
		/* best effort: an ERROR explaining the close may be queued */
		conn_flush_locked(c);
		atomic_store(&c->closed, 1);
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		shutdown(c->fd, SHUT_RDWR);
		/* queued jobs may keep the struct a while; not the input */
		p11a_buf_free(&c->in);
	}
	pthread_mutex_unlock(&c->out_lock);
}

void
conn_drain(struct conn *c, int timeout_ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLOUT};
	/* one deadline for the whole connection, however slowly it reads */
	uint64_t until = jobs_now_ms() + (uint64_t)timeout_ms, now;

	pthread_mutex_lock(&c->out_lock);
	while (!c->closed && p11a_buf_remaining(&c->out) > 0) {
		now = jobs_now_ms();
		if (now >= until || poll(&p, 1, (int)(until - now)) <= 0 ||
		    conn_flush_locked(c) != 0)
			break;
	}
	pthread_mutex_unlock(&c->out_lock);
}
