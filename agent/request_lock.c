/*
 * LOCK and UNLOCK, and the automatic locks (--lock-after, --max-signs):
 * state changes at once, the token is told from its own queue.
 */
#include "dispatch.h"
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <p11-kit/uri.h>

#include "jobs.h"
#include "log.h"
#include "p11util.h"
#include "pin.h"
#include "throttle.h"
#include "p11agent/error.h"

struct unlock_op {
	struct agent *agent;
	atomic_int remaining;
	atomic_int error;
	struct conn *conn;
	uid_t uid;
	uint32_t req_id;
};

/* A login with its own copy of the PIN: UNLOCKs never share one. */
struct login_job {
	struct job base;
	struct unlock_op *op;
	struct pin pin;
	unsigned generation; /* the token's when the UNLOCK came in */
};

static void
logout_job_run(struct job *j, struct token *t, struct token_session *s)
{
	(void)s;
	token_logout(t);
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

int
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

/* The first error is the answer. */
static void
unlock_op_error(struct unlock_op *op, int r)
{
	int expected = P11A_OK;

	if (r != P11A_OK)
		atomic_compare_exchange_strong(&op->error, &expected, r);
}

static void
unlock_op_finish(struct unlock_op *op, int r)
{
	unlock_op_error(op, r);
	if (atomic_fetch_sub(&op->remaining, 1) != 1)
		return;
	r = atomic_load(&op->error);
	throttle_note(op->uid, r, jobs_now_ms());
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
	int r = token_unlock(t, &lj->pin, lj->generation);

	(void)s;
	pin_clear(&lj->pin);
	unlock_op_finish(lj->op, r);
	free(lj);
}

/* Queue the login of one token; it counts in op until it finishes. */
static int
unlock_submit(struct unlock_op *op, struct token *t, const uint8_t *pin,
	      size_t pin_len)
{
	struct login_job *lj;
	int r;

	if ((lj = calloc(1, sizeof(*lj))) == NULL)
		return P11A_ERR_NO_MEMORY;
	lj->base.run = login_job_run;
	lj->op = op;
	lj->generation = token_generation(t);
	atomic_fetch_add(&op->remaining, 1);
	if ((r = pin_set(&lj->pin, pin, pin_len)) == P11A_OK &&
	    (r = jobs_submit(t, &lj->base)) == P11A_OK)
		return P11A_OK;
	atomic_fetch_sub(&op->remaining, 1);
	pin_clear(&lj->pin);
	free(lj);
	return r;
}

/*
 * Every token matching the URI (all when there is none) that needs a
 * login gets a login job; the reply waits for them all.  A URI that
 * matches no token at all is an error, not a silent OK.
 */
static int
unlock_start(struct agent *a, struct conn *c, uint32_t id, P11KitUri *u,
	     const uint8_t *pin, size_t pin_len)
{
	struct unlock_op *op;
	int matched = 0, n = 0, r;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return P11A_ERR_NO_MEMORY;
	/* one extra count so the op cannot finish while jobs are queued */
	atomic_store(&op->remaining, 1);
	op->agent = a;
	op->conn = c;
	op->uid = c->uid;
	op->req_id = id;
	conn_ref(c);
	for (size_t i = 0; i < a->modules.n_tokens; i++) {
		struct token *t = a->modules.tokens[i];

		if (u != NULL && !p11_kit_uri_match_token_info(u, &t->info))
			continue;
		matched++;
		if (!t->login_required)
			continue;
		if ((r = unlock_submit(op, t, pin, pin_len)) != P11A_OK)
			unlock_op_error(op, r);
		else
			n++;
	}
	log_info("unlock of %d token(s) requested by client pid %d", n,
		 (int)c->pid);
	unlock_op_finish(op, matched > 0 ? P11A_OK : P11A_ERR_TOKEN_NOT_FOUND);
	return P11A_OK;
}

/* A uid guessing PINs waits; its UNLOCK is refused, no token asked. */
static int
unlock_throttled(struct conn *c, uint32_t id)
{
	uint64_t wait = throttle_wait_ms(c->uid, jobs_now_ms());
	char msg[160];

	if (wait == 0)
		return 0;
	snprintf(msg, sizeof(msg),
		 "too many wrong PINs: UNLOCK refused for another %llu.%03llu "
		 "s (retry-after-ms=%llu)",
		 (unsigned long long)(wait / 1000),
		 (unsigned long long)(wait % 1000), (unsigned long long)wait);
	log_warn("UNLOCK from uid %u refused for %llu ms more: wrong PINs "
		 "before it",
		 (unsigned)c->uid, (unsigned long long)wait);
	conn_send_error(c, id, P11A_ERR_BUSY, msg);
	return 1;
}

int
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
	if (unlock_throttled(c, f->id))
		goto out;
	if (token_uri != NULL) {
		if ((u = p11_kit_uri_new()) == NULL ||
		    p11_kit_uri_parse(token_uri, P11_KIT_URI_FOR_TOKEN, u) !=
			    P11_KIT_URI_OK) {
			conn_send_error(c, f->id, P11A_ERR_BAD_INPUT,
					"token URI does not parse");
			goto out;
		}
		p11_uri_blank_nul_padding(u);
	}
	if ((r = unlock_start(a, c, f->id, u, pin, pin_len)) != P11A_OK)
		conn_send_error(c, f->id, r, p11a_strerror(r));
out:
	/* the PIN was copied to the jobs; wipe it from the input buffer */
	OPENSSL_cleanse((uint8_t *)pin, pin_len);
	p11_kit_uri_free(u);
	free(token_uri);
	return P11A_OK;
}
