/*
 * libp11agent: the client side of the p11agentd socket protocol.
 *
 * A connection owns one output buffer (whole frames waiting to be
 * written) and one input buffer (bytes read but not yet taken as
 * frames).  Every byte goes through common/buf.c and common/wire.c.
 *
 * Blocking calls send one request and read frames until the reply with
 * their request id arrives.  Replies to requests sent earlier with
 * p11a_client_send_sign() that arrive meanwhile are copied into a FIFO
 * of pending frames, which p11a_client_recv() drains before reading the
 * socket.  That FIFO never holds more frames than there are pipelined
 * requests outstanding, so a misbehaving agent cannot grow it.
 *
 * Errors that leave the byte stream out of step (I/O, framing) mark the
 * connection broken; later calls fail with P11A_ERR_IO at once, except
 * the idempotent ones (LIST, STATUS, SIGN): when the break was an I/O
 * error (the agent restarted, say) and no pipelined request is waiting,
 * they connect to the same path again, once, and repeat the request.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "p11agent/client.h"
#include "buf.h"
#include "scheme.h"
#include "wire.h"

#define CLIENT_NAME "libp11agent"
/* the system agent's account (contrib/systemd/p11agent.sysusers) */
#define AGENT_ACCOUNT "p11agent"
/* bytes asked of read(2) at a time */
#define READ_CHUNK 16384u
/* frame header + largest body, plus room for one read past it */
#define IN_MAX (P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME + READ_CHUNK)
#define OUT_MAX (P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME)
#define MESSAGE_MAX 512

/* A reply that arrived while a blocking call waited for another one. */
struct pending_frame {
	uint8_t type;
	uint32_t id;
	uint8_t *payload;
	size_t len;
};

struct p11a_client {
	int fd;
	char *path;	  /* socket path, for reconnecting */
	int broken;	  /* error that desynchronised the stream, or 0 */
	uint32_t next_id; /* request ids start at 1; 0 is never used */
	struct p11a_buf in;
	struct p11a_buf out;
	struct p11a_hello hello;
	size_t outstanding; /* pipelined SIGNs not yet returned by recv */
	/* of those, lost in a break no pipelining call has reported yet */
	size_t lost;
	struct pending_frame *pending;
	size_t n_pending; /* queued frames start at pending[0] */
	size_t pending_cap;
	char message[MESSAGE_MAX];
};

/* ---- messages and state ------------------------------------------------ */

