#include "token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <p11-kit/p11-kit.h>

#include "hlink.h"
#include "identity.h"
#include "jobs.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11util.h"

enum token_state
token_get_state(struct token *t)
{
	return (enum token_state)atomic_load(&t->state);
}

int
token_error_from_rv(CK_RV rv)
{
	return p11_error_from_rv(rv);
}

int
token_open_sessions(struct token *t, unsigned opened, unsigned n)
{
	if (opened == 0) {
		log_error("token %s: its helper opened no session", t->label);
		return P11A_ERR_TOKEN;
	}
	if (n > opened)
		n = opened;
	if ((t->sessions = calloc(n, sizeof(*t->sessions))) == NULL)
		return P11A_ERR_NO_MEMORY;
	t->n_sessions = n;
	atomic_store(&t->present, 1);
	return P11A_OK;
}

void
token_close_sessions(struct token *t)
{
	free(t->sessions);
	t->sessions = NULL;
	t->n_sessions = 0;
}

/* A request about this token: u64 slot first, then more (may be NULL). */
static int
token_call(struct token *t, unsigned gen, uint8_t type,
	   const struct p11a_buf *more, struct hlink_reply *rep)
{
	struct p11a_buf p;
	size_t n = more != NULL ? p11a_buf_remaining(more) : 0;
	int r;

	p11a_buf_init(&p, 8 + n);
	if (p11a_buf_put_u64(&p, t->slot) != P11A_OK ||
	    (n > 0 && p11a_buf_put_raw(&p, p11a_buf_ptr(more), n) != P11A_OK)) {
		p11a_buf_free(&p);
		memset(rep, 0, sizeof(*rep));
		rep->code = P11A_ERR_NO_MEMORY;
		rep->rv = CKR_HOST_MEMORY;
		return rep->code;
	}
	r = hlink_call(t->link, gen, type, &p, rep);
	p11a_buf_free(&p); /* wipes a LOGIN's PIN */
	return r;
}

/* The module's answer to a request without a reply payload. */
static CK_RV
token_call_rv(struct token *t, uint8_t type, const struct p11a_buf *more)
{
	struct hlink_reply rep;
	CK_RV rv;

	token_call(t, 0, type, more, &rep);
	rv = rep.code == P11A_OK ? CKR_OK : rep.rv;
	if (rep.code != P11A_OK && rv == CKR_OK)
		rv = CKR_GENERAL_ERROR;
	if (rep.code != P11A_OK && rep.rv == CKR_DEVICE_ERROR)
		log_warn("token %s: %s", t->label, rep.msg);
	hlink_reply_free(&rep);
	return rv;
}

int
token_needs_login(struct token *t)
{
	return atomic_load(&t->login_gen) != hlink_generation(t->link);
}

void
token_set_present(struct token *t, int present)
{
	if (atomic_exchange(&t->present, present) == present)
		return;
	if (present) {
		/* a card back in its reader has failed nothing yet */
		atomic_store(&t->dev_errors, 0);
		log_info("token %s is back", t->label);
	} else
		log_warn("token %s is not present", t->label);
}

/*
 * H_PROBE: whether the token is there (0/1, -1: no answer); its PIN
 * counter flags are kept for the pre-login checks and STATUS.
 */
static int
token_probe_flags(struct token *t)
{
	struct hlink_reply rep;
	uint64_t flags = 0;
	uint8_t present = 0;
	int r = -1;

	if (token_call(t, 0, HL_PROBE, NULL, &rep) == P11A_OK &&
	    p11a_buf_get_u8(&rep.payload, &present) == P11A_OK &&
	    p11a_buf_get_u64(&rep.payload, &flags) == P11A_OK)
		r = present != 0;
	hlink_reply_free(&rep);
	if (r == 1)
		atomic_store(&t->pin_flags,
			     (unsigned long)flags & TOKEN_PIN_FLAGS);
	return r;
}

