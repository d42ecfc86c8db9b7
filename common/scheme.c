/*
 * The signature scheme table and the encodings around a token signature:
 * PKCS#1 DigestInfo in front of a digest, and ECDSA r||s to DER.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/evp.h>

#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "scheme.h"

#define RSA_SCHEME(c, n, h, len)                                               \
	{                                                                      \
		.code = (c), .name = (n), .key_type = P11A_KEY_RSA,            \
		.hash = (h), .hash_len = (len), .mechanism = CKM_RSA_PKCS      \
	}
#define PSS_SCHEME(c, n, h, len, ph, mgf)                                      \
	{                                                                      \
		.code = (c), .name = (n), .key_type = P11A_KEY_RSA,            \
		.hash = (h), .hash_len = (len), .mechanism = CKM_RSA_PKCS_PSS, \
		.pss_hash = (ph), .pss_mgf = (mgf)                             \
	}
#define ECDSA_SCHEME(c, n, h, len)                                             \
	{                                                                      \
		.code = (c), .name = (n), .key_type = P11A_KEY_EC,             \
		.hash = (h), .hash_len = (len), .mechanism = CKM_ECDSA         \
	}

/*
 * The stable order of p11a_scheme_all() and p11a_scheme_list_for_key():
 * newer and stronger schemes first, the legacy ones last.
 */
static const struct p11a_scheme_info schemes[] = {
	{.code = P11A_SCHEME_ED25519,
	 .name = "ed25519",
	 .key_type = P11A_KEY_ED25519,
	 .hash = P11A_HASH_NONE,
	 .hash_len = 0,
	 .mechanism = CKM_EDDSA},
	ECDSA_SCHEME(P11A_SCHEME_ECDSA_SECP256R1_SHA256,
		     "ecdsa_secp256r1_sha256", P11A_HASH_SHA256, 32),
	ECDSA_SCHEME(P11A_SCHEME_ECDSA_SECP384R1_SHA384,
		     "ecdsa_secp384r1_sha384", P11A_HASH_SHA384, 48),
	ECDSA_SCHEME(P11A_SCHEME_ECDSA_SECP521R1_SHA512,
		     "ecdsa_secp521r1_sha512", P11A_HASH_SHA512, 64),
	PSS_SCHEME(P11A_SCHEME_RSA_PSS_RSAE_SHA256, "rsa_pss_rsae_sha256",
		   P11A_HASH_SHA256, 32, CKM_SHA256, CKG_MGF1_SHA256),
	PSS_SCHEME(P11A_SCHEME_RSA_PSS_RSAE_SHA384, "rsa_pss_rsae_sha384",
		   P11A_HASH_SHA384, 48, CKM_SHA384, CKG_MGF1_SHA384),
	PSS_SCHEME(P11A_SCHEME_RSA_PSS_RSAE_SHA512, "rsa_pss_rsae_sha512",
		   P11A_HASH_SHA512, 64, CKM_SHA512, CKG_MGF1_SHA512),
	RSA_SCHEME(P11A_SCHEME_RSA_PKCS1_SHA256, "rsa_pkcs1_sha256",
		   P11A_HASH_SHA256, 32),
	RSA_SCHEME(P11A_SCHEME_RSA_PKCS1_SHA384, "rsa_pkcs1_sha384",
		   P11A_HASH_SHA384, 48),
	RSA_SCHEME(P11A_SCHEME_RSA_PKCS1_SHA512, "rsa_pkcs1_sha512",
		   P11A_HASH_SHA512, 64),
	ECDSA_SCHEME(P11A_SCHEME_ECDSA_SHA1, "ecdsa_sha1", P11A_HASH_SHA1, 20),
	RSA_SCHEME(P11A_SCHEME_RSA_PKCS1_SHA1, "rsa_pkcs1_sha1", P11A_HASH_SHA1,
		   20),
	RSA_SCHEME(P11A_SCHEME_RSA_PKCS1_MD5_SHA1, "rsa_pkcs1_md5_sha1",
		   P11A_HASH_MD5_SHA1, 36),
};

#define N_SCHEMES (sizeof(schemes) / sizeof(schemes[0]))

_Static_assert(N_SCHEMES <= P11A_MAX_SCHEMES,
	       "an identity must be able to list every scheme");

/* DER DigestInfo up to the digest bytes (RFC 8017 9.2 note 1). */
static const uint8_t di_sha1[] = {0x30, 0x21, 0x30, 0x09, 0x06,
				  0x05, 0x2b, 0x0e, 0x03, 0x02,
				  0x1a, 0x05, 0x00, 0x04, 0x14};
static const uint8_t di_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
				    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
				    0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t di_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
				    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
				    0x02, 0x05, 0x00, 0x04, 0x30};
