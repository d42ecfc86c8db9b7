#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jobs.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "wire.h"

/* a drained buffer keeps at most this much allocated */
#define CONN_KEEP_OUT (16u * 1024u)
#define CONN_KEEP_IN (32u * 1024u)

static atomic_uint conns_live;
/* the client memory (conn.h) and its bound */
static atomic_size_t mem_total;
static size_t mem_max = 64u * 1024u * 1024u;

void
conn_set_max_memory(size_t bytes)
{
	mem_max = bytes;
}

/* Move a buffer's count in the client memory to its allocation now. */
static void
conn_count_buf(size_t *counted, size_t cap)
{
	if (cap > *counted)
		atomic_fetch_add(&mem_total, cap - *counted);
	else
		atomic_fetch_sub(&mem_total, *counted - cap);
	*counted = cap;
}

/* A buffer emptied, if it grew past keep: allocated again on demand. */
static void
conn_trim_buf(struct p11a_buf *b, size_t keep)
{
	size_t max = b->max;

	if (b->cap <= keep || p11a_buf_remaining(b) > 0)
		return;
	p11a_buf_free(b);
	p11a_buf_init(b, max);
}

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
	/* the events the loop first waits for (server_accept_one) */
	c->events = EPOLLIN;
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
	conn_count_buf(&c->out_counted, 0);
	conn_count_buf(&c->in_counted, 0);
	pthread_mutex_destroy(&c->out_lock);
	free(c);
	atomic_fetch_sub(&conns_live, 1);
}

/*
 * Whether the connection holds too much to be read (conn.h).  A paused
 * one is resumed at half the bounds, or when it holds nothing: clients
 * that do not read stay paused rather than take a request each time
 * another frees a little.
 */
static int
conn_over_bound(const struct conn *c)
{
	size_t pending = atomic_load(&c->out_pending) + atomic_load(&c->queued);
	int shift = atomic_load(&c->paused) ? 1 : 0;

	return pending >= CONN_MAX_PENDING >> shift ||
	       (pending > 0 && atomic_load(&mem_total) >= mem_max >> shift);
}

/*
 * After the output or the queued requests changed: count the output
 * buffer, pause or resume, and wait for what the loop must see: input
 * unless paused, writability while replies wait, and after a pause
 * (EPOLLOUT, at once) until the loop looks at the requests it left in
 * the input (conn_may_read).
 */
