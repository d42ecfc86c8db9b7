#include "signer.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hlink.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "rsapad.h"

/* 64 spaces, the label with its NUL, a hash of at most 48 bytes */
#define TLS13_CONTENT_MAX (64 + 34 + 48)

/* How the identity signs the scheme; NULL: it does not. */
static const struct p11a_sign_path *
signer_path(const struct identity *id, uint16_t code)
{
	for (size_t i = 0; i < id->wire.n_schemes; i++)
		if (id->wire.schemes[i] == code)
			return &id->paths[i];
	return NULL;
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
	const struct p11a_sign_path *path = signer_path(id, sc->code);

	*why = NULL;
	if (path == NULL) {
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
	if (path->kind == P11A_PATH_HASHED && (flags & P11A_SIGN_DIGEST)) {
		*why = "this key's token hashes for this scheme itself "
		       "(a hash-and-sign mechanism): send the message, not "
		       "a digest";
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

/*
 * The bytes handed to C_Sign for a scheme on its path, built in buf when
 * needed: the message for EdDSA and hash-and-sign mechanisms, a digest
 * (PSS, ECDSA), a DigestInfo (PKCS#1 v1.5) or a padded block (raw RSA).
 */
static int
signer_prepare(const struct identity *id, const struct p11a_scheme_info *sc,
	       const struct p11a_sign_path *path, uint32_t flags,
	       const uint8_t *data, size_t len, uint8_t *buf, size_t buf_len,
	       const uint8_t **in, size_t *in_len)
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t digest_len = len;
	const uint8_t *d = data;
	int r;

	if (sc->hash == P11A_HASH_NONE || path->kind == P11A_PATH_HASHED) {
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
	if (path->kind == P11A_PATH_RAW)
		return rsapad_encode(id->wire.spki, id->wire.spki_len, sc, d,
				     digest_len, buf, buf_len, in_len);
	if (sc->mechanism == CKM_RSA_PKCS)
		return p11a_digestinfo_build(sc->hash, d, digest_len, buf,
					     buf_len, in_len);
	memcpy(buf, d, digest_len);
	*in_len = digest_len;
	return P11A_OK;
}

/*
 * H_SIGN (docs/HELPER.md) for the prepared input, with the PIN for a
 * CKU_CONTEXT_SPECIFIC login when pin is not NULL (empty: the reader's
 * own pad).  The PIN is wiped with the buffer (p11a_buf_free).
 */
static int
signer_request(struct token *t, CK_OBJECT_HANDLE key,
	       const struct p11a_scheme_info *sc,
	       const struct p11a_sign_path *path, const uint8_t *in,
	       size_t in_len, const struct pin *pin, struct p11a_buf *p)
{
	int pss = sc->mechanism == CKM_RSA_PKCS_PSS &&
		  path->kind != P11A_PATH_RAW,
	    e;

	p11a_buf_init(p, 80 + in_len + (pin != NULL ? pin->len : 0));
	if ((e = p11a_buf_put_u64(p, t->slot)) != P11A_OK ||
	    (e = p11a_buf_put_u64(p, key)) != P11A_OK ||
	    (e = p11a_buf_put_u64(p, path->mechanism)) != P11A_OK ||
	    (e = p11a_buf_put_u8(p, (uint8_t)pss)) != P11A_OK)
		return e;
	if (pss && ((e = p11a_buf_put_u64(p, sc->pss_hash)) != P11A_OK ||
		    (e = p11a_buf_put_u64(p, sc->pss_mgf)) != P11A_OK ||
		    (e = p11a_buf_put_u64(p, sc->hash_len)) != P11A_OK))
		return e;
	if ((e = p11a_buf_put_bytes(p, in, in_len)) != P11A_OK ||
	    (e = p11a_buf_put_u8(p, pin != NULL)) != P11A_OK)
		return e;
	return pin != NULL ? p11a_buf_put_bytes(p, pin->value, pin->len)
			   : P11A_OK;
}

/* The helper's H_SIGNATURE: the signature in the scheme's form, its time. */
static int
signer_result(const struct p11a_scheme_info *sc, struct p11a_buf *reply,
	      struct signer_result *res)
{
	const uint8_t *raw;
	size_t raw_len;

	if (p11a_buf_get_bytes_view(reply, &raw, &raw_len) != P11A_OK ||
	    p11a_buf_get_u64(reply, &res->sign_us) != P11A_OK ||
	    p11a_buf_remaining(reply) != 0 || raw_len > SIGNER_MAX_SIG)
		return P11A_ERR_TOKEN;
	if (sc->mechanism == CKM_ECDSA)
		return p11a_ecdsa_raw_to_der(raw, raw_len, res->sig,
					     SIGNER_MAX_SIG, &res->sig_len);
	memcpy(res->sig, raw, raw_len);
	res->sig_len = raw_len;
	return P11A_OK;
}

int
signer_build(const struct identity *id, CK_OBJECT_HANDLE key,
	     const struct p11a_scheme_info *sc, uint32_t flags,
	     const uint8_t *data, size_t len, const struct pin *pin,
	     struct p11a_buf *req)
{
	const struct p11a_sign_path *path = signer_path(id, sc->code);
	uint8_t buf[SIGNER_MAX_SIG], content[TLS13_CONTENT_MAX];
	const uint8_t *in;
	size_t in_len;
	int r;

	*req = (struct p11a_buf){0};
	if (path == NULL)
		return P11A_ERR_SCHEME_UNSUPPORTED; /* signer_check() said so */
	if (flags & P11A_SIGN_TLS13_CLIENT_CV) {
		len = signer_tls13_content(data, len, content);
		data = content;
		flags &= ~(uint32_t)P11A_SIGN_TLS13_CLIENT_CV;
	}
	if ((r = signer_prepare(id, sc, path, flags, data, len, buf,
				sizeof(buf), &in, &in_len)) == P11A_OK)
		r = signer_request(id->token, key, sc, path, in, in_len, pin,
				   req);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

int
signer_finish(const struct p11a_scheme_info *sc, struct hlink_reply *rep,
	      struct signer_result *res)
{
	res->rv = CKR_OK;
	res->why[0] = '\0';
	res->sig_len = 0;
	res->sign_us = 0;
	if (rep->code != P11A_OK) {
		/* the helper's code maps the module's answer already */
		res->rv = rep->rv != CKR_OK ? rep->rv : CKR_GENERAL_ERROR;
		if (res->rv == CKR_DEVICE_ERROR)
			snprintf(res->why, sizeof(res->why), "%s", rep->msg);
		return rep->code;
	}
	return signer_result(sc, &rep->payload, res);
}

int
signer_sign(const struct identity *id, CK_OBJECT_HANDLE key, unsigned gen,
	    const struct p11a_scheme_info *sc, uint32_t flags,
	    const uint8_t *data, size_t len, const struct pin *pin,
	    struct signer_result *res)
{
	struct hlink_reply rep = {0};
	struct p11a_buf req;
	int r;

	res->rv = CKR_OK;
	res->why[0] = '\0';
	res->sig_len = 0;
	if ((r = signer_build(id, key, sc, flags, data, len, pin, &req)) ==
	    P11A_OK) {
		hlink_call(id->token->link, gen, HL_SIGN, &req, &rep);
		r = signer_finish(sc, &rep, res);
	}
	hlink_reply_free(&rep);
	p11a_buf_free(&req);
	return r;
}
