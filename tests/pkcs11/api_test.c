/*
 * p11m-api-test - drive p11agent-pkcs11.so through its function list, the
 * way PKCS#11 consumers do, and check what it answers.  Signatures are
 * verified with OpenSSL against DIR/NAME.pub.pem (read from the real
 * token by p11a-mktoken), digests compared with OpenSSL's.
 *
 *   p11m-api-test MODULE conformance DIR TOKEN NAME...
 *   p11m-api-test MODULE list [RESERVED]
 *   p11m-api-test MODULE threads DIR TOKEN THREADS SIGNS NAME...
 *   p11m-api-test MODULE fork DIR TOKEN NAME
 *
 * Exit status 0 when every check passed, 1 otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "clock.h"
#include "testlib.h"

#define MAX_KEYS 16
#define SIG_MAX 1024

/* A key the test knows: its name on the token and its real public key. */
struct key {
	const char *name;
	EVP_PKEY *pub;
	CK_KEY_TYPE type;
	CK_OBJECT_HANDLE priv; /* in the session it was looked up in */
};

static CK_FUNCTION_LIST *f;

static void
load_keys(const char *dir, char **names, int n, struct key *keys)
{
	int i;

	if (n > MAX_KEYS) {
		fprintf(stderr, "too many keys\n");
		exit(2);
	}
	for (i = 0; i < n; i++) {
		keys[i].name = names[i];
		keys[i].pub = tl_read_pub(dir, names[i]);
		keys[i].type = tl_key_type(keys[i].pub);
	}
}

static void
free_keys(struct key *keys, int n)
{
	int i;

	for (i = 0; i < n; i++)
		EVP_PKEY_free(keys[i].pub);
}

static void
find_keys(CK_SESSION_HANDLE s, struct key *keys, int n)
{
	int i;

	for (i = 0; i < n; i++)
		keys[i].priv = tl_find_one(f, s, CKO_PRIVATE_KEY, keys[i].name);
}

/* ---- conformance ------------------------------------------------------- */

static void
check_module_info(void)
{
	CK_INFO info;

	TL_RV(tl_initialize(f, NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED,
	      "a second C_Initialize");
	TL_RV(f->C_GetInfo(&info), CKR_OK, "C_GetInfo");
	TL_CHECK(info.cryptokiVersion.major == 2 &&
			 info.cryptokiVersion.minor == 40,
		 "cryptoki version %d.%d", info.cryptokiVersion.major,
		 info.cryptokiVersion.minor);
	TL_CHECK(memcmp(info.manufacturerID, "p11agent ", 9) == 0,
		 "manufacturer '%.32s'", (const char *)info.manufacturerID);
}

static void
check_token(CK_SLOT_ID slot, CK_SESSION_HANDLE s)
{
	CK_TOKEN_INFO ti;
	CK_SESSION_INFO si;

	TL_RV(f->C_GetTokenInfo(slot, &ti), CKR_OK, "C_GetTokenInfo");
	TL_CHECK(!(ti.flags & CKF_LOGIN_REQUIRED),
		 "token says it needs a login");
	TL_CHECK(memcmp(ti.manufacturerID, "SoftHSM", 7) == 0 &&
			 memcmp(ti.model, "SoftHSM v2", 10) == 0,
		 "token is not shown as the real SoftHSM token");
	/* a wrong PIN is accepted: the agent holds the login */
	TL_RV(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "wrong", 5), CKR_OK,
	      "C_Login with any PIN");
	TL_RV(f->C_GetSessionInfo(s, &si), CKR_OK, "C_GetSessionInfo");
	TL_CHECK(si.state == CKS_RO_USER_FUNCTIONS, "session state %lu",
		 (unsigned long)si.state);
	TL_RV(f->C_Logout(s), CKR_OK, "C_Logout");
}

static int
same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return a != NULL && b != NULL && alen == blen &&
	       memcmp(a, b, alen) == 0;
}

/* Compare an object's attribute with expected bytes. */
static void
check_bytes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t,
	    const uint8_t *want, size_t want_len, const char *what)
{
	size_t len;
	uint8_t *v = tl_attr(f, s, o, t, &len);

	TL_CHECK(same(v, len, want, want_len), "%s differs (%zu bytes vs %zu)",
		 what, len, want_len);
	free(v);
}