static void
conn_update_locked(struct conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	int paused;

	conn_count_buf(&c->out_counted, c->out.cap);
	atomic_store(&c->out_pending, p11a_buf_remaining(&c->out));
	if (c->closed)
		return;
	paused = conn_over_bound(c);
	if (atomic_load(&c->paused) && !paused)
		atomic_store(&c->kick, 1);
	atomic_store(&c->paused, paused);
	ev.events = paused ? 0 : EPOLLIN;
	if (p11a_buf_remaining(&c->out) > 0 || atomic_load(&c->kick))
		ev.events |= EPOLLOUT;
	if (ev.events != c->events &&
	    epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = ev.events;
}

int
conn_is_paused(const struct conn *c)
{
	return atomic_load(&c->paused);
}

int
conn_may_read(struct conn *c)
{
	int ok;

	if (!atomic_load(&c->paused) && !atomic_load(&c->kick) &&
	    !conn_over_bound(c))
		return 1;
	pthread_mutex_lock(&c->out_lock);
	atomic_store(&c->kick, 0);
	conn_update_locked(c);
	ok = !c->closed && !atomic_load(&c->paused);
	pthread_mutex_unlock(&c->out_lock);
	return ok;
}

void
conn_queued_add(struct conn *c, size_t bytes)
{
	atomic_fetch_add(&c->queued, bytes);
	atomic_fetch_add(&mem_total, bytes);
}

void
conn_queued_sub(struct conn *c, size_t bytes)
{
	atomic_fetch_sub(&c->queued, bytes);
	atomic_fetch_sub(&mem_total, bytes);
	if (!atomic_load(&c->paused))
		return;
	pthread_mutex_lock(&c->out_lock);
	conn_update_locked(c);
	pthread_mutex_unlock(&c->out_lock);
}

void
conn_count_input(struct conn *c)
{
	conn_trim_buf(&c->in, CONN_KEEP_IN);
	conn_count_buf(&c->in_counted, c->in.cap);
}

void
conn_cut(struct conn *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (!c->closed) {
		atomic_store(&c->cut, 1);
		/* the loop sees the hang-up, even while it is paused */
		shutdown(c->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->out_lock);
}

void
conn_log(struct conn *c, enum log_level level, const char *func,
	 const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	if (atomic_exchange(&c->logged, 1)) {
		atomic_fetch_add(&c->not_logged, 1);
		return;
	}
	va_start(ap, fmt);
	log_vmsg_limited(level, func, fmt, ap);
	va_end(ap);
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
			atomic_store(&c->last_active_ms, jobs_now_ms());
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	p11a_buf_reset(&c->out);
	conn_trim_buf(&c->out, CONN_KEEP_OUT);
	return 0;
}

struct p11a_buf *
conn_out_begin(struct conn *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (c->closed || atomic_load(&c->cut)) {
		pthread_mutex_unlock(&c->out_lock);
		return NULL;
	}
	/* a client slow to read leaves consumed bytes at the front */
	p11a_buf_compact(&c->out);
	if (p11a_buf_room(&c->out) < P11A_MAX_FRAME + P11A_FRAME_HEADER_LEN) {
		/*
		 * The client does not read its replies, and those of requests
		 * taken before its pause are more than it may hold: rather
		 * than drop one silently (it would wait for it forever), cut
		 * the connection; the loop sees the hang-up and closes it.
		 */
		conn_warn(c, "client pid %d does not read its replies; closing",
			  (int)c->pid);
		atomic_store(&c->cut, 1);
		shutdown(c->fd, SHUT_RDWR);
		pthread_mutex_unlock(&c->out_lock);
		return NULL;
	}
	return &c->out;
}

void
conn_out_end(struct conn *c)
{
	if (conn_flush_locked(c) != 0) {
		/* the loop sees the hang-up and closes; drop what is queued */
		p11a_buf_reset(&c->out);
	}
	conn_update_locked(c);
	pthread_mutex_unlock(&c->out_lock);
}

void
conn_send_error(struct conn *c, uint32_t id, int code, const char *msg)
{
	struct p11a_buf *out;

	if ((out = conn_out_begin(c)) == NULL)
		return;
	if (p11a_encode_error(out, id, (uint32_t)code, msg) != P11A_OK)
		conn_warn(c, "client %d: cannot queue an error reply",
			  (int)c->pid);
	conn_out_end(c);
}

void
conn_send_empty(struct conn *c, uint8_t type, uint32_t id)
{
	struct p11a_buf *out;

	if ((out = conn_out_begin(c)) == NULL)
		return;
	if (p11a_encode_empty(out, type, id) != P11A_OK)
		conn_warn(c, "client %d: cannot queue a reply", (int)c->pid);
	conn_out_end(c);
}

void
conn_flush(struct conn *c)
{
	pthread_mutex_lock(&c->out_lock);
	if (!c->closed) {
		if (conn_flush_locked(c) != 0)
			p11a_buf_reset(&c->out);
		conn_update_locked(c);
	}
	pthread_mutex_unlock(&c->out_lock);
}

void
conn_close(struct conn *c)
{
	unsigned not_logged;

	pthread_mutex_lock(&c->out_lock);
	if (!c->closed) {
		/* best effort: an ERROR explaining the close may be queued */
		conn_flush_locked(c);
		atomic_store(&c->closed, 1);
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		shutdown(c->fd, SHUT_RDWR);
		/* queued jobs may keep the struct a while; not the buffers */
		p11a_buf_free(&c->in);
		p11a_buf_free(&c->out);
		conn_count_buf(&c->in_counted, 0);
		conn_count_buf(&c->out_counted, 0);
		atomic_store(&c->out_pending, 0);
	}
	pthread_mutex_unlock(&c->out_lock);
	/* jobs still queued may count more lines; they are lost then */
	if ((not_logged = atomic_exchange(&c->not_logged, 0)) > 0)
		log_info_limited("client pid %d: %u more lines like the one "
				 "above were not logged",
				 (int)c->pid, not_logged);
}

/* Write what c's socket takes; whether replies are left for it. */
static int
conn_drain_step(struct conn *c)
{
	int left;

	pthread_mutex_lock(&c->out_lock);
	left = !c->closed && conn_flush_locked(c) == 0 &&
	       p11a_buf_remaining(&c->out) > 0;
	pthread_mutex_unlock(&c->out_lock);
	return left;
}

void
conns_drain(struct conn *const *c, size_t n, uint64_t until_ms)
{
	struct pollfd *p;
	struct conn **left;
	size_t n_left;
	uint64_t now;

	p = calloc(n, sizeof(*p));
	left = calloc(n, sizeof(*left));
	if (p == NULL || left == NULL)
		goto out;
	memcpy(left, c, n * sizeof(*left));
	n_left = n;
	/* every client at once: one that never reads delays no other */
	while ((now = jobs_now_ms()) < until_ms) {
		size_t k = 0;

		for (size_t i = 0; i < n_left; i++)
			if (conn_drain_step(left[i]))
				left[k++] = left[i];
		if ((n_left = k) == 0)
			break;
		for (size_t i = 0; i < n_left; i++)
			p[i] = (struct pollfd){.fd = left[i]->fd,
					       .events = POLLOUT};
		if (poll(p, n_left, (int)(until_ms - now)) < 0 &&
		    errno != EINTR)
			break;
	}
out:
	free(p);
	free(left);
}
