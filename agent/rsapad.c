/*
 * OpenSSL 3 keeps its padding functions only in the deprecated RSA API;
 * they are the ones its own RSA signatures use, so they are used here
 * rather than a second implementation of EMSA-PSS.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "rsapad.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "p11agent/error.h"

static int
rsapad_pss(RSA *rsa, const struct p11a_scheme_info *sc, const uint8_t *digest,
	   uint8_t *out)
{
	const EVP_MD *md =
		EVP_get_digestbyname(p11a_hash_openssl_name(sc->hash));

	if (md == NULL)
		return P11A_ERR_SCHEME_UNSUPPORTED;
	return RSA_padding_add_PKCS1_PSS_mgf1(rsa, out, digest, md, md,
					      (int)sc->hash_len) == 1
		       ? P11A_OK
		       : P11A_ERR_INTERNAL;
}

static int
rsapad_pkcs1(int k, const struct p11a_scheme_info *sc, const uint8_t *digest,
	     size_t digest_len, uint8_t *out)
{
	uint8_t di[128];
	size_t di_len;
	int r = p11a_digestinfo_build(sc->hash, digest, digest_len, di,
				      sizeof(di), &di_len);

	if (r != P11A_OK)
		return r;
	r = RSA_padding_add_PKCS1_type_1(out, k, di, (int)di_len) == 1
		    ? P11A_OK
		    : P11A_ERR_BAD_INPUT;
	OPENSSL_cleanse(di, sizeof(di));
	return r;
}

int
rsapad_encode(const uint8_t *spki, size_t spki_len,
	      const struct p11a_scheme_info *sc, const uint8_t *digest,
	      size_t digest_len, uint8_t *out, size_t out_max, size_t *out_len)
{
	const unsigned char *p = spki;
	EVP_PKEY *pk = NULL;
	const RSA *rsa;
	int k, r = P11A_ERR_TOKEN;

	*out_len = 0;
	if (spki_len > 0)
		pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
	if (pk == NULL || (rsa = EVP_PKEY_get0_RSA(pk)) == NULL)
		goto out; /* the helper gave no usable RSA public key */
	k = RSA_size(rsa);
	if (k <= 0 || (size_t)k > out_max || digest_len != sc->hash_len) {
		r = P11A_ERR_BAD_INPUT;
		goto out;
	}
	if (sc->mechanism == CKM_RSA_PKCS_PSS)
		r = rsapad_pss((RSA *)rsa, sc, digest, out);
	else
		r = rsapad_pkcs1(k, sc, digest, digest_len, out);
	if (r == P11A_OK)
		*out_len = (size_t)k;
out:
	EVP_PKEY_free(pk);
	return r;
}