static void
check_private(CK_SESSION_HANDLE s, const struct key *k, const char *dir)
{
	CK_ATTRIBUTE a = {CKA_VALUE, NULL, 0};
	size_t id_len;
	uint8_t *id = tl_read_id(dir, k->name, &id_len);

	check_bytes(s, k->priv, CKA_ID, id, id_len, "private key CKA_ID");
	TL_CHECK(tl_attr_bool(f, s, k->priv, CKA_SIGN) == 1, "%s: CKA_SIGN",
		 k->name);
	TL_CHECK(tl_attr_bool(f, s, k->priv, CKA_SENSITIVE) == 1,
		 "%s: CKA_SENSITIVE", k->name);
	TL_CHECK(tl_attr_bool(f, s, k->priv, CKA_EXTRACTABLE) == 0,
		 "%s: CKA_EXTRACTABLE", k->name);
	TL_CHECK(tl_attr_ulong(f, s, k->priv, CKA_KEY_TYPE) == (long)k->type,
		 "%s: CKA_KEY_TYPE", k->name);
	if (k->type == CKK_RSA)
		a.type = CKA_PRIVATE_EXPONENT;
	TL_RV(f->C_GetAttributeValue(s, k->priv, &a, 1),
	      CKR_ATTRIBUTE_SENSITIVE, "reading the secret part");
	TL_CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION,
		 "secret part has a length");
	free(id);
}

/* The public key's attributes against the real key from the token. */
static void
check_public(CK_SESSION_HANDLE s, const struct key *k)
{
	CK_OBJECT_HANDLE pub = tl_find_one(f, s, CKO_PUBLIC_KEY, k->name);
	uint8_t want[1024], *v;
	size_t len, wlen = 0;
	BIGNUM *n = NULL;

	if (pub == CK_INVALID_HANDLE)
		return;
	if (k->type == CKK_RSA) {
		EVP_PKEY_get_bn_param(k->pub, OSSL_PKEY_PARAM_RSA_N, &n);
		wlen = (size_t)BN_bn2bin(n, want);
		check_bytes(s, pub, CKA_MODULUS, want, wlen, "CKA_MODULUS");
		BN_free(n);
		return;
	}
	/* CKA_EC_POINT is a DER OCTET STRING around the encoded point */
	if (k->type == CKK_EC)
		EVP_PKEY_get_octet_string_param(k->pub, OSSL_PKEY_PARAM_PUB_KEY,
						want, sizeof(want), &wlen);
	else if ((wlen = sizeof(want)) > 0)
		EVP_PKEY_get_raw_public_key(k->pub, want, &wlen);
	v = tl_attr(f, s, pub, CKA_EC_POINT, &len);
	TL_CHECK(v != NULL && len == wlen + 2 + (wlen > 127) && v[0] == 0x04 &&
			 memcmp(v + len - wlen, want, wlen) == 0,
		 "%s: CKA_EC_POINT is not the token's point", k->name);
	free(v);
}

static void
check_cert(CK_SESSION_HANDLE s, const struct key *k, const char *dir)
{
	CK_OBJECT_HANDLE c = tl_find_one(f, s, CKO_CERTIFICATE, k->name);
	size_t der_len, len;
	uint8_t *der = tl_read_cert_der(dir, k->name, &der_len), *enc = NULL;
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)der_len);
	int n;

	if (c == CK_INVALID_HANDLE || x == NULL)
		goto out;
	check_bytes(s, c, CKA_VALUE, der, der_len, "certificate CKA_VALUE");
	n = i2d_X509_NAME(X509_get_subject_name(x), &enc);
	check_bytes(s, c, CKA_SUBJECT, enc, (size_t)n, "CKA_SUBJECT");
	OPENSSL_free(enc);
	enc = NULL;
	n = i2d_X509_NAME(X509_get_issuer_name(x), &enc);
	check_bytes(s, c, CKA_ISSUER, enc, (size_t)n, "CKA_ISSUER");
	OPENSSL_free(enc);
	enc = NULL;
	n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &enc);
	check_bytes(s, c, CKA_SERIAL_NUMBER, enc, (size_t)n,
		    "CKA_SERIAL_NUMBER");
	free(tl_attr(f, s, c, CKA_ID, &len));
	TL_CHECK(len > 0, "%s: certificate without CKA_ID", k->name);
out:
	OPENSSL_free(enc);
	X509_free(x);
	OPENSSL_free(der);
}

/* Every mechanism of the key's type signs, single- and multi-part. */
static void
check_mechanisms(CK_SESSION_HANDLE s, const struct key *k)
{
	uint8_t msg[777], sig[SIG_MAX];
	const struct tl_case *cs;
	size_t n, i;
	int parts;
	CK_ULONG len;
	CK_RV rv;

	cs = tl_cases(&n);
	for (i = 0; i < n; i++) {
		if (cs[i].key_type != k->type)
			continue;
		for (parts = 1; parts <= 3; parts += 2) {
			tl_random(msg, sizeof(msg));
			len = sizeof(sig);
			rv = tl_sign(f, s, k->priv, &cs[i], msg, sizeof(msg),
				     parts, sig, &len);
			TL_RV(rv, CKR_OK, cs[i].name);
			TL_CHECK(rv != CKR_OK ||
					 tl_verify(k->pub, &cs[i], msg,
						   sizeof(msg), sig, len),
				 "%s with %s (%d parts) does not verify",
				 cs[i].name, k->name, parts);
		}
	}
}

