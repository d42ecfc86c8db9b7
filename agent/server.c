#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "audit.h"
#include "conn.h"
#include "dispatch.h"
#include "jobs.h"
#include "log.h"
#include "monitor.h"
#include "p11agent/error.h"
#include "wire.h"

#define READ_CHUNK 16384
/*
 * Shutdown ends within 5 s whatever clients do: the tokens get until
 * 2.5 s after the signal to finish what is queued (what is left then is
 * answered TIMEOUT, and the workers get until 3 s to finish the
 * signature they are in), and every client until 3.5 s to take its
 * replies.
 */
#define JOBS_STOP_BY_MS 2500
#define JOBS_GIVE_UP_BY_MS 3000
#define DRAIN_BY_MS 3500
/* a client that has not said HELLO by then is closed */
#define HELLO_TIMEOUT_MS 5000
/*
 * While connections are paused for the client memory, or accepting is
 * paused for want of descriptors, the loop looks again this often;
 * otherwise it sleeps until the next connection deadline is due.
 */
#define RETRY_INTERVAL_MS 500
/* connections one sweep may close; the rest wait for the next */
#define SWEEP_MAX 64
#define EVENTS_MAX 64

/* Everything here belongs to the event loop thread (server_run). */
struct server {
	struct agent *agent;
	int epfd;
	int listen_fd;
	int signal_fd;	     /* SIGTERM, SIGINT: stop */
	int hup_fd;	     /* SIGHUP: reopen the audit log */
	int listen_paused;   /* out of descriptors: not accepting */
	uint64_t next_sweep; /* when a connection deadline is next due */
	struct conn *conns;  /* every open connection */
	int stop;
};

static struct server server;

/* epoll data for the descriptors that are not connections */
static char listen_tag, signal_tag, hup_tag;

static int
server_peer_allowed(const struct server *s, const struct conn *c)
{
	const struct agent_options *opt = s->agent->opt;

	/* like ssh-agent: our own uid, and root, who can read us anyway */
	if (c->uid == geteuid() || c->uid == 0)
		return 1;
	for (size_t i = 0; i < opt->n_allow_uids; i++)
		if (opt->allow_uids[i] == c->uid)
			return 1;
	for (size_t i = 0; i < opt->n_allow_gids; i++)
		if (conn_peer_in_group(c, opt->allow_gids[i]))
			return 1;
	return 0;
}

/* Supplementary groups count for --allow-gid and identity gid rules. */
static void
server_peer_groups(int fd, struct conn *c)
{
	socklen_t len = sizeof(c->groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) != 0) {
		/* fail closed: only the effective gid counts then */
		if (errno == ERANGE)
			log_warn("client pid %d has more than %d groups: only "
				 "its effective gid counts",
				 (int)c->pid, CONN_MAX_GROUPS);
		len = 0;
	}
	c->n_groups = len / sizeof(c->groups[0]);
}

