/*
 * Through p11agentd with libp11agent, one connection per client thread:
 * blocking (p11a_client_sign, one request at a time) or pipelined
 * (o->depth requests in flight with p11a_client_queue_sign and
 * p11a_client_recv).  Hashed schemes are sent in digest form unless
 * --form message, as a TLS stack that keeps its own transcript hash would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11agent/client.h"

#include "keys.h"

struct agent_shared {
	const struct bench_opts *o;
	char socket[4096];
	struct p11a_identity_list list;
	pid_t pid;
};

struct agent_conn {
	p11a_client *c;
	char id[64]; /* identity id */
	unsigned depth;
};

static void
agent_teardown(void *shared)
{
	struct agent_shared *a = shared;

	if (a == NULL)
		return;
	p11a_identity_list_free(&a->list);
	free(a);
}

static int
agent_setup(const struct bench_opts *o, void **shared, char why[BENCH_WHY])
{
	struct agent_shared *a = calloc(1, sizeof(*a));
	p11a_client *c = NULL;
	char msg[200] = "";
	int r;

	*shared = NULL;
	if (a == NULL)
		return bench_why(why, "out of memory");
	a->o = o;
	if (o->socket != NULL)
		snprintf(a->socket, sizeof(a->socket), "%s", o->socket);
	else if (p11a_default_socket_path(a->socket, sizeof(a->socket)) != 0) {
		bench_why(why, "no agent socket: give --socket or set "
			       "P11AGENT_SOCK");
		goto fail;
	}
	r = p11a_client_connect_msg(a->socket, &c, msg, sizeof(msg));
	if (r != 0) {
		bench_why(why, "%s", msg);
		goto fail;
	}
	r = p11a_client_list(c, &a->list);
	p11a_client_close(c);
	if (r != 0) {
		bench_why(why, "LIST_IDENTITIES: %s", p11a_strerror(r));
		goto fail;
	}
	a->pid = o->agent_pid ? o->agent_pid : bench_socket_peer_pid(a->socket);
	*shared = a;
	return 0;
fail:
	agent_teardown(a);
	return -1;
}

static int
has_scheme(const struct p11a_identity *id, uint16_t code)
{
	size_t i;

	for (i = 0; i < id->n_schemes; i++) {
		if (id->schemes[i] == code)
			return 1;
	}
	return 0;
}

static int
agent_supports(void *shared, const struct bench_scheme *s,
	       const struct bench_key *k, char why[BENCH_WHY])
{
	struct agent_shared *a = shared;
	const struct p11a_identity *id;

	(void)k;
	id = bench_find_identity(&a->list, s->label, a->o->token, why);
	if (id == NULL)
		return -1;
	if (!has_scheme(id, s->sc->code))
		return bench_why(why, "the agent does not offer %s for '%s'",
				 s->sc->name, s->label);
	if (!(id->flags & P11A_IDENTITY_AVAILABLE))
		return bench_why(why,
				 "the agent's key '%s' is not available "
				 "(locked?)",
				 s->label);
	return 0;
}

static pid_t
agent_server_pid(void *shared)
{
	return ((struct agent_shared *)shared)->pid;
}

static void
agent_close(void *conn)
{
	struct agent_conn *ac = conn;

	if (ac == NULL)
		return;
	p11a_client_close(ac->c);
	free(ac);
}

static int
agent_open(const struct bench_cell *cell, void **conn, char why[BENCH_WHY])
{
	struct agent_shared *a = cell->shared;
	struct agent_conn *ac = calloc(1, sizeof(*ac));
	const struct p11a_identity *id;
	char msg[200] = "";

	*conn = NULL;
	if (ac == NULL)
		return bench_why(why, "out of memory");
	ac->depth = cell->o->depth;
	id = bench_find_identity(&a->list, cell->scheme->label, cell->o->token,
				 why);
	if (id == NULL)
		goto fail;
	snprintf(ac->id, sizeof(ac->id), "%s", id->id);
	if (p11a_client_connect_msg(a->socket, &ac->c, msg, sizeof(msg)) != 0) {
		bench_why(why, "%s", msg);
		goto fail;
	}
	*conn = ac;
	return 0;
fail:
	agent_close(ac);
	return -1;
}

/* The request for in: digest form for hashed schemes unless told not. */
static void
make_request(const struct agent_conn *ac, const struct bench_input *in,
	     struct p11a_sign_request *req)
{
	memset(req, 0, sizeof(*req));
	req->identity = ac->id;
	req->scheme = in->sc->code;
	if (in->digest_len > 0 && !in->message_form) {
		req->flags = P11A_SIGN_DIGEST;
		req->data = in->digest;
		req->data_len = in->digest_len;
	} else {
		req->data = in->msg;
		req->data_len = in->msg_len;
	}
}

