/* Card personalities of the fault shim; see card.h. */
#include "card.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define MAX_SLOTS 32
#define PIV_SIGN_MS 150
#define PIV_PIN_TRIES 3
#define MAX_HASHING 64

enum card_kind {
	CARD_NONE,
	CARD_PIV,
	CARD_SINGLE_SESSION,
	CARD_NO_ECDSA,
	CARD_HASHED_ONLY
};

struct slot_state {
	int used;
	CK_SLOT_ID slot;
	CK_ULONG sessions; /* open through the shim */
	int wrong_pins;	   /* since the last right one */
};

static struct {
	pthread_mutex_t lock;
	enum card_kind kind;
	struct slot_state slots[MAX_SLOTS];
	/* sessions inside an emulated hash-and-sign operation */
	struct {
		CK_SESSION_HANDLE h;
		const char *md;
	} hashing[MAX_HASHING];
} card = {.lock = PTHREAD_MUTEX_INITIALIZER};

int
card_init(void)
{
	const char *v = getenv("FAULTY_PKCS11_CARD");

	if (v == NULL || *v == '\0')
		card.kind = CARD_NONE;
	else if (strcmp(v, "piv") == 0)
		card.kind = CARD_PIV;
	else if (strcmp(v, "single-session") == 0)
		card.kind = CARD_SINGLE_SESSION;
	else if (strcmp(v, "no-ecdsa") == 0)
		card.kind = CARD_NO_ECDSA;
	else if (strcmp(v, "hashed-only") == 0)
		card.kind = CARD_HASHED_ONLY;
	else {
		fprintf(stderr,
			"faulty-pkcs11: unknown FAULTY_PKCS11_CARD %s\n", v);
		return -1;
	}
	return 0;
}

/* The slot's state, made on first use; NULL if the table is full. */
static struct slot_state *
slot_locked(CK_SLOT_ID slot)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (card.slots[i].used && card.slots[i].slot == slot)
			return &card.slots[i];
	for (int i = 0; i < MAX_SLOTS; i++)
		if (!card.slots[i].used) {
			card.slots[i].used = 1;
			card.slots[i].slot = slot;
			return &card.slots[i];
		}
	return NULL;
}

static CK_ULONG
max_sessions(void)
{
	switch (card.kind) {
	case CARD_PIV:
		return 2;
	case CARD_SINGLE_SESSION:
		return 1;
	default:
		return 0; /* no limit of ours */
	}
}

CK_RV
card_session_take(CK_SLOT_ID slot)
{
	struct slot_state *s;
	CK_RV rv = CKR_OK;

	if (max_sessions() == 0)
		return CKR_OK;
	pthread_mutex_lock(&card.lock);
	if ((s = slot_locked(slot)) == NULL || s->sessions >= max_sessions())
		rv = CKR_SESSION_COUNT;
	else
		s->sessions++;
	pthread_mutex_unlock(&card.lock);
	return rv;
}

void
card_session_give(CK_SLOT_ID slot)
{
	struct slot_state *s;

	if (max_sessions() == 0)
		return;
	pthread_mutex_lock(&card.lock);
	if ((s = slot_locked(slot)) != NULL && s->sessions > 0)
		s->sessions--;
	pthread_mutex_unlock(&card.lock);
}

void
card_sessions_gone(CK_SLOT_ID slot)
{
	struct slot_state *s;

	pthread_mutex_lock(&card.lock);
	if ((s = slot_locked(slot)) != NULL)
		s->sessions = 0;
	pthread_mutex_unlock(&card.lock);
}

/* The PIN counter as CK_TOKEN_INFO flags. */
static CK_FLAGS
pin_flags(int wrong)
{
	if (wrong >= PIV_PIN_TRIES)
		return CKF_USER_PIN_LOCKED;
	if (wrong == PIV_PIN_TRIES - 1)
		return CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY;
	return wrong > 0 ? CKF_USER_PIN_COUNT_LOW : 0;
}

void
card_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	struct slot_state *s;

	if (card.kind == CARD_NONE || card.kind == CARD_NO_ECDSA ||
	    card.kind == CARD_HASHED_ONLY)
		return;
	pthread_mutex_lock(&card.lock);
	info->ulMaxSessionCount = max_sessions();
	info->ulMaxRwSessionCount = max_sessions();
	if ((s = slot_locked(slot)) != NULL) {
		info->ulSessionCount = s->sessions;
		info->ulRwSessionCount = 0;
		if (card.kind == CARD_PIV) {
			info->flags &= ~(CK_FLAGS)(CKF_USER_PIN_COUNT_LOW |
						   CKF_USER_PIN_FINAL_TRY |
						   CKF_USER_PIN_LOCKED);
			info->flags |= pin_flags(s->wrong_pins);
		}
	}
	pthread_mutex_unlock(&card.lock);
}

static int
is_ecdsa(CK_MECHANISM_TYPE m)
{
	return m == CKM_ECDSA || m == CKM_ECDSA_SHA1 || m == CKM_ECDSA_SHA224 ||
	       m == CKM_ECDSA_SHA256 || m == CKM_ECDSA_SHA384 ||
	       m == CKM_ECDSA_SHA512;
}

