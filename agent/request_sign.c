/*
 * SIGN: checks answered at once on the event loop, then a job on the
 * token's queue.  A plain signature (no confirmation, no PIN for the
 * signature, no login first) is sent to the helper by whichever thread
 * starts it and answered by the link's reader when the reply comes; the
 * rest, and a plain one whose failure a login may cure, run on a worker,
 * which retries once after a recoverable token failure.  Both audit and
 * reply alike (sign_job_complete).
 */
#include "dispatch.h"
#include "handlers.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/p11-kit.h>

#include "audit.h"
#include "hlink.h"
#include "identity.h"
#include "idname.h"
#include "jobs.h"
#include "log.h"
#include "policy.h"
#include "p11agent/error.h"
#include "signer.h"

struct sign_job {
	struct job base;
	struct hlink_req hreq; /* sent without a thread (sign_job_start) */
	struct hlink_reply rep;
	struct signer_result res;
	struct timespec t0; /* when it was sent */
	unsigned gen;	    /* the helper generation of its key handle */
	int retry;	    /* it failed as below; a worker is to log in and
			       retry (first_r: what to answer if it cannot) */
	int first_r;
	struct sign_job *pool_next;
	struct agent *agent;
	struct conn *conn;
	uint32_t req_id;
	struct identity *identity;
	const struct p11a_scheme_info *scheme;
	uint32_t flags;
	int uncounted; /* no longer in its connection's inflight */
	size_t cap;    /* bytes data[] can hold */
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
static uint64_t
usec_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000u +
	       (uint64_t)((t1.tv_nsec - t0->tv_nsec) / 1000);
}

static void
sign_job_reply(struct sign_job *sj, int r, const struct signer_result *res)
{
	struct p11a_buf *out;
	char msg[400];

	if (r != P11A_OK) {
		if (res->why[0] != '\0')
			snprintf(msg, sizeof(msg), "%s: %s", p11a_strerror(r),
				 res->why);
		else if (res->rv != CKR_OK)
			snprintf(msg, sizeof(msg), "%s: %s", p11a_strerror(r),
				 p11_kit_strerror(res->rv));
		else
			snprintf(msg, sizeof(msg), "%s", p11a_strerror(r));
		conn_send_error(sj->conn, sj->req_id, r, msg);
		return;
	}
	if ((out = conn_out_begin(sj->conn)) == NULL)
		return;
	if (p11a_encode_signature(out, sj->req_id, res->sig, res->sig_len) !=
	    P11A_OK)
		conn_warn(sj->conn, "cannot queue a signature reply");
	conn_out_end(sj->conn);
}

/*
 * Whether a failed C_Sign lost something a login repairs, so the request
 * may be tried once more: the login (a token reset; log in again with
 * the cached PIN, which a refused PIN wipes, so this never loops), the
 * key handles (the helper was restarted, or the token renumbered its
 * objects: log in and list the keys again), or the module itself
 * (device errors in a row: its helper is restarted,
 * token_sign_failed()).  gen: the helper generation of the handles
 * signed with.  Never waits: the event loop and the link's reader call
 * it too.
 */
static int
sign_wants_retry(struct token *t, int r, CK_RV rv, unsigned gen)
{
	int again;

	if (r == P11A_OK || rv == CKR_OK)
		return 0;
	again = token_sign_failed(t, gen, rv);
	switch (rv) {
	/* a lost session the helper reopened and retried once already */
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return 1;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
		token_set_present(t, 0);
		return 0;
	default:
		return again;
	}
}

/* What a job holds while queued, counted in its client's memory. */
static size_t
sign_job_size(const struct sign_job *sj)
{
	return sizeof(*sj) + sj->cap;
}

/*
 * One C_SignInit + C_Sign with the job's key (res->sign_us: how long the
 * token took), *gen: the helper generation of the key handle.
 */
static int
sign_job_sign_once(struct sign_job *sj, struct token *t,
		   struct signer_result *res, unsigned *gen)
{
	struct identity *id = sj->identity;
	int ctx = (id->path_flags & P11A_IDENTITY_ALWAYS_AUTH) != 0;
	struct pin pin = {0};
	int r;

	/* the generation first: the handle is stored before it */
	*gen = atomic_load(&id->key_gen);
	/* CKA_ALWAYS_AUTHENTICATE: a PIN for this signature alone */
	if (ctx &&
	    (r = policy_prompts_pin(id)
			 ? policy_prompt_pin(sj->agent->opt, id, sj->conn, &pin)
			 : token_context_pin(t, &pin)) != P11A_OK)
		return r;
	r = signer_sign(id, atomic_load(&id->key), *gen, sj->scheme, sj->flags,
			sj->data, sj->len, ctx ? &pin : NULL, res);
	pin_clear(&pin);
	return r;
}

