/*
 * Signature operations with agent keys.
 *
 * Signing turns OpenSSL's request into one SIGN request:
 *   - EVP_PKEY_sign() (the input is a digest): DIGEST form;
 *   - EVP_DigestSign*(): the message is hashed here, as it streams in,
 *     and sent in DIGEST form; Ed25519 sends the message itself, and so
 *     does a key whose token can only hash-and-sign (MESSAGE_ONLY: e.g.
 *     CKM_ECDSA_SHA256 without CKM_ECDSA), which refuses a digest; a
 *     message too long for one frame then goes as a digest, which works
 *     for the schemes the token signs natively and is refused clearly for
 *     the others;
 *   - except when the message is a TLS 1.3 client CertificateVerify
 *     content (64 spaces, "TLS 1.3, client CertificateVerify", 0x00 and
 *     a 32- or 48-byte transcript hash): then only the transcript hash
 *     goes, in the TLS13_CLIENT_CV form, and the agent rebuilds the
 *     content itself.  An identity restricted to that form (--purpose
 *     tls13-client) signs a handshake and nothing else.
 *
 * Verification needs no agent: it is handed to the public half, i.e. to
 * the provider that decoded it.
 *
 * The context's parameters are answered in every form OpenSSL asks for
 * them, as the default provider answers: its own code (cms, the
 * EVP_PKEY_CTX_get_rsa_* calls) reads a string where it set a number.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "prov.h"

/* RFC 8446 4.4.3 */
#define CV_PAD 64
static const char cv_label[] = "TLS 1.3, client CertificateVerify";
#define CV_PREFIX_LEN (CV_PAD + sizeof(cv_label)) /* label's NUL included */
#define CV_MAX (CV_PREFIX_LEN + 48)

/* An Ed25519 message must fit one SIGN frame, with room for the rest. */
#define MESSAGE_MAX (P11A_MAX_FRAME - 1024)

#define AID_MAX 128
#define SALT_UNSET (-100)

struct sigctx {
	struct p11a_prov *prov;
	struct p11a_key *key;
	int verify;
	enum p11a_pad pad;
	const char *md;	  /* canonical digest name, or NULL */
	const char *mgf1; /* canonical, or NULL: the same as md */
	int saltlen;	  /* RSA_PSS_SALTLEN_* or a length; SALT_UNSET */
	/* digest-sign state */
	EVP_MD_CTX *hash;     /* running hash of the message */
	uint8_t head[CV_MAX]; /* its first bytes */
	size_t total;	      /* its length so far */
	uint8_t *msg;	      /* Ed25519, MESSAGE_ONLY: the whole message */
	size_t msg_len, msg_cap;
	int msg_over; /* MESSAGE_ONLY: it outgrew one frame */
	/* delegated verification */
	EVP_MD_CTX *vctx;
};

/* ---- context ------------------------------------------------------------- */

static void *
sig_newctx(void *provctx, const char *propq)
{
	struct sigctx *c;

	(void)propq;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->prov = provctx;
	c->saltlen = SALT_UNSET;
	return c;
}

/* Forget the message of a digest-sign or digest-verify operation. */
static void
reset_stream(struct sigctx *c)
{
	EVP_MD_CTX_free(c->hash);
	EVP_MD_CTX_free(c->vctx);
	c->hash = c->vctx = NULL;
	if (c->msg != NULL)
		OPENSSL_cleanse(c->msg, c->msg_len);
	free(c->msg);
	c->msg = NULL;
	c->msg_len = c->msg_cap = 0;
	c->msg_over = 0;
	c->total = 0;
}

static void
sig_freectx(void *ctx)
{
	struct sigctx *c = ctx;

	if (c == NULL)
		return;
	reset_stream(c);
	p11a_key_unref(c->key);
	free(c);
}

static void *
sig_dupctx(void *ctx)
{
	const struct sigctx *src = ctx;
	struct sigctx *c;

	if ((c = malloc(sizeof(*c))) == NULL)
		return NULL;
	*c = *src;
	c->hash = c->vctx = NULL;
	c->msg = NULL;
	p11a_key_ref(c->key);
	if (src->hash != NULL && ((c->hash = EVP_MD_CTX_new()) == NULL ||
				  !EVP_MD_CTX_copy_ex(c->hash, src->hash)))
		goto fail;
	if (src->vctx != NULL && ((c->vctx = EVP_MD_CTX_new()) == NULL ||
				  !EVP_MD_CTX_copy_ex(c->vctx, src->vctx)))
		goto fail;
	if (src->msg_cap > 0) {
		if ((c->msg = malloc(src->msg_cap)) == NULL)
			goto fail;
		memcpy(c->msg, src->msg, src->msg_len);
	}
	return c;
fail:
	sig_freectx(c);
	return NULL;
}