static int set_message(p11a_client *c, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record a local explanation for r in last_message; returns r. */
static int
set_message(p11a_client *c, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Keep an ERROR reply's text.  Control characters are replaced so that a
 * caller can print it to a terminal as it is.
 */
static void
set_agent_message(p11a_client *c, uint32_t code, const char *msg)
{
	size_t i;

	if (msg == NULL || *msg == '\0')
		msg = p11a_strerror((int)code);
	snprintf(c->message, sizeof(c->message), "%s", msg);
	for (i = 0; c->message[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)c->message[i];

		if (ch < 0x20 || ch == 0x7f)
			c->message[i] = '?';
	}
}

/* Start of every call on a connection. */
static int
begin_call(p11a_client *c)
{
	if (c == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	if (c->broken != 0)
		return set_message(c, P11A_ERR_IO,
				   "connection unusable after an earlier "
				   "error: %s",
				   p11a_strerror(c->broken));
	c->message[0] = '\0';
	return P11A_OK;
}

/*
 * The stream is out of step: fail every later call.  Replies still to
 * come are lost with it; those already queued can still be received.
 * Returns r.
 */
static int
set_broken(p11a_client *c, int r)
{
	c->broken = r;
	c->lost += c->outstanding - c->n_pending;
	c->outstanding = c->n_pending;
	return r;
}

static uint32_t
next_request_id(p11a_client *c)
{
	uint32_t id = c->next_id++;

	if (c->next_id == 0)
		c->next_id = 1;
	return id;
}

/* ---- socket I/O ---------------------------------------------------------- */

/* Write the whole output buffer; it is empty afterwards either way. */
static int
flush_out(p11a_client *c)
{
	ssize_t n;
	int r = P11A_OK;

	while (p11a_buf_remaining(&c->out) > 0) {
		n = send(c->fd, p11a_buf_ptr(&c->out),
			 p11a_buf_remaining(&c->out), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = set_message(c, P11A_ERR_IO, "write to agent: %s",
					strerror(errno));
			r = set_broken(c, r);
			break;
		}
		if ((r = p11a_buf_consume(&c->out, (size_t)n)) != P11A_OK) {
			r = set_broken(c, P11A_ERR_INTERNAL);
			break;
		}
	}
	p11a_buf_reset(&c->out);
	return r;
}

/*
 * A call that sends its own request: queued SIGNs go out first, so the
 * request is encoded into an empty buffer (whose size is the largest
 * frame the agent takes) and its reply is read after theirs.
 */
static int
begin_request(p11a_client *c)
{
	int r;

	if ((r = begin_call(c)) != P11A_OK)
		return r;
	return flush_out(c);
}

/* Wipe every byte the output buffer holds, e.g. after a PIN. */
static void
wipe_out(p11a_client *c)
{
	if (c->out.data != NULL)
		OPENSSL_cleanse(c->out.data, c->out.cap);
	p11a_buf_reset(&c->out);
}

/*
 * Read once from the socket into the input buffer, sleeping in the
 * kernel until the agent sends something: a reply takes what the token
 * takes, and the agent bounds that (--request-timeout).  Requests still
 * queued go out first: their replies may be the ones waited for.
 */
static int
fill_in(p11a_client *c)
{
	uint8_t *p;
	ssize_t n;
	int r;

	if ((r = flush_out(c)) != P11A_OK)
		return r;
	p11a_buf_compact(&c->in);
	if ((r = p11a_buf_reserve(&c->in, READ_CHUNK, &p)) != P11A_OK)
		return set_message(c, r, "input buffer: %s", p11a_strerror(r));
	do {
		n = recv(c->fd, p, READ_CHUNK, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return set_message(c, P11A_ERR_IO, "read from agent: %s",
				   strerror(errno));
	if (n == 0)
		return set_message(c, P11A_ERR_IO,
				   "agent closed the connection");
	return p11a_buf_commit(&c->in, (size_t)n);
}

/*
 * The next frame from the socket.  Its payload borrows the input buffer
 * until the next read.
 */
static int
read_frame(p11a_client *c, struct p11a_frame *f)
{
	int r;

	for (;;) {
		r = p11a_frame_next(&c->in, P11A_MAX_FRAME, f);
		if (r == P11A_OK)
			return P11A_OK;
		if (r != P11A_ERR_INCOMPLETE) {
			set_message(c, r, "bad frame from agent: %s",
				    p11a_strerror(r));
			return set_broken(c, r);
		}
		if ((r = fill_in(c)) != P11A_OK)
			return set_broken(c, r);
	}
}

/* ---- pending replies ----------------------------------------------------- */

/* Copy a frame that answers a pipelined request into the FIFO. */
static int
pending_push(p11a_client *c, const struct p11a_frame *f)
{
	struct pending_frame *pf, *grown;
	size_t len = p11a_buf_remaining(&f->payload);
	size_t cap;

	if (c->n_pending >= c->outstanding)
		return set_broken(c, set_message(c, P11A_ERR_PROTOCOL,
						 "reply to unknown request "
						 "id %u",
						 (unsigned)f->id));
	if (c->n_pending == c->pending_cap) {
		cap = c->pending_cap == 0 ? 8 : c->pending_cap * 2;
		grown = realloc(c->pending, cap * sizeof(*grown));
		if (grown == NULL)
			return set_message(c, P11A_ERR_NO_MEMORY,
					   "out of memory");
		c->pending = grown;
		c->pending_cap = cap;
	}
	pf = &c->pending[c->n_pending];
	memset(pf, 0, sizeof(*pf));
	if (len > 0) {
		if ((pf->payload = malloc(len)) == NULL)
			return set_message(c, P11A_ERR_NO_MEMORY,
					   "out of memory");
		memcpy(pf->payload, p11a_buf_ptr(&f->payload), len);
	}
	pf->type = f->type;
	pf->id = f->id;
	pf->len = len;
	c->n_pending++;
	return P11A_OK;
}

/* Remove the oldest pending frame into *pf (caller frees payload). */
static void
pending_pop(p11a_client *c, struct pending_frame *pf)
{
	*pf = c->pending[0];
	c->n_pending--;
	memmove(c->pending, c->pending + 1, c->n_pending * sizeof(*c->pending));
}

static void
pending_free_all(p11a_client *c)
{
	size_t i;

	for (i = 0; i < c->n_pending; i++)
		free(c->pending[i].payload);
	free(c->pending);
	c->pending = NULL;
	c->n_pending = c->pending_cap = 0;
}

/* ---- request / reply ------------------------------------------------------
 */

/* Turn an ERROR payload into its code, keeping the message. */
static int
take_error(p11a_client *c, struct p11a_buf *payload)
{
	uint32_t code = 0;
	char *msg = NULL;
	int r;

	if ((r = p11a_decode_error(payload, &code, &msg)) != P11A_OK) {
		set_message(c, r, "malformed ERROR reply: %s",
			    p11a_strerror(r));
		goto out;
	}
	set_agent_message(c, code, msg);
	/* an ERROR that claims success is itself a protocol violation */
	r = code == P11A_OK ? P11A_ERR_PROTOCOL : (int)code;
out:
	free(msg);
	return r;
}

/* Check that a reply to our request has the type we want. */
static int
check_reply(p11a_client *c, struct p11a_frame *f, uint8_t want)
{
	if (f->type == want)
		return P11A_OK;
	if (f->type == P11A_MSG_ERROR)
		return take_error(c, &f->payload);
	return set_message(c, P11A_ERR_PROTOCOL,
			   "unexpected reply type 0x%02x (wanted 0x%02x)",
			   f->type, want);
}

/*
 * Read frames until the reply to request id arrives; replies to other
 * (pipelined) requests are queued.  An ERROR with request id 0 concerns
 * the connection as a whole and answers whoever is waiting.
 */
static int
wait_reply(p11a_client *c, uint32_t id, uint8_t want, struct p11a_frame *f)
{
	int r;

	for (;;) {
		if ((r = read_frame(c, f)) != P11A_OK)
			return r;
		if (f->id == id || (f->id == 0 && f->type == P11A_MSG_ERROR))
			return check_reply(c, f, want);
		if ((r = pending_push(c, f)) != P11A_OK)
			return r;
	}
}

/* Encoded request in c->out: write it and wait for its reply. */
static int
transact(p11a_client *c, uint32_t id, uint8_t want, struct p11a_frame *f)
{
	int r;

	if ((r = flush_out(c)) != P11A_OK)
		return r;
	return wait_reply(c, id, want, f);
}

/* A failed encoder leaves c->out as it was; explain the failure. */
static int
encode_failed(p11a_client *c, int r, const char *what)
{
	return set_message(c, r, "cannot encode %s: %s", what,
			   p11a_strerror(r));
}

/* A request with no payload whose reply is OK. */
/*
 * Send a request without payload and wait for its reply of the expected
 * type; *f then holds the reply's payload.
 */
static int
empty_request(p11a_client *c, uint8_t type, uint8_t reply_type,
	      const char *what, struct p11a_frame *f)
{
	uint32_t id;
	int r;

	if ((r = begin_request(c)) != P11A_OK)
		return r;
	id = next_request_id(c);
	if ((r = p11a_encode_empty(&c->out, type, id)) != P11A_OK)
		return encode_failed(c, r, what);
	return transact(c, id, reply_type, f);
}

static int
simple_call(p11a_client *c, uint8_t type, const char *what)
{
	struct p11a_frame f;
	int r;

	if ((r = empty_request(c, type, P11A_MSG_OK, what, &f)) != P11A_OK)
		return r;
	return p11a_decode_empty(&f.payload);
}

/* ---- connection ------------------------------------------------------------
 */

int
p11a_default_socket_path(char *buf, size_t len)
{
	const char *env, *dir;
	int n;

	if (buf == NULL || len == 0)
		return P11A_ERR_INVALID_ARGUMENT;
	buf[0] = '\0';
	if ((env = secure_getenv("P11AGENT_SOCK")) != NULL && *env != '\0')
		n = snprintf(buf, len, "%s", env);
	else if ((dir = secure_getenv("XDG_RUNTIME_DIR")) != NULL &&
		 *dir != '\0')
		n = snprintf(buf, len, "%s/p11agent/agent.sock", dir);
	else
		return P11A_ERR_CONNECT;
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return P11A_ERR_INVALID_ARGUMENT;
	}
	return P11A_OK;
}

/* A user name or a number; -1 for neither. */
static long long
uid_of(const char *name)
{
	char buf[4096], *end;
	struct passwd pw, *found = NULL;
	unsigned long long n;

	if (name == NULL || *name == '\0')
		return -1;
	errno = 0;
	n = strtoull(name, &end, 10);
	if (*end == '\0' && errno == 0 && n < (uid_t)-1)
		return (long long)n;
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) != 0 ||
	    found == NULL)
		return -1;
	return (long long)pw.pw_uid;
}

static int
agent_uid_trusted(uid_t uid)
{
	if (uid == getuid() || uid == geteuid() || uid == 0)
		return 1;
	/* the system agent (p11agent-system.service) */
	if ((long long)uid == uid_of(AGENT_ACCOUNT))
		return 1;
	return (long long)uid == uid_of(secure_getenv("P11AGENT_AGENT_UID"));
}

/*
 * Whoever listens at the path gets every request, an UNLOCK's PIN too:
 * in a directory another user can write to, that may be a fake agent.
 * So nothing is sent before the listener's uid is one we trust.  Over
 * `ssh -R` the listener is the user's sshd, so the uid is ours.
 */
static int
check_agent_uid(p11a_client *c, const char *path)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return set_message(c, P11A_ERR_UNTRUSTED_AGENT,
				   "cannot learn who listens at %s "
				   "(SO_PEERCRED): %s",
				   path, strerror(errno));
	if (agent_uid_trusted(cr.uid))
		return P11A_OK;
	return set_message(c, P11A_ERR_UNTRUSTED_AGENT,
			   "the agent at %s runs as uid %u, which is not "
			   "trusted (not ours, root, " AGENT_ACCOUNT
			   " or P11AGENT_AGENT_UID); nothing was sent to it",
			   path, (unsigned)cr.uid);
}

static int
open_socket(p11a_client *c, const char *path)
{
	struct sockaddr_un sun;
	int r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (*path == '\0' || strlen(path) >= sizeof(sun.sun_path))
		return set_message(c, P11A_ERR_INVALID_ARGUMENT,
				   "socket path empty or too long");
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return set_message(c, P11A_ERR_IO, "socket: %s",
				   strerror(errno));
	do {
		r = connect(c->fd, (struct sockaddr *)&sun, sizeof(sun));
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return check_agent_uid(c, path);
	if (errno == ENOENT || errno == ECONNREFUSED)
		return set_message(c, P11A_ERR_CONNECT, "no agent at %s", path);
	return set_message(c, P11A_ERR_CONNECT, "cannot connect to %s: %s",
			   path, strerror(errno));
}

static int
exchange_hello(p11a_client *c)
{
	struct p11a_hello h;
	struct p11a_frame f;
	uint32_t id = next_request_id(c);
	int r;

	memset(&h, 0, sizeof(h));
	h.version = P11A_PROTOCOL_VERSION;
	h.min_version = P11A_PROTOCOL_VERSION;
	h.name = (char *)CLIENT_NAME;
	h.capabilities = P11A_CAP_PIPELINING | P11A_CAP_LOCK;
	h.max_frame = P11A_MAX_FRAME;
	if ((r = p11a_encode_hello(&c->out, id, &h)) != P11A_OK)
		return encode_failed(c, r, "HELLO");
	if ((r = transact(c, id, P11A_MSG_HELLO_REPLY, &f)) != P11A_OK)
		return r;
	if ((r = p11a_decode_hello_reply(&f.payload, &c->hello)) != P11A_OK)
		return set_message(c, r, "malformed HELLO reply: %s",
				   p11a_strerror(r));
	if (c->hello.version != P11A_PROTOCOL_VERSION)
		return set_message(c, P11A_ERR_VERSION,
				   "agent chose protocol version %u",
				   (unsigned)c->hello.version);
	/* never send a frame larger than the agent said it accepts */
	if (c->hello.max_frame >= P11A_FRAME_BODY_MIN &&
	    c->hello.max_frame < P11A_MAX_FRAME) {
		p11a_buf_free(&c->out);
		p11a_buf_init(&c->out,
			      P11A_FRAME_HEADER_LEN + c->hello.max_frame);
	}
	return P11A_OK;
}

/*
 * A broken connection may be replaced when it broke on I/O (not on a
 * frame the agent got wrong) and no pipelined reply would be lost.
 */
static int
may_reconnect(const p11a_client *c)
{
	return c->broken == P11A_ERR_IO && c->outstanding == 0 &&
	       c->n_pending == 0 && c->lost == 0 && c->path != NULL;
}

/* Drop the broken socket and connect to the same path again. */
static int
reconnect(p11a_client *c)
{
	int r;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	p11a_buf_reset(&c->in);
	p11a_buf_free(&c->out);
	p11a_buf_init(&c->out, OUT_MAX);
	p11a_hello_clear(&c->hello);
	c->broken = 0;
	if ((r = open_socket(c, c->path)) != P11A_OK ||
	    (r = exchange_hello(c)) != P11A_OK) {
		/* still unusable; the next idempotent call tries again */
		c->broken = P11A_ERR_IO;
		return r;
	}
	return P11A_OK;
}

/*
 * After an idempotent call failed with *r: whether to repeat it, having
 * reconnected (at most once per call: *tried).  A failed reconnect's
 * error replaces *r.
 */
static int
retry_after_break(p11a_client *c, int *r, int *tried)
{
	int rr;

	if (*tried || *r != P11A_ERR_IO || c == NULL || !may_reconnect(c))
		return 0;
	*tried = 1;
	if ((rr = reconnect(c)) != P11A_OK) {
		*r = rr;
		return 0;
	}
	return 1;
}

static p11a_client *
client_new(void)
{
	p11a_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = -1;
	c->next_id = 1;
	p11a_buf_init(&c->in, IN_MAX);
	p11a_buf_init(&c->out, OUT_MAX);
	return c;
}

int
p11a_client_connect_msg(const char *path, p11a_client **out, char *msg,
			size_t msg_len)
{
	char def[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *why = NULL;
	p11a_client *c = NULL;
	int r;

	if (msg != NULL && msg_len > 0)
		msg[0] = '\0';
	if (out == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	*out = NULL;
	if (path == NULL &&
	    (r = p11a_default_socket_path(def, sizeof(def))) != P11A_OK) {
		why = r == P11A_ERR_CONNECT
			      ? "no agent socket: neither P11AGENT_SOCK nor "
				"XDG_RUNTIME_DIR is set"
			      : "default socket path too long";
		goto out;
	}
	if (path == NULL)
		path = def;
	if ((c = client_new()) == NULL || (c->path = strdup(path)) == NULL) {
		r = P11A_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = open_socket(c, path)) != P11A_OK ||
	    (r = exchange_hello(c)) != P11A_OK) {
		why = p11a_client_last_message(c);
		goto out;
	}
	*out = c;
	c = NULL;
out:
	if (r != P11A_OK && msg != NULL && msg_len > 0)
		snprintf(msg, msg_len, "%s",
			 why != NULL && *why != '\0' ? why : p11a_strerror(r));
	p11a_client_close(c);
	return r;
}

int
p11a_client_connect(const char *path, p11a_client **out)
{
	return p11a_client_connect_msg(path, out, NULL, 0);
}

void
p11a_client_close(p11a_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	p11a_buf_free(&c->in);
	p11a_buf_free(&c->out);
	p11a_hello_clear(&c->hello);
	pending_free_all(c);
	free(c);
}

const struct p11a_hello *
p11a_client_hello(const p11a_client *c)
{
	return c == NULL ? NULL : &c->hello;
}

int
p11a_client_broken(const p11a_client *c)
{
	return c == NULL ? 0 : c->broken;
}

const char *
p11a_client_last_message(const p11a_client *c)
{
	if (c == NULL)
		return "";
	if (c->message[0] == '\0' && c->broken != 0)
		return p11a_strerror(c->broken);
	return c->message;
}

/* ---- requests ---------------------------------------------------------- */

static int
list_once(p11a_client *c, struct p11a_identity_list *list)
{
	struct p11a_frame f;
	int r;

	if ((r = empty_request(c, P11A_MSG_LIST_IDENTITIES, P11A_MSG_IDENTITIES,
			       "LIST_IDENTITIES", &f)) != P11A_OK)
		return r;
	if ((r = p11a_decode_identities(&f.payload, list)) != P11A_OK) {
		p11a_identity_list_clear(list);
		memset(list, 0, sizeof(*list));
		return set_message(c, r, "malformed IDENTITIES reply: %s",
				   p11a_strerror(r));
	}
	return P11A_OK;
}

int
p11a_client_list(p11a_client *c, struct p11a_identity_list *list)
{
	int r, tried = 0;

	if (list == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	memset(list, 0, sizeof(*list));
	do
		r = list_once(c, list);
	while (retry_after_break(c, &r, &tried));
	return r;
}

void
p11a_identity_list_free(struct p11a_identity_list *list)
{
	if (list == NULL)
		return;
	p11a_identity_list_clear(list);
	memset(list, 0, sizeof(*list));
}

static int
check_sign_request(const struct p11a_sign_request *req)
{
	if (req == NULL || req->identity == NULL ||
	    (req->data == NULL && req->data_len > 0))
		return P11A_ERR_INVALID_ARGUMENT;
	return P11A_OK;
}

/* Encode a SIGN request into c->out under a fresh request id. */
static int
encode_sign(p11a_client *c, const struct p11a_sign_request *req, uint32_t *id)
{
	int r;

	if ((r = check_sign_request(req)) != P11A_OK)
		return set_message(c, r, "bad sign request");
	*id = next_request_id(c);
	if ((r = p11a_encode_sign(&c->out, *id, req)) != P11A_OK)
		return encode_failed(c, r, "SIGN");
	return P11A_OK;
}

/* Copy a SIGNATURE payload into a fresh allocation. */
static int
take_signature(p11a_client *c, struct p11a_buf *payload, uint8_t **sig,
	       size_t *sig_len)
{
	const uint8_t *p;
	size_t n;
	int r;

	if ((r = p11a_decode_signature(payload, &p, &n)) != P11A_OK)
		return set_message(c, r, "malformed SIGNATURE reply: %s",
				   p11a_strerror(r));
	if (n == 0)
		return set_message(c, P11A_ERR_PROTOCOL, "empty signature");
	if ((*sig = malloc(n)) == NULL)
		return set_message(c, P11A_ERR_NO_MEMORY, "out of memory");
	memcpy(*sig, p, n);
	*sig_len = n;
	return P11A_OK;
}

static int
sign_once(p11a_client *c, const struct p11a_sign_request *req, uint8_t **sig,
	  size_t *sig_len)
{
	struct p11a_frame f;
	uint32_t id = 0;
	int r;

	if ((r = begin_request(c)) != P11A_OK ||
	    (r = encode_sign(c, req, &id)) != P11A_OK ||
	    (r = transact(c, id, P11A_MSG_SIGNATURE, &f)) != P11A_OK)
		return r;
	return take_signature(c, &f.payload, sig, sig_len);
}

int
p11a_client_sign(p11a_client *c, const struct p11a_sign_request *req,
		 uint8_t **sig, size_t *sig_len)
{
	int r, tried = 0;

	if (sig == NULL || sig_len == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	*sig = NULL;
	*sig_len = 0;
	do
		r = sign_once(c, req, sig, sig_len);
	while (retry_after_break(c, &r, &tried));
	return r;
}

static int
status_once(p11a_client *c, struct p11a_status *st)
{
	struct p11a_frame f;
	int r;

	if ((r = empty_request(c, P11A_MSG_STATUS, P11A_MSG_STATUS_REPLY,
			       "STATUS", &f)) != P11A_OK)
		return r;
	if ((r = p11a_decode_status_reply(&f.payload, st)) != P11A_OK) {
		p11a_status_clear(st);
		memset(st, 0, sizeof(*st));
		return set_message(c, r, "malformed STATUS reply: %s",
				   p11a_strerror(r));
	}
	return P11A_OK;
}

int
p11a_client_status(p11a_client *c, struct p11a_status *st)
{
	int r, tried = 0;

	if (st == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	memset(st, 0, sizeof(*st));
	do
		r = status_once(c, st);
	while (retry_after_break(c, &r, &tried));
	return r;
}

void
p11a_status_free(struct p11a_status *st)
{
	if (st == NULL)
		return;
	p11a_status_clear(st);
	memset(st, 0, sizeof(*st));
}

/* STATUS with P11A_STATUS_DETAIL, to an agent that announced it. */
static int
status_detail_once(p11a_client *c, struct p11a_status_detail *d)
{
	struct p11a_frame f;
	uint32_t id;
	int r;

	if ((r = begin_request(c)) != P11A_OK)
		return r;
	id = next_request_id(c);
	if ((r = p11a_encode_status(&c->out, id, P11A_STATUS_DETAIL)) !=
	    P11A_OK)
		return encode_failed(c, r, "STATUS");
	if ((r = transact(c, id, P11A_MSG_STATUS_REPLY, &f)) != P11A_OK)
		return r;
	if ((r = p11a_decode_status_detail_reply(&f.payload, d)) != P11A_OK)
		return set_message(c, r, "malformed STATUS reply: %s",
				   p11a_strerror(r));
	return P11A_OK;
}

/*
 * An agent that does not announce P11A_CAP_STATUS_DETAIL would close the
 * connection on the flags (TRAILING_DATA): it gets a plain STATUS.
 */
static int
status_detail_or_plain(p11a_client *c, struct p11a_status_detail *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	if (!(c->hello.capabilities & P11A_CAP_STATUS_DETAIL))
		return status_once(c, &d->status);
	r = status_detail_once(c, d);
	if (r != P11A_OK)
		p11a_status_detail_clear(d);
	return r;
}

int
p11a_client_status_detail(p11a_client *c, struct p11a_status_detail *d)
{
	int r, tried = 0;

	if (d == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	memset(d, 0, sizeof(*d));
	do
		r = status_detail_or_plain(c, d);
	while (retry_after_break(c, &r, &tried));
	return r;
}

void
p11a_status_detail_free(struct p11a_status_detail *d)
{
	p11a_status_detail_clear(d);
}

int
p11a_client_lock(p11a_client *c)
{
	return simple_call(c, P11A_MSG_LOCK, "LOCK");
}

int
p11a_client_unlock(p11a_client *c, const char *token_uri, const char *pin)
{
	return p11a_client_unlock_flags(c, token_uri, pin, 0);
}

int
p11a_client_unlock_flags(p11a_client *c, const char *token_uri, const char *pin,
			 uint32_t flags)
{
	struct p11a_frame f;
	uint32_t id;
	int r;

	/* queued requests go out first: the buffer is wiped after the PIN */
	if ((r = begin_request(c)) != P11A_OK)
		return r;
	if (pin == NULL)
		return set_message(c, P11A_ERR_INVALID_ARGUMENT, "no PIN");
	id = next_request_id(c);
	r = p11a_encode_unlock(&c->out, id, token_uri, (const uint8_t *)pin,
			       strlen(pin), flags);
	if (r != P11A_OK) {
		r = encode_failed(c, r, "UNLOCK");
		goto out;
	}
	r = flush_out(c);
	/* the PIN went out (or never will): no copy stays in our buffer */
	wipe_out(c);
	if (r != P11A_OK)
		goto out;
	if ((r = wait_reply(c, id, P11A_MSG_OK, &f)) != P11A_OK)
		goto out;
	r = p11a_decode_empty(&f.payload);
out:
	wipe_out(c);
	return r;
}

/* ---- pipelining -------------------------------------------------------- */

/* Encode a SIGN behind whatever is queued in the output buffer. */
static int
queue_sign(p11a_client *c, const struct p11a_sign_request *req,
	   uint32_t *req_id)
{
	uint32_t id = 0;
	int r, tried = 0;

	if (req_id == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	*req_id = 0;
	/* a connection broken with nothing outstanding is replaced first */
	do
		r = begin_call(c);
	while (retry_after_break(c, &r, &tried));
	if (r != P11A_OK)
		return r;
	/*
	 * The buffer holds one frame of the largest size the agent takes: when
	 * queued requests leave no room for this one, they go out first.
	 */
	r = encode_sign(c, req, &id);
	if (r == P11A_ERR_FRAME_TOO_LARGE && p11a_buf_remaining(&c->out) > 0 &&
	    (r = flush_out(c)) == P11A_OK)
		r = encode_sign(c, req, &id);
	if (r != P11A_OK)
		return r;
	c->outstanding++;
	*req_id = id;
	return P11A_OK;
}

/*
 * A pipelining call returns r: P11A_ERR_IO tells its caller that the
 * requests in flight are lost, so the connection may be replaced now.
 */
static int
pipelining_result(p11a_client *c, int r)
{
	if (r == P11A_ERR_IO && c != NULL)
		c->lost = 0;
	return r;
}

int
p11a_client_send_sign(p11a_client *c, const struct p11a_sign_request *req,
		      uint32_t *req_id)
{
	int r;

	if ((r = queue_sign(c, req, req_id)) == P11A_OK)
		r = flush_out(c);
	return pipelining_result(c, r);
}

int
p11a_client_queue_sign(p11a_client *c, const struct p11a_sign_request *req,
		       uint32_t *req_id)
{
	return pipelining_result(c, queue_sign(c, req, req_id));
}

int
p11a_client_flush(p11a_client *c)
{
	return pipelining_result(c, begin_request(c));
}

/* Fill a p11a_reply from a SIGNATURE or ERROR frame. */
static int
reply_from_frame(p11a_client *c, struct p11a_frame *f, struct p11a_reply *reply)
{
	uint32_t code = 0;
	int r;

	reply->id = f->id;
	if (f->type == P11A_MSG_SIGNATURE)
		return take_signature(c, &f->payload, &reply->sig,
				      &reply->sig_len);
	if (f->type != P11A_MSG_ERROR)
		return set_message(c, P11A_ERR_PROTOCOL,
				   "unexpected reply type 0x%02x to SIGN",
				   f->type);
	if ((r = p11a_decode_error(&f->payload, &code, &reply->message)) !=
	    P11A_OK)
		return set_message(c, r, "malformed ERROR reply: %s",
				   p11a_strerror(r));
	set_agent_message(c, code, reply->message);
	reply->error = code == P11A_OK ? P11A_ERR_PROTOCOL : code;
	return P11A_OK;
}

int
p11a_client_recv(p11a_client *c, struct p11a_reply *reply)
{
	struct pending_frame pf;
	struct p11a_frame f;
	int r;

	memset(&pf, 0, sizeof(pf));
	if (reply == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	memset(reply, 0, sizeof(*reply));
	if (c == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	/* replies queued before a break are still delivered */
	if (c->n_pending == 0 && c->lost > 0)
		return pipelining_result(
			c, set_message(c, P11A_ERR_IO,
				       "the connection to the agent broke "
				       "before the replies came"));
	if (c->n_pending == 0 && (r = begin_call(c)) != P11A_OK)
		return pipelining_result(c, r);
	if (c->outstanding == 0)
		return set_message(c, P11A_ERR_INVALID_ARGUMENT,
				   "no request is waiting for a reply");
	if (c->n_pending > 0) {
		pending_pop(c, &pf);
		memset(&f, 0, sizeof(f));
		f.type = pf.type;
		f.id = pf.id;
		p11a_buf_view(&f.payload, pf.payload, pf.len);
	} else if ((r = read_frame(c, &f)) != P11A_OK) {
		goto out;
	}
	/* an ERROR with id 0 is about the connection, not one request */
	if (f.id != 0)
		c->outstanding--;
	r = reply_from_frame(c, &f, reply);
out:
	free(pf.payload);
	if (r != P11A_OK)
		p11a_reply_free(reply);
	return pipelining_result(c, r);
}

void
p11a_reply_free(struct p11a_reply *reply)
{
	if (reply == NULL)
		return;
	free(reply->message);
	free(reply->sig);
	memset(reply, 0, sizeof(*reply));
}

/* ---- scheme names -------------------------------------------------------- */

int
p11a_scheme_from_name(const char *name, uint16_t *code)
{
	const struct p11a_scheme_info *s;

	if (code == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	*code = 0;
	if (name == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	if ((s = p11a_scheme_by_name(name)) == NULL)
		return P11A_ERR_UNKNOWN_SCHEME;
	*code = s->code;
	return P11A_OK;
}

const char *
p11a_scheme_to_name(uint16_t code)
{
	return p11a_scheme_name(code);
}
