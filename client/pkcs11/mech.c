/* Signing mechanisms and their SIGN requests: see mech.h. */
#include <string.h>

#include "mech.h"

struct mech_def {
	CK_MECHANISM_TYPE type;
	uint8_t key_type;
	enum p11m_mech_kind kind;
	/* HASHED, EDDSA: the one scheme; raw kinds: 0 (input decides) */
	uint16_t scheme;
	/* raw kinds: schemes whose table mechanism is this one qualify */
	CK_MECHANISM_TYPE family;
	int pss; /* takes CK_RSA_PKCS_PSS_PARAMS */
};

#define RAW(t, kt, k, fam, pss)                                                \
	{                                                                      \
		(t), (kt), (k), 0, (fam), (pss)                                \
	}
#define HASHED(t, kt, s, pss)                                                  \
	{                                                                      \
		(t), (kt), P11M_MECH_HASHED, (s), 0, (pss)                     \
	}

/* Also the order of C_GetMechanismList and CKA_ALLOWED_MECHANISMS. */
static const struct mech_def defs[] = {
	RAW(CKM_RSA_PKCS, P11A_KEY_RSA, P11M_MECH_RSA_PKCS, CKM_RSA_PKCS, 0),
	HASHED(CKM_SHA1_RSA_PKCS, P11A_KEY_RSA, P11A_SCHEME_RSA_PKCS1_SHA1, 0),
	HASHED(CKM_SHA256_RSA_PKCS, P11A_KEY_RSA, P11A_SCHEME_RSA_PKCS1_SHA256,
	       0),
	HASHED(CKM_SHA384_RSA_PKCS, P11A_KEY_RSA, P11A_SCHEME_RSA_PKCS1_SHA384,
	       0),
	HASHED(CKM_SHA512_RSA_PKCS, P11A_KEY_RSA, P11A_SCHEME_RSA_PKCS1_SHA512,
	       0),
	RAW(CKM_RSA_PKCS_PSS, P11A_KEY_RSA, P11M_MECH_RSA_PSS, CKM_RSA_PKCS_PSS,
	    1),
	HASHED(CKM_SHA256_RSA_PKCS_PSS, P11A_KEY_RSA,
	       P11A_SCHEME_RSA_PSS_RSAE_SHA256, 1),
	HASHED(CKM_SHA384_RSA_PKCS_PSS, P11A_KEY_RSA,
	       P11A_SCHEME_RSA_PSS_RSAE_SHA384, 1),
	HASHED(CKM_SHA512_RSA_PKCS_PSS, P11A_KEY_RSA,
	       P11A_SCHEME_RSA_PSS_RSAE_SHA512, 1),
	RAW(CKM_ECDSA, P11A_KEY_EC, P11M_MECH_ECDSA, CKM_ECDSA, 0),
	HASHED(CKM_ECDSA_SHA1, P11A_KEY_EC, P11A_SCHEME_ECDSA_SHA1, 0),
	HASHED(CKM_ECDSA_SHA256, P11A_KEY_EC,
	       P11A_SCHEME_ECDSA_SECP256R1_SHA256, 0),
	HASHED(CKM_ECDSA_SHA384, P11A_KEY_EC,
	       P11A_SCHEME_ECDSA_SECP384R1_SHA384, 0),
	HASHED(CKM_ECDSA_SHA512, P11A_KEY_EC,
	       P11A_SCHEME_ECDSA_SECP521R1_SHA512, 0),
	{CKM_EDDSA, P11A_KEY_ED25519, P11M_MECH_EDDSA, P11A_SCHEME_ED25519, 0,
	 0},
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

_Static_assert(N_DEFS <= P11M_MECH_MAX, "P11M_MECH_MAX too small");

static const struct mech_def *
find_def(CK_MECHANISM_TYPE type)
{
	size_t i;

	for (i = 0; i < N_DEFS; i++)
		if (defs[i].type == type)
			return &defs[i];
	return NULL;
}

static int
key_has_scheme(const struct p11m_keyinfo *k, uint16_t code)
{
	size_t i;

	for (i = 0; i < k->n_schemes; i++)
		if (k->schemes[i] == code)
			return 1;
	return 0;
}

/* The scheme for this PKCS#11 mechanism family and hash, or NULL. */
static const struct p11a_scheme_info *
scheme_for(CK_MECHANISM_TYPE family, enum p11a_hash hash)
{
	const struct p11a_scheme_info *all;
	size_t n, i;

	all = p11a_scheme_all(&n);
	for (i = 0; i < n; i++)
		if (all[i].mechanism == family && all[i].hash == hash)
			return &all[i];
	return NULL;
}

static int
def_key_can(const struct mech_def *d, const struct p11m_keyinfo *k)
{
	const struct p11a_scheme_info *s;
	size_t i;

	if (d->key_type != k->key_type)
		return 0;
	/* a digest is refused for it: only hash-and-sign mechanisms */
	if (d->family != 0 && (k->flags & P11A_IDENTITY_MESSAGE_ONLY))
		return 0;
	if (d->family == 0)
		return key_has_scheme(k, d->scheme);
	for (i = 0; i < k->n_schemes; i++) {
		s = p11a_scheme_find(k->schemes[i]);
		if (s != NULL && s->mechanism == d->family)
			return 1;
	}
	return 0;
}

int
p11m_mech_key_can(CK_MECHANISM_TYPE type, const struct p11m_keyinfo *k)
{
	const struct mech_def *d = find_def(type);

	return d != NULL && def_key_can(d, k);
}

size_t
p11m_mech_list_for_key(const struct p11m_keyinfo *k, CK_MECHANISM_TYPE *out,
		       size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < N_DEFS && n < max; i++)
		if (def_key_can(&defs[i], k))
			out[n++] = defs[i].type;
	return n;
}