/* ---- parameters ---------------------------------------------------------- */

static int
set_md(struct sigctx *c, const char *name, const char **slot)
{
	const char *md = p11a_sigalg_md_canon(name);

	if (md == NULL || (c->key->type == P11A_KEY_EC &&
			   p11a_sigalg_scheme(P11A_KEY_EC, 0, md) == 0)) {
		p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_DIGEST,
				"digest %s: the agent signs with SHA-1, "
				"SHA-256, SHA-384 or SHA-512",
				name);
		return 0;
	}
	*slot = md;
	return 1;
}

/* Paddings and PSS parameters are RSA's: an error for another key. */
static int
rsa_only(struct sigctx *c, const char *what)
{
	if (c->key->type == P11A_KEY_RSA)
		return 1;
	p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_PADDING,
			"%s: only RSA keys have one, not %s keys", what,
			p11a_key_type_name(c->key->type));
	return 0;
}

static int
set_pad(struct sigctx *c, const OSSL_PARAM *p)
{
	const char *s = NULL;
	int mode = -1;

	if (!rsa_only(c, "padding"))
		return 0;
	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		mode = p11a_sigalg_pad_mode(s);
	} else if (!OSSL_PARAM_get_int(p, &mode)) {
		return 0;
	}
	if (mode == RSA_PKCS1_PADDING || mode == RSA_PKCS1_PSS_PADDING) {
		c->pad = mode == RSA_PKCS1_PADDING ? P11A_PAD_PKCS1
						   : P11A_PAD_PSS;
		return 1;
	}
	if (s == NULL)
		s = p11a_sigalg_pad_mode_name(mode);
	p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_PADDING,
			"padding %s (%d): the agent signs with pkcs1 "
			"(PKCS#1 v1.5) or pss",
			s != NULL ? s : "mode", mode);
	return 0;
}

static int
set_saltlen(struct sigctx *c, const OSSL_PARAM *p)
{
	const char *s = NULL;
	int n = 0, ok;

	if (!rsa_only(c, "PSS salt length"))
		return 0;
	if (p->data_type == OSSL_PARAM_UTF8_STRING)
		ok = OSSL_PARAM_get_utf8_string_ptr(p, &s) &&
		     p11a_sigalg_saltlen_parse(s, &n) == 0;
	else
		ok = OSSL_PARAM_get_int(p, &n) && p11a_sigalg_saltlen_valid(n);
	if (ok) {
		c->saltlen = n;
		return 1;
	}
	if (s != NULL)
		p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_PADDING,
				"PSS salt length '%s': want digest, max, auto "
				"or a length",
				s);
	else
		p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_PADDING,
				"PSS salt length %d: want a length or one of "
				"RSA_PSS_SALTLEN_*",
				n);
	return 0;
}