/* The size query and a short buffer leave the operation active. */
static void
check_lengths(CK_SESSION_HANDLE s, const struct key *k)
{
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	uint8_t msg[32] = {1}, sig[SIG_MAX];
	CK_ULONG len = 0;
	static const struct tl_case c = {"SHA256-RSA-PKCS", CKM_SHA256_RSA_PKCS,
					 CKK_RSA,	    "SHA256",
					 TL_MESSAGE,	    0};

	TL_RV(f->C_SignInit(s, &m, k->priv), CKR_OK, "C_SignInit");
	TL_RV(f->C_Sign(s, msg, sizeof(msg), NULL, &len), CKR_OK, "size query");
	TL_CHECK(len == (CK_ULONG)EVP_PKEY_get_size(k->pub),
		 "signature length %lu", len);
	len = 10;
	TL_RV(f->C_Sign(s, msg, sizeof(msg), sig, &len), CKR_BUFFER_TOO_SMALL,
	      "short buffer");
	len = sizeof(sig);
	TL_RV(f->C_Sign(s, msg, sizeof(msg), sig, &len), CKR_OK,
	      "C_Sign after a short buffer");
	TL_CHECK(tl_verify(k->pub, &c, msg, sizeof(msg), sig, len),
		 "signature after a short buffer does not verify");
	TL_RV(f->C_Sign(s, msg, sizeof(msg), sig, &len),
	      CKR_OPERATION_NOT_INITIALIZED, "C_Sign after the end");
}

static void
expect_init(CK_SESSION_HANDLE s, const struct key *k, CK_MECHANISM *m,
	    CK_RV want, const char *what)
{
	CK_RV rv = f->C_SignInit(s, m, k->priv);
	uint8_t sig[SIG_MAX];
	CK_ULONG len = sizeof(sig);

	TL_RV(rv, want, what);
	/* end an operation that started against expectations */
	if (rv == CKR_OK)
		f->C_Sign(s, (CK_BYTE_PTR) "x", 1, sig, &len);
}

static void
expect_sign(CK_SESSION_HANDLE s, const struct key *k, CK_MECHANISM_TYPE mt,
	    size_t in_len, CK_RV want, const char *what)
{
	CK_MECHANISM m = {mt, NULL, 0};
	uint8_t in[100], sig[SIG_MAX];
	CK_ULONG len = sizeof(sig);

	memset(in, 0x5a, sizeof(in));
	TL_RV(f->C_SignInit(s, &m, k->priv), CKR_OK, what);
	TL_RV(f->C_Sign(s, in, in_len, sig, &len), want, what);
}

static void
check_refusals(CK_SESSION_HANDLE s, const struct key *k)
{
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 20};
	CK_MECHANISM m = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
	CK_MECHANISM other = {CKM_ECDSA, NULL, 0};

	if (k->type == CKK_RSA) {
		expect_init(s, k, &m, CKR_MECHANISM_PARAM_INVALID,
			    "PSS with a salt shorter than the hash");
		pss.sLen = 32;
		pss.mgf = CKG_MGF1_SHA1;
		expect_init(s, k, &m, CKR_MECHANISM_PARAM_INVALID,
			    "PSS with MGF1 of another hash");
		m.mechanism = CKM_SHA224_RSA_PKCS;
		m.pParameter = NULL;
		m.ulParameterLen = 0;
		expect_init(s, k, &m, CKR_MECHANISM_INVALID,
			    "SHA224-RSA-PKCS (not a TLS scheme)");
		expect_sign(s, k, CKM_RSA_PKCS, 50, CKR_DATA_INVALID,
			    "CKM_RSA_PKCS over raw bytes");
	} else {
		other.mechanism = CKM_SHA256_RSA_PKCS;
	}
	if (k->type == CKK_EC)
		expect_sign(s, k, CKM_ECDSA, 28, CKR_DATA_LEN_RANGE,
			    "CKM_ECDSA over a 28-byte digest");
	expect_init(s, k, &other, CKR_MECHANISM_INVALID,
		    "a mechanism of another key type");
}

static void
check_unsupported(CK_SESSION_HANDLE s, const struct key *k)
{
	CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
	CK_OBJECT_HANDLE h;

	TL_RV(f->C_DecryptInit(s, &m, k->priv), CKR_FUNCTION_NOT_SUPPORTED,
	      "C_DecryptInit");
	TL_RV(f->C_CreateObject(s, NULL, 0, &h), CKR_FUNCTION_NOT_SUPPORTED,
	      "C_CreateObject");
}

/* ---- digests ----------------------------------------------------------- */