static void
server_unlink(struct server *s, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/*
 * The uid's connections that are not being cut, and in *idlest the one
 * that has been idle longest with no request in flight (NULL: none).
 */
static unsigned
server_uid_conns(const struct server *s, uid_t uid, struct conn **idlest)
{
	unsigned n = 0;

	*idlest = NULL;
	for (struct conn *o = s->conns; o != NULL; o = o->next) {
		if (o->uid != uid || atomic_load(&o->cut))
			continue;
		n++;
		if (atomic_load(&o->inflight) == 0 &&
		    (*idlest == NULL ||
		     atomic_load(&o->last_active_ms) <
			     atomic_load(&(*idlest)->last_active_ms)))
			*idlest = o;
	}
	return n;
}

/*
 * Link a new connection; returns 0 if the limits leave no room for it.
 * At --max-per-uid the uid's longest-idle connection makes room: idle
 * connections (or ones that never said HELLO) must not lock it out.
 */
static int
server_link(struct server *s, struct conn *c)
{
	const struct agent_limits *lim = &s->agent->opt->limits;
	struct conn *idlest;
	unsigned same;
	int room;

	same = server_uid_conns(s, c->uid, &idlest);
	/*
	 * Closed connections still held by queued jobs count too; the new
	 * connection itself is already counted.
	 */
	room = conn_count_live() - 1 < lim->max_connections;
	if (room && same >= lim->max_per_uid && idlest != NULL) {
		log_info_limited("uid %u has --max-per-uid connections: "
				 "closing the longest idle (pid %d)",
				 (unsigned)c->uid, (int)idlest->pid);
		/* the loop closes it; it no longer counts */
		conn_cut(idlest);
		same--;
	}
	room = room && same < lim->max_per_uid;
	if (room) {
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
	}
	return room;
}

/* Only the event loop (or shutdown) drops a connection. */
static void
server_drop(struct server *s, struct conn *c)
{
	struct module_set *ms = &s->agent->modules;

	conn_close(c);
	for (size_t i = 0; i < ms->n_tokens; i++)
		jobs_cancel_owner(ms->tokens[i], c);
	server_unlink(s, c);
	atomic_fetch_sub(&s->agent->connections, 1);
	conn_unref(c);
}

static void
server_peer_exe(pid_t pid, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	if ((n = readlink(link, buf, len - 1)) < 0)
		n = snprintf(buf, len, "?");
	buf[n] = '\0';
}

/* Tell a client it is over a limit, then close it. */
static void
server_refuse(int fd, const char *why)
{
	struct p11a_buf out;

	p11a_buf_init(&out, 512);
	if (p11a_encode_error(&out, 0, P11A_ERR_BUSY, why) == P11A_OK)
		(void)!send(fd, p11a_buf_ptr(&out), p11a_buf_remaining(&out),
			    MSG_NOSIGNAL | MSG_DONTWAIT);
	p11a_buf_free(&out);
	close(fd);
}

static uint64_t server_conn_due(const struct server *s, const struct conn *c);

/* The loop's next sweep is due by when, at the latest. */
static void
server_sweep_by(struct server *s, uint64_t when)
{
	if (when < s->next_sweep)
		s->next_sweep = when;
}

static void
server_accept_one(struct server *s, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	socklen_t len = sizeof(struct ucred);
	struct ucred cr;
	struct conn *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
		log_warn_limited("SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	if ((c = conn_new(fd, s->epfd)) == NULL) {
		close(fd);
		return;
	}
	c->pid = cr.pid;
	c->uid = cr.uid;
	c->gid = cr.gid;
	server_peer_groups(fd, c);
	if (!server_peer_allowed(s, c)) {
		log_warn_limited("refused client pid %d: uid %u is not allowed",
				 (int)cr.pid, (unsigned)cr.uid);
		conn_unref(c);
		return;
	}
	c->accepted_ms = jobs_now_ms();
	atomic_store(&c->last_active_ms, c->accepted_ms);
	server_peer_exe(cr.pid, c->exe, sizeof(c->exe));
	if (!server_link(s, c)) {
		log_warn_limited("refused client pid %d uid %u: connection "
				 "limit",
				 (int)cr.pid, (unsigned)cr.uid);
		c->fd = -1;
		conn_unref(c);
		server_refuse(fd, "too many connections");
		return;
	}
	atomic_fetch_add(&s->agent->connections, 1);
	log_debug("client pid %d uid %u connected", (int)cr.pid,
		  (unsigned)cr.uid);
	server_sweep_by(s, server_conn_due(s, c));
	ev.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		log_warn("epoll_ctl: %s", strerror(errno));
		server_drop(s, c);
	}
}

