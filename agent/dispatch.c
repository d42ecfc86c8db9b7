#include "dispatch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <p11-kit/p11-kit.h>

#include "audit.h"
#include "identity.h"
#include "jobs.h"
#include "log.h"
#include "policy.h"
#include "p11agent/error.h"
#include "signer.h"

struct sign_job {
	struct job base;
	struct sign_job *pool_next;
	struct agent *agent;
	struct conn *conn;
	uint32_t req_id;
	struct identity *identity;
	const struct p11a_scheme_info *scheme;
	uint32_t flags;
	size_t cap; /* bytes data[] can hold */
	size_t len;
	uint8_t data[];
};

/*
 * SIGN jobs are recycled so the hot path allocates nothing: TLS inputs
 * (digests, transcript hashes, CertificateVerify content) fit the inline
 * size; larger messages take a one-off allocation.
 */
#define SIGN_JOB_INLINE 512
#define SIGN_POOL_MAX 1024

static struct {
	pthread_mutex_t lock;
	struct sign_job *free;
	unsigned n;
} sign_pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct sign_job *
sign_job_alloc(size_t len)
{
	struct sign_job *sj = NULL;
	size_t cap = len > SIGN_JOB_INLINE ? len : SIGN_JOB_INLINE;

	if (cap == SIGN_JOB_INLINE) {
		pthread_mutex_lock(&sign_pool.lock);
		if ((sj = sign_pool.free) != NULL) {
			sign_pool.free = sj->pool_next;
			sign_pool.n--;
		}
		pthread_mutex_unlock(&sign_pool.lock);
	}
	if (sj == NULL && (sj = malloc(sizeof(*sj) + cap)) == NULL)
		return NULL;
	memset(sj, 0, sizeof(*sj));
	sj->cap = cap;
	return sj;
}

static void
sign_job_release(struct sign_job *sj)
{
	if (sj->cap == SIGN_JOB_INLINE) {
		pthread_mutex_lock(&sign_pool.lock);
		if (sign_pool.n < SIGN_POOL_MAX) {
			sj->pool_next = sign_pool.free;
			sign_pool.free = sj;
			sign_pool.n++;
			sj = NULL;
		}
		pthread_mutex_unlock(&sign_pool.lock);
	}
	free(sj);
}

/* Shared by the login jobs of one UNLOCK; the last one replies. */
struct unlock_op {
	struct agent *agent;
	atomic_int remaining;
	atomic_int error;
	struct conn *conn;
	uint32_t req_id;
};

struct login_job {
	struct job base;
	struct unlock_op *op;
};

static uint64_t
usec_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000u +
	       (uint64_t)((t1.tv_nsec - t0->tv_nsec) / 1000);
}

static void
sign_job_reply(struct sign_job *sj, int r, CK_RV rv, const uint8_t *sig,
	       size_t sig_len)
{
	struct p11a_buf *out;
	char msg[160];

	if (r != P11A_OK) {
		if (rv != CKR_OK)
			snprintf(msg, sizeof(msg), "%s: %s", p11a_strerror(r),
				 p11_kit_strerror(rv));
		else
			snprintf(msg, sizeof(msg), "%s", p11a_strerror(r));
		conn_send_error(sj->conn, sj->req_id, r, msg);
		return;
	}
	if ((out = conn_out_begin(sj->conn)) == NULL)
		return;
	if (p11a_encode_signature(out, sj->req_id, sig, sig_len) != P11A_OK)
		log_warn("cannot queue a signature reply");
	conn_out_end(sj->conn);
}

/*
 * Repair what a failed C_Sign says was lost, so the request can be tried
 * once more: a session (reopen it, log in again), the login (a token
 * reset; log in again with the cached PIN, which a refused PIN wipes, so
 * this never loops), or the key handle (look the keys up again).
 */
static int
sign_recover(struct token *t, struct token_session *s, CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
		return token_session_reopen(t, s) == P11A_OK &&
		       token_login(t, s->h) == P11A_OK;
	case CKR_USER_NOT_LOGGED_IN:
		return token_get_state(t) == TOKEN_READY &&
		       token_login(t, s->h) == P11A_OK;
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return identities_discover(t, s->h) == P11A_OK;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
		token_set_present(t, 0);
		return 0;
	default:
		return 0;
	}
}

