/* Helpers of the PKCS#11 module tests: see testlib.h. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "testlib.h"

atomic_int tl_failures;

void
tl_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL %s:%d: %s\n", file, line, msg);
	atomic_fetch_add(&tl_failures, 1);
}

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "FATAL: %s\n", what);
	exit(1);
}

CK_FUNCTION_LIST *
tl_load(const char *path)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST *f = NULL;
	void *dl;

	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		exit(1);
	}
	/* the one symbol a PKCS#11 module exports */
	*(void **)(&get) = dlsym(dl, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK || f == NULL)
		die("C_GetFunctionList");
	return f;
}

CK_RV
tl_initialize(CK_FUNCTION_LIST *f, const char *reserved)
{
	CK_C_INITIALIZE_ARGS args;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = (void *)reserved;
	return f->C_Initialize(&args);
}

CK_SLOT_ID
tl_slot(CK_FUNCTION_LIST *f, const char *label)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32, i;
	CK_TOKEN_INFO ti;
	size_t len = strlen(label);

	if (f->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK || n > 32 ||
	    f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		die("C_GetSlotList");
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			die("C_GetTokenInfo");
		if (len <= sizeof(ti.label) &&
		    memcmp(ti.label, label, len) == 0 &&
		    (len == sizeof(ti.label) || ti.label[len] == ' '))
			return slots[i];
	}
	fprintf(stderr, "no token labelled '%s' among %lu slots\n", label, n);
	exit(1);
}

CK_SESSION_HANDLE
tl_session(CK_FUNCTION_LIST *f, CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE s;

	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK)
		die("C_OpenSession");
	return s;
}

size_t
tl_find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS class,
	const char *label, CK_OBJECT_HANDLE *out, size_t max)
{
	CK_ATTRIBUTE t[2] = {
		{CKA_CLASS, &class, sizeof(class)},
		{CKA_LABEL, (void *)label, label ? strlen(label) : 0},
	};
	CK_ULONG n = 0;

	if (f->C_FindObjectsInit(s, t, label ? 2 : 1) != CKR_OK ||
	    f->C_FindObjects(s, out, max, &n) != CKR_OK ||
	    f->C_FindObjectsFinal(s) != CKR_OK)
		die("C_FindObjects*");
	return n;
}

CK_OBJECT_HANDLE
tl_find_one(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS class,
	    const char *label)
{
	CK_OBJECT_HANDLE h[4];
	size_t n = tl_find(f, s, class, label, h, 4);

	TL_CHECK(n == 1, "%zu objects of class %lu labelled %s, expected 1", n,
		 (unsigned long)class, label);
	return n == 1 ? h[0] : CK_INVALID_HANDLE;
}

uint8_t *
tl_attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
	CK_ATTRIBUTE_TYPE type, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	uint8_t *v;

	*len = 0;
	if (f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return NULL;
	if ((v = malloc(a.ulValueLen + 1)) == NULL)
		die("malloc");
	a.pValue = v;
	if (f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK) {
		free(v);
		return NULL;
	}
	*len = a.ulValueLen;
	return v;
}

long
tl_attr_ulong(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
	      CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v;
	CK_ATTRIBUTE a = {type, &v, sizeof(v)};

	if (f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(v))
		return -1;
	return (long)v;
}

int
tl_attr_bool(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
	     CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v;
	CK_ATTRIBUTE a = {type, &v, sizeof(v)};

	if (f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(v))
		return -1;
	return v ? 1 : 0;
}

static FILE *
open_in(const char *dir, const char *name, const char *ext)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	return fp;
}

EVP_PKEY *
tl_read_pub(const char *dir, const char *name)
{
	FILE *fp = open_in(dir, name, ".pub.pem");
	EVP_PKEY *k = PEM_read_PUBKEY(fp, NULL, NULL, NULL);

	fclose(fp);
	if (k == NULL)
		die("PEM_read_PUBKEY");
	return k;
}

uint8_t *
tl_read_cert_der(const char *dir, const char *name, size_t *len)
{
	FILE *fp = open_in(dir, name, ".pem");
	X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int n;

	fclose(fp);
	if (x == NULL || (n = i2d_X509(x, &der)) <= 0)
		die("reading a certificate");
	X509_free(x);
	*len = (size_t)n;
	return der;
}

