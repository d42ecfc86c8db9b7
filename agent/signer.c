#include "signer.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hlink.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"

/* 64 spaces, the label with its NUL, a hash of at most 48 bytes */
#define TLS13_CONTENT_MAX (64 + 34 + 48)

static int
signer_has_scheme(const struct identity *id, uint16_t code)
{
	for (size_t i = 0; i < id->wire.n_schemes; i++)
		if (id->wire.schemes[i] == code)
			return 1;
	return 0;
}

/* RFC 8446 4.2.3: no PKCS#1 v1.5 and no SHA-1 in TLS 1.3 signatures. */
static int
signer_tls13_scheme(const struct p11a_scheme_info *sc)
{
	return sc->mechanism != CKM_RSA_PKCS && sc->hash != P11A_HASH_SHA1;
}

int
signer_check(const struct identity *id, const struct p11a_scheme_info *sc,
	     uint32_t flags, size_t data_len, const char **why)
{
	const uint32_t known = P11A_SIGN_DIGEST | P11A_SIGN_TLS13_CLIENT_CV;
	int tls13 = (flags & P11A_SIGN_TLS13_CLIENT_CV) != 0;

	*why = NULL;
	if (!signer_has_scheme(id, sc->code)) {
		*why = "scheme not supported by this key";
		return P11A_ERR_SCHEME_UNSUPPORTED;
	}
	if ((flags & ~known) != 0 || (tls13 && (flags & P11A_SIGN_DIGEST))) {
		*why = "unknown or conflicting SIGN flags";
		return P11A_ERR_BAD_INPUT;
	}
	if ((id->wire.flags & P11A_IDENTITY_TLS13_CLIENT_ONLY) && !tls13) {
		*why = "this identity signs only TLS 1.3 client "
		       "CertificateVerify content";
		return P11A_ERR_DENIED;
	}
	if (tls13 &&
	    (!signer_tls13_scheme(sc) || (data_len != 32 && data_len != 48))) {
		*why = "TLS 1.3 form needs a 32- or 48-byte transcript hash "
		       "and a PSS, ECDSA or EdDSA scheme";
		return P11A_ERR_BAD_INPUT;
	}
	/* Ed25519 signs the message itself: there is no digest form */
	if ((flags & P11A_SIGN_DIGEST) &&
	    (sc->hash_len == 0 || data_len != sc->hash_len)) {
		*why = "digest length does not match the scheme's hash";
		return P11A_ERR_BAD_INPUT;
	}
	return P11A_OK;
}

/*
 * RFC 8446 4.4.3: what a TLS 1.3 client signs.  The agent builds it, so a
 * tls13-client identity never signs bytes a caller chose freely.
 */
static size_t
signer_tls13_content(const uint8_t *hash, size_t hash_len, uint8_t *out)
{
	static const char label[] = "TLS 1.3, client CertificateVerify";

	memset(out, 0x20, 64);
	memcpy(out + 64, label, sizeof(label)); /* with its NUL */
	memcpy(out + 64 + sizeof(label), hash, hash_len);
	return 64 + sizeof(label) + hash_len;
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

/* H_SIGN (docs/HELPER.md) for the prepared input. */
static int
signer_request(struct token *t, CK_OBJECT_HANDLE key,
	       const struct p11a_scheme_info *sc, const uint8_t *in,
	       size_t in_len, struct p11a_buf *p)
{
	int pss = sc->mechanism == CKM_RSA_PKCS_PSS, e;

	p11a_buf_init(p, 64 + in_len);
	if ((e = p11a_buf_put_u64(p, t->slot)) != P11A_OK ||
	    (e = p11a_buf_put_u64(p, key)) != P11A_OK ||
	    (e = p11a_buf_put_u64(p, sc->mechanism)) != P11A_OK ||
	    (e = p11a_buf_put_u8(p, (uint8_t)pss)) != P11A_OK)
		return e;
	if (pss && ((e = p11a_buf_put_u64(p, sc->pss_hash)) != P11A_OK ||
		    (e = p11a_buf_put_u64(p, sc->pss_mgf)) != P11A_OK ||
		    (e = p11a_buf_put_u64(p, sc->hash_len)) != P11A_OK))
		return e;
	return p11a_buf_put_bytes(p, in, in_len);
}

/* The signature bytes of the helper's reply, in the scheme's form. */
static int
signer_result(const struct p11a_scheme_info *sc, struct p11a_buf *reply,
	      uint8_t *out, size_t *out_len)
{
	const uint8_t *raw;
	size_t raw_len;

	if (p11a_buf_get_bytes_view(reply, &raw, &raw_len) != P11A_OK ||
	    p11a_buf_remaining(reply) != 0 || raw_len > SIGNER_MAX_SIG)
		return P11A_ERR_TOKEN;
	if (sc->mechanism == CKM_ECDSA)
		return p11a_ecdsa_raw_to_der(raw, raw_len, out, SIGNER_MAX_SIG,
					     out_len);
	memcpy(out, raw, raw_len);
	*out_len = raw_len;
	return P11A_OK;
}

int
signer_sign(struct token *t, CK_OBJECT_HANDLE key, unsigned gen,
	    const struct p11a_scheme_info *sc, uint32_t flags,
	    const uint8_t *data, size_t len, struct signer_result *res)
{
	uint8_t buf[128], content[TLS13_CONTENT_MAX];
	struct hlink_reply rep = {0};
	struct p11a_buf req = {0};
	const uint8_t *in;
	size_t in_len;
	int r;

	res->rv = CKR_OK;
	res->why[0] = '\0';
	res->sig_len = 0;
	if (flags & P11A_SIGN_TLS13_CLIENT_CV) {
		len = signer_tls13_content(data, len, content);
		data = content;
		flags &= ~(uint32_t)P11A_SIGN_TLS13_CLIENT_CV;
	}
	if ((r = signer_prepare(sc, flags, data, len, buf, sizeof(buf), &in,
				&in_len)) != P11A_OK ||
	    (r = signer_request(t, key, sc, in, in_len, &req)) != P11A_OK)
		goto out;
	if ((r = hlink_call(t->link, gen, HL_SIGN, &req, &rep)) != P11A_OK) {
		/* the helper's code maps the module's answer already */
		res->rv = rep.rv != CKR_OK ? rep.rv : CKR_GENERAL_ERROR;
		if (res->rv == CKR_DEVICE_ERROR)
			snprintf(res->why, sizeof(res->why), "%s", rep.msg);
		goto out;
	}
	r = signer_result(sc, &rep.payload, res->sig, &res->sig_len);
out:
	hlink_reply_free(&rep);
	p11a_buf_free(&req);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}