static void
server_accept(struct server *s)
{
	int fd;

	while ((fd = accept4(s->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		server_accept_one(s, fd);
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		/*
		 * Out of descriptors: retrying at once would spin.  Stop
		 * listening until the next sweep; clients wait in the backlog.
		 */
		log_warn_limited("accept: %s; pausing new connections",
				 strerror(errno));
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
		s->listen_paused = 1;
		server_sweep_by(s, jobs_now_ms() + RETRY_INTERVAL_MS);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		log_warn("accept: %s", strerror(errno));
	}
}

/*
 * Whether c is paused (conn_may_read): then a half-received frame's
 * clock stops, the wait being ours, not a slow sender's.
 */
static int
server_paused(struct server *s, struct conn *c)
{
	if (conn_may_read(c))
		return 0;
	c->partial_since_ms = 0;
	/* a pause for the client memory alone is lifted by a sweep */
	server_sweep_by(s, jobs_now_ms() + RETRY_INTERVAL_MS);
	return 1;
}

/* Frames that arrived; non-zero means close the connection. */
static int
server_process_frames(struct server *s, struct conn *c)
{
	struct p11a_frame f;
	int r;

	for (;;) {
		if (server_paused(s, c))
			return P11A_OK;
		r = p11a_frame_next(&c->in, s->agent->opt->limits.max_frame,
				    &f);
		if (r == P11A_ERR_INCOMPLETE)
			break;
		if (r != P11A_OK) {
			conn_send_error(c, 0, r, p11a_strerror(r));
			log_info_limited("client pid %d: %s; closing",
					 (int)c->pid, p11a_strerror(r));
			return r;
		}
		if ((r = dispatch_frame(s->agent, c, &f)) != P11A_OK) {
			log_info_limited("client pid %d: %s; closing",
					 (int)c->pid, p11a_strerror(r));
			return r;
		}
	}
	p11a_buf_compact(&c->in);
	/* the clock for a slow sender starts at its first partial frame */
	if (p11a_buf_remaining(&c->in) == 0)
		c->partial_since_ms = 0;
	else if (c->partial_since_ms == 0)
		c->partial_since_ms = jobs_now_ms();
	return P11A_OK;
}

/* Read what the socket holds; non-zero means close the connection. */
static int
server_read(struct server *s, struct conn *c)
{
	uint8_t *p;
	size_t want;
	ssize_t n;

	for (;;) {
		/* paused: what the socket holds stays there */
		if (server_paused(s, c))
			return P11A_OK;
		p11a_buf_compact(&c->in);
		/* never ask recv for more than the buffer may still hold */
		want = p11a_buf_room(&c->in);
		if (want > READ_CHUNK)
			want = READ_CHUNK;
		if (want == 0 || p11a_buf_reserve(&c->in, want, &p) != P11A_OK)
			return P11A_ERR_FRAME_TOO_LARGE;
		n = recv(c->fd, p, want, MSG_DONTWAIT);
		if (n == 0)
			return P11A_ERR_IO;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return P11A_OK;
			return P11A_ERR_IO;
		}
		p11a_buf_commit(&c->in, (size_t)n);
		atomic_store(&c->last_active_ms, jobs_now_ms());
		if (server_process_frames(s, c) != P11A_OK)
			return P11A_ERR_PROTOCOL;
		/*
		 * A short read drained the socket: skip the recv that would
		 * only say EAGAIN (level-triggered epoll reports more later).
		 */
		if ((size_t)n < want)
			return P11A_OK;
	}
}

/*
 * Serve what arrived; non-zero means close the connection.  Requests a
 * pause left in the input go first; a paused connection is not read,
 * but its hang-up is seen.
 */
static int
server_serve(struct server *s, struct conn *c, uint32_t events)
{
	int r = P11A_OK;

	if (server_paused(s, c))
		return events & (EPOLLHUP | EPOLLERR) ? P11A_ERR_IO : P11A_OK;
	if (p11a_buf_remaining(&c->in) > 0 &&
	    server_process_frames(s, c) != P11A_OK)
		r = P11A_ERR_PROTOCOL;
	if (r == P11A_OK && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		r = server_read(s, c);
	conn_count_input(c);
	/* what it sent moves its deadlines: the sweep must not sleep past */
	server_sweep_by(s, server_conn_due(s, c));
	return r;
}

static void
server_on_conn(struct server *s, struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT)
		conn_flush(c);
	if (server_serve(s, c, events) != P11A_OK)
		server_drop(s, c);
}

static void
server_resume_listening(struct server *s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};

	if (s->listen_paused &&
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) == 0)
		s->listen_paused = 0;
}

/*
 * Whether the sweep closes c, and why (NULL: keep it); *tell: with an
 * ERROR TIMEOUT that says why.
 */
