/*
 * RSA padding done by the agent, for cards that sign only raw RSA
 * (CKM_RSA_X_509): the token then just computes m^d mod n on the block
 * built here, and the signature is the same as from CKM_RSA_PKCS_PSS or
 * CKM_RSA_PKCS.
 */
#ifndef P11A_AGENT_RSAPAD_H
#define P11A_AGENT_RSAPAD_H

#include <stddef.h>
#include <stdint.h>

#include "scheme.h"

/*
 * The modulus-sized block for the scheme (PSS with MGF1 of its hash and
 * salt = hash length, or PKCS#1 v1.5 type 1 around the DigestInfo) of
 * digest, for the RSA key in spki.  *out_len is the modulus length.
 */
int rsapad_encode(const uint8_t *spki, size_t spki_len,
		  const struct p11a_scheme_info *sc, const uint8_t *digest,
		  size_t digest_len, uint8_t *out, size_t out_max,
		  size_t *out_len);

#endif