static int
sig_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
	struct sigctx *c = ctx;
	const OSSL_PARAM *p;
	const char *s;

	if (c == NULL || c->key == NULL)
		return 0;
	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(
		     params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
		    !set_md(c, s, &c->md))
			return 0;
	}
	if ((p = OSSL_PARAM_locate_const(
		     params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL &&
	    !set_pad(c, p))
		return 0;
	if ((p = OSSL_PARAM_locate_const(
		     params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL &&
	    !set_saltlen(c, p))
		return 0;
	if ((p = OSSL_PARAM_locate_const(
		     params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
		if (!rsa_only(c, "MGF1 digest") ||
		    !OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
		    !set_md(c, s, &c->mgf1))
			return 0;
	}
	return 1;
}

/*
 * The parameters of each key type, in the types the default provider
 * lists (strings where OpenSSL also takes numbers).
 */
static const OSSL_PARAM *
sig_settable_ctx_params(void *ctx, void *provctx)
{
	static const OSSL_PARAM rsa[] = {
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL,
				       0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL,
				       0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL,
				       0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES,
				       NULL, 0),
		OSSL_PARAM_END,
	};
	static const OSSL_PARAM other[] = {
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL,
				       0),
		OSSL_PARAM_END,
	};
	const struct sigctx *c = ctx;

	(void)provctx;
	return c != NULL && c->key != NULL && c->key->type != P11A_KEY_RSA
		       ? other
		       : rsa;
}

/* The salt length in effect: signing without one uses the hash length. */
static int
saltlen_of(const struct sigctx *c)
{
	if (c->saltlen != SALT_UNSET)
		return c->saltlen;
	return c->verify ? RSA_PSS_SALTLEN_AUTO : RSA_PSS_SALTLEN_DIGEST;
}

static uint16_t pick_scheme(struct sigctx *c, const char *md);

static int
get_algorithm_id(struct sigctx *c, OSSL_PARAM *p)
{
	uint8_t aid[AID_MAX];
	size_t n;

	/* a signer's certificate must not name what the agent cannot do */
	if (!c->verify && pick_scheme(c, c->md) == 0)
		return 0;
	n = p11a_sigalg_algorithm_id(c->key->type, c->pad, c->md, aid,
				     sizeof(aid));
	if (n == 0) {
		p11a_prov_raise(c->prov, P11A_ERR_SCHEME_UNSUPPORTED,
				"no AlgorithmIdentifier for %s%s with %s",
				p11a_key_type_name(c->key->type),
				c->pad == P11A_PAD_PSS ? "-PSS" : "",
				c->md != NULL ? c->md : "no digest");
		return 0;
	}
	return OSSL_PARAM_set_octet_string(p, aid, n);
}

static int
get_pad_mode(const struct sigctx *c, OSSL_PARAM *p)
{
	int mode = c->pad == P11A_PAD_PSS ? RSA_PKCS1_PSS_PADDING
					  : RSA_PKCS1_PADDING;

	if (p->data_type == OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_set_utf8_string(
			p, p11a_sigalg_pad_mode_name(mode));
	return OSSL_PARAM_set_int(p, mode);
}

static int
get_saltlen(const struct sigctx *c, OSSL_PARAM *p)
{
	char s[16];

	if (p->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_set_int(p, saltlen_of(c));
	return p11a_sigalg_saltlen_format(saltlen_of(c), s, sizeof(s)) == 0 &&
	       OSSL_PARAM_set_utf8_string(p, s);
}

/* An RSA parameter asked of another key stays unanswered, as OpenSSL's. */
static int
get_rsa_params(const struct sigctx *c, OSSL_PARAM params[])
{
	const char *md = c->md != NULL ? c->md : "";
	OSSL_PARAM *p;

	if (c->key->type != P11A_KEY_RSA)
		return 1;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) !=
		    NULL &&
	    !get_pad_mode(c, p))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) !=
		    NULL &&
	    !get_saltlen(c, p))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) !=
		    NULL &&
	    !OSSL_PARAM_set_utf8_string(p, c->mgf1 != NULL ? c->mgf1 : md))
		return 0;
	return 1;
}

static int
sig_get_ctx_params(void *ctx, OSSL_PARAM params[])
{
	struct sigctx *c = ctx;
	OSSL_PARAM *p;

	if (c == NULL || c->key == NULL)
		return 0;
	if ((p = OSSL_PARAM_locate(
		     params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL &&
	    !get_algorithm_id(c, p))
		return 0;
	if (c->key->type == P11A_KEY_ED25519) /* it has no digest */
		return 1;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) !=
		    NULL &&
	    !OSSL_PARAM_set_utf8_string(p, c->md != NULL ? c->md : ""))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST_SIZE)) !=
		    NULL &&
	    c->key->type == P11A_KEY_EC &&
	    !OSSL_PARAM_set_size_t(p, p11a_sigalg_md_size(c->md)))
		return 0;
	return get_rsa_params(c, params);
}

static const OSSL_PARAM *
sig_gettable_ctx_params(void *ctx, void *provctx)
{
	static const OSSL_PARAM rsa[] = {
		OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL,
					0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL,
				       0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL,
				       0),
		OSSL_PARAM_END,
	};
	static const OSSL_PARAM ec[] = {
		OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL,
					0),
		OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
		OSSL_PARAM_END,
	};
	static const OSSL_PARAM ed25519[] = {
		OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL,
					0),
		OSSL_PARAM_END,
	};
	const struct sigctx *c = ctx;

	(void)provctx;
	if (c == NULL || c->key == NULL || c->key->type == P11A_KEY_RSA)
		return rsa;
	return c->key->type == P11A_KEY_EC ? ec : ed25519;
}