static int
sign_job_sign(struct sign_job *sj, struct token *t, struct token_session *s,
	      uint8_t *sig, size_t *sig_len, CK_RV *rv)
{
	int r;

	if (!atomic_load(&t->present))
		return P11A_ERR_TOKEN_NOT_PRESENT;
	if (token_get_state(t) != TOKEN_READY)
		return P11A_ERR_LOCKED;
	if (!policy_confirm(sj->agent->opt, sj->identity, sj->conn))
		return P11A_ERR_DENIED;
	r = signer_sign(t, s->h, atomic_load(&sj->identity->key), sj->scheme,
			sj->flags, sj->data, sj->len, sig, sig_len, rv);
	if (r == P11A_OK || *rv == CKR_OK || !sign_recover(t, s, *rv))
		return r;
	log_info("token %s: recovered from %s; retrying once", t->label,
		 p11_kit_strerror(*rv));
	return signer_sign(t, s->h, atomic_load(&sj->identity->key), sj->scheme,
			   sj->flags, sj->data, sj->len, sig, sig_len, rv);
}

/* Count a signature against --max-signs; lock when it is reached. */
static void
sign_job_count(struct agent *a)
{
	uint64_t n = atomic_fetch_add(&a->signs_since_unlock, 1) + 1;

	atomic_store(&a->last_use_ms, jobs_now_ms());
	if (a->opt->max_signs != 0 && n == a->opt->max_signs)
		agent_lock(a, "--max-signs reached");
}

static void
sign_job_run(struct job *j, struct token *t, struct token_session *s)
{
	struct sign_job *sj = (struct sign_job *)j;
	uint8_t sig[SIGNER_MAX_SIG];
	size_t sig_len = 0;
	struct timespec t0;
	CK_RV rv = CKR_OK;
	uint64_t usec;
	int r;

	/* answered by the monitor already (timed out while queued) */
	if (atomic_load(&j->claimed))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = sign_job_sign(sj, t, s, sig, &sig_len, &rv);
	usec = usec_since(&t0);
	atomic_fetch_add(&t->sign_usec, usec);
	atomic_fetch_add(r == P11A_OK ? &t->signs : &t->errors, 1);
	audit_sign(sj->conn, sj->identity, sj->scheme->name, r, usec);
	if (r == P11A_OK)
		sign_job_count(sj->agent);
	if (r != P11A_OK)
		log_info("sign with %s (%s) failed: %s%s%s", sj->identity->id,
			 sj->scheme->name, p11a_strerror(r),
			 rv != CKR_OK ? ": " : "",
			 rv != CKR_OK ? p11_kit_strerror(rv) : "");
	if (job_claim(j))
		sign_job_reply(sj, r, rv, sig, sig_len);
out:
	job_done(t, j);
	atomic_fetch_sub(&sj->conn->inflight, 1);
	conn_unref(sj->conn);
	sign_job_release(sj);
}

/* Monitor thread: the token did not answer in time. */
static void
sign_job_expire(struct job *j)
{
	struct sign_job *sj = (struct sign_job *)j;

	atomic_fetch_add(&sj->identity->token->errors, 1);
	log_warn("token %s: request timed out", sj->identity->token->label);
	conn_send_error(sj->conn, sj->req_id, P11A_ERR_TIMEOUT,
			"the token did not answer in time");
}

/* A SIGN refused before it reached the token: audited all the same. */
static int
sign_refuse(struct conn *c, uint32_t req_id, const struct identity *id,
	    const struct p11a_scheme_info *sc, int r, const char *why)
{
	audit_sign(c, id, sc->name, r, 0);
	conn_send_error(c, req_id, r, why);
	return P11A_OK;
}

