/*
 * Digests: the digest mechanisms of C_DigestInit and friends, and the
 * running hash of the hashed signing mechanisms (signop.c).  Hashed in
 * the module with OpenSSL; the agent is never asked.  Pure logic: no
 * agent, no locks.
 *
 *   CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512
 *
 * Why a signing-only module digests: Java's SunPKCS11 offers RSASSA-PSS
 * (all TLS 1.3 allows with an RSA key) only for a token on which
 * C_GetMechanismInfo of the PSS hash (CKM_SHA256, ...) succeeds.
 */
#ifndef P11M_DIGEST_H
#define P11M_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

struct p11m_digest;

/* Upper bound of p11m_digest_mechanisms()'s count. */
#define P11M_DIGEST_MAX 5

/*
 * p11m_digest_new - start the digest of mechanism m (C_DigestInit).
 * CKR_MECHANISM_INVALID for a mechanism that is not a digest here,
 * CKR_MECHANISM_PARAM_INVALID when m has parameters (digests take
 * none), CKR_HOST_MEMORY.
 */
CK_RV p11m_digest_new(const CK_MECHANISM *m, struct p11m_digest **out);

/*
 * p11m_digest_new_md - start a digest by its OpenSSL name ("SHA256"),
 * for the hashed signing mechanisms; CKR_GENERAL_ERROR for a name
 * OpenSSL does not know, CKR_HOST_MEMORY.
 */
CK_RV p11m_digest_new_md(const char *name, struct p11m_digest **out);

/* p11m_digest_len - the length of the digest it makes. */
size_t p11m_digest_len(const struct p11m_digest *d);

/* p11m_digest_update - feed len bytes (data may be NULL when len is 0). */
CK_RV p11m_digest_update(struct p11m_digest *d, const uint8_t *data,
			 size_t len);

/*
 * p11m_digest_final - write the digest to out (room for
 * p11m_digest_len() bytes); *out_len receives its length.  The digest
 * takes no more input afterwards.
 */
CK_RV p11m_digest_final(struct p11m_digest *d, uint8_t *out, CK_ULONG *out_len);

/* p11m_digest_free - release; NULL is fine. */
void p11m_digest_free(struct p11m_digest *d);

/*
 * p11m_digest_mechanisms - the digest mechanisms, in a fixed order, into
 * out (room for max); returns the count.
 */
size_t p11m_digest_mechanisms(CK_MECHANISM_TYPE *out, size_t max);

/*
 * p11m_digest_mechanism_info - C_GetMechanismInfo of a digest mechanism
 * (CKF_DIGEST, no key sizes); CKR_MECHANISM_INVALID for any other.
 * *info is zeroed either way.
 */
CK_RV p11m_digest_mechanism_info(CK_MECHANISM_TYPE type,
				 CK_MECHANISM_INFO *info);

#endif
