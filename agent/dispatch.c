#include "dispatch.h"
#include "handlers.h"

#include <stdlib.h>
#include <time.h>

#include "hlink.h"
#include "identity.h"
#include "jobs.h"
#include "log.h"
#include "p11agent/error.h"

int
handle_hello(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	struct p11a_hello h = {0};
	struct p11a_buf *out;
	int r;

	if ((r = p11a_decode_hello(&f->payload, &h)) != P11A_OK)
		return r;
	if (h.min_version > P11A_PROTOCOL_VERSION ||
	    h.version < P11A_PROTOCOL_VERSION) {
		p11a_hello_clear(&h);
		conn_send_error(c, f->id, P11A_ERR_VERSION,
				"agent speaks protocol version 1 only");
		return P11A_ERR_VERSION;
	}
	log_debug("client pid %d uid %u: %s", (int)c->pid, (unsigned)c->uid,
		  h.name);
	p11a_hello_clear(&h);
	h.version = P11A_PROTOCOL_VERSION;
	h.name = "p11agentd";
	h.software = "p11agent " P11A_VERSION;
	h.capabilities =
		P11A_CAP_PIPELINING | P11A_CAP_LOCK | P11A_CAP_STATUS_DETAIL;
	h.max_frame = a->opt->limits.max_frame;
	c->hello_done = 1;
	if ((out = conn_out_begin(c)) == NULL)
		return P11A_OK;
	r = p11a_encode_hello_reply(out, f->id, &h);
	conn_out_end(c);
	return r;
}

int
handle_list(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	struct p11a_identity *items;
	struct p11a_buf *out;
	size_t n;
	int r;

	(void)a;
	if ((r = p11a_decode_empty(&f->payload)) != P11A_OK)
		return r;
	if ((r = registry_wire_list(&items, &n)) != P11A_OK) {
		conn_send_error(c, f->id, r, p11a_strerror(r));
		return P11A_OK;
	}
	if ((out = conn_out_begin(c)) != NULL) {
		r = p11a_encode_identities(out, f->id, items, n);
		conn_out_end(c);
	}
	free(items);
	if (r != P11A_OK)
		conn_send_error(c, f->id, r,
				"identity list does not fit a frame");
	return P11A_OK;
}

/* The token's CKF_USER_PIN_* as STATUS token flags (§8.3). */
static uint32_t
status_pin_flags(unsigned long f)
{
	uint32_t out = 0;

	if (f & CKF_USER_PIN_COUNT_LOW)
		out |= P11A_TOKEN_PIN_COUNT_LOW;
	if (f & CKF_USER_PIN_FINAL_TRY)
		out |= P11A_TOKEN_PIN_FINAL_TRY;
	if (f & CKF_USER_PIN_LOCKED)
		out |= P11A_TOKEN_PIN_LOCKED;
	return out;
}

static void
status_fill_token(struct token *t, struct p11a_token_status *ts)
{
	enum token_state st = token_get_state(t);
	enum hlink_state hs = hlink_state(t->link);
	unsigned dev_errors = atomic_load(&t->dev_errors);

	ts->label = t->label;
	ts->uri = t->uri;
	ts->module = t->module_name;
	ts->flags = atomic_load(&t->present) ? P11A_TOKEN_PRESENT : 0;
	/*
	 * logged in: on the helper that runs now, not just a cached PIN, and
	 * not while its signatures fail with device errors
	 */
	if (st == TOKEN_READY && hs == HLINK_READY && !token_needs_login(t) &&
	    dev_errors == 0)
		ts->flags |= P11A_TOKEN_LOGGED_IN;
	if (hs == HLINK_RECOVERING || (hs == HLINK_READY && dev_errors > 0))
		ts->flags |= P11A_TOKEN_RECOVERING;
	if (hs == HLINK_FAILED)
		ts->flags |= P11A_TOKEN_FAILED;
	if (st != TOKEN_READY)
		ts->flags |= P11A_TOKEN_NEEDS_UNLOCK;
	if (t->protected_auth)
		ts->flags |= P11A_TOKEN_PROTECTED_AUTH;
	ts->flags |= status_pin_flags(atomic_load(&t->pin_flags));
	ts->identities = atomic_load(&t->identities);
	ts->workers = t->n_sessions;
	ts->signs = atomic_load(&t->stats.signs);
	ts->errors = atomic_load(&t->errors);
	ts->sign_usec_total = atomic_load(&t->stats.usec);
}

