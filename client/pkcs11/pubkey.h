/*
 * The PKCS#11 public-key attributes of a key, from the DER
 * SubjectPublicKeyInfo the agent lists: CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT for RSA; CKA_EC_PARAMS (the named curve's OID) and
 * CKA_EC_POINT (a DER OCTET STRING around the uncompressed point, as
 * PKCS#11 2.40 and SoftHSM store it) for EC and Ed25519 (CKK_EC_EDWARDS,
 * curve OID 1.3.101.112 as in RFC 8410).
 */
#ifndef P11M_PUBKEY_H
#define P11M_PUBKEY_H

#include <stddef.h>
#include <stdint.h>

#include "attrs.h"

struct p11m_pubkey {
	CK_KEY_TYPE key_type;	 /* CKK_RSA, CKK_EC, CKK_EC_EDWARDS */
	CK_ULONG modulus_bits;	 /* RSA only */
	struct p11m_attrs attrs; /* the attributes above */
};

/*
 * p11m_pubkey_from_spki - fill pk from spki.  Returns 0, or -1 when the
 * SPKI is malformed, of another key type, or memory ran out.
 */
int p11m_pubkey_from_spki(const uint8_t *spki, size_t len,
			  struct p11m_pubkey *pk);

/* p11m_pubkey_free - release; safe on a zeroed struct. */
void p11m_pubkey_free(struct p11m_pubkey *pk);

#endif