void
token_probe(struct token *t)
{
	int was_present = atomic_load(&t->present);
	int r = token_probe_flags(t), present = r == 1;

	/* -1: the helper did not answer (it died, or the module failed):
	 * that says nothing of the card, and STATUS says the rest */
	if (r < 0)
		return;
	token_set_present(t, present);
	/* back, or its helper was restarted: log in again with the PIN */
	if (present && (!was_present || token_needs_login(t)) &&
	    token_get_state(t) == TOKEN_READY)
		token_login(t);
}

static int
token_pin_refused(CK_RV rv)
{
	int r = token_error_from_rv(rv);

	return r == P11A_ERR_PIN_INCORRECT || r == P11A_ERR_PIN_LOCKED;
}

/*
 * C_Login with pin (empty on the protected path).  Still logged in from
 * before a LOCK whose logout has not happened (yet): an UNLOCK must not
 * pass without its PIN being checked, so log out and in again.
 */
static CK_RV
token_send_login(struct token *t, const struct pin *pin)
{
	struct p11a_buf more;
	CK_RV rv = CKR_HOST_MEMORY;

	p11a_buf_init(&more, 16 + (pin->value != NULL ? pin->len : 0));
	if (p11a_buf_put_u64(&more, CKU_USER) == P11A_OK &&
	    p11a_buf_put_bytes(&more, pin->value, pin->len) == P11A_OK)
		rv = token_call_rv(t, HL_LOGIN, &more);
	p11a_buf_free(&more); /* wipes the PIN */
	return rv;
}

