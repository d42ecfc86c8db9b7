#include "signer.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "p11agent/error.h"
#include "p11agent/protocol.h"

int
signer_check(const struct identity *id, const struct p11a_scheme_info *sc,
	     uint32_t flags, size_t data_len)
{
	size_t i;

	for (i = 0; i < id->wire.n_schemes; i++)
		if (id->wire.schemes[i] == sc->code)
			break;
	if (i == id->wire.n_schemes)
		return P11A_ERR_SCHEME_UNSUPPORTED;
	if (flags & ~(uint32_t)P11A_SIGN_DIGEST)
		return P11A_ERR_BAD_INPUT;
	if (flags & P11A_SIGN_DIGEST) {
		/* Ed25519 signs the message itself: there is no digest form */
		if (sc->hash_len == 0 || data_len != sc->hash_len)
			return P11A_ERR_BAD_INPUT;
	}
	return P11A_OK;
}

/* The bytes handed to C_Sign for a scheme, built in buf when needed. */
static int
signer_prepare(const struct p11a_scheme_info *sc, uint32_t flags,
	       const uint8_t *data, size_t len, uint8_t *buf, size_t buf_len,
	       const uint8_t **in, size_t *in_len)
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t digest_len = len;
	const uint8_t *d = data;
	int r;

	if (sc->hash == P11A_HASH_NONE) {
		*in = data;
		*in_len = len;
		return P11A_OK;
	}
	if (!(flags & P11A_SIGN_DIGEST)) {
		r = p11a_scheme_hash(sc, data, len, digest, sizeof(digest),
				     &digest_len);
		if (r != P11A_OK)
			return r;
		d = digest;
	}
	*in = buf;
	if (sc->mechanism == CKM_RSA_PKCS)
		return p11a_digestinfo_build(sc->hash, d, digest_len, buf,
					     buf_len, in_len);
	memcpy(buf, d, digest_len);
	*in_len = digest_len;
	return P11A_OK;
}

int
signer_sign(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
	    const struct p11a_scheme_info *sc, uint32_t flags,
	    const uint8_t *data, size_t len, uint8_t *out, size_t *out_len,
	    CK_RV *rv_out)
{
	CK_RSA_PKCS_PSS_PARAMS pss = {sc->pss_hash, sc->pss_mgf, sc->hash_len};
	CK_MECHANISM mech = {sc->mechanism, NULL, 0};
	uint8_t buf[128], raw[SIGNER_MAX_SIG];
	CK_ULONG raw_len = sizeof(raw);
	const uint8_t *in;
	size_t in_len;
	int r;

	*rv_out = CKR_OK;
	if ((r = signer_prepare(sc, flags, data, len, buf, sizeof(buf), &in,
				&in_len)) != P11A_OK)
		return r;
	if (sc->mechanism == CKM_RSA_PKCS_PSS) {
		mech.pParameter = &pss;
		mech.ulParameterLen = sizeof(pss);
	}
	if ((*rv_out = t->module->C_SignInit(s, &mech, key)) != CKR_OK ||
	    (*rv_out = t->module->C_Sign(s, (CK_BYTE_PTR)in, in_len, raw,
					 &raw_len)) != CKR_OK) {
		r = token_error_from_rv(*rv_out);
		goto out;
	}
	if (sc->mechanism == CKM_ECDSA) {
		r = p11a_ecdsa_raw_to_der(raw, raw_len, out, SIGNER_MAX_SIG,
					  out_len);
		goto out;
	}
	memcpy(out, raw, raw_len);
	*out_len = raw_len;
	r = P11A_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}