/* ---- init ---------------------------------------------------------------- */

static int
init(struct sigctx *c, void *keydata, const char *mdname, int verify,
     const OSSL_PARAM params[])
{
	struct p11a_key *k = keydata;

	if (c == NULL || k == NULL || k->pub == NULL)
		return 0;
	if (!verify && k->id == NULL) {
		p11a_prov_raise(c->prov, P11A_PROV_R_NO_PRIVATE_KEY,
				"this key is a public key only");
		return 0;
	}
	reset_stream(c);
	p11a_key_unref(c->key);
	c->key = p11a_key_ref(k);
	c->verify = verify;
	c->pad = k->type == P11A_KEY_RSA ? P11A_PAD_PKCS1 : P11A_PAD_NONE;
	c->md = c->mgf1 = NULL;
	c->saltlen = SALT_UNSET;
	if (mdname != NULL && *mdname != '\0') {
		if (k->type == P11A_KEY_ED25519) {
			p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_DIGEST,
					"Ed25519 signs the message itself, "
					"not a %s digest",
					mdname);
			return 0;
		}
		if (!set_md(c, mdname, &c->md))
			return 0;
	}
	return sig_set_ctx_params(c, params);
}

static int
sig_sign_init(void *ctx, void *keydata, const OSSL_PARAM params[])
{
	return init(ctx, keydata, NULL, 0, params);
}

static int
sig_verify_init(void *ctx, void *keydata, const OSSL_PARAM params[])
{
	return init(ctx, keydata, NULL, 1, params);
}

static int
sig_digest_sign_init(void *ctx, const char *mdname, void *keydata,
		     const OSSL_PARAM params[])
{
	struct sigctx *c = ctx;

	if (!init(c, keydata, mdname, 0, params))
		return 0;
	/* OpenSSL's default: SHA-256 when the caller names none */
	if (c->md == NULL && c->key->type != P11A_KEY_ED25519)
		c->md = "SHA256";
	return 1;
}

static int
sig_digest_verify_init(void *ctx, const char *mdname, void *keydata,
		       const OSSL_PARAM params[])
{
	struct sigctx *c = ctx;

	if (!init(c, keydata, mdname, 1, params))
		return 0;
	if (c->md == NULL && c->key->type != P11A_KEY_ED25519)
		c->md = "SHA256";
	return 1;
}

/* ---- one request to the agent -------------------------------------------- */

/* The agent's PSS is TLS's: a salt as long as the hash, MGF1 with it. */
static int
pss_supported(const struct sigctx *c, const char *md)
{
	size_t md_size = p11a_sigalg_md_size(md);
	int salt = saltlen_of(c);
	char asked[16];

	if (c->pad != P11A_PAD_PSS || md == NULL)
		return 1;
	if ((c->mgf1 == NULL || strcmp(c->mgf1, md) == 0) &&
	    (salt == RSA_PSS_SALTLEN_DIGEST || salt == (int)md_size))
		return 1;
	if (p11a_sigalg_saltlen_format(salt, asked, sizeof(asked)) != 0)
		asked[0] = '\0';
	p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_PADDING,
			"PSS with salt length %s and MGF1 %s: the agent signs "
			"%s with salt length %zu and MGF1 %s",
			asked, c->mgf1 != NULL ? c->mgf1 : md, md, md_size, md);
	return 0;
}

/* The scheme for the context's padding and digest md; 0 with an error. */
static uint16_t
pick_scheme(struct sigctx *c, const char *md)
{
	uint16_t scheme;

	if (!pss_supported(c, md))
		return 0;
	scheme = p11a_sigalg_scheme(c->key->type, c->pad, md);
	if (scheme == 0 || !p11a_key_has_scheme(c->key, scheme)) {
		p11a_prov_raise(c->prov, P11A_ERR_SCHEME_UNSUPPORTED,
				"%s key '%s' cannot sign with %s%s",
				p11a_key_type_name(c->key->type), c->key->label,
				c->pad == P11A_PAD_PSS ? "PSS and " : "",
				md != NULL ? md : "no digest");
		return 0;
	}
	return scheme;
}

