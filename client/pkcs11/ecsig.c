/* ECDSA DER to r||s: see ecsig.h. */
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "ecsig.h"

int
p11m_ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t half,
		      uint8_t *out)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int rc = -1;

	if (der_len == 0 || der_len > 1024 || half == 0)
		return -1;
	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) == NULL)
		return -1;
	/* trailing bytes mean the agent sent something else */
	if ((size_t)(p - der) != der_len)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, (int)half) < 0 ||
	    BN_bn2binpad(s, out + half, (int)half) < 0)
		goto out;
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}
