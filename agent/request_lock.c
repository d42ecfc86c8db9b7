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

/*
 * One UNLOCK: its tokens are logged in one after the other, each login
 * job queueing the next from its token's worker, so that a wrong PIN
 * stops at the first token that refuses it and costs no other token a
 * try.  Only one job of the op runs at a time: the job queues hand it on.
 */
struct unlock_op {
	struct job base;
	struct agent *agent;
	struct conn *conn;
	uid_t uid;
	uint32_t req_id;
	uint32_t flags; /* P11A_UNLOCK_* */
	struct pin pin;
	struct token **tokens; /* those that need a login, in order */
	unsigned *generations; /* each one's when the UNLOCK came in */
	size_t n, next;
	int error; /* the answer: the first failure */
	char msg[160];
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

/* The first failure is the answer, but a refused PIN always is. */
static void
unlock_op_error(struct unlock_op *op, const struct token *t, int r)
{
	if (r == P11A_OK ||
	    (op->error != P11A_OK && r != P11A_ERR_PIN_INCORRECT))
		return;
	op->error = r;
	if (t != NULL)
		snprintf(op->msg, sizeof(op->msg), "token %s: %s", t->label,
			 p11a_strerror(r));
	else
		snprintf(op->msg, sizeof(op->msg), "%s", p11a_strerror(r));
}

static void
unlock_op_free(struct unlock_op *op)
{
	pin_clear(&op->pin);
	conn_unref(op->conn);
	free(op->tokens);
	free(op->generations);
	free(op);
}

static void
unlock_op_finish(struct unlock_op *op)
{
	int r = op->error;

	throttle_note(op->uid, r, jobs_now_ms());
	if (r == P11A_OK) {
		atomic_store(&op->agent->signs_since_unlock, 0);
		atomic_store(&op->agent->last_use_ms, jobs_now_ms());
		conn_send_empty(op->conn, P11A_MSG_OK, op->req_id);
	} else {
		conn_send_error(op->conn, op->req_id, r, op->msg);
	}
	unlock_op_free(op);
}

/*
 * Queue the login of the next token, or answer when none is left (or a
 * token refused the PIN: the others are not tried with it).
 */
static void
unlock_op_next(struct unlock_op *op)
{
	struct token *t;
	int r;

	while (op->next < op->n && op->error != P11A_ERR_PIN_INCORRECT) {
		t = op->tokens[op->next];
		if ((r = jobs_submit(t, &op->base)) == P11A_OK)
			return;
		unlock_op_error(op, t, r);
		op->next++;
	}
	unlock_op_finish(op);
}

static void
login_job_run(struct job *j, struct token *t, struct token_session *s)
{
	struct unlock_op *op = (struct unlock_op *)j;
	int r = token_unlock(t, &op->pin, op->generations[op->next], op->flags);

	(void)s;
	unlock_op_error(op, t, r);
	op->next++;
	unlock_op_next(op);
}

/* The tokens matching u (all when NULL) that need a login, in order. */
static int
unlock_collect(struct unlock_op *op, struct agent *a, P11KitUri *u,
	       int *matched)
{
	size_t n = a->modules.n_tokens;

	*matched = 0;
	op->tokens = calloc(n > 0 ? n : 1, sizeof(*op->tokens));
	op->generations = calloc(n > 0 ? n : 1, sizeof(*op->generations));
	if (op->tokens == NULL || op->generations == NULL)
		return P11A_ERR_NO_MEMORY;
	for (size_t i = 0; i < n; i++) {
		struct token *t = a->modules.tokens[i];

		if (u != NULL && !p11_kit_uri_match_token_info(u, &t->info))
			continue;
		(*matched)++;
		if (!t->login_required)
			continue;
		op->generations[op->n] = token_generation(t);
		op->tokens[op->n++] = t;
	}
	return P11A_OK;
}

/*
 * Every token matching the URI (all when there is none) that needs a
 * login is logged in, one after the other; the reply comes after the
 * last.  A URI that matches no token at all is an error, not a silent OK.
 */
static int
unlock_start(struct agent *a, struct conn *c, uint32_t id, P11KitUri *u,
	     const uint8_t *pin, size_t pin_len, uint32_t flags)
{
	struct unlock_op *op;
	int matched, r;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return P11A_ERR_NO_MEMORY;
	op->base.run = login_job_run;
	op->agent = a;
	op->conn = c;
	op->uid = c->uid;
	op->req_id = id;
	op->flags = flags;
	conn_ref(c);
	if ((r = unlock_collect(op, a, u, &matched)) != P11A_OK ||
	    (r = pin_set(&op->pin, pin, pin_len)) != P11A_OK) {
		unlock_op_free(op);
		return r;
	}
	if (matched == 0)
		unlock_op_error(op, NULL, P11A_ERR_TOKEN_NOT_FOUND);
	log_info("unlock of %zu token(s) requested by client pid %d", op->n,
		 (int)c->pid);
	unlock_op_next(op);
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
	uint32_t flags;
	size_t pin_len;
	int r;

	if ((r = p11a_decode_unlock(&f->payload, &token_uri, &pin, &pin_len,
				    &flags)) != P11A_OK)
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
	if ((r = unlock_start(a, c, f->id, u, pin, pin_len, flags)) != P11A_OK)
		conn_send_error(c, f->id, r, p11a_strerror(r));
out:
	/* the PIN was copied to the jobs; wipe it from the input buffer */
	OPENSSL_cleanse((uint8_t *)pin, pin_len);
	p11_kit_uri_free(u);
	free(token_uri);
	return P11A_OK;
}