/* Sessions and queue of each token, and how each identity signs. */
static int
status_fill_detail(struct agent *a, struct p11a_status_detail *d)
{
	struct token **tokens = a->modules.tokens;
	unsigned queued, running;

	if (d->status.n_tokens > 0 &&
	    (d->tokens = calloc(d->status.n_tokens, sizeof(*d->tokens))) ==
		    NULL)
		return P11A_ERR_NO_MEMORY;
	for (size_t i = 0; i < d->status.n_tokens; i++) {
		/* what the helper opened; each worker has one of them */
		d->tokens[i].sessions = tokens[i]->helper_sessions;
		jobs_counts(tokens[i], &queued, &running);
		d->tokens[i].queued = queued;
		d->tokens[i].running = running;
	}
	return registry_paths(tokens, d->status.n_tokens, &d->identities,
			      &d->n_identities);
}

int
handle_status(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	struct p11a_status_detail d = {0};
	struct p11a_status *st = &d.status;
	struct p11a_buf *out;
	uint32_t flags;
	int r;

	if ((r = p11a_decode_status(&f->payload, &flags)) != P11A_OK)
		return r;
	st->software = "p11agent " P11A_VERSION;
	st->uptime_sec = (uint64_t)(time(NULL) - a->started);
	st->connections = atomic_load(&a->connections);
	st->requests = atomic_load(&a->requests);
	st->n_tokens = a->modules.n_tokens;
	if (st->n_tokens > 0 &&
	    (st->tokens = calloc(st->n_tokens, sizeof(*st->tokens))) == NULL) {
		r = P11A_ERR_NO_MEMORY;
		goto out;
	}
	for (size_t i = 0; i < st->n_tokens; i++)
		status_fill_token(a->modules.tokens[i], &st->tokens[i]);
	/* before the output lock: the job queues have locks of their own */
	if ((flags & P11A_STATUS_DETAIL) &&
	    (r = status_fill_detail(a, &d)) != P11A_OK)
		goto out;
	if ((out = conn_out_begin(c)) != NULL) {
		r = (flags & P11A_STATUS_DETAIL)
			    ? p11a_encode_status_detail_reply(out, f->id, &d)
			    : p11a_encode_status_reply(out, f->id, st);
		conn_out_end(c);
	}
out:
	if (r != P11A_OK)
		conn_send_error(c, f->id, r, "cannot make a status reply");
	/* every string is borrowed */
	free(st->tokens);
	free(d.tokens);
	free(d.identities);
	return P11A_OK;
}

typedef int (*handler_fn)(struct agent *, struct conn *, struct p11a_frame *);

static handler_fn
dispatch_handler(uint8_t type)
{
	switch (type) {
	case P11A_MSG_HELLO:
		return handle_hello;
	case P11A_MSG_LIST_IDENTITIES:
		return handle_list;
	case P11A_MSG_SIGN:
		return handle_sign;
	case P11A_MSG_STATUS:
		return handle_status;
	case P11A_MSG_LOCK:
		return handle_lock;
	case P11A_MSG_UNLOCK:
		return handle_unlock;
	default:
		return NULL;
	}
}

int
dispatch_frame(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	handler_fn fn = dispatch_handler(f->type);
	int r;

	atomic_fetch_add(&a->requests, 1);
	if (fn == NULL) {
		conn_send_error(c, f->id, P11A_ERR_UNKNOWN_MESSAGE,
				"unknown message type");
		return P11A_ERR_UNKNOWN_MESSAGE;
	}
	if ((f->type == P11A_MSG_HELLO) == (c->hello_done != 0)) {
		conn_send_error(c, f->id, P11A_ERR_PROTOCOL,
				c->hello_done ? "HELLO sent twice"
					      : "HELLO must come first");
		return P11A_ERR_PROTOCOL;
	}
	r = fn(a, c, f);
	if (r != P11A_OK && r != P11A_ERR_VERSION)
		conn_send_error(c, f->id, r, p11a_strerror(r));
	return r;
}