/* The digest mechanisms and OpenSSL's name for each. */
static const struct {
	CK_MECHANISM_TYPE type;
	const char *md;
} digests[] = {
	{CKM_SHA_1, "SHA1"},	{CKM_SHA224, "SHA224"}, {CKM_SHA256, "SHA256"},
	{CKM_SHA384, "SHA384"}, {CKM_SHA512, "SHA512"},
};

#define N_DIGESTS (sizeof(digests) / sizeof(digests[0]))

/* OpenSSL's digest of msg with md into out; its length. */
static CK_ULONG
openssl_digest(const char *md, const uint8_t *msg, size_t len, uint8_t *out)
{
	unsigned int n = 0;

	TL_CHECK(EVP_Digest(msg, len, out, &n, EVP_get_digestbyname(md), NULL),
		 "OpenSSL cannot hash with %s", md);
	return n;
}

/*
 * Digest msg with mechanism type: C_Digest (parts 1) or that many
 * C_DigestUpdate calls, one of them empty, and C_DigestFinal.
 */
static CK_RV
module_digest(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE type, const uint8_t *msg,
	      size_t len, int parts, uint8_t *out, CK_ULONG *out_len)
{
	CK_MECHANISM m = {type, NULL, 0};
	size_t step = len / (size_t)parts + 1, off;
	CK_RV rv;

	if ((rv = f->C_DigestInit(s, &m)) != CKR_OK)
		return rv;
	if (parts <= 1)
		return f->C_Digest(s, (CK_BYTE_PTR)msg, len, out, out_len);
	if ((rv = f->C_DigestUpdate(s, NULL, 0)) != CKR_OK)
		return rv;
	for (off = 0; off < len; off += step) {
		rv = f->C_DigestUpdate(s, (CK_BYTE_PTR)msg + off,
				       len - off < step ? len - off : step);
		if (rv != CKR_OK)
			return rv;
	}
	return f->C_DigestFinal(s, out, out_len);
}

/* Every slot lists the digests, C_GetMechanismInfo says CKF_DIGEST. */
static void
check_digest_mechanisms(CK_SLOT_ID slot)
{
	CK_MECHANISM_TYPE list[64];
	CK_MECHANISM_INFO info;
	CK_ULONG n = 64, j;
	size_t i;

	TL_RV(f->C_GetMechanismList(slot, list, &n), CKR_OK,
	      "C_GetMechanismList");
	for (i = 0; i < N_DIGESTS; i++) {
		for (j = 0; j < n && list[j] != digests[i].type; j++)
			;
		TL_CHECK(j < n, "%s not in the mechanism list", digests[i].md);
		TL_RV(f->C_GetMechanismInfo(slot, digests[i].type, &info),
		      CKR_OK, digests[i].md);
		TL_CHECK(info.flags == CKF_DIGEST, "%s: flags 0x%lx",
			 digests[i].md, (unsigned long)info.flags);
	}
}

/* Each digest, single- and multi-part and of nothing, equals OpenSSL's. */
static void
check_digest_values(CK_SESSION_HANDLE s)
{
	uint8_t msg[1000], want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	CK_ULONG want_len, len;
	size_t i;
	int parts;
	CK_RV rv;

	for (i = 0; i < N_DIGESTS; i++) {
		for (parts = 1; parts <= 4; parts += 3) {
			tl_random(msg, sizeof(msg));
			want_len = openssl_digest(digests[i].md, msg,
						  sizeof(msg), want);
			len = sizeof(got);
			rv = module_digest(s, digests[i].type, msg, sizeof(msg),
					   parts, got, &len);
			TL_RV(rv, CKR_OK, digests[i].md);
			TL_CHECK(same(got, len, want, want_len),
				 "%s (%d parts) differs from OpenSSL's",
				 digests[i].md, parts);
		}
		want_len = openssl_digest(digests[i].md, msg, 0, want);
		len = sizeof(got);
		TL_RV(module_digest(s, digests[i].type, NULL, 0, 1, got, &len),
		      CKR_OK, "digest of nothing");
		TL_CHECK(same(got, len, want, want_len),
			 "%s of nothing differs from OpenSSL's", digests[i].md);
	}
}

/*
 * One digest at a time (a second C_DigestInit leaves the first alone);
 * size queries and short buffers leave it active; C_Digest and
 * C_DigestFinal end it.
 */