/*
 * After sign_wants_retry(): log in again (token_login() waits for a
 * helper being restarted) and sign once more; r_first and res stay the
 * answer when the login cannot be done.
 */
static int
sign_job_retry(struct sign_job *sj, struct token *t, struct signer_result *res,
	       int r_first)
{
	CK_RV first_rv = res->rv;
	unsigned gen;
	int r;

	/* a helper restarted for it first: the login is on the new one */
	if (token_get_state(t) != TOKEN_READY || !hlink_wait_ready(t->link) ||
	    token_login(t) != P11A_OK)
		return r_first;
	conn_info(sj->conn, "token %s: recovered from %s; retrying once",
		  t->label, p11_kit_strerror(first_rv));
	r = sign_job_sign_once(sj, t, res, &gen);
	if (r != P11A_OK && res->rv != CKR_OK)
		token_sign_failed(t, gen, res->rv);
	return r;
}

static int
sign_job_sign(struct sign_job *sj, struct token *t, struct signer_result *res)
{
	unsigned gen;
	int r;

	if (!atomic_load(&t->present))
		return P11A_ERR_TOKEN_NOT_PRESENT;
	if (token_get_state(t) != TOKEN_READY)
		return P11A_ERR_LOCKED;
	if (!policy_confirm(sj->agent->opt, sj->identity, sj->conn))
		return P11A_ERR_DENIED;
	/* its helper was restarted: the PIN is cached, log in again first */
	if (token_needs_login(t))
		token_login(t);
	r = sign_job_sign_once(sj, t, res, &gen);
	if (sign_wants_retry(t, r, res->rv, gen))
		r = sign_job_retry(sj, t, res, r);
	return r;
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

/* The end of every SIGN job, run or discarded. */
static void
sign_job_finish(struct sign_job *sj, struct token *t)
{
	job_done(t, &sj->base);
	if (!sj->uncounted)
		atomic_fetch_sub(&sj->conn->inflight, 1);
	conn_queued_sub(sj->conn, sign_job_size(sj));
	conn_unref(sj->conn);
	sign_job_release(sj);
}

/* The client hung up before a worker took the job. */
static void
sign_job_discard(struct job *j, struct token *t)
{
	sign_job_finish((struct sign_job *)j, t);
}

/* Account for, audit and answer a signature, on any thread. */
static void
sign_job_complete(struct sign_job *sj, struct token *t, int r, uint64_t usec)
{
	const struct signer_result *res = &sj->res;

	if (r == P11A_OK) {
		token_sign_ok(t);
		sign_stats_add(&t->stats, res->sign_us);
		sign_stats_add(&sj->identity->stats, res->sign_us);
	} else {
		atomic_fetch_add(&t->errors, 1);
	}
	audit_sign(sj->conn, sj->identity, sj->scheme->name, r, usec);
	if (r == P11A_OK)
		sign_job_count(sj->agent);
	if (r != P11A_OK)
		conn_info(sj->conn, "sign with %s (%s) failed: %s%s%s",
			  sj->identity->id, sj->scheme->name, p11a_strerror(r),
			  res->rv != CKR_OK ? ": " : "",
			  res->rv != CKR_OK ? p11_kit_strerror(res->rv) : "");
	/* its client may send the next request as soon as it has this reply */
	atomic_fetch_sub(&sj->conn->inflight, 1);
	sj->uncounted = 1;
	if (job_claim(&sj->base))
		sign_job_reply(sj, r, res);
}

static void
sign_job_run(struct job *j, struct token *t, struct token_session *s)
{
	struct sign_job *sj = (struct sign_job *)j;
	struct timespec t0;
	int r;

	(void)s; /* the helper runs it on the session of this worker's share */
	/*
	 * Answered by the monitor already (timed out while queued), or the
	 * client hung up: a token's time is not spent on nobody.
	 */
	if (atomic_load(&j->claimed) || conn_is_closed(sj->conn))
		goto out;
	if (sj->retry) {
		/* its first try was sent by sign_job_start() */
		r = sign_job_retry(sj, t, &sj->res, sj->first_r);
		sign_job_complete(sj, t, r, usec_since(&sj->t0));
		goto out;
	}
	sj->res = (struct signer_result){.rv = CKR_OK};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = sign_job_sign(sj, t, &sj->res);
	sign_job_complete(sj, t, r, usec_since(&t0));
out:
	sign_job_finish(sj, t);
}

/* Link reader: the helper answered what sign_job_start() sent. */
static void
sign_job_replied(struct hlink_req *req)
{
	struct sign_job *sj =
		(struct sign_job *)((char *)req -
				    offsetof(struct sign_job, hreq));
	struct token *t = sj->identity->token;
	uint64_t usec = usec_since(&sj->t0);
	int r = signer_finish(sj->scheme, &sj->rep, &sj->res);

	hlink_reply_free(&sj->rep);
	if (sign_wants_retry(t, r, sj->res.rv, sj->gen)) {
		sj->retry = 1;
		sj->first_r = r;
		jobs_async_fallback(t, &sj->base);
		return;
	}
	sign_job_complete(sj, t, r, usec);
	sign_job_finish(sj, t);
	jobs_async_done(t);
}

/*
 * Send a plain signature to the helper without a thread waiting for it
 * (jobs.h); 1: a worker is to run it (sign_job_run), because it needs a
 * confirmation, a PIN for the signature or a login first, or the
 * helper cannot take it now.
 */
static int
sign_job_start(struct job *j, struct token *t)
{
	struct sign_job *sj = (struct sign_job *)j;
	struct identity *id = sj->identity;
	struct p11a_buf req;
	int r;

	if (atomic_load(&j->claimed) || conn_is_closed(sj->conn) ||
	    !atomic_load(&t->present) || token_get_state(t) != TOKEN_READY ||
	    token_needs_login(t) || policy_needs_confirm(id) ||
	    (id->path_flags & P11A_IDENTITY_ALWAYS_AUTH))
		return 1;
	/* the generation first: the handle is stored before it */
	sj->gen = atomic_load(&id->key_gen);
	sj->res = (struct signer_result){.rv = CKR_OK};
	if (signer_build(id, atomic_load(&id->key), sj->scheme, sj->flags,
			 sj->data, sj->len, NULL, &req) != P11A_OK) {
		p11a_buf_free(&req);
		return 1; /* the worker answers it with the same error */
	}
	sj->hreq.rep = &sj->rep;
	sj->hreq.on_reply = sign_job_replied;
	clock_gettime(CLOCK_MONOTONIC, &sj->t0);
	r = hlink_send(t->link, sj->gen, HL_SIGN, &req, &sj->hreq);
	p11a_buf_free(&req);
	if (r == P11A_OK)
		return 0; /* sj may be answered and gone already */
	hlink_reply_free(&sj->rep);
	return 1;
}

/* Monitor thread: the token did not answer in time. */
static void
sign_job_expire(struct job *j)
{
	struct sign_job *sj = (struct sign_job *)j;
	char msg[160];

	/* both times: a long queue is not the token's fault */
	if (j->started_ms == 0 || j->held)
		snprintf(msg, sizeof(msg),
			 "the token made no progress: the request waited %llu "
			 "ms in its queue and was not started",
			 (unsigned long long)(jobs_now_ms() - j->queued_ms));
	else
		snprintf(msg, sizeof(msg),
			 "the token did not answer within %u ms of starting "
			 "the request (it waited %llu ms in the queue before)",
			 j->timeout_ms,
			 (unsigned long long)(j->started_ms - j->queued_ms));
	atomic_fetch_add(&sj->identity->token->errors, 1);
	conn_warn(sj->conn, "token %s: %s", sj->identity->token->label, msg);
	conn_send_error(sj->conn, sj->req_id, P11A_ERR_TIMEOUT, msg);
}

/* Why SIGN's identity field named no one identity. */
static const char *
lookup_failure(int r, const struct p11a_sign_view *v)
{
	enum p11a_name_kind kind =
		p11a_name_kind((const char *)v->identity, v->identity_len);

	if (kind == P11A_NAME_OTHER)
		return "not an identity id (32 lowercase hex digits) or a "
		       "pkcs11: URI";
	if (r == P11A_ERR_IDENTITY_AMBIGUOUS && kind == P11A_NAME_ID)
		return "several keys have this id: their tokens look alike "
		       "and the keys have the same CKA_ID and label (give one "
		       "another label)";
	return p11a_strerror(r);
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

int
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
		conn_send_error(c, f->id, r, lookup_failure(r, &v));
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
	sj->base.start = sign_job_start;
	sj->agent = a;
	sj->base.expire = sign_job_expire;
	sj->base.discard = sign_job_discard;
	sj->base.owner = c;
	/* the token's time, from when a worker starts it (jobs.h) */
	sj->base.timeout_ms = a->opt->request_timeout_ms;
	sj->conn = c;
	sj->req_id = f->id;
	sj->identity = id;
	sj->scheme = sc;
	sj->flags = v.flags;
	sj->len = v.data_len;
	memcpy(sj->data, v.data, v.data_len);
	conn_ref(c);
	atomic_fetch_add(&c->inflight, 1);
	conn_queued_add(c, sign_job_size(sj));
	if ((r = jobs_submit(id->token, &sj->base)) != P11A_OK) {
		atomic_fetch_sub(&c->inflight, 1);
		conn_queued_sub(c, sign_job_size(sj));
		conn_unref(c);
		sign_job_release(sj);
		conn_send_error(c, f->id, r, p11a_strerror(r));
	}
	return P11A_OK;
}
