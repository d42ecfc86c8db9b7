/*
 * p11agent connect HOST:PORT - an s_client for agent keys: a TLS
 * connection whose client authentication (the CertificateVerify
 * signature, step 5 of the classic handshake) is made by p11agentd, then
 * stdin and stdout bridged over it.
 *
 * This file also holds the TLS client that `tunnel` shares: options,
 * the SSL_CTX with the agent identity, TCP and handshake, and the
 * explanation of a failure as an exit code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cmd_tls.h"

#define VERDICT_WAIT_MS 2000 /* TLS 1.3: wait for the server's verdict */
#define IO_CHUNK 16384

const char p11a_connect_help[] =
	"Connect to HOST:PORT with TLS, authenticating with an agent "
	"identity,\n"
	"then copy stdin to the server and the server's data to stdout.  At\n"
	"the end of stdin the connection is closed once the server has sent\n"
	"everything (close_notify, then the rest is read).\n"
	"  --identity ID|URI   the identity (default: the first one whose\n"
	"                      certificate and key fit the server's request)\n"
	"  --cert FILE         PEM certificate (and chain) for the identity,\n"
	"                      when the token holds none; alone, it picks the\n"
	"                      identity whose key it certifies\n"
	"  --CAfile FILE       CAs that sign the server's certificate\n"
	"                      (default: the system's)\n"
	"  --servername NAME   name sent (SNI) and checked in the server's\n"
	"                      certificate (default: HOST)\n"
	"  --tls1.2, --tls1.3  only this version (default: either)\n"
	"  --trace             tell the handshake on stderr, step by step\n"
	"Exit status: 0 ok, 1 error, 2 usage, 3 agent unreachable, 4 no\n"
	"matching identity, 5 agent locked, 8 the server rejected our\n"
	"certificate, 9 the server's certificate is not trusted, 10 the\n"
	"server is unreachable or the handshake failed otherwise.\n";

/* ---- options ------------------------------------------------------------- */

int
p11a_tls_take_option(int ch, const char *arg, struct p11a_tls_opts *o)
{
	switch (ch) {
	case 0x100:
		o->identity = arg;
		return 1;
	case 0x101:
		o->cert = arg;
		return 1;
	case 0x102:
		o->cafile = arg;
		return 1;
	case 0x103:
		o->servername = arg;
		return 1;
	case 0x104:
		o->version = TLS1_2_VERSION;
		return 1;
	case 0x105:
		o->version = TLS1_3_VERSION;
		return 1;
	case 0x106:
		o->trace = 1;
		return 1;
	default:
		return 0;
	}
}

int
p11a_tls_split_target(const char *arg, char *host, size_t host_len, char *port,
		      size_t port_len)
{
	const char *colon, *h = arg;
	size_t hlen;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = arg + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(arg, ':')) == NULL)
			return -1;
		hlen = (size_t)(colon - arg);
	}
	if (hlen == 0 || hlen >= host_len || colon[1] == '\0' ||
	    strlen(colon + 1) >= port_len)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, port_len, "%s", colon + 1);
	return 0;
}

/* ---- the agent, before any connection ------------------------------------ */

