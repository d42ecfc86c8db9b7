#include "ops.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "p11util.h"
#include "pubkey.h"

/* rv for a reply that does not fit or cannot be built */
static CK_RV
put_failed(int e)
{
	return e == P11A_ERR_NO_MEMORY ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
}

static CK_RV
op_login(struct hworker *w, const struct hreq *r, const char **call)
{
	CK_FUNCTION_LIST *fn = w->tok->h->fn;
	/* NULL PIN: the reader's own keypad or biometrics */
	CK_UTF8CHAR *pin = r->pin_len > 0 ? (CK_UTF8CHAR *)r->pin : NULL;

	*call = "C_Login";
	return fn->C_Login(w->session, r->user_type, pin, r->pin_len);
}

static CK_RV
op_logout(struct hworker *w, const char **call)
{
	CK_RV rv = w->tok->h->fn->C_Logout(w->session);

	*call = "C_Logout";
	return rv == CKR_USER_NOT_LOGGED_IN ? CKR_OK : rv;
}

static CK_RV
op_probe(struct hworker *w, struct p11a_buf *out, const char **call)
{
	CK_TOKEN_INFO ti;
	CK_RV rv = w->tok->h->fn->C_GetTokenInfo(w->tok->slot, &ti);
	int e;

	*call = "C_GetTokenInfo";
	if ((e = p11a_buf_put_u8(out, rv == CKR_OK)) != P11A_OK ||
	    (e = p11a_buf_put_u64(out, rv == CKR_OK ? ti.flags : 0)) != P11A_OK)
		return put_failed(e);
	return CKR_OK;
}

/*
 * CKA_ALWAYS_AUTHENTICATE: the login for this one operation, on its
 * session, between C_SignInit and C_Sign.  If the token refuses, the
 * operation may still be active: only closing the session ends it for
 * sure (the worker opens another for its next request).
 */
static CK_RV
op_context_login(struct hworker *w, const struct hreq *r, const char **call)
{
	CK_FUNCTION_LIST *fn = w->tok->h->fn;
	CK_UTF8CHAR *pin = r->pin_len > 0 ? (CK_UTF8CHAR *)r->pin : NULL;
	CK_RV rv;

	*call = "C_Login";
	rv = fn->C_Login(w->session, CKU_CONTEXT_SPECIFIC, pin, r->pin_len);
	if (rv != CKR_OK) {
		fn->C_CloseSession(w->session);
		w->session = CK_INVALID_HANDLE;
	}
	return rv;
}

static CK_RV
op_sign(struct hworker *w, const struct hreq *r, struct p11a_buf *out,
	const char **call)
{
	CK_FUNCTION_LIST *fn = w->tok->h->fn;
	CK_RSA_PKCS_PSS_PARAMS pss = {r->pss_hash, r->pss_mgf, r->pss_salt};
	CK_MECHANISM m = {r->mechanism, NULL, 0};
	CK_BYTE stack[HELPER_SIG_BUF], *sig = stack;
	CK_ULONG n = sizeof(stack);
	uint64_t t0 = p11a_clock_us();
	CK_RV rv;
	int e;

	if (r->has_pss) {
		m.pParameter = &pss;
		m.ulParameterLen = sizeof(pss);
	}
	*call = "C_SignInit";
	if ((rv = fn->C_SignInit(w->session, &m, r->key)) != CKR_OK)
		return rv;
	if (r->auth && (rv = op_context_login(w, r, call)) != CKR_OK)
		return rv;
	*call = "C_Sign";
	rv = fn->C_Sign(w->session, (CK_BYTE *)r->data, r->data_len, sig, &n);
	/* the operation is still active: n says how much room it needs */
	if (rv == CKR_BUFFER_TOO_SMALL && (sig = malloc(n)) == NULL) {
		/* only closing the session ends that operation */
		fn->C_CloseSession(w->session);
		w->session = CK_INVALID_HANDLE;
		return CKR_HOST_MEMORY;
	}
	if (rv == CKR_BUFFER_TOO_SMALL)
		rv = fn->C_Sign(w->session, (CK_BYTE *)r->data, r->data_len,
				sig, &n);
	/* the token's own time, for STATUS: not the wait in the FIFO */
	if (rv == CKR_OK &&
	    ((e = p11a_buf_put_bytes(out, sig, n)) != P11A_OK ||
	     (e = p11a_buf_put_u64(out, p11a_clock_us() - t0)) != P11A_OK))
		rv = put_failed(e);
	if (sig != stack)
		free(sig);
	return rv;
}

static CK_RV
attr_bool(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
	  CK_ATTRIBUTE_TYPE type, CK_BBOOL *v)
{
	CK_ATTRIBUTE a = {type, v, sizeof(*v)};

	return fn->C_GetAttributeValue(s, o, &a, 1);
}