static const char *
server_sweep_verdict(const struct server *s, const struct conn *c, uint64_t now,
		     int *tell)
{
	const struct agent_limits *lim = &s->agent->opt->limits;
	uint64_t idle_ms = (uint64_t)lim->idle_timeout_s * 1000u;
	uint64_t frame_ms = (uint64_t)lim->frame_timeout_s * 1000u;

	*tell = 1;
	if (!c->hello_done && now - c->accepted_ms > HELLO_TIMEOUT_MS)
		return "no HELLO in time";
	if (c->partial_since_ms != 0 && now - c->partial_since_ms > frame_ms)
		return "frame not completed in time";
	/* a client that stopped reading is idle too: nothing is sent */
	*tell = 0;
	if (idle_ms != 0 && atomic_load(&c->inflight) == 0 &&
	    now - atomic_load(&c->last_active_ms) > idle_ms)
		return "idle";
	return NULL;
}

/* When c's next deadline is due (UINT64_MAX: none). */
static uint64_t
server_conn_due(const struct server *s, const struct conn *c)
{
	const struct agent_limits *lim = &s->agent->opt->limits;
	uint64_t idle_ms = (uint64_t)lim->idle_timeout_s * 1000u;
	uint64_t due = UINT64_MAX, d;

	if (!c->hello_done)
		due = c->accepted_ms + HELLO_TIMEOUT_MS + 1;
	if (c->partial_since_ms != 0 &&
	    (d = c->partial_since_ms + (uint64_t)lim->frame_timeout_s * 1000u +
		 1) < due)
		due = d;
	/* with a request in flight it is not idle; its reply makes it so */
	if (idle_ms != 0 &&
	    (d = atomic_load(&c->last_active_ms) + idle_ms + 1) < due)
		due = d;
	return due;
}

/*
 * Close the connections that sat idle, sent half a frame or no HELLO for
 * too long; resume those paused for the client memory alone once it is
 * below --max-memory.  Sets when the next sweep is due: an idle agent
 * with no connections has none.
 */
static void
server_sweep(struct server *s, uint64_t now)
{
	struct conn *victims[SWEEP_MAX];
	const char *why[SWEEP_MAX];
	int tell[SWEEP_MAX];
	size_t n = 0;
	uint64_t next = UINT64_MAX, d;

	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		if (n < SWEEP_MAX && (why[n] = server_sweep_verdict(
					      s, c, now, &tell[n])) != NULL) {
			victims[n++] = c;
			continue;
		}
		if (conn_is_paused(c) && !conn_may_read(c) &&
		    now + RETRY_INTERVAL_MS < next)
			next = now + RETRY_INTERVAL_MS;
		if ((d = server_conn_due(s, c)) < next)
			next = d;
	}
	if (n == SWEEP_MAX || s->listen_paused)
		next = now + RETRY_INTERVAL_MS;
	s->next_sweep = next;
	for (size_t i = 0; i < n; i++) {
		struct conn *c = victims[i];

		if (tell[i]) {
			log_info_limited("client pid %d: %s; closing",
					 (int)c->pid, why[i]);
			conn_send_error(c, 0, P11A_ERR_TIMEOUT, why[i]);
		} else {
			log_debug("client pid %d: %s; closing", (int)c->pid,
				  why[i]);
		}
		server_drop(s, c);
	}
}

/* logrotate moved the audit log away and sent SIGHUP */
static void
server_on_hup(struct server *s)
{
	struct signalfd_siginfo si;

	while (read(s->hup_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		audit_reopen();
}

static void
server_handle(struct server *s, struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		void *tag = ev[i].data.ptr;

		if (tag == &signal_tag)
			s->stop = 1;
		else if (tag == &hup_tag)
			server_on_hup(s);
		else if (tag == &listen_tag)
			server_accept(s);
		else
			server_on_conn(s, tag, ev[i].events);
	}
}

/* epoll_wait's timeout: until the next sweep is due; -1: none is. */
static int
server_wait_ms(const struct server *s, uint64_t now)
{
	if (s->next_sweep == UINT64_MAX)
		return -1;
	if (s->next_sweep <= now)
		return 0;
	return s->next_sweep - now > INT32_MAX ? INT32_MAX
					       : (int)(s->next_sweep - now);
}

/* SIGTERM and SIGINT stop the agent; SIGHUP reopens the audit log. */
static int
server_signal_fds(struct server *s)
{
	sigset_t stop, hup;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0 ||
	    pthread_sigmask(SIG_BLOCK, &hup, NULL) != 0)
		return P11A_ERR_IO;
	s->signal_fd = signalfd(-1, &stop, SFD_CLOEXEC);
	s->hup_fd = signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK);
	return s->signal_fd >= 0 && s->hup_fd >= 0 ? P11A_OK : P11A_ERR_IO;
}