static void say(const char *who, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
say(const char *who, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "p11agent %s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
exit_for_agent(int r)
{
	switch (r) {
	case P11A_ERR_CONNECT:
		return P11A_TLS_EXIT_NO_AGENT;
	case P11A_ERR_IDENTITY_NOT_FOUND:
	case P11A_ERR_IDENTITY_AMBIGUOUS:
		return P11A_TLS_EXIT_IDENTITY;
	case P11A_ERR_LOCKED:
		return P11A_TLS_EXIT_LOCKED;
	default:
		return P11A_TLS_EXIT_ERROR;
	}
}

/* Whether a token of the agent waits for UNLOCK. */
static int
agent_needs_unlock(p11a_client *c)
{
	struct p11a_status st;
	int locked = 0;
	size_t i;

	memset(&st, 0, sizeof(st));
	if (p11a_client_status(c, &st) != P11A_OK)
		return 0;
	for (i = 0; i < st.n_tokens; i++)
		if (st.tokens[i].flags & P11A_TOKEN_NEEDS_UNLOCK)
			locked = 1;
	p11a_status_free(&st);
	return locked;
}

/* Count the identities with a certificate: usable now, and locked. */
static void
count_identities(const struct p11a_identity_list *list, size_t *usable,
		 size_t *locked)
{
	size_t i;

	*usable = *locked = 0;
	for (i = 0; i < list->n; i++) {
		if (list->items[i].cert == NULL)
			continue;
		if (list->items[i].flags & P11A_IDENTITY_AVAILABLE)
			(*usable)++;
		else
			(*locked)++;
	}
}

/*
 * With the identity chosen per handshake, make sure before connecting
 * that the agent answers and has an identity it can sign with now: a
 * locked agent means no connection at all.
 */
static int
check_agent(const struct p11a_tls_opts *o, const char *who)
{
	struct p11a_identity_list list = {0};
	p11a_client *c = NULL;
	size_t usable, locked;
	char msg[512];
	int r, rc = P11A_TLS_EXIT_OK;

	if ((r = p11a_client_connect_msg(o->socket, &c, msg, sizeof(msg))) !=
	    P11A_OK) {
		say(who, "agent unreachable: %s", msg);
		return exit_for_agent(r);
	}
	if ((r = p11a_client_list(c, &list)) != P11A_OK) {
		say(who, "agent: %s", p11a_client_last_message(c));
		rc = exit_for_agent(r);
		goto out;
	}
	count_identities(&list, &usable, &locked);
	if (usable > 0)
		goto out;
	if (locked > 0 || agent_needs_unlock(c)) {
		say(who, "the agent is locked (run 'p11agent unlock'): no "
			 "identity can sign");
		rc = P11A_TLS_EXIT_LOCKED;
	} else {
		say(who, "no identity in the agent has a certificate (give "
			 "one with --cert)");
		rc = P11A_TLS_EXIT_IDENTITY;
	}
out:
	p11a_identity_list_free(&list);
	p11a_client_close(c);
	return rc;
}

/* ---- the SSL_CTX --------------------------------------------------------- */

static int
set_versions(SSL_CTX *ctx, int version)
{
	int min = version != 0 ? version : TLS1_2_VERSION;
	int max = version != 0 ? version : TLS1_3_VERSION;

	return SSL_CTX_set_min_proto_version(ctx, min) &&
	       SSL_CTX_set_max_proto_version(ctx, max);
}

static int
set_identity(SSL_CTX *ctx, const struct p11a_tls_opts *o, const char *who)
{
	char msg[512];
	int r;

	if (o->identity == NULL && o->cert == NULL) {
		if ((r = check_agent(o, who)) != P11A_TLS_EXIT_OK)
			return r;
		r = p11a_ssl_ctx_use_auto_identity(ctx, msg, sizeof(msg));
	} else {
		r = p11a_ssl_ctx_use_identity(ctx, o->identity, o->cert, msg,
					      sizeof(msg));
	}
	if (r == P11A_OK)
		return P11A_TLS_EXIT_OK;
	if (r == P11A_ERR_CONNECT)
		say(who, "agent unreachable: %s", msg);
	else
		say(who, "%s", msg);
	return exit_for_agent(r);
}

int
p11a_tls_ctx_new(const struct p11a_tls_opts *o, const char *who, SSL_CTX **out)
{
	SSL_CTX *ctx;
	int rc;

	*out = NULL;
	if (p11a_ssl_load_provider(NULL, o->socket) != P11A_OK) {
		say(who, "cannot load the p11agent provider");
		return P11A_TLS_EXIT_ERROR;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !set_versions(ctx, o->version)) {
		say(who, "cannot set up TLS");
		SSL_CTX_free(ctx);
		return P11A_TLS_EXIT_ERROR;
	}
	if (o->cafile != NULL
		    ? SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1
		    : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		say(who, "cannot read the CAs%s%s", o->cafile ? " in " : "",
		    o->cafile ? o->cafile : "");
		SSL_CTX_free(ctx);
		return P11A_TLS_EXIT_ERROR;
	}
	p11a_trace_attach(ctx);
	if ((rc = set_identity(ctx, o, who)) != P11A_TLS_EXIT_OK) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return P11A_TLS_EXIT_OK;
}

/* ---- TCP and the handshake ----------------------------------------------- */

static int
tcp_connect(const char *host, const char *port, char *msg, size_t len)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, r, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(msg, len, "%s: %s", host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(msg, len, "cannot connect to %s:%s: %s", host, port,
			 strerror(err != 0 ? err : EHOSTUNREACH));
	return fd;
}

/* SNI and the name the server's certificate must carry. */
static int
set_server_name(SSL *ssl, const struct p11a_tls_opts *o)
{
	const char *name = o->servername != NULL ? o->servername : o->host;
	unsigned char ip[16];
	int is_ip = inet_pton(AF_INET, name, ip) == 1 ||
		    inet_pton(AF_INET6, name, ip) == 1;

	if (is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
						     name) == 1;
	return SSL_set_tlsext_host_name(ssl, name) == 1 &&
	       SSL_set1_host(ssl, name) == 1;
}

static int
set_nonblocking(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/*
 * TLS 1.3: our certificate is judged after our Finished.  Read what
 * the server sends first (its ticket, or an alert); application data
 * stays in OpenSSL's buffer.  Returns 0 unless the server refused.
 */
static int
await_verdict(struct p11a_tls_conn *c)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	unsigned char byte;
	int n, err, waited = 0;

	if (SSL_version(c->ssl) != TLS1_3_VERSION || !c->cert_requested)
		return 0;
	set_nonblocking(c->fd, 1);
	while (!c->accepted && c->alert < 0 && waited < VERDICT_WAIT_MS) {
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			break;
		waited += 100;
		n = SSL_peek(c->ssl, &byte, 1);
		err = SSL_get_error(c->ssl, n);
		if (n > 0)
			break; /* data: the server went on */
		if (err != SSL_ERROR_WANT_READ)
			break;
	}
	set_nonblocking(c->fd, 0);
	return c->alert > 0 ? -1 : 0;
}

int
p11a_tls_connect(SSL_CTX *ctx, const struct p11a_tls_opts *o, const char *who,
		 struct p11a_tls_conn *conn)
{
	char msg[512];
	SSL *ssl;
	int r;

	if ((conn->fd = tcp_connect(o->host, o->port, msg, sizeof(msg))) < 0) {
		say(who, "%s", msg);
		return P11A_TLS_EXIT_NETWORK;
	}
	if ((ssl = SSL_new(ctx)) == NULL) {
		say(who, "cannot set up TLS");
		return P11A_TLS_EXIT_ERROR;
	}
	p11a_trace_bind(ssl, conn);
	if (!set_server_name(ssl, o) || SSL_set_fd(ssl, conn->fd) != 1) {
		say(who, "cannot set up TLS for %s", o->host);
		return P11A_TLS_EXIT_ERROR;
	}
	p11a_trace_begin_handshake(conn);
	r = SSL_connect(ssl);
	if (r == 1)
		r = await_verdict(conn) == 0 ? 1 : 0;
	p11a_trace_end_handshake();
	if (r == 1)
		return P11A_TLS_EXIT_OK;
	r = p11a_tls_explain(conn, msg, sizeof(msg));
	say(who, "%s", msg);
	return r;
}

void
p11a_tls_conn_close(struct p11a_tls_conn *conn)
{
	SSL_free(conn->ssl);
	conn->ssl = NULL;
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

/* ---- why it failed ------------------------------------------------------- */

/* Alerts a server sends when it does not accept a client certificate. */
static int
rejects_certificate(int alert)
{
	switch (alert) {
	case 40:  /* handshake_failure */
	case 42:  /* bad_certificate */
	case 43:  /* unsupported_certificate */
	case 44:  /* certificate_revoked */
	case 45:  /* certificate_expired */
	case 46:  /* certificate_unknown */
	case 48:  /* unknown_ca */
	case 49:  /* access_denied */
	case 51:  /* decrypt_error: the signature did not verify */
	case 116: /* certificate_required */
		return 1;
	default:
		return 0;
	}
}

static int
explain_agent(const struct p11a_tls_conn *c, char *msg, size_t len)
{
	char id[40], why[256];
	int r;

	if (c->signed_cv && c->sign_error != P11A_OK) {
		snprintf(msg, len, "the agent did not sign (%s): %s",
			 p11a_err_name(c->sign_error),
			 p11a_strerror(c->sign_error));
		if (c->sign_error == P11A_ERR_DENIED)
			snprintf(msg, len,
				 "the agent refused to sign: identity %s "
				 "signs only TLS 1.3 client "
				 "CertificateVerify content (denied by policy)",
				 c->identity);
		return exit_for_agent(c->sign_error);
	}
	r = p11a_ssl_auto_result(c->ssl, id, sizeof(id), why, sizeof(why));
	if (r == P11A_OK || r == P11A_ERR_INVALID_ARGUMENT)
		return -1;
	if (r == P11A_ERR_CONNECT)
		snprintf(msg, len, "agent unreachable: %s", why);
	else if (r == P11A_ERR_IDENTITY_NOT_FOUND)
		snprintf(msg, len, "no matching identity: %s", why);
	else
		snprintf(msg, len, "%s", why);
	return exit_for_agent(r);
}

int
p11a_tls_explain(const struct p11a_tls_conn *c, char *msg, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	int rc;

	if (c->verify_error != 0) {
		snprintf(msg, len,
			 "the server's certificate is not trusted: %s",
			 X509_verify_cert_error_string(c->verify_error));
		return P11A_TLS_EXIT_UNTRUSTED;
	}
	if ((rc = explain_agent(c, msg, len)) >= 0)
		return rc;
	if (c->alert > 0 && c->cert_requested &&
	    rejects_certificate(c->alert)) {
		snprintf(msg, len,
			 "the server rejected our certificate: alert %s%s",
			 p11a_trace_alert_name(c->alert),
			 c->cert_sent ? "" : " (we had none to send)");
		return c->cert_sent ? P11A_TLS_EXIT_REJECTED
				    : P11A_TLS_EXIT_IDENTITY;
	}
	if (c->alert > 0)
		snprintf(msg, len, "the server ended the handshake: alert %s",
			 p11a_trace_alert_name(c->alert));
	else
		snprintf(msg, len, "TLS handshake with %s failed: %s",
			 c->target != NULL ? c->target : "the server",
			 e != 0 ? ERR_reason_error_string(e)
				: "connection closed");
	return P11A_TLS_EXIT_NETWORK;
}

/* ---- connect: the bridge ------------------------------------------------- */

/* Write all of buf to fd; -1 on failure. */
static int
write_all(int fd, const unsigned char *buf, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = write(fd, buf, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

int
p11a_tls_write_all(struct p11a_tls_conn *c, const unsigned char *buf, size_t n)
{
	struct pollfd pfd = {c->fd, 0, 0};
	int k, err;

	while (n > 0) {
		k = SSL_write(c->ssl, buf, (int)(n > IO_CHUNK ? IO_CHUNK : n));
		if (k > 0) {
			buf += k;
			n -= (size_t)k;
			continue;
		}
		err = SSL_get_error(c->ssl, k);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
			return -1;
		pfd.events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/*
 * Everything the server has sent, to stdout.  Returns 1 while open, 0
 * when the server closed, -1 on an error.
 */
static int
drain_server(struct p11a_tls_conn *c)
{
	unsigned char buf[IO_CHUNK];
	int n, err;

	for (;;) {
		n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n > 0) {
			if (write_all(STDOUT_FILENO, buf, (size_t)n) != 0)
				return -1;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return 1;
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0;
		/* a peer that just closes TCP after its data: treat as end */
		return c->alert > 0 ? -1 : 0;
	}
}

/* stdin to the server; 0 at its end, -1 on an error. */
static int
pump_stdin(struct p11a_tls_conn *c)
{
	unsigned char buf[IO_CHUNK];
	ssize_t n;

	do {
		n = read(STDIN_FILENO, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	return p11a_tls_write_all(c, buf, (size_t)n) == 0 ? 1 : -1;
}

static int
bridge(struct p11a_tls_conn *c, const char *who)
{
	struct pollfd pfd[2];
	int in_open = 1, r;
	char msg[512];

	set_nonblocking(c->fd, 1);
	for (;;) {
		if ((r = drain_server(c)) <= 0)
			break;
		pfd[0] = (struct pollfd){c->fd, POLLIN, 0};
		pfd[1] =
			(struct pollfd){in_open ? STDIN_FILENO : -1, POLLIN, 0};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			r = -1;
			break;
		}
		if (in_open && (pfd[1].revents & (POLLIN | POLLHUP))) {
			if ((r = pump_stdin(c)) < 0)
				break;
			if (r == 0) {
				in_open = 0;
				SSL_shutdown(c->ssl); /* our close_notify */
			}
		}
	}
	if (r == 0)
		return P11A_TLS_EXIT_OK;
	r = p11a_tls_explain(c, msg, sizeof(msg));
	say(who, "%s", msg);
	return r;
}

/* ---- connect: the command ------------------------------------------------ */

static int
usage_error(void)
{
	fprintf(stderr, "usage: p11agent connect %s\n", P11A_CONNECT_SYNOPSIS);
	fprintf(stderr,
		"Try 'p11agent connect --help' for more information.\n");
	return P11A_TLS_EXIT_USAGE;
}

static int
parse_connect(int argc, char **argv, struct p11a_tls_opts *o)
{
	static const struct option opts[] = {
		P11A_TLS_LONG_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (p11a_tls_take_option(ch, optarg, o))
			continue;
		if (ch == 'h') {
			printf("usage: p11agent connect %s\n\n%s",
			       P11A_CONNECT_SYNOPSIS, p11a_connect_help);
			return P11A_TLS_EXIT_OK;
		}
		return usage_error();
	}
	if (optind != argc - 1 ||
	    p11a_tls_split_target(argv[optind], o->host, sizeof(o->host),
				  o->port, sizeof(o->port)) != 0)
		return usage_error();
	return -1;
}

int
p11a_cmd_connect(const char *socket, int argc, char **argv)
{
	struct p11a_tls_opts o;
	struct p11a_tls_conn conn;
	char target[300];
	SSL_CTX *ctx = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&conn, 0, sizeof(conn));
	conn.fd = -1;
	o.socket = socket;
	if ((rc = parse_connect(argc, argv, &o)) >= 0)
		return rc;
	/* a server that closes while we write is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	snprintf(target, sizeof(target), "%s:%s", o.host, o.port);
	conn.target = target;
	conn.trace = o.trace ? stderr : NULL;
	if ((rc = p11a_tls_ctx_new(&o, "connect", &ctx)) != P11A_TLS_EXIT_OK)
		goto out;
	if ((rc = p11a_tls_connect(ctx, &o, "connect", &conn)) !=
	    P11A_TLS_EXIT_OK)
		goto out;
	if (o.trace)
		p11a_trace_summary(&conn);
	rc = bridge(&conn, "connect");
out:
	p11a_tls_conn_close(&conn);
	SSL_CTX_free(ctx);
	return rc;
}