static uint8_t
key_flags(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
	CK_BBOOL always = CK_FALSE, sign = CK_TRUE;
	uint8_t flags = 0;

	if (attr_bool(fn, s, k, CKA_ALWAYS_AUTHENTICATE, &always) == CKR_OK &&
	    always)
		flags |= H_KEY_ALWAYS_AUTHENTICATE;
	if (attr_bool(fn, s, k, CKA_SIGN, &sign) == CKR_OK && !sign)
		flags |= H_KEY_NO_SIGN;
	return flags;
}

/* The attributes of one key a KEYS reply carries */
struct key_attrs {
	unsigned char *ck_id, *label, *cert;
	size_t ck_id_len, label_len, cert_len;
	uint8_t *spki;
	size_t spki_len;
};

static void
key_attrs_free(struct key_attrs *a)
{
	free(a->ck_id);
	free(a->label);
	free(a->cert);
	free(a->spki);
}

static int
key_attrs_read(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k,
	       const struct key_shape *shape, struct key_attrs *a)
{
	CK_OBJECT_HANDLE cert;

	/* a key without CKA_ID or CKA_LABEL has them empty */
	p11_attr_get(fn, s, k, CKA_ID, &a->ck_id, &a->ck_id_len);
	p11_attr_get(fn, s, k, CKA_LABEL, &a->label, &a->label_len);
	cert = p11_find_by_id(fn, s, CKO_CERTIFICATE, a->ck_id, a->ck_id_len);
	if (cert != CK_INVALID_HANDLE)
		p11_attr_get(fn, s, cert, CKA_VALUE, &a->cert, &a->cert_len);
	return pubkey_spki(fn, s, k, shape, a->ck_id, a->ck_id_len, a->cert,
			   a->cert_len, &a->spki, &a->spki_len);
}

/*
 * The token's signing mechanisms (CKF_SIGN), read once per KEYS: a card
 * without CKM_RSA_PKCS_PSS or CKM_ECDSA must not be offered schemes
 * that need them.
 */
struct mech_set {
	CK_MECHANISM_TYPE m[HELPER_MAX_MECHS];
	CK_ULONG min[HELPER_MAX_MECHS], max[HELPER_MAX_MECHS];
	size_t n;
	int known; /* C_GetMechanismList answered */
};

static void
mech_set_read(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, struct mech_set *ms)
{
	CK_MECHANISM_TYPE all[HELPER_MAX_MECHS * 4];
	CK_ULONG n = sizeof(all) / sizeof(all[0]);
	CK_MECHANISM_INFO mi;

	ms->n = 0;
	ms->known = fn->C_GetMechanismList(slot, all, &n) == CKR_OK;
	if (!ms->known) {
		log_info("slot %lu: C_GetMechanismList failed: schemes follow "
			 "the key type alone",
			 slot);
		return;
	}
	for (CK_ULONG i = 0; i < n && ms->n < HELPER_MAX_MECHS; i++) {
		if (fn->C_GetMechanismInfo(slot, all[i], &mi) != CKR_OK ||
		    !(mi.flags & CKF_SIGN))
			continue;
		ms->m[ms->n] = all[i];
		ms->min[ms->n] = mi.ulMinKeySize;
		ms->max[ms->n] = mi.ulMaxKeySize;
		ms->n++;
	}
}

/*
 * Whether a key's CKA_ALLOWED_MECHANISMS lets it use m: absent or empty
 * (SoftHSM's default) restricts nothing.
 */
static int
mech_allowed(const unsigned char *allowed, size_t len, CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_TYPE v;

	if (allowed == NULL || len < sizeof(v))
		return 1;
	for (size_t i = 0; i + sizeof(v) <= len; i += sizeof(v)) {
		memcpy(&v, allowed + i, sizeof(v));
		if (v == m)
			return 1;
	}
	return 0;
}

/*
 * RSA key sizes are bits in every module we know; EC ones are bits in
 * some and bytes in others, so only RSA is held to the range.
 */
static int
mech_fits(const struct mech_set *ms, size_t i, const struct key_shape *shape)
{
	if (shape->key_type != P11A_KEY_RSA || ms->max[i] == 0)
		return 1;
	return shape->bits >= ms->min[i] && shape->bits <= ms->max[i];
}

/* u32 count, then the u64 mechanisms this key can sign with. */
static int
key_mechs_encode(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k,
		 const struct key_shape *shape, const struct mech_set *ms,
		 struct p11a_buf *b)
{
	unsigned char *allowed = NULL;
	size_t len = 0, n = 0;
	CK_MECHANISM_TYPE keep[HELPER_MAX_MECHS];
	int e;

	if (p11_attr_get(fn, s, k, CKA_ALLOWED_MECHANISMS, &allowed, &len) !=
	    CKR_OK) {
		free(allowed);
		allowed = NULL;
	}
	for (size_t i = 0; i < ms->n; i++)
		if (mech_allowed(allowed, len, ms->m[i]) &&
		    mech_fits(ms, i, shape))
			keep[n++] = ms->m[i];
	free(allowed);
	if ((e = p11a_buf_put_u32(b, (uint32_t)n)) != P11A_OK)
		return e;
	for (size_t i = 0; i < n; i++)
		if ((e = p11a_buf_put_u64(b, keep[i])) != P11A_OK)
			return e;
	return P11A_OK;
}