static int
max_size(const struct sigctx *c, size_t *siglen)
{
	int n = EVP_PKEY_get_size(c->key->pub);

	if (n <= 0)
		return 0;
	*siglen = (size_t)n;
	return 1;
}

/* SIGN with the agent and copy the signature out. */
static int
agent_sign(struct sigctx *c, uint16_t scheme, uint32_t flags,
	   const uint8_t *data, size_t len, unsigned char *sig, size_t *siglen,
	   size_t sigsize)
{
	struct p11a_sign_request req;
	uint8_t *out = NULL;
	size_t out_len = 0;
	char msg[256];
	int r, ok = 0;

	memset(&req, 0, sizeof(req));
	req.identity = c->key->id;
	req.scheme = scheme;
	req.flags = flags;
	req.data = data;
	req.data_len = len;
	r = p11a_agent_sign(&req, c->key->label, &out, &out_len, msg,
			    sizeof(msg));
	if (r == P11A_ERR_BAD_INPUT && (flags & P11A_SIGN_DIGEST) &&
	    (c->key->flags & P11A_IDENTITY_MESSAGE_ONLY)) {
		p11a_prov_raise(c->prov, r,
				"key '%s' signs %s only over the whole message "
				"(its token hashes it itself), not a digest: "
				"use EVP_DigestSign (openssl dgst -sign, "
				"pkeyutl -rawin) with messages of at most %u "
				"bytes",
				c->key->label, p11a_scheme_to_name(scheme),
				(unsigned)MESSAGE_MAX);
		return 0;
	}
	if (r != P11A_OK) {
		p11a_prov_raise_agent(c->prov, r, "p11agentd did not sign",
				      msg);
		return 0;
	}
	if (out_len > sigsize) {
		p11a_prov_raise(c->prov, P11A_PROV_R_BUFFER_TOO_SMALL,
				"signature of %zu bytes, room for %zu", out_len,
				sigsize);
		goto out;
	}
	memcpy(sig, out, out_len);
	*siglen = out_len;
	ok = 1;
out:
	free(out);
	return ok;
}

/* ---- sign a digest ------------------------------------------------------- */

/*
 * Which digest a bare input is, when the caller set none: a DigestInfo
 * (RSA PKCS#1), MD5+SHA-1 (36 bytes, TLS 1.0) or a hash of some length.
 */
static const char *
infer_md(struct sigctx *c, const uint8_t **tbs, size_t *tbslen)
{
	const uint8_t *digest;
	const char *md;
	size_t len;

	if (c->key->type == P11A_KEY_RSA && c->pad == P11A_PAD_PKCS1) {
		if (p11a_sigalg_parse_digestinfo(*tbs, *tbslen, &digest, &len,
						 &md)) {
			*tbs = digest;
			*tbslen = len;
			return md;
		}
		return *tbslen == 36 ? "MD5-SHA1" : NULL;
	}
	return p11a_sigalg_md_for_len(*tbslen);
}

static int
sig_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
	 const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = ctx;
	const char *md;
	uint16_t scheme;

	if (c == NULL || c->key == NULL || c->verify)
		return 0;
	if (sig == NULL)
		return max_size(c, siglen);
	if (c->key->type == P11A_KEY_ED25519) {
		p11a_prov_raise(c->prov, P11A_PROV_R_UNSUPPORTED_DIGEST,
				"Ed25519 signs messages, not digests (use "
				"-rawin)");
		return 0;
	}
	md = c->md != NULL ? c->md : infer_md(c, &tbs, &tbslen);
	if (md == NULL || tbslen != p11a_sigalg_md_size(md)) {
		p11a_prov_raise(c->prov, P11A_ERR_BAD_INPUT,
				"%zu bytes are not a %s digest", tbslen,
				md != NULL ? md : "known");
		return 0;
	}
	if ((scheme = pick_scheme(c, md)) == 0)
		return 0;
	return agent_sign(c, scheme, P11A_SIGN_DIGEST, tbs, tbslen, sig, siglen,
			  sigsize);
}

/* ---- sign a message ------------------------------------------------------ */

/* Whether the message itself goes to the agent, not its digest. */
static int
sends_message(const struct sigctx *c)
{
	return c->key->type == P11A_KEY_ED25519 ||
	       (c->key->flags & P11A_IDENTITY_MESSAGE_ONLY);
}