static void
check_digest_rules(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = {CKM_SHA256, NULL, 0}, other = {CKM_SHA384, NULL, 0};
	uint8_t msg[100], want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	CK_ULONG want_len, len;

	tl_random(msg, sizeof(msg));
	want_len = openssl_digest("SHA256", msg, sizeof(msg), want);
	TL_RV(f->C_DigestInit(s, &m), CKR_OK, "C_DigestInit");
	TL_RV(f->C_DigestInit(s, &other), CKR_OPERATION_ACTIVE,
	      "a second C_DigestInit");
	TL_RV(f->C_Digest(s, msg, sizeof(msg), NULL, &len), CKR_OK,
	      "C_Digest size query");
	TL_CHECK(len == 32, "SHA-256 digest length %lu", len);
	len = 31;
	TL_RV(f->C_Digest(s, msg, sizeof(msg), got, &len), CKR_BUFFER_TOO_SMALL,
	      "C_Digest into a short buffer");
	TL_CHECK(len == 32, "length after a short buffer %lu", len);
	len = sizeof(got);
	TL_RV(f->C_Digest(s, msg, sizeof(msg), got, &len), CKR_OK, "C_Digest");
	/* the first operation's hash, not the refused second one's */
	TL_CHECK(same(got, len, want, want_len),
		 "SHA-256 after a refused C_DigestInit differs from OpenSSL's");
	TL_RV(f->C_Digest(s, msg, sizeof(msg), got, &len),
	      CKR_OPERATION_NOT_INITIALIZED, "C_Digest after the end");

	TL_RV(f->C_DigestInit(s, &m), CKR_OK, "C_DigestInit after C_Digest");
	TL_RV(f->C_DigestUpdate(s, msg, 60), CKR_OK, "C_DigestUpdate");
	TL_RV(f->C_DigestFinal(s, NULL, &len), CKR_OK,
	      "C_DigestFinal size query");
	len = 1;
	TL_RV(f->C_DigestFinal(s, got, &len), CKR_BUFFER_TOO_SMALL,
	      "C_DigestFinal into a short buffer");
	TL_RV(f->C_DigestUpdate(s, msg + 60, sizeof(msg) - 60), CKR_OK,
	      "C_DigestUpdate after a size query");
	len = sizeof(got);
	TL_RV(f->C_DigestFinal(s, got, &len), CKR_OK, "C_DigestFinal");
	TL_CHECK(same(got, len, want, want_len),
		 "multi-part SHA-256 differs from OpenSSL's");
	TL_RV(f->C_DigestFinal(s, got, &len), CKR_OPERATION_NOT_INITIALIZED,
	      "C_DigestFinal after the end");
	TL_RV(f->C_DigestUpdate(s, msg, 1), CKR_OPERATION_NOT_INITIALIZED,
	      "C_DigestUpdate without C_DigestInit");
}

static void
check_digest_refusals(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = {CKM_MD5, NULL, 0};
	uint8_t got[EVP_MAX_MD_SIZE];
	CK_BYTE param = 0;
	CK_ULONG len;

	TL_RV(f->C_DigestInit(s, NULL), CKR_ARGUMENTS_BAD,
	      "C_DigestInit without a mechanism");
	TL_RV(f->C_DigestInit(s, &m), CKR_MECHANISM_INVALID,
	      "C_DigestInit with MD5");
	m.mechanism = CKM_SHA256_RSA_PKCS;
	TL_RV(f->C_DigestInit(s, &m), CKR_MECHANISM_INVALID,
	      "C_DigestInit with a signing mechanism");
	m.mechanism = CKM_SHA256;
	m.pParameter = &param;
	m.ulParameterLen = sizeof(param);
	TL_RV(f->C_DigestInit(s, &m), CKR_MECHANISM_PARAM_INVALID,
	      "C_DigestInit with parameters");
	m.pParameter = NULL;
	m.ulParameterLen = 0;
	TL_RV(f->C_DigestInit(s + 1000, &m), CKR_SESSION_HANDLE_INVALID,
	      "C_DigestInit on no session");
	TL_RV(f->C_DigestKey(s, 1), CKR_FUNCTION_NOT_SUPPORTED, "C_DigestKey");
	TL_RV(f->C_DigestInit(s, &m), CKR_OK, "C_DigestInit");
	TL_RV(f->C_Digest(s, &param, 1, NULL, NULL), CKR_ARGUMENTS_BAD,
	      "C_Digest without a length");
	TL_RV(f->C_Digest(s, NULL, 5, NULL, &len), CKR_ARGUMENTS_BAD,
	      "C_Digest of 5 bytes at NULL");
	TL_RV(f->C_DigestUpdate(s, NULL, 5), CKR_ARGUMENTS_BAD,
	      "C_DigestUpdate of 5 bytes at NULL");
	/* end the operation, whether or not a bad argument did */
	len = sizeof(got);
	f->C_DigestFinal(s, got, &len);
}

/*
 * A session digests and signs at once; one closed in mid-digest frees
 * its operation (the sanitizer and valgrind runs see a leak).
 */