static int
key_encode(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k,
	   const struct key_shape *shape, const struct mech_set *ms,
	   struct p11a_buf *b)
{
	struct key_attrs a = {0};
	uint8_t flags = key_flags(fn, s, k);
	int e;

	if ((e = key_attrs_read(fn, s, k, shape, &a)) != P11A_OK)
		goto out;
	if ((e = p11a_buf_put_u64(b, k)) != P11A_OK ||
	    (e = p11a_buf_put_bytes(b, a.ck_id, a.ck_id_len)) != P11A_OK ||
	    (e = p11a_buf_put_bytes(b, a.label, a.label_len)) != P11A_OK ||
	    (e = p11a_buf_put_u8(b, shape->key_type)) != P11A_OK ||
	    (e = p11a_buf_put_u16(b, (uint16_t)shape->bits)) != P11A_OK ||
	    (e = p11a_buf_put_cstring(b, shape->curve)) != P11A_OK ||
	    (e = p11a_buf_put_bytes(b, a.spki, a.spki_len)) != P11A_OK ||
	    (e = p11a_buf_put_bytes(b, a.cert, a.cert_len)) != P11A_OK)
		goto out;
	if (ms->known)
		flags |= H_KEY_MECHS_KNOWN;
	if ((e = p11a_buf_put_u8(b, flags)) != P11A_OK)
		goto out;
	e = key_mechs_encode(fn, s, k, shape, ms, b);
out:
	key_attrs_free(&a);
	return e;
}

/*
 * Append one key to keys (*n counts them); a key pubkey_shape() cannot
 * use is skipped, and one that would overflow the frame is left out.
 */
static int
keys_add(struct hworker *w, CK_OBJECT_HANDLE k, const struct mech_set *ms,
	 struct p11a_buf *keys, uint32_t *n)
{
	CK_FUNCTION_LIST *fn = w->tok->h->fn;
	struct key_shape shape;
	struct p11a_buf one;
	char why[128];
	int e;

	if (pubkey_shape(fn, w->session, k, &shape, why, sizeof(why)) !=
	    P11A_OK) {
		unsigned char *label = NULL;
		size_t len = 0;

		p11_attr_get(fn, w->session, k, CKA_LABEL, &label, &len);
		log_info("slot %lu: key '%.*s' skipped: %s", w->tok->slot,
			 (int)(len < 64 ? len : 64),
			 label != NULL ? (char *)label : "", why);
		free(label);
		return P11A_OK;
	}
	p11a_buf_init(&one, P11A_MAX_FRAME);
	if ((e = key_encode(fn, w->session, k, &shape, ms, &one)) != P11A_OK)
		goto out;
	if (p11a_buf_put_raw(keys, p11a_buf_ptr(&one),
			     p11a_buf_remaining(&one)) != P11A_OK) {
		log_warn("slot %lu: key %lu left out: the reply is full",
			 w->tok->slot, k);
		goto out;
	}
	(*n)++;
out:
	p11a_buf_free(&one);
	return e;
}

static CK_RV
op_keys(struct hworker *w, struct p11a_buf *out, const char **call)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}};
	CK_OBJECT_HANDLE found[HELPER_MAX_KEYS];
	struct mech_set ms;
	CK_ULONG n = 0;
	struct p11a_buf keys;
	uint32_t kept = 0;
	CK_RV rv;
	int e = P11A_OK;

	*call = "C_FindObjects";
	rv = p11_find(w->tok->h->fn, w->session, tmpl, 1, found,
		      HELPER_MAX_KEYS, &n);
	if (rv != CKR_OK)
		return rv;
	mech_set_read(w->tok->h->fn, w->tok->slot, &ms);
	/* the count, u32, goes before the keys */
	p11a_buf_init(&keys, p11a_buf_room(out) - 4);
	for (CK_ULONG i = 0; i < n && e == P11A_OK; i++)
		e = keys_add(w, found[i], &ms, &keys, &kept);
	if (e == P11A_OK && (e = p11a_buf_put_u32(out, kept)) == P11A_OK)
		e = p11a_buf_put_raw(out, p11a_buf_ptr(&keys),
				     p11a_buf_remaining(&keys));
	p11a_buf_free(&keys);
	return e == P11A_OK ? CKR_OK : put_failed(e);
}

CK_RV
ops_run(struct hworker *w, const struct hreq *r, struct p11a_buf *out,
	const char **call)
{
	switch (r->type) {
	case H_LOGIN:
		return op_login(w, r, call);
	case H_LOGOUT:
		return op_logout(w, call);
	case H_KEYS:
		return op_keys(w, out, call);
	case H_SIGN:
		return op_sign(w, r, out, call);
	case H_PROBE:
		return op_probe(w, out, call);
	default:
		*call = "(none)";
		return CKR_GENERAL_ERROR;
	}
}