static int
append_message(struct sigctx *c, const uint8_t *data, size_t len)
{
	size_t cap;
	uint8_t *grown;

	if (c->msg_over)
		return 1;
	if (len > MESSAGE_MAX - c->msg_len &&
	    c->key->type != P11A_KEY_ED25519) {
		/* the digest is sent instead; a hashing token refuses it */
		c->msg_over = 1;
		return 1;
	}
	if (len > MESSAGE_MAX - c->msg_len) {
		p11a_prov_raise(c->prov, P11A_PROV_R_MESSAGE_TOO_LONG,
				"an Ed25519 message is sent whole: at most "
				"%u bytes",
				(unsigned)MESSAGE_MAX);
		return 0;
	}
	if (c->msg_len + len > c->msg_cap) {
		cap = c->msg_cap == 0 ? 1024 : c->msg_cap;
		while (cap < c->msg_len + len)
			cap *= 2;
		if ((grown = realloc(c->msg, cap)) == NULL)
			return 0;
		c->msg = grown;
		c->msg_cap = cap;
	}
	memcpy(c->msg + c->msg_len, data, len);
	c->msg_len += len;
	return 1;
}

static int
start_hash(struct sigctx *c)
{
	EVP_MD *md;
	int ok;

	if (c->hash != NULL)
		return 1;
	md = EVP_MD_fetch(c->prov->libctx, c->md, P11A_PROV_PROPQ);
	ok = md != NULL && (c->hash = EVP_MD_CTX_new()) != NULL &&
	     EVP_DigestInit_ex2(c->hash, md, NULL);
	EVP_MD_free(md);
	if (!ok)
		p11a_prov_raise(c->prov, P11A_PROV_R_OPENSSL,
				"cannot hash with %s", c->md);
	return ok;
}

static int
sig_digest_sign_update(void *ctx, const unsigned char *data, size_t len)
{
	struct sigctx *c = ctx;
	size_t keep;

	if (c == NULL || c->key == NULL)
		return 0;
	if (c->total < sizeof(c->head)) {
		keep = sizeof(c->head) - c->total;
		memcpy(c->head + c->total, data, len < keep ? len : keep);
	}
	c->total = len > SIZE_MAX - c->total ? SIZE_MAX : c->total + len;
	if (sends_message(c) && !append_message(c, data, len))
		return 0;
	if (c->key->type == P11A_KEY_ED25519)
		return 1;
	return start_hash(c) && EVP_DigestUpdate(c->hash, data, len);
}

/* The transcript hash, if the message is TLS 1.3 client CV content. */
static int
tls13_transcript(const struct sigctx *c, const uint8_t **hash, size_t *len)
{
	size_t i;

	if (c->total != CV_PREFIX_LEN + 32 && c->total != CV_PREFIX_LEN + 48)
		return 0;
	for (i = 0; i < CV_PAD; i++)
		if (c->head[i] != 0x20)
			return 0;
	if (memcmp(c->head + CV_PAD, cv_label, sizeof(cv_label)) != 0)
		return 0;
	*hash = c->head + CV_PREFIX_LEN;
	*len = c->total - CV_PREFIX_LEN;
	return 1;
}

static int
sig_digest_sign_final(void *ctx, unsigned char *sig, size_t *siglen,
		      size_t sigsize)
{
	struct sigctx *c = ctx;
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	const uint8_t *th;
	size_t th_len;
	uint16_t scheme;

	if (c == NULL || c->key == NULL || c->verify)
		return 0;
	if (sig == NULL)
		return max_size(c, siglen);
	if ((scheme = pick_scheme(c, c->md)) == 0)
		return 0;
	if (tls13_transcript(c, &th, &th_len))
		return agent_sign(c, scheme, P11A_SIGN_TLS13_CLIENT_CV, th,
				  th_len, sig, siglen, sigsize);
	if (sends_message(c) && !c->msg_over)
		return agent_sign(c, scheme, 0, c->msg, c->msg_len, sig, siglen,
				  sigsize);
	if (!start_hash(c) || !EVP_DigestFinal_ex(c->hash, digest, &dlen))
		return 0;
	return agent_sign(c, scheme, P11A_SIGN_DIGEST, digest, dlen, sig,
			  siglen, sigsize);
}