/* The mechanisms that sign what the caller hashed or padded. */
static int
is_raw_sign(CK_MECHANISM_TYPE m)
{
	return m == CKM_ECDSA || m == CKM_RSA_PKCS || m == CKM_RSA_X_509 ||
	       m == CKM_RSA_PKCS_PSS;
}

int
card_has_mechanism(CK_MECHANISM_TYPE m)
{
	switch (card.kind) {
	case CARD_HASHED_ONLY:
		return !is_raw_sign(m);
	case CARD_PIV:
		return m == CKM_RSA_PKCS || m == CKM_RSA_X_509 ||
		       m == CKM_ECDSA;
	case CARD_NO_ECDSA:
		return !is_ecdsa(m);
	default:
		return 1;
	}
}

/*
 * hashed-only: CKM_ECDSA_SHA* are emulated (SoftHSM 2.6 has none): the
 * shim hashes the message and signs the digest with the real CKM_ECDSA.
 */
static const char *
emulated_md(CK_MECHANISM_TYPE m)
{
	if (card.kind != CARD_HASHED_ONLY)
		return NULL;
	switch (m) {
	case CKM_ECDSA_SHA1:
		return "SHA1";
	case CKM_ECDSA_SHA256:
		return "SHA256";
	case CKM_ECDSA_SHA384:
		return "SHA384";
	case CKM_ECDSA_SHA512:
		return "SHA512";
	default:
		return NULL;
	}
}

CK_MECHANISM_TYPE
card_real_mechanism(CK_MECHANISM_TYPE m)
{
	return emulated_md(m) != NULL ? CKM_ECDSA : m;
}

CK_ULONG
card_filter_mechanisms(CK_MECHANISM_TYPE *list, CK_ULONG n, CK_ULONG cap)
{
	static const CK_MECHANISM_TYPE ecdsa_sha[] = {
		CKM_ECDSA_SHA1, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384,
		CKM_ECDSA_SHA512};
	CK_ULONG kept = 0;
	int ecdsa = 0;

	for (CK_ULONG i = 0; i < n; i++) {
		ecdsa |= list[i] == CKM_ECDSA;
		if (card_has_mechanism(list[i]) && emulated_md(list[i]) == NULL)
			list[kept++] = list[i];
	}
	for (size_t i = 0;
	     ecdsa && card.kind == CARD_HASHED_ONLY && i < 4 && kept < cap; i++)
		list[kept++] = ecdsa_sha[i];
	return kept;
}

void
card_sign_begin(CK_SESSION_HANDLE h, CK_MECHANISM_TYPE m)
{
	const char *md = emulated_md(m);
	int free_slot = -1;

	pthread_mutex_lock(&card.lock);
	for (int i = 0; i < MAX_HASHING; i++) {
		if (card.hashing[i].md != NULL && card.hashing[i].h == h)
			card.hashing[i].md = NULL;
		if (card.hashing[i].md == NULL && free_slot < 0)
			free_slot = i;
	}
	if (md != NULL && free_slot >= 0) {
		card.hashing[free_slot].h = h;
		card.hashing[free_slot].md = md;
	}
	pthread_mutex_unlock(&card.lock);
}

int
card_sign_input(CK_SESSION_HANDLE h, const CK_BYTE *data, CK_ULONG len,
		CK_BYTE *out, CK_ULONG *out_len)
{
	const char *md = NULL;
	unsigned int n = 0;

	pthread_mutex_lock(&card.lock);
	for (int i = 0; i < MAX_HASHING && md == NULL; i++)
		if (card.hashing[i].md != NULL && card.hashing[i].h == h)
			md = card.hashing[i].md;
	pthread_mutex_unlock(&card.lock);
	if (md == NULL)
		return 0;
	if (!EVP_Digest(data, len, out, &n, EVP_get_digestbyname(md), NULL))
		return -1;
	*out_len = n;
	return 1;
}

long
card_sign_ms(void)
{
	return card.kind == CARD_PIV ? PIV_SIGN_MS : 0;
}

CK_RV
card_login_allowed(CK_SLOT_ID slot)
{
	struct slot_state *s;
	CK_RV rv = CKR_OK;

	if (card.kind != CARD_PIV)
		return CKR_OK;
	pthread_mutex_lock(&card.lock);
	if ((s = slot_locked(slot)) != NULL && s->wrong_pins >= PIV_PIN_TRIES)
		rv = CKR_PIN_LOCKED;
	pthread_mutex_unlock(&card.lock);
	return rv;
}

void
card_login_done(CK_SLOT_ID slot, CK_RV rv)
{
	struct slot_state *s;

	if (card.kind != CARD_PIV)
		return;
	pthread_mutex_lock(&card.lock);
	if ((s = slot_locked(slot)) != NULL) {
		if (rv == CKR_PIN_INCORRECT)
			s->wrong_pins++;
		else if (rv == CKR_OK)
			s->wrong_pins = 0;
	}
	pthread_mutex_unlock(&card.lock);
}