static void
check_digest_beside_signing(CK_SLOT_ID slot, CK_SESSION_HANDLE s,
			    const struct key *k)
{
	CK_MECHANISM m = {CKM_SHA512, NULL, 0};
	uint8_t msg[300], want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	uint8_t sig[SIG_MAX];
	const struct tl_case *cs;
	CK_ULONG want_len, len = sizeof(got), sig_len = sizeof(sig);
	size_t n, i;

	cs = tl_cases(&n);
	for (i = 0; i < n && cs[i].key_type != k->type; i++)
		;
	if (i == n)
		return;
	tl_random(msg, sizeof(msg));
	want_len = openssl_digest("SHA512", msg, sizeof(msg), want);
	TL_RV(f->C_DigestInit(s, &m), CKR_OK, "C_DigestInit before signing");
	TL_RV(f->C_DigestUpdate(s, msg, 100), CKR_OK, "C_DigestUpdate");
	TL_RV(tl_sign(f, s, k->priv, &cs[i], msg, sizeof(msg), 3, sig,
		      &sig_len),
	      CKR_OK, "signing while a digest runs");
	TL_CHECK(tl_verify(k->pub, &cs[i], msg, sizeof(msg), sig, sig_len),
		 "%s while a digest runs does not verify", cs[i].name);
	TL_RV(f->C_DigestUpdate(s, msg + 100, sizeof(msg) - 100), CKR_OK,
	      "C_DigestUpdate after signing");
	TL_RV(f->C_DigestFinal(s, got, &len), CKR_OK, "C_DigestFinal");
	TL_CHECK(same(got, len, want, want_len),
		 "SHA-512 around a signature differs from OpenSSL's");

	s = tl_session(f, slot);
	TL_RV(f->C_DigestInit(s, &m), CKR_OK, "C_DigestInit");
	TL_RV(f->C_DigestUpdate(s, msg, 10), CKR_OK, "C_DigestUpdate");
	TL_RV(f->C_CloseSession(s), CKR_OK, "C_CloseSession in mid-digest");
}

static void
check_digests(CK_SLOT_ID slot, CK_SESSION_HANDLE s, const struct key *k)
{
	check_digest_mechanisms(slot);
	check_digest_values(s);
	check_digest_rules(s);
	check_digest_refusals(s);
	check_digest_beside_signing(slot, s, k);
}

static int
cmd_conformance(int argc, char **argv)
{
	struct key keys[MAX_KEYS];
	CK_OBJECT_HANDLE all[MAX_KEYS];
	const char *dir = argv[0];
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_ULONG n;
	int i, nkeys = argc - 2;

	load_keys(dir, argv + 2, nkeys, keys);
	TL_RV(tl_initialize(f, NULL), CKR_OK, "C_Initialize");
	check_module_info();
	slot = tl_slot(f, argv[1]);
	s = tl_session(f, slot);
	check_token(slot, s);
	find_keys(s, keys, nkeys);
	/* one private key per identity on the token, nothing else */
	n = (CK_ULONG)tl_find(f, s, CKO_PRIVATE_KEY, NULL, all, MAX_KEYS);
	TL_CHECK(n == (CK_ULONG)nkeys, "%lu private keys, expected %d", n,
		 nkeys);
	for (i = 0; i < nkeys; i++) {
		if (keys[i].priv == CK_INVALID_HANDLE)
			continue;
		check_private(s, &keys[i], dir);
		check_public(s, &keys[i]);
		check_cert(s, &keys[i], dir);
		check_mechanisms(s, &keys[i]);
		check_refusals(s, &keys[i]);
		if (keys[i].type == CKK_RSA)
			check_lengths(s, &keys[i]);
		check_unsupported(s, &keys[i]);
	}
	if (nkeys > 0 && keys[0].priv != CK_INVALID_HANDLE)
		check_digests(slot, s, &keys[0]);
	TL_RV(f->C_CloseSession(s), CKR_OK, "C_CloseSession");
	TL_RV(f->C_Finalize(NULL), CKR_OK, "C_Finalize");
	TL_RV(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED,
	      "C_GetSlotList after C_Finalize");
	free_keys(keys, nkeys);
	return 0;
}

/* ---- list -------------------------------------------------------------- */