uint8_t *
tl_read_id(const char *dir, const char *name, size_t *len)
{
	FILE *fp = open_in(dir, name, ".id");
	char hex[256];
	BIGNUM *bn = NULL;
	uint8_t *out;
	size_t n;

	if (fgets(hex, sizeof(hex), fp) == NULL)
		die("reading an id");
	fclose(fp);
	hex[strcspn(hex, "\r\n")] = '\0';
	n = strlen(hex) / 2;
	if (BN_hex2bn(&bn, hex) == 0 || (out = malloc(n + 1)) == NULL)
		die("parsing an id");
	/* keep leading zero bytes: the id is n bytes */
	BN_bn2binpad(bn, out, (int)n);
	BN_free(bn);
	*len = n;
	return out;
}

#define RSA_MSG(n, m, md)                                                      \
	{                                                                      \
		n, m, CKK_RSA, md, TL_MESSAGE, 0                               \
	}
#define PSS_MSG(n, m, md)                                                      \
	{                                                                      \
		n, m, CKK_RSA, md, TL_MESSAGE, 1                               \
	}
#define EC_MSG(n, m, md)                                                       \
	{                                                                      \
		n, m, CKK_EC, md, TL_MESSAGE, 0                                \
	}

static const struct tl_case cases[] = {
	{"RSA-PKCS DigestInfo SHA-1", CKM_RSA_PKCS, CKK_RSA, "SHA1",
	 TL_DIGESTINFO, 0},
	{"RSA-PKCS DigestInfo SHA-256", CKM_RSA_PKCS, CKK_RSA, "SHA256",
	 TL_DIGESTINFO, 0},
	{"RSA-PKCS DigestInfo SHA-384", CKM_RSA_PKCS, CKK_RSA, "SHA384",
	 TL_DIGESTINFO, 0},
	{"RSA-PKCS DigestInfo SHA-512", CKM_RSA_PKCS, CKK_RSA, "SHA512",
	 TL_DIGESTINFO, 0},
	{"RSA-PKCS MD5+SHA-1", CKM_RSA_PKCS, CKK_RSA, "MD5-SHA1", TL_DIGEST, 0},
	RSA_MSG("SHA1-RSA-PKCS", CKM_SHA1_RSA_PKCS, "SHA1"),
	RSA_MSG("SHA256-RSA-PKCS", CKM_SHA256_RSA_PKCS, "SHA256"),
	RSA_MSG("SHA384-RSA-PKCS", CKM_SHA384_RSA_PKCS, "SHA384"),
	RSA_MSG("SHA512-RSA-PKCS", CKM_SHA512_RSA_PKCS, "SHA512"),
	{"RSA-PKCS-PSS SHA-256", CKM_RSA_PKCS_PSS, CKK_RSA, "SHA256", TL_DIGEST,
	 1},
	{"RSA-PKCS-PSS SHA-384", CKM_RSA_PKCS_PSS, CKK_RSA, "SHA384", TL_DIGEST,
	 1},
	{"RSA-PKCS-PSS SHA-512", CKM_RSA_PKCS_PSS, CKK_RSA, "SHA512", TL_DIGEST,
	 1},
	PSS_MSG("SHA256-RSA-PKCS-PSS", CKM_SHA256_RSA_PKCS_PSS, "SHA256"),
	PSS_MSG("SHA384-RSA-PKCS-PSS", CKM_SHA384_RSA_PKCS_PSS, "SHA384"),
	PSS_MSG("SHA512-RSA-PKCS-PSS", CKM_SHA512_RSA_PKCS_PSS, "SHA512"),
	{"ECDSA SHA-1 digest", CKM_ECDSA, CKK_EC, "SHA1", TL_DIGEST, 0},
	{"ECDSA SHA-256 digest", CKM_ECDSA, CKK_EC, "SHA256", TL_DIGEST, 0},
	{"ECDSA SHA-384 digest", CKM_ECDSA, CKK_EC, "SHA384", TL_DIGEST, 0},
	{"ECDSA SHA-512 digest", CKM_ECDSA, CKK_EC, "SHA512", TL_DIGEST, 0},
	EC_MSG("ECDSA-SHA1", CKM_ECDSA_SHA1, "SHA1"),
	EC_MSG("ECDSA-SHA256", CKM_ECDSA_SHA256, "SHA256"),
	EC_MSG("ECDSA-SHA384", CKM_ECDSA_SHA384, "SHA384"),
	EC_MSG("ECDSA-SHA512", CKM_ECDSA_SHA512, "SHA512"),
	{"EDDSA", CKM_EDDSA, CKK_EC_EDWARDS, NULL, TL_MESSAGE, 0},
};

const struct tl_case *
tl_cases(size_t *n)
{
	*n = sizeof(cases) / sizeof(cases[0]);
	return cases;
}