static int
sig_digest_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
		const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = ctx;
	int ok;

	if (c == NULL || c->key == NULL)
		return 0;
	if (sig == NULL)
		return max_size(c, siglen);
	reset_stream(c);
	ok = sig_digest_sign_update(c, tbs, tbslen) &&
	     sig_digest_sign_final(c, sig, siglen, sigsize);
	reset_stream(c);
	return ok;
}

/* ---- verification, by the public half ------------------------------------ */

/* Give the public half's context our padding settings. */
static int
apply_padding(const struct sigctx *c, EVP_PKEY_CTX *pctx)
{
	if (c->key->type != P11A_KEY_RSA)
		return 1;
	if (c->pad != P11A_PAD_PSS)
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) >
		       0;
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen_of(c)) > 0 &&
	       (c->mgf1 == NULL ||
		EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, c->mgf1, NULL) > 0);
}

static int
sig_verify(void *ctx, const unsigned char *sig, size_t siglen,
	   const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = ctx;
	EVP_PKEY_CTX *pctx;
	int ok = 0;

	if (c == NULL || c->key == NULL || !c->verify)
		return 0;
	pctx = EVP_PKEY_CTX_new_from_pkey(c->prov->libctx, c->key->pub,
					  P11A_PROV_PROPQ);
	if (pctx != NULL && EVP_PKEY_verify_init(pctx) > 0 &&
	    apply_padding(c, pctx) &&
	    (c->md == NULL || EVP_PKEY_CTX_set_signature_md(
				      pctx, EVP_get_digestbyname(c->md)) > 0))
		ok = EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen) == 1;
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

static int
start_verify(struct sigctx *c)
{
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (c->vctx != NULL)
		return 1;
	if ((c->vctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	ok = EVP_DigestVerifyInit_ex(c->vctx, &pctx, c->md, c->prov->libctx,
				     P11A_PROV_PROPQ, c->key->pub, NULL) > 0 &&
	     apply_padding(c, pctx);
	return ok;
}

static int
sig_digest_verify_update(void *ctx, const unsigned char *data, size_t len)
{
	struct sigctx *c = ctx;

	if (c == NULL || c->key == NULL || !c->verify)
		return 0;
	if (c->key->type == P11A_KEY_ED25519)
		return append_message(c, data, len);
	return start_verify(c) && EVP_DigestVerifyUpdate(c->vctx, data, len);
}

static int
sig_digest_verify_final(void *ctx, const unsigned char *sig, size_t siglen)
{
	struct sigctx *c = ctx;

	if (c == NULL || c->key == NULL || !c->verify || !start_verify(c))
		return 0;
	if (c->key->type == P11A_KEY_ED25519)
		return EVP_DigestVerify(c->vctx, sig, siglen, c->msg,
					c->msg_len) == 1;
	return EVP_DigestVerifyFinal(c->vctx, sig, siglen) == 1;
}

static int
sig_digest_verify(void *ctx, const unsigned char *sig, size_t siglen,
		  const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = ctx;
	int ok;

	if (c == NULL || c->key == NULL || !c->verify)
		return 0;
	reset_stream(c);
	ok = start_verify(c) &&
	     EVP_DigestVerify(c->vctx, sig, siglen, tbs, tbslen) == 1;
	reset_stream(c);
	return ok;
}

/* ---- dispatch table ------------------------------------------------------ */

const OSSL_DISPATCH p11a_signature_functions[] = {
	{OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx},
	{OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
	{OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},
	{OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init},
	{OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},
	{OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sig_verify_init},
	{OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
	 (void (*)(void))sig_digest_sign_init},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
	 (void (*)(void))sig_digest_sign_update},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
	 (void (*)(void))sig_digest_sign_final},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sig_digest_sign},
	{OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
	 (void (*)(void))sig_digest_verify_init},
	{OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,
	 (void (*)(void))sig_digest_verify_update},
	{OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,
	 (void (*)(void))sig_digest_verify_final},
	{OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))sig_digest_verify},
	{OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,
	 (void (*)(void))sig_get_ctx_params},
	{OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
	 (void (*)(void))sig_gettable_ctx_params},
	{OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,
	 (void (*)(void))sig_set_ctx_params},
	{OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	 (void (*)(void))sig_settable_ctx_params},
	{0, NULL},
};
