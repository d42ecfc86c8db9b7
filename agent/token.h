/*
 * Tokens and the identities (signing keys) found on them.
 *
 * The PKCS#11 sessions of a token live in its module's helper process
 * (hlink.h); the agent has one worker thread per helper session
 * (jobs.h), and a worker's requests run on "its" session there.  Its
 * login state and cached PIN are guarded by its mutex; counters are
 * atomics read by STATUS.
 * Identities are created once and never freed before shutdown, so
 * pointers to them stay valid while requests are in flight.
 */
#ifndef P11A_AGENT_TOKEN_H
#define P11A_AGENT_TOKEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "p11agent/protocol.h"
#include "pin.h"
#include "scheme.h"

struct hlink;
struct job;
struct job_queue;

/* Successful signatures and the time their C_SignInit + C_Sign took. */
struct sign_stats {
	atomic_uint_fast64_t signs;
	atomic_uint_fast64_t usec;
};

/* A worker's share of the token: one session in the helper. */
struct token_session {
	struct token *token;
};

enum token_state {
	TOKEN_READY,	   /* logged in (or no login needed) */
	TOKEN_LOCKED,	   /* logged out by LOCK or never logged in */
	TOKEN_NEEDS_UNLOCK /* a login was refused: never retried alone */
};

struct token {
	struct hlink *link; /* the helper of its module */
	char *module_name;
	CK_INFO module_info;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	char label[33]; /* CK_TOKEN_INFO label, trimmed */
	char *uri;	/* token URI for STATUS */
	int login_required;
	int protected_auth;

	pthread_mutex_t lock;	    /* pin, generation */
	pthread_mutex_t login_lock; /* one C_Login or C_Logout at a time */
	atomic_int state;      /* enum token_state, read without the lock */
	struct pin pin;	       /* cached PIN, wiped on LOCK */
	unsigned generation;   /* bumped by LOCK: a login begun before it
				  must not mark the token ready */
	atomic_uint login_gen; /* the helper generation it last logged in
				  (or listed its keys) on; 0: none */

	unsigned helper_sessions;	/* the helper opened this many */
	struct token_session *sessions; /* one per worker */
	unsigned n_sessions;
	atomic_int present;
	atomic_ulong pin_flags; /* CKF_USER_PIN_* of the last probe or login */
	atomic_int probing;	/* a presence probe is queued */
	atomic_int enumerated;	/* its private keys were listed once */
	int stuck;		/* a worker never came back from the module */
	struct job_queue *queue;

	struct sign_stats stats;
	atomic_uint_fast64_t errors;
	atomic_uint identities;
	/*
	 * Signatures in a row that failed with a device error: for STATUS
	 * (a card that comes back starts again), and under lock for the
	 * restart (only a signature starts it again; restart_at under lock).
	 */
	atomic_uint dev_errors;
	atomic_uint failed_in_row;
	unsigned restart_at;
};

struct identity_rule;

struct identity {
	struct token *token;
	const struct identity_rule *rule; /* policy; NULL: none */
	char id[33];			  /* 32 hex characters */
	atomic_ulong key;    /* CK_OBJECT_HANDLE of the private key */
	atomic_uint key_gen; /* the helper generation key belongs to */
	uint8_t *ck_id;	     /* CKA_ID */
	size_t ck_id_len;
	char *label;		     /* CKA_LABEL */
	CK_ATTRIBUTE match_attrs[3]; /* class, id, label: for URI matching */
	CK_OBJECT_CLASS class_private;
	struct p11a_identity wire; /* what LIST sends; flags set per reply */
	/* how each of wire.schemes is signed (scheme.h), chosen once */
	struct p11a_sign_path paths[P11A_MAX_SCHEMES];
	uint32_t path_flags; /* P11A_IDENTITY_ALWAYS_AUTH, _AGENT_PADS, ... */
	struct sign_stats stats; /* what its next signature may cost */
};