/* "TOKEN-LABEL CLASS OBJECT-LABEL" for every object of every slot. */
static int
cmd_list(int argc, char **argv)
{
	static const char *classes[] = {"data", "cert", "public", "private"};
	CK_SLOT_ID slots[32];
	CK_OBJECT_HANDLE h[64];
	CK_TOKEN_INFO ti;
	CK_ULONG ns = 32, i;
	CK_SESSION_HANDLE s;
	size_t n, j, len;
	uint8_t *label;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	rv = tl_initialize(f, argc > 0 ? argv[0] : NULL);
	TL_RV(rv, CKR_OK, "C_Initialize");
	if (rv != CKR_OK)
		return 1;
	TL_RV(f->C_GetSlotList(CK_TRUE, slots, &ns), CKR_OK, "C_GetSlotList");
	for (i = 0; i < ns; i++) {
		f->C_GetTokenInfo(slots[i], &ti);
		s = tl_session(f, slots[i]);
		for (cls = CKO_CERTIFICATE; cls <= CKO_PRIVATE_KEY; cls++) {
			n = tl_find(f, s, cls, NULL, h, 64);
			for (j = 0; j < n; j++) {
				label = tl_attr(f, s, h[j], CKA_LABEL, &len);
				printf("%.*s %s %.*s\n",
				       (int)strcspn((char *)ti.label, " "),
				       (char *)ti.label, classes[cls], (int)len,
				       label ? (char *)label : "");
				free(label);
			}
		}
		f->C_CloseSession(s);
	}
	f->C_Finalize(NULL);
	return 0;
}

/* ---- threads ----------------------------------------------------------- */

struct worker {
	pthread_t thread;
	int index;
	int signs;
	CK_SLOT_ID slot;
	struct key *keys;
	int nkeys;
	int made;
	pthread_barrier_t *ready; /* every thread found its keys */
};

/* A hashed mechanism for the key type, varied by i; NULL if none. */
static const struct tl_case *
pick_case(CK_KEY_TYPE type, int i)
{
	const struct tl_case *cs, *match[32];
	size_t n, j, m = 0;

	cs = tl_cases(&n);
	for (j = 0; j < n; j++)
		if (cs[j].key_type == type && m < 32)
			match[m++] = &cs[j];
	if (m == 0)
		return NULL;
	return match[(size_t)i % m];
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE s = tl_session(f, w->slot);
	CK_OBJECT_HANDLE priv[MAX_KEYS];
	uint8_t msg[200], sig[SIG_MAX];
	const struct tl_case *c;
	const struct key *k;
	CK_ULONG len;
	CK_RV rv;
	int i;

	/* each thread its own session and its own look-ups */
	for (i = 0; i < w->nkeys; i++)
		priv[i] = tl_find_one(f, s, CKO_PRIVATE_KEY, w->keys[i].name);
	pthread_barrier_wait(w->ready);
	for (i = 0; i < w->signs; i++) {
		k = &w->keys[(i + w->index) % w->nkeys];
		c = pick_case(k->type, i + w->index);
		if (c == NULL) {
			TL_CHECK(0, "thread %d: no mechanism for %s", w->index,
				 k->name);
			continue;
		}
		tl_random(msg, sizeof(msg));
		len = sizeof(sig);
		rv = tl_sign(f, s, priv[(i + w->index) % w->nkeys], c, msg,
			     sizeof(msg), 1, sig, &len);
		TL_RV(rv, CKR_OK, c->name);
		if (rv == CKR_OK &&
		    tl_verify(k->pub, c, msg, sizeof(msg), sig, len))
			w->made++;
		else
			TL_CHECK(0, "thread %d: %s with %s failed", w->index,
				 c->name, k->name);
	}
	f->C_CloseSession(s);
	return NULL;
}

/* A positive decimal count, the whole of s; 0 if s is not one. */
static int
parse_count(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > INT_MAX)
		return 0;
	return (int)v;
}

static int
cmd_threads(int argc, char **argv)
{
	struct key keys[MAX_KEYS];
	pthread_barrier_t ready;
	struct worker *w;
	int i, n = parse_count(argv[2]), signs = parse_count(argv[3]);
	int total = 0;
	uint64_t start, us;

	load_keys(argv[0], argv + 4, argc - 4, keys);
	TL_RV(tl_initialize(f, NULL), CKR_OK, "C_Initialize");
	if (n <= 0 || signs <= 0 || (w = calloc((size_t)n, sizeof(*w))) == NULL)
		return 2;
	pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++) {
		w[i] = (struct worker){.index = i,
				       .signs = signs,
				       .slot = tl_slot(f, argv[1]),
				       .keys = keys,
				       .nkeys = argc - 4,
				       .ready = &ready};
		pthread_create(&w[i].thread, NULL, work, &w[i]);
	}
	/* timed from when every thread has its session and keys */
	pthread_barrier_wait(&ready);
	start = p11a_clock_us();
	for (i = 0; i < n; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].made;
	}
	us = p11a_clock_us() - start;
	pthread_barrier_destroy(&ready);
	TL_CHECK(total == n * signs, "%d of %d signatures verified", total,
		 n * signs);
	printf("threads: %d verified signatures from %d threads in %llu ms, "
	       "%.1f sig/s\n",
	       total, n, (unsigned long long)(us / 1000u),
	       us > 0 ? total * 1e6 / (double)us : 0.0);
	free(w);
	free_keys(keys, argc - 4);
	f->C_Finalize(NULL);
	return 0;
}

