/*
 * p11agent tunnel --listen ADDR:PORT --connect HOST:PORT - plain TCP in,
 * TLS with client authentication by the agent out, one TLS connection
 * per accepted connection (what stunnel or ghostunnel do in client
 * mode).  Any program can so reach an mTLS server with a smartcard
 * identity.
 *
 * One thread per connection, up to --max-connections at once; each
 * relays both ways and closes both sides cleanly: the end of the local
 * client's data becomes our close_notify (the server's answer is still
 * relayed), the server's close becomes a FIN to the local client.  Every
 * connection is logged on stderr when it opens and when it closes.
 * SIGINT/SIGTERM stop accepting; open connections get up to 5 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cmd_tls.h"

#define DEFAULT_MAX_CONNECTIONS 64
#define DRAIN_SECONDS 5
#define IO_CHUNK 16384

const char p11a_tunnel_help[] =
	"Accept plain TCP connections on ADDR:PORT and carry each over its\n"
	"own TLS connection to HOST:PORT, authenticated with an agent\n"
	"identity.  PORT 0 picks a free port; the log's first line names it.\n"
	"  --max-connections N  at most N at once (default 64); more are\n"
	"                       refused\n"
	"  --trace              tell each handshake on stderr\n"
	"The TLS options are those of 'p11agent connect'.  Each connection is\n"
	"logged on stderr: from where, version, cipher, identity, signature\n"
	"time, then bytes each way when it closes.  SIGINT or SIGTERM stop.\n";

struct tunnel {
	SSL_CTX *ctx;
	struct p11a_tls_opts opts;
	char target[300];
	unsigned max;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned active; /* guarded by lock */
	unsigned long next_id;
};

struct session {
	struct tunnel *t;
	int client;
	unsigned long id;
	char peer[80];
	char who[32];
	struct p11a_tls_conn conn;
	uint64_t up, down; /* bytes client -> server, server -> client */
};

static volatile sig_atomic_t stopping;