/* DER DigestInfo prefixes (RFC 8017 section 9.2, note 1), written out
 * here rather than taken from the code under test */
static const struct {
	const char *md;
	uint8_t prefix[19];
	size_t len;
} di[] = {
	{"SHA1",
	 {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a,
	  0x05, 0x00, 0x04, 0x14},
	 15},
	{"SHA256",
	 {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	  0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	 19},
	{"SHA384",
	 {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	  0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	 19},
	{"SHA512",
	 {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	  0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
	 19},
};

static void
pss_params(const char *md, CK_RSA_PKCS_PSS_PARAMS *p)
{
	if (strcmp(md, "SHA384") == 0) {
		p->hashAlg = CKM_SHA384;
		p->mgf = CKG_MGF1_SHA384;
		p->sLen = 48;
	} else if (strcmp(md, "SHA512") == 0) {
		p->hashAlg = CKM_SHA512;
		p->mgf = CKG_MGF1_SHA512;
		p->sLen = 64;
	} else {
		p->hashAlg = CKM_SHA256;
		p->mgf = CKG_MGF1_SHA256;
		p->sLen = 32;
	}
}

/* The mechanism's input for msg: msg itself, its digest or DigestInfo. */
static size_t
make_input(const struct tl_case *c, const uint8_t *msg, size_t len,
	   uint8_t *buf, const uint8_t **in)
{
	unsigned int dlen = 0;
	size_t i, off = 0;

	if (c->input == TL_MESSAGE) {
		*in = msg;
		return len;
	}
	if (c->input == TL_DIGESTINFO)
		for (i = 0; i < sizeof(di) / sizeof(di[0]); i++)
			if (strcmp(di[i].md, c->md) == 0) {
				memcpy(buf, di[i].prefix, di[i].len);
				off = di[i].len;
			}
	if (!EVP_Digest(msg, len, buf + off, &dlen, EVP_get_digestbyname(c->md),
			NULL))
		die("EVP_Digest");
	*in = buf;
	return off + dlen;
}

CK_RV
tl_sign(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
	const struct tl_case *c, const uint8_t *msg, size_t len, int parts,
	uint8_t *sig, CK_ULONG *sig_len)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM m = {c->mech, NULL, 0};
	uint8_t buf[128];
	const uint8_t *in;
	size_t in_len = make_input(c, msg, len, buf, &in), step, off;
	CK_RV rv;

	if (c->pss) {
		pss_params(c->md, &pss);
		m.pParameter = &pss;
		m.ulParameterLen = sizeof(pss);
	}
	if ((rv = f->C_SignInit(s, &m, key)) != CKR_OK)
		return rv;
	if (parts <= 1)
		return f->C_Sign(s, (CK_BYTE_PTR)in, in_len, sig, sig_len);
	step = in_len / (size_t)parts + 1;
	for (off = 0; off < in_len; off += step) {
		rv = f->C_SignUpdate(s, (CK_BYTE_PTR)in + off,
				     in_len - off < step ? in_len - off : step);
		if (rv != CKR_OK)
			return rv;
	}
	return f->C_SignFinal(s, sig, sig_len);
}

/* PKCS#11 r||s to the DER OpenSSL verifies. */
static unsigned char *
ecdsa_der(const uint8_t *sig, size_t len, int *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	unsigned char *der = NULL;

	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
		die("ECDSA_SIG");
	*der_len = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	return der;
}

int
tl_verify(EVP_PKEY *pub, const struct tl_case *c, const uint8_t *msg,
	  size_t len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	int der_len = 0, ok = 0;

	if (ctx == NULL ||
	    !EVP_DigestVerifyInit_ex(ctx, &pctx, c->md, NULL, NULL, pub, NULL))
		goto out;
	if (c->pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <=
		     0))
		goto out;
	if (c->key_type == CKK_EC) {
		if ((der = ecdsa_der(sig, sig_len, &der_len)) == NULL)
			goto out;
		sig = der;
		sig_len = (size_t)der_len;
	}
	ok = EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return ok;
}

CK_KEY_TYPE
tl_key_type(EVP_PKEY *pub)
{
	if (EVP_PKEY_is_a(pub, "RSA"))
		return CKK_RSA;
	if (EVP_PKEY_is_a(pub, "EC"))
		return CKK_EC;
	return CKK_EC_EDWARDS;
}

void
tl_random(uint8_t *p, size_t len)
{
	if (RAND_bytes(p, (int)len) != 1)
		die("RAND_bytes");
}