/* ---- fork -------------------------------------------------------------- */

/* Sign and verify once with key in session s; 1 on success. */
static int
sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const struct key *k)
{
	const struct tl_case *c = pick_case(k->type, 1);
	uint8_t msg[64], sig[SIG_MAX];
	CK_ULONG len = sizeof(sig);
	CK_RV rv;

	if (c == NULL) {
		fprintf(stderr, "pid %d: no mechanism for %s\n", (int)getpid(),
			k->name);
		return 0;
	}
	tl_random(msg, sizeof(msg));
	rv = tl_sign(f, s, priv, c, msg, sizeof(msg), 1, sig, &len);
	if (rv != CKR_OK) {
		fprintf(stderr, "pid %d: %s: rv 0x%lx\n", (int)getpid(),
			c->name, (unsigned long)rv);
		return 0;
	}
	return tl_verify(k->pub, c, msg, sizeof(msg), sig, len);
}

/* Signs while a child runs at the same time as its parent. */
#define FORK_SIGNS 40

/* Sign FORK_SIGNS times in s; 1 if every signature verified. */
static int
sign_many(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const struct key *k)
{
	int i;

	for (i = 0; i < FORK_SIGNS; i++)
		if (!sign_once(s, priv, k))
			return 0;
	return 1;
}

/*
 * A child that goes on with the parent's session while the parent signs
 * too (connections inherited from the parent would mix their replies),
 * then opens a new session.
 */
static int
child_inherits(CK_SESSION_HANDLE s, const struct key *k, const char *token)
{
	CK_SESSION_HANDLE s2;

	if (!sign_many(s, k->priv, k))
		return 1;
	s2 = tl_session(f, tl_slot(f, token));
	return sign_once(s2, tl_find_one(f, s2, CKO_PRIVATE_KEY, k->name), k)
		       ? 0
		       : 1;
}

/* A child that initialises afresh, as libp11 does after a fork. */
static int
child_reinitializes(const struct key *k, const char *token)
{
	CK_SESSION_HANDLE s;

	if (tl_initialize(f, NULL) != CKR_OK)
		return 1;
	s = tl_session(f, tl_slot(f, token));
	return sign_many(s, tl_find_one(f, s, CKO_PRIVATE_KEY, k->name), k) ? 0
									    : 1;
}

static void
run_child(int which, CK_SESSION_HANDLE s, const struct key *k,
	  const char *token)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0)
		_exit(which == 0 ? child_inherits(s, k, token)
				 : child_reinitializes(k, token));
	TL_CHECK(pid > 0, "fork failed");
	/* the parent signs at the same time as the child */
	TL_CHECK(sign_many(s, k->priv, k), "parent while child %d ran", which);
	TL_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
			 WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "forked child %d did not sign (status %d)", which, status);
}

static int
cmd_fork(int argc, char **argv)
{
	struct key k;
	CK_SESSION_HANDLE s;
	int which;

	(void)argc;
	load_keys(argv[0], argv + 2, 1, &k);
	TL_RV(tl_initialize(f, NULL), CKR_OK, "C_Initialize");
	s = tl_session(f, tl_slot(f, argv[1]));
	k.priv = tl_find_one(f, s, CKO_PRIVATE_KEY, k.name);
	TL_CHECK(sign_once(s, k.priv, &k), "parent before fork");
	for (which = 0; which < 2; which++) {
		run_child(which, s, &k, argv[1]);
		/* the parent's connections are untouched by the child */
		TL_CHECK(sign_once(s, k.priv, &k), "parent after child %d",
			 which);
	}
	f->C_Finalize(NULL);
	free_keys(&k, 1);
	printf("fork: children and parent signed\n");
	return 0;
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc < 3) {
		fprintf(stderr,
			"usage: %s MODULE conformance|list|threads|fork "
			"ARGS...\n",
			argv[0]);
		return 2;
	}
	/* a hang (e.g. two processes reading one socket) fails the test */
	alarm(90);
	f = tl_load(argv[1]);
	if (strcmp(argv[2], "conformance") == 0 && argc >= 5)
		rc = cmd_conformance(argc - 3, argv + 3);
	else if (strcmp(argv[2], "list") == 0)
		rc = cmd_list(argc - 3, argv + 3);
	else if (strcmp(argv[2], "threads") == 0 && argc >= 8)
		rc = cmd_threads(argc - 3, argv + 3);
	else if (strcmp(argv[2], "fork") == 0 && argc == 6)
		rc = cmd_fork(argc - 3, argv + 3);
	else
		rc = 2;
	if (rc == 2)
		fprintf(stderr, "bad arguments\n");
	if (atomic_load(&tl_failures) > 0) {
		fprintf(stderr, "%d checks failed\n",
			atomic_load(&tl_failures));
		return 1;
	}
	return rc;
}
