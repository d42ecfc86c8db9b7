#include "token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <p11-kit/p11-kit.h>

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

static CK_RV
token_open_one(struct token *t, CK_SESSION_HANDLE *h)
{
	return t->module->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL,
					h);
}

int
token_open_sessions(struct token *t, unsigned n)
{
	CK_ULONG limit = t->info.ulMaxSessionCount;
	CK_RV rv;

	/* stay inside the token's own limit, keeping one for other users */
	if (limit != CK_EFFECTIVELY_INFINITE &&
	    limit != CK_UNAVAILABLE_INFORMATION && limit > 0) {
		CK_ULONG room = limit > 1 ? limit - 1 : 1;

		if (n > room)
			n = (unsigned)room;
	}
	if ((t->sessions = calloc(n, sizeof(*t->sessions))) == NULL)
		return P11A_ERR_NO_MEMORY;
	for (t->n_sessions = 0; t->n_sessions < n; t->n_sessions++) {
		rv = token_open_one(t, &t->sessions[t->n_sessions].h);
		if (rv == CKR_OK)
			continue;
		log_error("token %s: C_OpenSession: %s", t->label,
			  p11_kit_strerror(rv));
		/* fewer sessions than asked is fine, none is not */
		if (t->n_sessions == 0)
			return token_error_from_rv(rv);
		break;
	}
	atomic_store(&t->present, 1);
	return P11A_OK;
}

void
token_close_sessions(struct token *t)
{
	for (unsigned i = 0; i < t->n_sessions; i++)
		if (t->sessions[i].h != CK_INVALID_HANDLE)
			t->module->C_CloseSession(t->sessions[i].h);
	free(t->sessions);
	t->sessions = NULL;
	t->n_sessions = 0;
}

int
token_session_reopen(struct token *t, struct token_session *s)
{
	CK_RV rv;

	if (s->h != CK_INVALID_HANDLE)
		t->module->C_CloseSession(s->h);
	s->h = CK_INVALID_HANDLE;
	s->epoch = atomic_load(&t->session_epoch);
	if ((rv = token_open_one(t, &s->h)) != CKR_OK) {
		s->h = CK_INVALID_HANDLE;
		log_warn("token %s: cannot reopen a session: %s", t->label,
			 p11_kit_strerror(rv));
		return token_error_from_rv(rv);
	}
	return P11A_OK;
}

void
token_session_refresh(struct token *t, struct token_session *s)
{
	if (s->epoch != atomic_load(&t->session_epoch) ||
	    s->h == CK_INVALID_HANDLE)
		token_session_reopen(t, s);
}

void
token_set_present(struct token *t, int present)
{
	if (atomic_exchange(&t->present, present) == present)
		return;
	if (present) {
		/* every worker opens a new session before its next job */
		atomic_fetch_add(&t->session_epoch, 1);
		log_info("token %s is back", t->label);
	} else {
		log_warn("token %s is not present", t->label);
	}
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
token_c_login(struct token *t, CK_SESSION_HANDLE s, const struct pin *pin)
{
	CK_RV rv;

	rv = t->module->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin->value,
				pin->len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN &&
	    token_get_state(t) != TOKEN_READY) {
		t->module->C_Logout(s);
		rv = t->module->C_Login(s, CKU_USER,
					(CK_UTF8CHAR_PTR)pin->value, pin->len);
	}
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
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
token_login_locked(struct token *t, CK_SESSION_HANDLE s, const struct pin *pin,
		   unsigned generation)
{
	CK_RV rv = CKR_OK;
	int r;

	if (t->login_required)
		rv = token_c_login(t, s, pin);
	pthread_mutex_lock(&t->lock);
	r = token_login_state(t, rv, pin, generation);
	pthread_mutex_unlock(&t->lock);
	if (r == P11A_ERR_LOCKED && rv == CKR_OK) {
		/* a LOCK came while logging in: it wins, log out again */
		if (t->login_required)
			t->module->C_Logout(s);
		log_info("token %s: locked while logging in", t->label);
	} else if (r != P11A_OK) {
		log_error("token %s: login failed: %s", t->label,
			  p11_kit_strerror(rv));
	} else {
		log_info("token %s: logged in", t->label);
	}
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
token_login(struct token *t, CK_SESSION_HANDLE s)
{
	struct pin pin = {0};
	unsigned generation;
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
	if ((r = token_login_locked(t, s, &pin, generation)) == P11A_OK)
		r = identities_discover(t, s);
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
token_unlock(struct token *t, CK_SESSION_HANDLE s, const struct pin *pin,
	     unsigned generation)
{
	int r;

	/* one login at a time: a second UNLOCK sees what the first did */
	pthread_mutex_lock(&t->login_lock);
	pthread_mutex_lock(&t->lock);
	r = token_unlock_check(t, pin, generation);
	pthread_mutex_unlock(&t->lock);
	if (r == 1 &&
	    (r = token_login_locked(t, s, pin, generation)) == P11A_OK)
		r = identities_discover(t, s);
	pthread_mutex_unlock(&t->login_lock);
	return r;
}

void
token_logout(struct token *t, CK_SESSION_HANDLE s)
{
	CK_RV rv;

	if (!t->login_required)
		return;
	pthread_mutex_lock(&t->login_lock);
	rv = t->module->C_Logout(s);
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
token_set_pin(struct token *t, const void *pin, size_t len)
{
	int r;

	pthread_mutex_lock(&t->lock);
	r = pin_set(&t->pin, pin, len);
	pthread_mutex_unlock(&t->lock);
	return r;
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