static const uint8_t di_sha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
				    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
				    0x03, 0x05, 0x00, 0x04, 0x40};

struct hash_info {
	const char *openssl_name;
	size_t len;
	const uint8_t *prefix; /* DigestInfo prefix; NULL for MD5+SHA1 */
	size_t prefix_len;
};

static const struct hash_info *
hash_info(enum p11a_hash h)
{
	static const struct hash_info md5_sha1 = {"MD5-SHA1", 36, NULL, 0};
	static const struct hash_info sha1 = {"SHA1", 20, di_sha1,
					      sizeof(di_sha1)};
	static const struct hash_info sha256 = {"SHA256", 32, di_sha256,
						sizeof(di_sha256)};
	static const struct hash_info sha384 = {"SHA384", 48, di_sha384,
						sizeof(di_sha384)};
	static const struct hash_info sha512 = {"SHA512", 64, di_sha512,
						sizeof(di_sha512)};

	switch (h) {
	case P11A_HASH_MD5_SHA1:
		return &md5_sha1;
	case P11A_HASH_SHA1:
		return &sha1;
	case P11A_HASH_SHA256:
		return &sha256;
	case P11A_HASH_SHA384:
		return &sha384;
	case P11A_HASH_SHA512:
		return &sha512;
	case P11A_HASH_NONE:
		break;
	}
	return NULL;
}

const struct p11a_scheme_info *
p11a_scheme_find(uint16_t code)
{
	size_t i;

	for (i = 0; i < N_SCHEMES; i++) {
		if (schemes[i].code == code)
			return &schemes[i];
	}
	return NULL;
}

const struct p11a_scheme_info *
p11a_scheme_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < N_SCHEMES; i++) {
		if (strcmp(schemes[i].name, name) == 0)
			return &schemes[i];
	}
	return NULL;
}

const char *
p11a_scheme_name(uint16_t code)
{
	const struct p11a_scheme_info *s = p11a_scheme_find(code);

	return s == NULL ? NULL : s->name;
}

const struct p11a_scheme_info *
p11a_scheme_all(size_t *n)
{
	*n = N_SCHEMES;
	return schemes;
}

int
p11a_scheme_key_can(const struct p11a_scheme_info *s, uint8_t key_type,
		    unsigned bits)
{
	const struct hash_info *hi;
	size_t k;

	if (s == NULL || s->key_type != key_type)
		return 0;
	if (s->key_type != P11A_KEY_RSA)
		return 1; /* ECDSA on any curve; Ed25519 on Ed25519 */
	if (bits == 0)
		return 0;
	if (s->mechanism == CKM_RSA_PKCS_PSS) {
		/*
		 * RFC 8017 9.1.1 with salt length = hash length:
		 * emLen = ceil((modBits - 1) / 8) >= 2 * hLen + 2.
		 */
		k = ((size_t)bits + 6) / 8;
		return k >= 2 * s->hash_len + 2;
	}
	/* RFC 8017 9.2: k >= tLen + 11, tLen the DigestInfo length */
	hi = hash_info(s->hash);
	k = ((size_t)bits + 7) / 8;
	return hi != NULL && k >= hi->prefix_len + hi->len + 11;
}

size_t
p11a_scheme_list_for_key(uint8_t key_type, unsigned bits, uint16_t *out,
			 size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < N_SCHEMES && n < max; i++) {
		if (p11a_scheme_key_can(&schemes[i], key_type, bits))
			out[n++] = schemes[i].code;
	}
	return n;
}

const char *
p11a_path_name(uint8_t kind)
{
	switch (kind) {
	case P11A_PATH_NATIVE:
		return "native";
	case P11A_PATH_RAW:
		return "raw";
	case P11A_PATH_HASHED:
		return "hashed";
	default:
		return "none";
	}
}

/* The hash-and-sign mechanism of a scheme; CKM_VENDOR_DEFINED: none. */
static CK_MECHANISM_TYPE
scheme_hashed_mech(const struct p11a_scheme_info *s)
{
	static const struct {
		CK_MECHANISM_TYPE native;
		enum p11a_hash hash;
		CK_MECHANISM_TYPE hashed;
	} map[] = {
		{CKM_RSA_PKCS, P11A_HASH_SHA1, CKM_SHA1_RSA_PKCS},
		{CKM_RSA_PKCS, P11A_HASH_SHA256, CKM_SHA256_RSA_PKCS},
		{CKM_RSA_PKCS, P11A_HASH_SHA384, CKM_SHA384_RSA_PKCS},
		{CKM_RSA_PKCS, P11A_HASH_SHA512, CKM_SHA512_RSA_PKCS},
		{CKM_RSA_PKCS_PSS, P11A_HASH_SHA256, CKM_SHA256_RSA_PKCS_PSS},
		{CKM_RSA_PKCS_PSS, P11A_HASH_SHA384, CKM_SHA384_RSA_PKCS_PSS},
		{CKM_RSA_PKCS_PSS, P11A_HASH_SHA512, CKM_SHA512_RSA_PKCS_PSS},
		{CKM_ECDSA, P11A_HASH_SHA1, CKM_ECDSA_SHA1},
		{CKM_ECDSA, P11A_HASH_SHA256, CKM_ECDSA_SHA256},
		{CKM_ECDSA, P11A_HASH_SHA384, CKM_ECDSA_SHA384},
		{CKM_ECDSA, P11A_HASH_SHA512, CKM_ECDSA_SHA512},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].native == s->mechanism && map[i].hash == s->hash)
			return map[i].hashed;
	return CKM_VENDOR_DEFINED;
}