static CK_RV
token_c_login(struct token *t, const struct pin *pin)
{
	CK_RV rv = token_send_login(t, pin);

	if (rv == CKR_USER_ALREADY_LOGGED_IN &&
	    token_get_state(t) != TOKEN_READY) {
		token_call_rv(t, HL_LOGOUT, NULL);
		rv = token_send_login(t, pin);
	}
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

/*
 * Before C_Login: a card counts wrong PINs and blocks itself.  A blocked
 * PIN is not tried at all; the last try only when the UNLOCK said so.
 * Under t->login_lock.
 */
static int
token_pin_check(struct token *t, uint32_t unlock_flags)
{
	unsigned long f;

	(void)token_probe_flags(t);
	f = atomic_load(&t->pin_flags);
	if (f & CKF_USER_PIN_LOCKED) {
		log_warn("token %s: its PIN is locked (blocked by the token): "
			 "not trying to log in",
			 t->label);
		return P11A_ERR_PIN_LOCKED;
	}
	if ((f & CKF_USER_PIN_FINAL_TRY) &&
	    !(unlock_flags & P11A_UNLOCK_FINAL_TRY)) {
		log_warn("token %s: one PIN try left: not used without "
			 "unlock --final-try",
			 t->label);
		return P11A_ERR_PIN_FINAL_TRY;
	}
	return P11A_OK;
}

/* A login not tried for the PIN's sake: wait for an UNLOCK. */
static void
token_refuse_login(struct token *t)
{
	pthread_mutex_lock(&t->lock);
	pin_clear(&t->pin);
	atomic_store(&t->state, TOKEN_NEEDS_UNLOCK);
	pthread_mutex_unlock(&t->lock);
}

/* The token's state after a login that returned rv; under t->lock. */
static int
token_login_state(struct token *t, CK_RV rv, const struct pin *pin,
		  unsigned generation)
{
	if (rv == CKR_OK && generation != t->generation)
		return P11A_ERR_LOCKED;
	if (rv == CKR_OK) {
		/* the PIN the token took is the one a re-login uses */
		if (t->login_required && !t->protected_auth &&
		    pin->value != NULL)
			(void)pin_set(&t->pin, pin->value, pin->len);
		atomic_store(&t->state, TOKEN_READY);
	} else if (token_pin_refused(rv)) {
		/* retrying a wrong PIN would lock the card: wait for UNLOCK */
		pin_clear(&t->pin);
		atomic_store(&t->state, TOKEN_NEEDS_UNLOCK);
	}
	return rv == CKR_OK ? P11A_OK : token_error_from_rv(rv);
}

/*
 * Log in with pin, unless a LOCK came after generation; the caller holds
 * t->login_lock.
 */
static int
token_login_locked(struct token *t, const struct pin *pin, unsigned generation,
		   uint32_t unlock_flags)
{
	CK_RV rv = CKR_OK;
	int r;

	if (t->login_required) {
		if ((r = token_pin_check(t, unlock_flags)) != P11A_OK) {
			token_refuse_login(t);
			return r;
		}
		rv = token_c_login(t, pin);
		/* the counter moved (or was reset): STATUS shows it now */
		(void)token_probe_flags(t);
	}
	pthread_mutex_lock(&t->lock);
	r = token_login_state(t, rv, pin, generation);
	pthread_mutex_unlock(&t->lock);
	if (r == P11A_ERR_LOCKED && rv == CKR_OK) {
		/* a LOCK came while logging in: it wins, log out again */
		if (t->login_required)
			token_call_rv(t, HL_LOGOUT, NULL);
		log_info("token %s: locked while logging in", t->label);
	} else if (r != P11A_OK) {
		log_error("token %s: login failed: %s", t->label,
			  p11_kit_strerror(rv));
	} else if (t->login_required) {
		log_info("token %s: logged in", t->label);
	}
	return r;
}

/* After a login: the keys' handles, valid in this helper generation. */
static int
token_list_keys(struct token *t, unsigned helper_gen)
{
	int r = identities_discover(t, helper_gen);

	if (r == P11A_OK)
		atomic_store(&t->login_gen, helper_gen);
	return r;
}

unsigned
token_generation(struct token *t)
{
	unsigned g;

	pthread_mutex_lock(&t->lock);
	g = t->generation;
	pthread_mutex_unlock(&t->lock);
	return g;
}

int
token_login(struct token *t)
{
	unsigned generation, helper_gen = hlink_generation(t->link);
	struct pin pin = {0};
	int r;

	pthread_mutex_lock(&t->lock);
	generation = t->generation;
	if (!t->protected_auth && t->pin.value != NULL)
		(void)pin_set(&pin, t->pin.value, t->pin.len);
	pthread_mutex_unlock(&t->lock);
	if (t->login_required && !t->protected_auth && pin.value == NULL) {
		log_info("token %s: no PIN; locked until p11agent unlock",
			 t->label);
		return P11A_ERR_LOCKED;
	}
	pthread_mutex_lock(&t->login_lock);
	/* a cached PIN never spends a last try: that takes an UNLOCK */
	if ((r = token_login_locked(t, &pin, generation, 0)) == P11A_OK)
		r = token_list_keys(t, helper_gen);
	pthread_mutex_unlock(&t->login_lock);
	pin_clear(&pin);
	return r;
}

/*
 * UNLOCK of a token that is logged in: the token is not asked (it would
 * only say "already logged in"); the PIN must be the one it took.  1: not
 * logged in, go and log in.  Under t->lock.
 */
static int
token_unlock_check(struct token *t, const struct pin *pin, unsigned generation)
{
	if (generation != t->generation)
		return P11A_ERR_LOCKED; /* a LOCK came after this UNLOCK */
	if (token_get_state(t) != TOKEN_READY)
		return 1;
	if (t->protected_auth)
		return P11A_OK;
	if (t->pin.value == NULL || t->pin.len != pin->len ||
	    CRYPTO_memcmp(t->pin.value, pin->value, pin->len) != 0) {
		log_warn("token %s: UNLOCK with a PIN other than the one it "
			 "is logged in with: refused",
			 t->label);
		return P11A_ERR_PIN_INCORRECT;
	}
	return P11A_OK;
}

int
token_unlock(struct token *t, const struct pin *pin, unsigned generation,
	     uint32_t unlock_flags)
{
	unsigned helper_gen = hlink_generation(t->link);
	int r;

	/* one login at a time: a second UNLOCK sees what the first did */
	pthread_mutex_lock(&t->login_lock);
	pthread_mutex_lock(&t->lock);
	r = token_unlock_check(t, pin, generation);
	pthread_mutex_unlock(&t->lock);
	if (r == 1 && (r = token_login_locked(t, pin, generation,
					      unlock_flags)) == P11A_OK)
		r = token_list_keys(t, helper_gen);
	pthread_mutex_unlock(&t->login_lock);
	return r;
}

void
token_logout(struct token *t)
{
	CK_RV rv;

	if (!t->login_required)
		return;
	pthread_mutex_lock(&t->login_lock);
	rv = token_call_rv(t, HL_LOGOUT, NULL);
	pthread_mutex_unlock(&t->login_lock);
	if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
		log_warn("token %s: C_Logout: %s", t->label,
			 p11_kit_strerror(rv));
}

void
token_lock(struct token *t)
{
	pthread_mutex_lock(&t->lock);
	t->generation++;
	pin_clear(&t->pin);
	if (t->login_required)
		atomic_store(&t->state, TOKEN_LOCKED);
	pthread_mutex_unlock(&t->lock);
}

int
token_context_pin(struct token *t, struct pin *out)
{
	int r;

	out->value = NULL;
	out->len = 0;
	if (t->protected_auth)
		return P11A_OK; /* the reader's pad asks */
	pthread_mutex_lock(&t->lock);
	r = t->pin.value != NULL ? pin_set(out, t->pin.value, t->pin.len)
				 : P11A_ERR_LOCKED;
	pthread_mutex_unlock(&t->lock);
	return r;
}

int
token_set_pin(struct token *t, const void *pin, size_t len)
{
	int r;

	pthread_mutex_lock(&t->lock);
	r = pin_set(&t->pin, pin, len);
	pthread_mutex_unlock(&t->lock);
	return r;
}

static int
token_device_error(CK_RV rv)
{
	return rv == CKR_GENERAL_ERROR || rv == CKR_DEVICE_ERROR ||
	       rv == CKR_DEVICE_REMOVED;
}

int
token_sign_failed(struct token *t, unsigned gen, CK_RV rv)
{
	unsigned n;
	int restart;
	char why[96];

	if (!token_device_error(rv))
		return 0;
	/*
	 * The helper died under the request, or was restarted since: not
	 * the module's error, and not retried (a request that crashes a
	 * module would crash the next helper too).
	 */
	if (gen != hlink_generation(t->link) ||
	    hlink_state(t->link) != HLINK_READY)
		return 0;
	atomic_fetch_add(&t->dev_errors, 1);
	pthread_mutex_lock(&t->lock);
	n = atomic_fetch_add(&t->failed_in_row, 1) + 1;
	if (t->restart_at == 0)
		t->restart_at = TOKEN_RESET_ERRORS;
	restart = n >= t->restart_at;
	/* 3, 12, 48, ... in a row: a token that stays broken is not
	 * restarted after every few requests */
	if (restart)
		t->restart_at = 4 * n;
	pthread_mutex_unlock(&t->lock);
	if (!restart)
		return 0;
	snprintf(why, sizeof(why), "token %s: %u signatures in a row gave %s",
		 t->label, n, p11_kit_strerror(rv));
	/* never waits for the new helper: the link's reader, which starts
	 * it, may be the caller; the retry waits for it */
	return hlink_restart(t->link, gen, why);
}

void
token_sign_ok(struct token *t)
{
	if (atomic_load(&t->failed_in_row) == 0 &&
	    atomic_load(&t->dev_errors) == 0)
		return;
	atomic_store(&t->dev_errors, 0);
	pthread_mutex_lock(&t->lock);
	atomic_store(&t->failed_in_row, 0);
	t->restart_at = TOKEN_RESET_ERRORS;
	pthread_mutex_unlock(&t->lock);
	log_info("token %s signs again", t->label);
}

void
token_free(struct token *t)
{
	if (t == NULL)
		return;
	pin_clear(&t->pin);
	free(t->module_name);
	free(t->uri);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->login_lock);
	free(t);
}

void
sign_stats_add(struct sign_stats *st, uint64_t usec)
{
	atomic_fetch_add(&st->usec, usec);
	atomic_fetch_add(&st->signs, 1);
}

uint64_t
sign_stats_avg_us(struct sign_stats *st)
{
	/* the time first: it is added before the count, so this errs low */
	uint64_t usec = atomic_load(&st->usec);
	uint64_t n = atomic_load(&st->signs);

	return n > 0 ? usec / n : 0;
}