static int
agent_sign(void *conn, const struct bench_input *in, uint8_t *sig,
	   size_t *sig_len, char why[BENCH_WHY])
{
	struct agent_conn *ac = conn;
	struct p11a_sign_request req;
	uint8_t *s = NULL;
	size_t len = 0;
	int r;

	make_request(ac, in, &req);
	if ((r = p11a_client_sign(ac->c, &req, &s, &len)) != 0)
		return bench_why(why, "SIGN: %s: %s", p11a_strerror(r),
				 p11a_client_last_message(ac->c));
	if (len > BENCH_SIG_MAX) {
		free(s);
		return bench_why(why, "signature of %zu bytes", len);
	}
	if (sig != NULL)
		memcpy(sig, s, len);
	if (sig_len != NULL)
		*sig_len = len;
	free(s);
	return 0;
}

/* A request in flight: its id and when it was sent. */
struct inflight {
	uint32_t id;
	uint64_t sent_ns;
};

static int
send_one(struct agent_conn *ac, const struct p11a_sign_request *req,
	 struct inflight *slot, char why[BENCH_WHY])
{
	int r;

	slot->sent_ns = bench_now_ns();
	if ((r = p11a_client_queue_sign(ac->c, req, &slot->id)) != 0)
		return bench_why(why, "queue SIGN: %s: %s", p11a_strerror(r),
				 p11a_client_last_message(ac->c));
	return 0;
}

/* Wait for one reply; its slot is removed from fl (n entries). */
static int
recv_one(struct agent_conn *ac, struct inflight *fl, unsigned *n,
	 struct bench_samples *s, char why[BENCH_WHY])
{
	struct p11a_reply rep;
	uint64_t now;
	unsigned i;
	int r;

	if ((r = p11a_client_recv(ac->c, &rep)) != 0)
		return bench_why(why, "recv: %s: %s", p11a_strerror(r),
				 p11a_client_last_message(ac->c));
	now = bench_now_ns();
	for (i = 0; i < *n && fl[i].id != rep.id; i++)
		;
	if (i == *n)
		r = bench_why(why, "reply to unknown request %u",
			      (unsigned)rep.id);
	else if (rep.error != 0 || rep.sig == NULL)
		r = bench_why(why, "SIGN: %s: %s",
			      p11a_err_name((int)rep.error),
			      rep.message ? rep.message : "");
	if (r == 0) {
		samples_add(s, now - fl[i].sent_ns);
		fl[i] = fl[--*n];
	}
	p11a_reply_free(&rep);
	return r;
}

/* Keep depth requests in flight until the stop rule says no more. */
static int
agent_loop(void *conn, const struct bench_input *in,
	   const struct bench_stop *st, struct bench_samples *s, uint64_t *n,
	   char why[BENCH_WHY])
{
	struct agent_conn *ac = conn;
	struct inflight fl[BENCH_MAX_DEPTH];
	struct p11a_sign_request req;
	uint64_t sent = 0;
	unsigned k = 0;

	*n = 0;
	make_request(ac, in, &req);
	while (k < ac->depth && !bench_stop_reached(st, sent, bench_now_ns())) {
		if (send_one(ac, &req, &fl[k], why) != 0)
			return -1;
		k++;
		sent++;
	}
	while (k > 0) {
		if (recv_one(ac, fl, &k, s, why) != 0)
			return -1;
		++*n;
		if (bench_stop_reached(st, sent, bench_now_ns()))
			continue;
		if (send_one(ac, &req, &fl[k], why) != 0)
			return -1;
		k++;
		sent++;
	}
	return 0;
}

const struct bench_driver bench_driver_agent = {
	.mode = MODE_AGENT,
	.setup = agent_setup,
	.teardown = agent_teardown,
	.supports = agent_supports,
	.server_pid = agent_server_pid,
	.open = agent_open,
	.sign = agent_sign,
	.close = agent_close,
};

const struct bench_driver bench_driver_pipelined = {
	.mode = MODE_PIPELINED,
	.setup = agent_setup,
	.teardown = agent_teardown,
	.supports = agent_supports,
	.server_pid = agent_server_pid,
	.open = agent_open,
	.sign = agent_sign,
	.loop = agent_loop,
	.close = agent_close,
};