static int
mech_in(const CK_MECHANISM_TYPE *mechs, size_t n, CK_MECHANISM_TYPE m)
{
	for (size_t i = 0; i < n; i++)
		if (mechs[i] == m)
			return 1;
	return 0;
}

struct p11a_sign_path
p11a_scheme_path(const struct p11a_scheme_info *s, uint8_t key_type,
		 unsigned bits, const CK_MECHANISM_TYPE *mechs, size_t n,
		 int have_spki)
{
	struct p11a_sign_path p = {P11A_PATH_NONE, CKM_VENDOR_DEFINED};
	CK_MECHANISM_TYPE hashed;

	if (!p11a_scheme_key_can(s, key_type, bits))
		return p;
	p.mechanism = s->mechanism;
	if (mechs == NULL || mech_in(mechs, n, s->mechanism)) {
		p.kind = P11A_PATH_NATIVE;
		return p;
	}
	/* the agent pads; the modulus comes from the public key */
	if (key_type == P11A_KEY_RSA && have_spki &&
	    mech_in(mechs, n, CKM_RSA_X_509)) {
		p.kind = P11A_PATH_RAW;
		p.mechanism = CKM_RSA_X_509;
		return p;
	}
	hashed = scheme_hashed_mech(s);
	if (hashed != CKM_VENDOR_DEFINED && mech_in(mechs, n, hashed)) {
		p.kind = P11A_PATH_HASHED;
		p.mechanism = hashed;
		return p;
	}
	p.mechanism = CKM_VENDOR_DEFINED;
	return p;
}

size_t
p11a_scheme_list_for_mechs(uint8_t key_type, unsigned bits,
			   const CK_MECHANISM_TYPE *mechs, size_t n,
			   int have_spki, uint16_t *out,
			   struct p11a_sign_path *paths, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < N_SCHEMES && k < max; i++) {
		struct p11a_sign_path p = p11a_scheme_path(
			&schemes[i], key_type, bits, mechs, n, have_spki);

		if (p.kind == P11A_PATH_NONE)
			continue;
		out[k] = schemes[i].code;
		paths[k++] = p;
	}
	return k;
}

const char *
p11a_hash_openssl_name(enum p11a_hash h)
{
	const struct hash_info *hi = hash_info(h);

	return hi == NULL ? NULL : hi->openssl_name;
}

/*
 * Fetching a digest takes locks and a lookup in OpenSSL's method store:
 * do it once per hash and keep the result for the life of the process
 * (a signing agent hashes on every request).
 */
static const EVP_MD *
scheme_md(enum p11a_hash h, const struct hash_info *hi)
{
	static _Atomic(EVP_MD *) cache[P11A_HASH_SHA512 + 1];
	EVP_MD *md, *expected = NULL;

	if ((unsigned)h > P11A_HASH_SHA512)
		return NULL;
	if ((md = atomic_load(&cache[h])) != NULL)
		return md;
	if ((md = EVP_MD_fetch(NULL, hi->openssl_name, NULL)) == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&cache[h], &expected, md)) {
		EVP_MD_free(md);
		md = expected;
	}
	return md;
}

static pthread_key_t md_ctx_key;
static pthread_once_t md_ctx_once = PTHREAD_ONCE_INIT;

static void
scheme_md_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void
scheme_md_ctx_key_init(void)
{
	(void)pthread_key_create(&md_ctx_key, scheme_md_ctx_free);
}