/* The CK_TOKEN_INFO flags about the user PIN's retry counter. */
#define TOKEN_PIN_FLAGS                                                        \
	(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)

/* Whether SIGN may be queued for this token right now (atomic read). */
enum token_state token_get_state(struct token *t);

/*
 * One worker per session the helper opened on the token (at most n);
 * called before the workers start.  Returns a p11a_err.
 */
int token_open_sessions(struct token *t, unsigned opened, unsigned n);
void token_close_sessions(struct token *t);
/*
 * Whether the token's helper was restarted since its last login: a
 * token whose PIN is cached then logs in again before it signs.
 */
int token_needs_login(struct token *t);
/*
 * Ask the helper whether the token is present; a token that came back
 * logs in again with the cached PIN.
 */
void token_probe(struct token *t);
/* Mark the token absent (card pulled) or back; logged once per change. */
void token_set_present(struct token *t, int present);
/* Count a successful signature that took usec. */
void sign_stats_add(struct sign_stats *st, uint64_t usec);
/* Their average time so far; 0: none yet. */
uint64_t sign_stats_avg_us(struct sign_stats *st);

/*
 * Log in with the token's cached PIN (or the protected path), then look
 * up its identities (refreshing known key handles).  Runs on a worker
 * thread or before the workers start.  A refused PIN is wiped and the
 * token is marked NEEDS_UNLOCK: it is never retried by itself.
 */
int token_login(struct token *t);
/*
 * UNLOCK on a worker: log in with pin unless a LOCK came after generation
 * (token_generation() when the UNLOCK arrived: LOCKED).  A token that is
 * logged in already is not asked again: a PIN other than the one it took
 * is PIN_INCORRECT.  On success the PIN becomes the cached one.  The
 * token's PIN flags are read first: a blocked PIN is PIN_LOCKED and the
 * last try is used only with P11A_UNLOCK_FINAL_TRY in unlock_flags, else
 * PIN_FINAL_TRY; neither calls C_Login.
 */
int token_unlock(struct token *t, const struct pin *pin, unsigned generation,
		 uint32_t unlock_flags);
/* The count of LOCKs so far, for token_unlock(). */
unsigned token_generation(struct token *t);
/* Log out (after token_lock()). */
void token_logout(struct token *t);
/* Mark locked and wipe the cached PIN; never waits for the token. */
void token_lock(struct token *t);
/*
 * A copy of the cached PIN for a CKU_CONTEXT_SPECIFIC login (an empty
 * one on the protected path); LOCKED when none is cached.
 */
int token_context_pin(struct token *t, struct pin *out);
/* Set the cached PIN before the first login. */
int token_set_pin(struct token *t, const void *pin, size_t len);

/*
 * A signature made with key handles of helper generation gen failed
 * with rv.  CKR_GENERAL_ERROR, CKR_DEVICE_ERROR and CKR_DEVICE_REMOVED
 * are counted: TOKEN_RESET_ERRORS of them in a row, the helper has
 * reopened its sessions and still fails, so the module is stuck (a TPM
 * restarted under it) and its helper is restarted (hlink_restart()),
 * which logs in again with the cached PIN; a token that stays broken
 * is restarted again after four times as many (12, 48, ...).  Such restarts
 * never count as crashes (hlink.c).  Returns 1 when this call
 * restarted it, so the request may be tried once more after logging in
 * again (once hlink_wait_ready() says the new helper runs: this never
 * waits, the link's reader calls it).  Errors of a helper that died or
 * was replaced are not counted.
 */
int token_sign_failed(struct token *t, unsigned gen, CK_RV rv);
/* A signature succeeded: the count of device errors starts again. */
void token_sign_ok(struct token *t);
#define TOKEN_RESET_ERRORS 3

/* Map a PKCS#11 return value onto our error codes. */
int token_error_from_rv(CK_RV rv);

void token_free(struct token *t);

#endif