static void log_line(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void
log_line(const char *fmt, ...)
{
	va_list ap;

	flockfile(stderr);
	fputs("p11agent tunnel: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* ---- relaying ------------------------------------------------------------ */

static int
write_all(int fd, const unsigned char *buf, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = send(fd, buf, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Server -> client; 1 while open, 0 when the server closed, -1 error. */
static int
server_to_client(struct session *s)
{
	unsigned char buf[IO_CHUNK];
	int n, err;

	for (;;) {
		n = SSL_read(s->conn.ssl, buf, sizeof(buf));
		if (n > 0) {
			if (write_all(s->client, buf, (size_t)n) != 0)
				return -1;
			s->down += (uint64_t)n;
			continue;
		}
		err = SSL_get_error(s->conn.ssl, n);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return 1;
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0;
		return s->conn.alert > 0 ? -1 : 0;
	}
}

/* Client -> server; 1 while open, 0 at the client's end, -1 error. */
static int
client_to_server(struct session *s)
{
	unsigned char buf[IO_CHUNK];
	ssize_t n;

	do {
		n = recv(s->client, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	if (p11a_tls_write_all(&s->conn, buf, (size_t)n) != 0)
		return -1;
	s->up += (uint64_t)n;
	return 1;
}

/* Relay until both directions are done; returns 0, or -1 on an error. */
static int
relay(struct session *s)
{
	struct pollfd pfd[2];
	int client_open = 1, r, fl;

	/* reads from the server must never block the other direction */
	if ((fl = fcntl(s->conn.fd, F_GETFL)) < 0 ||
	    fcntl(s->conn.fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	for (;;) {
		if ((r = server_to_client(s)) <= 0)
			break;
		pfd[0] = (struct pollfd){s->conn.fd, POLLIN, 0};
		pfd[1] = (struct pollfd){client_open ? s->client : -1, POLLIN,
					 0};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (client_open && (pfd[1].revents & (POLLIN | POLLHUP))) {
			if ((r = client_to_server(s)) < 0)
				return -1;
			if (r == 0) {
				client_open = 0;
				SSL_shutdown(s->conn.ssl);
			}
		}
	}
	if (r == 0) {
		/* the server is done: answer its close, tell the client */
		if (client_open)
			SSL_shutdown(s->conn.ssl);
		shutdown(s->client, SHUT_WR);
	}
	return r;
}

/* ---- one connection ------------------------------------------------------ */

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
log_open(const struct session *s)
{
	const struct p11a_tls_conn *c = &s->conn;
	const char *version = SSL_get_version(c->ssl);
	const char *cipher =
		SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl));
	const char *scheme = p11a_scheme_to_name(c->scheme);

	if (!c->cert_sent) {
		log_line("#%lu from %s: %s %s to %s, no client certificate",
			 s->id, s->peer, version, cipher, s->t->target);
		return;
	}
	log_line("#%lu from %s: %s %s to %s, identity %s%s%s%s, %s signed by "
		 "the agent in %.1f ms",
		 s->id, s->peer, version, cipher, s->t->target, c->identity,
		 *c->label ? " (" : "", c->label, *c->label ? ")" : "",
		 scheme != NULL ? scheme : "?", (double)c->sign_usec / 1000.0);
}

static void
run_session(struct session *s)
{
	struct timespec t0;
	char msg[512];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	s->conn.fd = -1;
	s->conn.target = s->t->target;
	s->conn.trace = s->t->opts.trace ? stderr : NULL;
	rc = p11a_tls_connect(s->t->ctx, &s->t->opts, s->who, &s->conn);
	if (rc != P11A_TLS_EXIT_OK) {
		log_line("#%lu from %s: closed without a connection (exit "
			 "code %d)",
			 s->id, s->peer, rc);
		return;
	}
	log_open(s);
	if (relay(s) == 0) {
		log_line("#%lu closed: %llu bytes up, %llu down, %.2f s", s->id,
			 (unsigned long long)s->up, (unsigned long long)s->down,
			 seconds_since(&t0));
		return;
	}
	p11a_tls_explain(&s->conn, msg, sizeof(msg));
	log_line("#%lu broken after %llu bytes up, %llu down: %s", s->id,
		 (unsigned long long)s->up, (unsigned long long)s->down, msg);
}

static void *
session_thread(void *arg)
{
	struct session *s = arg;
	struct tunnel *t = s->t;

	run_session(s);
	p11a_tls_conn_close(&s->conn);
	close(s->client);
	free(s);
	/*
	 * Free this thread's OpenSSL state (its random generators, its error
	 * queue) before it counts as gone: the process may exit as soon as
	 * the count reaches 0, before a detached thread's destructors run.
	 */
	ERR_clear_error();
	OPENSSL_thread_stop();
	pthread_mutex_lock(&t->lock);
	t->active--;
	pthread_cond_signal(&t->idle);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- accepting ----------------------------------------------------------- */

static void
describe_peer(const struct sockaddr_storage *ss, socklen_t len, char *buf,
	      size_t buflen)
{
	char host[64], port[16];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host),
			port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, buflen, "?");
		return;
	}
	/* a numeric IPv6 host, and only that, has colons: bracket it */
	snprintf(buf, buflen, strchr(host, ':') != NULL ? "[%s]:%s" : "%s:%s",
		 host, port);
}

/* Hand an accepted connection to a new thread, or refuse it. */
static void
start_session(struct tunnel *t, int fd, const char *peer)
{
	struct session *s;
	pthread_attr_t attr;
	pthread_t th;
	unsigned long id;

	pthread_mutex_lock(&t->lock);
	id = ++t->next_id;
	if (t->active >= t->max) {
		pthread_mutex_unlock(&t->lock);
		log_line("#%lu from %s: refused, %u connections open", id, peer,
			 t->max);
		close(fd);
		return;
	}
	t->active++;
	pthread_mutex_unlock(&t->lock);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	s->t = t;
	s->client = fd;
	s->id = id;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	snprintf(s->who, sizeof(s->who), "tunnel #%lu", id);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, session_thread, s) == 0) {
		pthread_attr_destroy(&attr);
		return;
	}
	pthread_attr_destroy(&attr);
	free(s);
fail:
	log_line("#%lu from %s: cannot start a thread", id, peer);
	close(fd);
	pthread_mutex_lock(&t->lock);
	t->active--;
	pthread_mutex_unlock(&t->lock);
}

static void
accept_one(struct tunnel *t, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[80];
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			log_line("accept: %s", strerror(errno));
		return;
	}
	describe_peer(&ss, len, peer, sizeof(peer));
	start_session(t, fd, peer);
}

static int
open_listener(const char *spec, char *shown, size_t shown_len)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[256], port[32];
	int fd = -1, one = 1;

	if (p11a_tls_split_target(spec, host, sizeof(host), port,
				  sizeof(port)) != 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 64) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		describe_peer(&ss, len, shown, shown_len);
	return fd;
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Wait (bounded) for the open connections to finish. */
static void
drain(struct tunnel *t)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DRAIN_SECONDS;
	pthread_mutex_lock(&t->lock);
	while (t->active > 0 &&
	       pthread_cond_timedwait(&t->idle, &t->lock, &until) == 0)
		;
	if (t->active > 0)
		log_line("stopping with %u connection(s) still open",
			 t->active);
	pthread_mutex_unlock(&t->lock);
}

static int
serve(struct tunnel *t, int lfd)
{
	struct pollfd pfd = {lfd, POLLIN, 0};

	while (!stopping) {
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_line("poll: %s", strerror(errno));
			return P11A_TLS_EXIT_ERROR;
		}
		if (pfd.revents & POLLIN)
			accept_one(t, lfd);
	}
	log_line("stopping: no new connections");
	return P11A_TLS_EXIT_OK;
}

