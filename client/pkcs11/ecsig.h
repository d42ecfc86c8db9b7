/*
 * ECDSA signature form: the agent sends the DER ECDSA-Sig-Value that TLS
 * carries; PKCS#11 callers of CKM_ECDSA expect r||s, each half as long
 * as the curve's field (32, 48 or 66 bytes).
 */
#ifndef P11M_ECSIG_H
#define P11M_ECSIG_H

#include <stddef.h>
#include <stdint.h>

/*
 * p11m_ecdsa_der_to_raw - DER (exactly der_len bytes, nothing after it)
 * to r||s with halves of half bytes, into out (room for 2 * half).
 * Returns 0, or -1 if the DER is malformed or r or s does not fit.
 */
int p11m_ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t half,
			  uint8_t *out);

#endif