static int
handle_sign(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	const struct p11a_scheme_info *sc;
	struct p11a_sign_view v;
	struct identity *id;
	struct sign_job *sj;
	const char *why;
	int r;

	if ((r = p11a_decode_sign(&f->payload, &v)) != P11A_OK)
		return r;
	if ((sc = p11a_scheme_find(v.scheme)) == NULL) {
		conn_send_error(c, f->id, P11A_ERR_UNKNOWN_SCHEME,
				"unknown signature scheme code");
		return P11A_OK;
	}
	if ((r = registry_lookup(v.identity, v.identity_len, &id)) != P11A_OK) {
		if (r == P11A_ERR_IDENTITY_NOT_FOUND &&
		    registry_maybe_locked(
			    (const struct token *const *)a->modules.tokens,
			    a->modules.n_tokens, v.identity, v.identity_len)) {
			conn_send_error(c, f->id, P11A_ERR_LOCKED,
					"agent is locked: unlock it first (its "
					"keys are listed after the first "
					"unlock)");
			return P11A_OK;
		}
		conn_send_error(c, f->id, r, p11a_strerror(r));
		return P11A_OK;
	}
	if (!policy_peer_may_use(id, c))
		return sign_refuse(
			c, f->id, id, sc, P11A_ERR_DENIED,
			"this identity is not for your uid or group");
	if ((r = signer_check(id, sc, v.flags, v.data_len, &why)) != P11A_OK)
		return sign_refuse(c, f->id, id, sc, r, why);
	if (!atomic_load(&id->token->present))
		return sign_refuse(c, f->id, id, sc, P11A_ERR_TOKEN_NOT_PRESENT,
				   "the token of this identity is not present");
	if (token_get_state(id->token) != TOKEN_READY)
		return sign_refuse(c, f->id, id, sc, P11A_ERR_LOCKED,
				   "agent is locked: unlock it first");
	if (atomic_load(&c->inflight) >= a->opt->limits.max_inflight)
		return sign_refuse(c, f->id, id, sc, P11A_ERR_BUSY,
				   "too many requests in flight on this "
				   "connection");
	if ((sj = sign_job_alloc(v.data_len)) == NULL) {
		conn_send_error(c, f->id, P11A_ERR_NO_MEMORY, "out of memory");
		return P11A_OK;
	}
	sj->base.run = sign_job_run;
	sj->agent = a;
	sj->base.expire = sign_job_expire;
	sj->base.deadline_ms = jobs_now_ms() + a->opt->request_timeout_ms;
	sj->conn = c;
	sj->req_id = f->id;
	sj->identity = id;
	sj->scheme = sc;
	sj->flags = v.flags;
	sj->len = v.data_len;
	memcpy(sj->data, v.data, v.data_len);
	conn_ref(c);
	atomic_fetch_add(&c->inflight, 1);
	if ((r = jobs_submit(id->token, &sj->base)) != P11A_OK) {
		atomic_fetch_sub(&c->inflight, 1);
		conn_unref(c);
		sign_job_release(sj);
		conn_send_error(c, f->id, r, p11a_strerror(r));
	}
	return P11A_OK;
}

static int
handle_hello(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	struct p11a_hello h = {0};
	struct p11a_buf *out;
	int r;

	(void)a;
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
	h.software = P11A_VERSION;
	h.capabilities = P11A_CAP_PIPELINING | P11A_CAP_LOCK;
	h.max_frame = P11A_MAX_FRAME;
	c->hello_done = 1;
	if ((out = conn_out_begin(c)) == NULL)
		return P11A_OK;
	r = p11a_encode_hello_reply(out, f->id, &h);
	conn_out_end(c);
	return r;
}

static int
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

static void
status_fill_token(struct token *t, struct p11a_token_status *ts)
{
	enum token_state st = token_get_state(t);

	ts->label = t->label;
	ts->uri = t->uri;
	ts->module = t->module_name;
	ts->flags = atomic_load(&t->present) ? P11A_TOKEN_PRESENT : 0;
	if (st == TOKEN_READY)
		ts->flags |= P11A_TOKEN_LOGGED_IN;
	if (st != TOKEN_READY)
		ts->flags |= P11A_TOKEN_NEEDS_UNLOCK;
	if (t->protected_auth)
		ts->flags |= P11A_TOKEN_PROTECTED_AUTH;
	ts->identities = atomic_load(&t->identities);
	ts->workers = t->n_sessions;
	ts->signs = atomic_load(&t->signs);
	ts->errors = atomic_load(&t->errors);
	ts->sign_usec_total = atomic_load(&t->sign_usec);
}

static int
handle_status(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	struct p11a_status st = {0};
	struct p11a_buf *out;
	int r;

	if ((r = p11a_decode_empty(&f->payload)) != P11A_OK)
		return r;
	st.software = P11A_VERSION;
	st.uptime_sec = (uint64_t)(time(NULL) - a->started);
	st.connections = atomic_load(&a->connections);
	st.requests = atomic_load(&a->requests);
	st.n_tokens = a->modules.n_tokens;
	if (st.n_tokens > 0 &&
	    (st.tokens = calloc(st.n_tokens, sizeof(*st.tokens))) == NULL) {
		conn_send_error(c, f->id, P11A_ERR_NO_MEMORY, "out of memory");
		return P11A_OK;
	}
	for (size_t i = 0; i < st.n_tokens; i++)
		status_fill_token(a->modules.tokens[i], &st.tokens[i]);
	if ((out = conn_out_begin(c)) != NULL) {
		if (p11a_encode_status_reply(out, f->id, &st) != P11A_OK)
			log_warn("cannot queue a status reply");
		conn_out_end(c);
	}
	free(st.tokens);
	return P11A_OK;
}

static void
logout_job_run(struct job *j, struct token *t, struct token_session *s)
{
	token_logout(t, s->h);
	free(j);
}