static int
server_setup(struct server *s, struct agent *a, int listen_fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int r;

	s->agent = a;
	s->listen_fd = listen_fd;
	conn_set_max_memory((size_t)a->opt->limits.max_memory);
	s->next_sweep = UINT64_MAX;
	if ((r = server_signal_fds(s)) != P11A_OK)
		return r;
	if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return P11A_ERR_IO;
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0)
		return P11A_ERR_IO;
	ev.data.ptr = &hup_tag;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->hup_fd, &ev) != 0)
		return P11A_ERR_IO;
	ev.data.ptr = &signal_tag;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->signal_fd, &ev) != 0)
		return P11A_ERR_IO;
	return P11A_OK;
}

/* Milliseconds from now until t0 + by_ms; 0 once that is past. */
static int
server_ms_until(uint64_t t0, uint64_t by_ms)
{
	uint64_t now = jobs_now_ms();

	return now >= t0 + by_ms ? 0 : (int)(t0 + by_ms - now);
}

/* Write out every connection's replies at once, until t0 + by_ms. */
static void
server_drain_all(struct server *s, uint64_t t0, uint64_t by_ms)
{
	struct conn **v;
	size_t n = 0;

	for (const struct conn *c = s->conns; c != NULL; c = c->next)
		n++;
	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL)
		return;
	n = 0;
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		v[n++] = c;
	conns_drain(v, n, t0 + by_ms);
	free(v);
}

/*
 * Requests already queued are answered before the connections close, as
 * far as the time allows (JOBS_STOP_BY_MS...): clients that never read,
 * or a queue longer than that, cannot hold the agent up.
 */
static void
server_shutdown(struct server *s)
{
	struct module_set *ms = &s->agent->modules;
	uint64_t t0 = jobs_now_ms();

	/* the loop reads no more: the connections are drained and closed */
	monitor_stop();
	/*
	 * A queue too long to finish is answered TIMEOUT by the first
	 * jobs_stop(); the second waits for the signature its workers are
	 * in, so only a token that really hangs is left unfinalised.
	 */
	for (size_t i = 0; i < ms->n_tokens; i++)
		if (jobs_stop(ms->tokens[i],
			      server_ms_until(t0, JOBS_STOP_BY_MS)) != 0 &&
		    jobs_stop(ms->tokens[i],
			      server_ms_until(t0, JOBS_GIVE_UP_BY_MS)) != 0)
			ms->tokens[i]->stuck = 1;
	server_drain_all(s, t0, DRAIN_BY_MS);
	while (s->conns != NULL)
		server_drop(s, s->conns);
	close(s->epfd);
	close(s->signal_fd);
	close(s->hup_fd);
}

/*
 * The event loop: the one thread that reads clients.  It sleeps in
 * epoll_wait until a client, a signal or the next connection deadline
 * (server_sweep) needs it; requests go to the tokens' queues (jobs.h),
 * whose workers write the replies.
 */
int
server_run(struct agent *a, int listen_fd)
{
	struct server *s = &server;
	struct epoll_event ev[EVENTS_MAX];
	int n;

	if (server_setup(s, a, listen_fd) != P11A_OK) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		return P11A_ERR_IO;
	}
	while (!s->stop) {
		n = epoll_wait(s->epfd, ev, EVENTS_MAX,
			       server_wait_ms(s, jobs_now_ms()));
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		if (n > 0)
			server_handle(s, ev, n);
		if (jobs_now_ms() >= s->next_sweep) {
			server_sweep(s, jobs_now_ms());
			server_resume_listening(s);
		}
	}
	log_info("shutting down");
	server_shutdown(s);
	return P11A_OK;
}