/* ---- the command --------------------------------------------------------- */

static int
usage_error(void)
{
	fprintf(stderr, "usage: p11agent tunnel %s\n", P11A_TUNNEL_SYNOPSIS);
	fprintf(stderr, "Try 'p11agent tunnel --help' for more information.\n");
	return P11A_TLS_EXIT_USAGE;
}

static int
parse_tunnel(int argc, char **argv, struct tunnel *t, const char **listen_at)
{
	static const struct option opts[] = {
		P11A_TLS_LONG_OPTIONS,
		{"listen", required_argument, NULL, 'l'},
		{"connect", required_argument, NULL, 'c'},
		{"max-connections", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *target = NULL;
	char *end;
	long n;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (p11a_tls_take_option(ch, optarg, &t->opts))
			continue;
		switch (ch) {
		case 'l':
			*listen_at = optarg;
			break;
		case 'c':
			target = optarg;
			break;
		case 'm':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 4096)
				return usage_error();
			t->max = (unsigned)n;
			break;
		case 'h':
			printf("usage: p11agent tunnel %s\n\n%s",
			       P11A_TUNNEL_SYNOPSIS, p11a_tunnel_help);
			return P11A_TLS_EXIT_OK;
		default:
			return usage_error();
		}
	}
	if (optind != argc || *listen_at == NULL || target == NULL ||
	    p11a_tls_split_target(target, t->opts.host, sizeof(t->opts.host),
				  t->opts.port, sizeof(t->opts.port)) != 0)
		return usage_error();
	snprintf(t->target, sizeof(t->target), "%s", target);
	return -1;
}

int
p11a_cmd_tunnel(const char *socket, int argc, char **argv)
{
	struct tunnel t;
	const char *listen_at = NULL;
	char shown[80] = "?";
	int lfd = -1, rc;

	memset(&t, 0, sizeof(t));
	t.max = DEFAULT_MAX_CONNECTIONS;
	t.opts.socket = socket;
	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.idle, NULL);
	if ((rc = parse_tunnel(argc, argv, &t, &listen_at)) >= 0)
		goto out;
	if ((rc = p11a_tls_ctx_new(&t.opts, "tunnel", &t.ctx)) !=
	    P11A_TLS_EXIT_OK)
		goto out;
	if ((lfd = open_listener(listen_at, shown, sizeof(shown))) < 0) {
		log_line("cannot listen on %s: %s", listen_at,
			 errno != 0 ? strerror(errno) : "bad address");
		rc = P11A_TLS_EXIT_ERROR;
		goto out;
	}
	catch_signals();
	log_line("listening on %s, forwarding to %s with TLS", shown, t.target);
	rc = serve(&t, lfd);
	close(lfd);
	lfd = -1;
	drain(&t);
out:
	if (lfd >= 0)
		close(lfd);
	/* threads still running hold t: leave it to the process exit */
	if (t.active == 0)
		SSL_CTX_free(t.ctx);
	return rc;
}