CK_FLAGS
p11m_mech_flags(CK_MECHANISM_TYPE type)
{
	const struct mech_def *d = find_def(type);

	if (d == NULL)
		return 0;
	if (d->key_type == P11A_KEY_EC)
		return CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE |
		       CKF_EC_UNCOMPRESS;
	return CKF_SIGN;
}

size_t
p11m_sig_len(const struct p11m_keyinfo *k)
{
	switch (k->key_type) {
	case P11A_KEY_RSA:
		return (k->bits + 7) / 8;
	case P11A_KEY_EC:
		return 2 * ((k->bits + 7) / 8);
	case P11A_KEY_ED25519:
		return 64;
	default:
		return 0;
	}
}

static int
no_params(const CK_MECHANISM *m)
{
	return m->pParameter == NULL || m->ulParameterLen == 0;
}

/*
 * The RSA-PSS scheme that PSS parameters name, if the agent can honour
 * them for key k: MGF1 with the same hash and a salt of the hash's
 * length (what TLS uses and the agent asks of the token).
 */
static const struct p11a_scheme_info *
pss_scheme(const CK_MECHANISM *m, const struct p11m_keyinfo *k)
{
	const struct p11a_scheme_info *all;
	const CK_RSA_PKCS_PSS_PARAMS *p;
	size_t n, i;

	if (m->pParameter == NULL ||
	    m->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
		return NULL;
	p = m->pParameter;
	all = p11a_scheme_all(&n);
	for (i = 0; i < n; i++) {
		if (all[i].mechanism != CKM_RSA_PKCS_PSS ||
		    all[i].pss_hash != p->hashAlg)
			continue;
		if (p->mgf != all[i].pss_mgf || p->sLen != all[i].hash_len ||
		    !key_has_scheme(k, all[i].code))
			return NULL;
		return &all[i];
	}
	return NULL;
}

static CK_RV
check_eddsa_params(const CK_MECHANISM *m)
{
	const struct p11m_eddsa_params *p;

	if (no_params(m))
		return CKR_OK;
	if (m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	/* the agent does PureEdDSA without a context only */
	p = m->pParameter;
	if (p->ph_flag || p->context_len != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

/* Parameters of d's mechanism m; may fix plan->scheme (CKM_RSA_PKCS_PSS). */
static CK_RV
check_params(const struct mech_def *d, const CK_MECHANISM *m,
	     const struct p11m_keyinfo *k, struct p11m_plan *plan)
{
	const struct p11a_scheme_info *s;

	if (d->kind == P11M_MECH_EDDSA)
		return check_eddsa_params(m);
	if (!d->pss)
		return no_params(m) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
	/* the hashed PSS mechanisms may leave their (implied) params out */
	if (d->kind == P11M_MECH_HASHED && no_params(m))
		return CKR_OK;
	if ((s = pss_scheme(m, k)) == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	if (d->kind == P11M_MECH_HASHED && s->code != d->scheme)
		return CKR_MECHANISM_PARAM_INVALID;
	plan->scheme = s->code;
	return CKR_OK;
}

CK_RV
p11m_mech_plan(const CK_MECHANISM *m, const struct p11m_keyinfo *k,
	       struct p11m_plan *plan)
{
	const struct mech_def *d;
	const struct p11a_scheme_info *s;

	memset(plan, 0, sizeof(*plan));
	if (m == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((d = find_def(m->mechanism)) == NULL || !def_key_can(d, k))
		return CKR_MECHANISM_INVALID;
	plan->mechanism = d->type;
	plan->kind = d->kind;
	plan->scheme = d->scheme;
	if (d->kind == P11M_MECH_HASHED) {
		if ((s = p11a_scheme_find(d->scheme)) == NULL)
			return CKR_GENERAL_ERROR;
		plan->hash = s->hash;
		plan->message = (k->flags & P11A_IDENTITY_MESSAGE_ONLY) != 0;
	}
	return check_params(d, m, k, plan);
}

/* Which DigestInfo (RFC 8017 9.2) input is, if any: its hash and digest. */
static int
parse_digestinfo(const uint8_t *in, size_t len, enum p11a_hash *hash,
		 const uint8_t **digest, size_t *digest_len)
{
	static const enum p11a_hash hashes[] = {
		P11A_HASH_SHA1, P11A_HASH_SHA256, P11A_HASH_SHA384,
		P11A_HASH_SHA512};
	static const uint8_t zeros[64];
	const struct p11a_scheme_info *s;
	uint8_t di[128];
	size_t i, di_len;

	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		s = scheme_for(CKM_RSA_PKCS, hashes[i]);
		/* the common code owns the DigestInfo prefixes */
		if (s == NULL ||
		    p11a_digestinfo_build(hashes[i], zeros, s->hash_len, di,
					  sizeof(di), &di_len) != 0)
			continue;
		if (len != di_len || memcmp(in, di, di_len - s->hash_len) != 0)
			continue;
		*hash = hashes[i];
		*digest = in + di_len - s->hash_len;
		*digest_len = s->hash_len;
		return 1;
	}
	return 0;
}

static CK_RV
request_rsa_pkcs(const struct p11m_keyinfo *k, const uint8_t *in, size_t len,
		 uint16_t *scheme, const uint8_t **data, size_t *data_len)
{
	const struct p11a_scheme_info *s;
	enum p11a_hash hash;

	if (len == 36) {
		/* TLS 1.0/1.1: MD5 || SHA-1 without a DigestInfo */
		hash = P11A_HASH_MD5_SHA1;
		*data = in;
		*data_len = len;
	} else if (!parse_digestinfo(in, len, &hash, data, data_len)) {
		return CKR_DATA_INVALID;
	}
	if ((s = scheme_for(CKM_RSA_PKCS, hash)) == NULL)
		return CKR_DATA_INVALID;
	/* the key is too short for this DigestInfo */
	if (!key_has_scheme(k, s->code))
		return CKR_DATA_LEN_RANGE;
	*scheme = s->code;
	return CKR_OK;
}

static CK_RV
request_ecdsa(const struct p11m_keyinfo *k, size_t len, uint16_t *scheme)
{
	const struct p11a_scheme_info *all;
	size_t n, i;

	/* TLS 1.2 lets any hash go with any curve: the length says which */
	all = p11a_scheme_all(&n);
	for (i = 0; i < n; i++)
		if (all[i].mechanism == CKM_ECDSA && all[i].hash_len == len &&
		    key_has_scheme(k, all[i].code)) {
			*scheme = all[i].code;
			return CKR_OK;
		}
	return CKR_DATA_LEN_RANGE;
}

/* The plan's fixed scheme, with input as its digest. */
static CK_RV
request_digest(const struct p11m_plan *plan, size_t len, uint16_t *scheme)
{
	const struct p11a_scheme_info *s = p11a_scheme_find(plan->scheme);

	if (s == NULL)
		return CKR_GENERAL_ERROR;
	if (len != s->hash_len)
		return CKR_DATA_LEN_RANGE;
	*scheme = s->code;
	return CKR_OK;
}

CK_RV
p11m_mech_request(const struct p11m_plan *plan, const struct p11m_keyinfo *k,
		  const uint8_t *input, size_t len, uint16_t *scheme,
		  uint32_t *flags, const uint8_t **data, size_t *data_len)
{
	*data = input;
	*data_len = len;
	*flags = P11A_SIGN_DIGEST;
	switch (plan->kind) {
	case P11M_MECH_RSA_PKCS:
		return request_rsa_pkcs(k, input, len, scheme, data, data_len);
	case P11M_MECH_ECDSA:
		return request_ecdsa(k, len, scheme);
	case P11M_MECH_HASHED:
		if (plan->message) {
			*flags = 0;
			*scheme = plan->scheme;
			return CKR_OK;
		}
		return request_digest(plan, len, scheme);
	case P11M_MECH_RSA_PSS:
		return request_digest(plan, len, scheme);
	case P11M_MECH_EDDSA:
		*flags = 0;
		*scheme = P11A_SCHEME_ED25519;
		return CKR_OK;
	}
	return CKR_GENERAL_ERROR;
}
