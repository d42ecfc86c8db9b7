/*
 * PKCS#11 signing mechanisms and how each maps onto an agent SIGN
 * request (a TLS SignatureScheme, digest or message form).  Pure logic:
 * no agent, no locks.
 *
 *   CKM_RSA_PKCS            DigestInfo(SHA-1/256/384/512) -> rsa_pkcs1_*,
 *                           bare 36-byte MD5||SHA-1 -> rsa_pkcs1_md5_sha1
 *   CKM_RSA_PKCS_PSS        digest, params hash = MGF1 hash, salt = hash
 *                           length -> rsa_pss_rsae_*
 *   CKM_SHAx_RSA_PKCS(_PSS) hashed here -> rsa_pkcs1_shaX / rsa_pss_rsae_shaX
 *   CKM_ECDSA               digest of 20/32/48/64 bytes -> ecdsa_* of that
 *                           hash; the agent's DER comes back as r||s
 *   CKM_ECDSA_SHAx          hashed here -> ecdsa_*
 *   CKM_EDDSA               the message -> ed25519
 *
 * A MESSAGE_ONLY key (its token can only hash-and-sign, so the agent
 * refuses the digest form) gets the whole message of a CKM_SHAx_* or
 * CKM_ECDSA_SHAx mechanism sent to the agent, unhashed; the raw
 * mechanisms, whose input is a digest, are not offered for it.
 */
#ifndef P11M_MECH_H
#define P11M_MECH_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "p11agent/protocol.h"
#include "scheme.h"

/* What the module knows of a key: the agent's LIST entry. */
struct p11m_keyinfo {
	uint8_t key_type; /* P11A_KEY_* */
	unsigned bits;	  /* modulus or curve size */
	uint32_t flags;	  /* P11A_IDENTITY_* (MESSAGE_ONLY matters here) */
	size_t n_schemes;
	uint16_t schemes[P11A_MAX_SCHEMES];
};

enum p11m_mech_kind {
	P11M_MECH_RSA_PKCS, /* input: DigestInfo or MD5||SHA-1 */
	P11M_MECH_RSA_PSS,  /* input: a digest; scheme from the params */
	P11M_MECH_ECDSA,    /* input: a digest; scheme from its length */
	P11M_MECH_EDDSA,    /* input: the message */
	P11M_MECH_HASHED    /* input: a message the module hashes */
};

/* A checked mechanism: what C_SignInit settled. */
struct p11m_plan {
	CK_MECHANISM_TYPE mechanism;
	enum p11m_mech_kind kind;
	uint16_t scheme;     /* fixed scheme, or 0 when the input decides */
	enum p11a_hash hash; /* HASHED: the hash the module computes */
	int message;	     /* HASHED: the agent gets the message itself */
};

/* CK_EDDSA_PARAMS of PKCS#11 3.0 (not in p11-kit 0.24's header). */
struct p11m_eddsa_params {
	CK_BBOOL ph_flag;
	CK_ULONG context_len;
	CK_BYTE_PTR context;
};

/*
 * p11m_mech_plan - check mechanism m (type and parameters) against key k.
 * CKR_MECHANISM_INVALID when the module or the key cannot do it,
 * CKR_MECHANISM_PARAM_INVALID when its parameters are not ones the
 * agent can honour (e.g. a PSS salt other than the hash length).
 */
CK_RV p11m_mech_plan(const CK_MECHANISM *m, const struct p11m_keyinfo *k,
		     struct p11m_plan *plan);

/*
 * p11m_mech_request - the SIGN request for input (for HASHED plans: the
 * digest the module computed, or the message when plan->message).
 * *data points into input.
 * CKR_DATA_INVALID for a CKM_RSA_PKCS input that is neither a DigestInfo
 * of a hash the key can sign nor 36 bytes; CKR_DATA_LEN_RANGE for a
 * digest of a length the scheme cannot take.
 */
CK_RV p11m_mech_request(const struct p11m_plan *plan,
			const struct p11m_keyinfo *k, const uint8_t *input,
			size_t len, uint16_t *scheme, uint32_t *flags,
			const uint8_t **data, size_t *data_len);

/* p11m_mech_key_can - whether key k can do mechanism type. */
int p11m_mech_key_can(CK_MECHANISM_TYPE type, const struct p11m_keyinfo *k);

/*
 * p11m_mech_list_for_key - the mechanisms key k can do, in a fixed order,
 * into out (room for max); returns the count.
 */
size_t p11m_mech_list_for_key(const struct p11m_keyinfo *k,
			      CK_MECHANISM_TYPE *out, size_t max);

/* Upper bound of p11m_mech_list_for_key()'s count. */
#define P11M_MECH_MAX 16

/*
 * p11m_mech_flags - C_GetMechanismInfo flags of a mechanism the module
 * knows (CKF_SIGN, plus the curve flags for ECDSA); 0 if unknown.
 */
CK_FLAGS p11m_mech_flags(CK_MECHANISM_TYPE type);

/* p11m_sig_len - bytes of a PKCS#11 signature by key k (0 if unknown). */
size_t p11m_sig_len(const struct p11m_keyinfo *k);

#endif