/* One digest context per thread, reused: no allocation per request. */
static EVP_MD_CTX *
scheme_md_ctx(void)
{
	EVP_MD_CTX *ctx;

	pthread_once(&md_ctx_once, scheme_md_ctx_key_init);
	if ((ctx = pthread_getspecific(md_ctx_key)) != NULL)
		return ctx;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (pthread_setspecific(md_ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
p11a_scheme_hash(const struct p11a_scheme_info *s, const uint8_t *msg,
		 size_t len, uint8_t *out, size_t out_max, size_t *out_len)
{
	const struct hash_info *hi;
	unsigned int mdlen = 0;
	const EVP_MD *md;
	EVP_MD_CTX *ctx;
	int ok;

	*out_len = 0;
	if (s == NULL || (hi = hash_info(s->hash)) == NULL ||
	    out_max < hi->len || (msg == NULL && len > 0))
		return P11A_ERR_INVALID_ARGUMENT;
	/* absent when a provider (FIPS) does not offer MD5 */
	if ((md = scheme_md(s->hash, hi)) == NULL)
		return P11A_ERR_SCHEME_UNSUPPORTED;
	if ((ctx = scheme_md_ctx()) == NULL)
		return P11A_ERR_NO_MEMORY;
	ok = EVP_DigestInit_ex2(ctx, md, NULL) &&
	     EVP_DigestUpdate(ctx, msg, len) &&
	     EVP_DigestFinal_ex(ctx, out, &mdlen);
	if (!ok || mdlen != hi->len)
		return P11A_ERR_INTERNAL;
	*out_len = mdlen;
	return P11A_OK;
}

int
p11a_digestinfo_build(enum p11a_hash h, const uint8_t *digest,
		      size_t digest_len, uint8_t *out, size_t out_max,
		      size_t *out_len)
{
	const struct hash_info *hi;

	*out_len = 0;
	if ((hi = hash_info(h)) == NULL || digest == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	if (digest_len != hi->len)
		return P11A_ERR_BAD_INPUT;
	if (out_max < hi->prefix_len + hi->len)
		return P11A_ERR_INVALID_ARGUMENT;
	if (hi->prefix_len > 0)
		memcpy(out, hi->prefix, hi->prefix_len);
	memcpy(out + hi->prefix_len, digest, hi->len);
	*out_len = hi->prefix_len + hi->len;
	return P11A_OK;
}

/* Bytes of a DER length field for a content of n bytes. */
static size_t
der_len_size(size_t n)
{
	size_t k = 1;

	if (n < 0x80)
		return 1;
	while (n > 0) {
		k++;
		n >>= 8;
	}
	return k;
}

static uint8_t *
der_put_len(uint8_t *p, size_t n)
{
	size_t k = der_len_size(n) - 1, i;

	if (k == 0) {
		*p++ = (uint8_t)n;
		return p;
	}
	*p++ = (uint8_t)(0x80 | k);
	for (i = k; i > 0; i--)
		*p++ = (uint8_t)(n >> (8 * (i - 1)));
	return p;
}

/*
 * An unsigned big-endian integer as DER content: without leading zero
 * bytes (one 0x00 stays for the value zero), with one 0x00 put back in
 * front when the top bit is set so it does not read as negative.
 */
struct der_uint {
	const uint8_t *p;
	size_t n;
	int pad;
};

static void
der_uint_init(struct der_uint *u, const uint8_t *p, size_t n)
{
	while (n > 1 && *p == 0) {
		p++;
		n--;
	}
	u->p = p;
	u->n = n;
	u->pad = (*p & 0x80) != 0;
}

/* INTEGER content length */
static size_t
der_uint_content(const struct der_uint *u)
{
	return u->n + (size_t)u->pad;
}

static size_t
der_uint_size(const struct der_uint *u)
{
	size_t c = der_uint_content(u);

	return 1 + der_len_size(c) + c;
}

static uint8_t *
der_put_uint(uint8_t *p, const struct der_uint *u)
{
	*p++ = 0x02; /* INTEGER */
	p = der_put_len(p, der_uint_content(u));
	if (u->pad)
		*p++ = 0x00;
	memcpy(p, u->p, u->n);
	return p + u->n;
}

int
p11a_ecdsa_raw_to_der(const uint8_t *rs, size_t rs_len, uint8_t *out,
		      size_t out_max, size_t *out_len)
{
	struct der_uint r, s;
	size_t half, content, total;
	uint8_t *p;

	*out_len = 0;
	if (rs == NULL || rs_len == 0 || rs_len % 2 != 0)
		return P11A_ERR_BAD_INPUT;
	/* far above any curve; keeps the size arithmetic trivially safe */
	if (rs_len > 4096)
		return P11A_ERR_BAD_INPUT;
	half = rs_len / 2;
	der_uint_init(&r, rs, half);
	der_uint_init(&s, rs + half, half);
	content = der_uint_size(&r) + der_uint_size(&s);
	total = 1 + der_len_size(content) + content;
	if (out == NULL || out_max < total)
		return P11A_ERR_INVALID_ARGUMENT;
	p = out;
	*p++ = 0x30; /* SEQUENCE */
	p = der_put_len(p, content);
	p = der_put_uint(p, &r);
	p = der_put_uint(p, &s);
	*out_len = (size_t)(p - out);
	return P11A_OK;
}