void
agent_lock(struct agent *a, const char *why)
{
	struct job *j;

	/* the state changes now; the token is told from its own queue */
	for (size_t i = 0; i < a->modules.n_tokens; i++) {
		struct token *t = a->modules.tokens[i];

		token_lock(t);
		if (!t->login_required || (j = calloc(1, sizeof(*j))) == NULL)
			continue;
		j->run = logout_job_run;
		if (jobs_submit(t, j) != P11A_OK)
			free(j);
	}
	log_info("locked: %s", why);
}

static int
handle_lock(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	char why[64];
	int r;

	if ((r = p11a_decode_empty(&f->payload)) != P11A_OK)
		return r;
	snprintf(why, sizeof(why), "LOCK from client pid %d", (int)c->pid);
	agent_lock(a, why);
	conn_send_empty(c, P11A_MSG_OK, f->id);
	return P11A_OK;
}

static void
unlock_op_finish(struct unlock_op *op, int r)
{
	int expected = P11A_OK;

	if (r != P11A_OK)
		atomic_compare_exchange_strong(&op->error, &expected, r);
	if (atomic_fetch_sub(&op->remaining, 1) != 1)
		return;
	r = atomic_load(&op->error);
	if (r == P11A_OK) {
		atomic_store(&op->agent->signs_since_unlock, 0);
		atomic_store(&op->agent->last_use_ms, jobs_now_ms());
		conn_send_empty(op->conn, P11A_MSG_OK, op->req_id);
	} else {
		conn_send_error(op->conn, op->req_id, r, p11a_strerror(r));
	}
	conn_unref(op->conn);
	free(op);
}

static void
login_job_run(struct job *j, struct token *t, struct token_session *s)
{
	struct login_job *lj = (struct login_job *)j;

	unlock_op_finish(lj->op, token_login(t, s->h));
	free(lj);
}

/* Tokens an UNLOCK applies to: locked ones matching the URI, if any. */
static int
unlock_wants(struct token *t, P11KitUri *u)
{
	if (!t->login_required || token_get_state(t) == TOKEN_READY)
		return 0;
	return u == NULL || p11_kit_uri_match_token_info(u, &t->info);
}

static int
unlock_start(struct agent *a, struct conn *c, uint32_t id, P11KitUri *u,
	     const uint8_t *pin, size_t pin_len)
{
	struct unlock_op *op;
	struct login_job *lj;
	int n = 0;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return P11A_ERR_NO_MEMORY;
	/* one extra count so the op cannot finish while jobs are queued */
	atomic_store(&op->remaining, 1);
	op->agent = a;
	op->conn = c;
	op->req_id = id;
	conn_ref(c);
	for (size_t i = 0; i < a->modules.n_tokens; i++) {
		struct token *t = a->modules.tokens[i];

		if (!unlock_wants(t, u))
			continue;
		if ((lj = calloc(1, sizeof(*lj))) == NULL ||
		    token_set_pin(t, pin, pin_len) != P11A_OK) {
			free(lj);
			atomic_store(&op->error, P11A_ERR_BAD_INPUT);
			continue;
		}
		lj->base.run = login_job_run;
		lj->op = op;
		atomic_fetch_add(&op->remaining, 1);
		if (jobs_submit(t, &lj->base) != P11A_OK) {
			atomic_fetch_sub(&op->remaining, 1);
			free(lj);
			continue;
		}
		n++;
	}
	log_info("unlock of %d token(s) requested by client pid %d", n,
		 (int)c->pid);
	unlock_op_finish(op, P11A_OK);
	return P11A_OK;
}

static int
handle_unlock(struct agent *a, struct conn *c, struct p11a_frame *f)
{
	char *token_uri = NULL;
	const uint8_t *pin;
	P11KitUri *u = NULL;
	size_t pin_len;
	int r;

	if ((r = p11a_decode_unlock(&f->payload, &token_uri, &pin, &pin_len)) !=
	    P11A_OK)
		return r;
	if (token_uri != NULL) {
		if ((u = p11_kit_uri_new()) == NULL ||
		    p11_kit_uri_parse(token_uri, P11_KIT_URI_FOR_TOKEN, u) !=
			    P11_KIT_URI_OK) {
			conn_send_error(c, f->id, P11A_ERR_BAD_INPUT,
					"token URI does not parse");
			goto out;
		}
	}
	if ((r = unlock_start(a, c, f->id, u, pin, pin_len)) != P11A_OK)
		conn_send_error(c, f->id, r, p11a_strerror(r));
out:
	/* the PIN was copied to the tokens; wipe it from the input buffer */
	OPENSSL_cleanse((uint8_t *)pin, pin_len);
	p11_kit_uri_free(u);
	free(token_uri);
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
