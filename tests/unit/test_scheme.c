/*
 * common/scheme.c: the scheme table, which keys can do what, hashing,
 * DigestInfo and ECDSA r||s to DER.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "scheme.h"
#include "unit.h"

struct expect {
	uint16_t code;
	const char *name;
	uint8_t key_type;
	enum p11a_hash hash;
	size_t hash_len;
	CK_MECHANISM_TYPE mech;
	CK_MECHANISM_TYPE pss_hash;
	CK_RSA_PKCS_MGF_TYPE pss_mgf;
};

static const struct expect expected[] = {
	{0x0201, "rsa_pkcs1_sha1", P11A_KEY_RSA, P11A_HASH_SHA1, 20,
	 CKM_RSA_PKCS, 0, 0},
	{0x0401, "rsa_pkcs1_sha256", P11A_KEY_RSA, P11A_HASH_SHA256, 32,
	 CKM_RSA_PKCS, 0, 0},
	{0x0501, "rsa_pkcs1_sha384", P11A_KEY_RSA, P11A_HASH_SHA384, 48,
	 CKM_RSA_PKCS, 0, 0},
	{0x0601, "rsa_pkcs1_sha512", P11A_KEY_RSA, P11A_HASH_SHA512, 64,
	 CKM_RSA_PKCS, 0, 0},
	{0x0804, "rsa_pss_rsae_sha256", P11A_KEY_RSA, P11A_HASH_SHA256, 32,
	 CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256},
	{0x0805, "rsa_pss_rsae_sha384", P11A_KEY_RSA, P11A_HASH_SHA384, 48,
	 CKM_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384},
	{0x0806, "rsa_pss_rsae_sha512", P11A_KEY_RSA, P11A_HASH_SHA512, 64,
	 CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512},
	{0x0203, "ecdsa_sha1", P11A_KEY_EC, P11A_HASH_SHA1, 20, CKM_ECDSA, 0,
	 0},
	{0x0403, "ecdsa_secp256r1_sha256", P11A_KEY_EC, P11A_HASH_SHA256, 32,
	 CKM_ECDSA, 0, 0},
	{0x0503, "ecdsa_secp384r1_sha384", P11A_KEY_EC, P11A_HASH_SHA384, 48,
	 CKM_ECDSA, 0, 0},
	{0x0603, "ecdsa_secp521r1_sha512", P11A_KEY_EC, P11A_HASH_SHA512, 64,
	 CKM_ECDSA, 0, 0},
	{0x0807, "ed25519", P11A_KEY_ED25519, P11A_HASH_NONE, 0, CKM_EDDSA, 0,
	 0},
	{0xfe00, "rsa_pkcs1_md5_sha1", P11A_KEY_RSA, P11A_HASH_MD5_SHA1, 36,
	 CKM_RSA_PKCS, 0, 0},
};

#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static void
scheme_table_has_every_scheme_with_its_mechanism(void **state)
{
	const struct p11a_scheme_info *s, *all;
	size_t i, n;

	(void)state;
	all = p11a_scheme_all(&n);
	assert_non_null(all);
	assert_int_equal(n, N_EXPECTED);
	for (i = 0; i < N_EXPECTED; i++) {
		const struct expect *e = &expected[i];

		s = p11a_scheme_find(e->code);
		assert_non_null(s);
		assert_int_equal(s->code, e->code);
		assert_string_equal(s->name, e->name);
		assert_int_equal(s->key_type, e->key_type);
		assert_int_equal(s->hash, e->hash);
		assert_int_equal(s->hash_len, e->hash_len);
		assert_int_equal(s->mechanism, e->mech);
		assert_int_equal(s->pss_hash, e->pss_hash);
		assert_int_equal(s->pss_mgf, e->pss_mgf);
		assert_ptr_equal(p11a_scheme_by_name(e->name), s);
		assert_string_equal(p11a_scheme_name(e->code), e->name);
	}
}

static void
scheme_lookup_of_unknown_code_or_name_is_null(void **state)
{
	(void)state;
	assert_null(p11a_scheme_find(0x0000));
	assert_null(p11a_scheme_find(0x0808)); /* ed448 */
	assert_null(p11a_scheme_find(0x0809)); /* rsa_pss_pss_sha256 */
	assert_null(p11a_scheme_find(0xffff));
	assert_null(p11a_scheme_name(0x0101));
	assert_null(p11a_scheme_by_name("ed448"));
	assert_null(p11a_scheme_by_name(""));
	assert_null(p11a_scheme_by_name("ECDSA_SECP256R1_SHA256"));
	assert_null(p11a_scheme_by_name(NULL));
}

static int
can(uint16_t code, uint8_t key_type, unsigned bits)
{
	const struct p11a_scheme_info *s = p11a_scheme_find(code);

	assert_non_null(s);
	return p11a_scheme_key_can(s, key_type, bits);
}

static void
key_can_requires_matching_key_type(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_EXPECTED; i++) {
		uint16_t c = expected[i].code;
		uint8_t kt = expected[i].key_type;

		assert_int_equal(can(c, P11A_KEY_RSA, 2048),
				 kt == P11A_KEY_RSA);
		assert_int_equal(can(c, P11A_KEY_EC, 256), kt == P11A_KEY_EC);
		assert_int_equal(can(c, P11A_KEY_ED25519, 255),
				 kt == P11A_KEY_ED25519);
		assert_false(can(c, 0, 2048));
		assert_false(can(c, 99, 2048));
	}
	assert_false(p11a_scheme_key_can(NULL, P11A_KEY_RSA, 2048));
}

static void
key_can_rsa_1024_cannot_do_pss_sha512(void **state)
{
	(void)state;
	/* emLen 128 < 2 * 64 + 2 */
	assert_false(can(P11A_SCHEME_RSA_PSS_RSAE_SHA512, P11A_KEY_RSA, 1024));
	assert_true(can(P11A_SCHEME_RSA_PSS_RSAE_SHA384, P11A_KEY_RSA, 1024));
	assert_true(can(P11A_SCHEME_RSA_PSS_RSAE_SHA256, P11A_KEY_RSA, 1024));
	assert_true(can(P11A_SCHEME_RSA_PKCS1_SHA512, P11A_KEY_RSA, 1024));
	/* 130 bytes is the smallest for PSS-SHA512 */
	assert_true(can(P11A_SCHEME_RSA_PSS_RSAE_SHA512, P11A_KEY_RSA, 1040));
	assert_false(can(P11A_SCHEME_RSA_PSS_RSAE_SHA512, P11A_KEY_RSA, 1033));
	assert_true(can(P11A_SCHEME_RSA_PSS_RSAE_SHA512, P11A_KEY_RSA, 1034));
}

static void
key_can_rsa_512_cannot_do_long_digestinfo(void **state)
{
	(void)state;
	/* 64-byte modulus: DigestInfo + 11 must fit */
	assert_true(can(P11A_SCHEME_RSA_PKCS1_SHA1, P11A_KEY_RSA, 512));
	assert_true(can(P11A_SCHEME_RSA_PKCS1_SHA256, P11A_KEY_RSA, 512));
	assert_true(can(P11A_SCHEME_RSA_PKCS1_MD5_SHA1, P11A_KEY_RSA, 512));
	assert_false(can(P11A_SCHEME_RSA_PKCS1_SHA384, P11A_KEY_RSA, 512));
	assert_false(can(P11A_SCHEME_RSA_PKCS1_SHA512, P11A_KEY_RSA, 512));
	assert_false(can(P11A_SCHEME_RSA_PSS_RSAE_SHA256, P11A_KEY_RSA, 512));
	assert_false(can(P11A_SCHEME_RSA_PKCS1_SHA256, P11A_KEY_RSA, 0));
}

static void
key_can_ecdsa_on_any_curve(void **state)
{
	static const unsigned sizes[] = {256, 384, 521};
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_true(can(P11A_SCHEME_ECDSA_SECP256R1_SHA256, P11A_KEY_EC,
				sizes[i]));
		assert_true(can(P11A_SCHEME_ECDSA_SECP384R1_SHA384, P11A_KEY_EC,
				sizes[i]));
		assert_true(can(P11A_SCHEME_ECDSA_SECP521R1_SHA512, P11A_KEY_EC,
				sizes[i]));
		assert_true(can(P11A_SCHEME_ECDSA_SHA1, P11A_KEY_EC, sizes[i]));
		assert_false(can(P11A_SCHEME_RSA_PKCS1_SHA256, P11A_KEY_EC,
				 sizes[i]));
		assert_false(can(P11A_SCHEME_ED25519, P11A_KEY_EC, sizes[i]));
	}
}

static void
list_for_key_gives_schemes_in_table_order(void **state)
{
	static const uint16_t rsa[] = {0x0804, 0x0805, 0x0806, 0x0401,
				       0x0501, 0x0601, 0x0201, 0xfe00};
	static const uint16_t ec[] = {0x0403, 0x0503, 0x0603, 0x0203};
	uint16_t got[P11A_MAX_SCHEMES];
	size_t n;

	(void)state;
	n = p11a_scheme_list_for_key(P11A_KEY_RSA, 2048, got, P11A_MAX_SCHEMES);
	assert_int_equal(n, 8);
	assert_memory_equal(got, rsa, sizeof(rsa));
	n = p11a_scheme_list_for_key(P11A_KEY_RSA, 1024, got, P11A_MAX_SCHEMES);
	assert_int_equal(n, 7); /* no rsa_pss_rsae_sha512 */
	n = p11a_scheme_list_for_key(P11A_KEY_EC, 256, got, P11A_MAX_SCHEMES);
	assert_int_equal(n, 4);
	assert_memory_equal(got, ec, sizeof(ec));
	n = p11a_scheme_list_for_key(P11A_KEY_ED25519, 255, got,
				     P11A_MAX_SCHEMES);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], P11A_SCHEME_ED25519);
	n = p11a_scheme_list_for_key(42, 2048, got, P11A_MAX_SCHEMES);
	assert_int_equal(n, 0);
	/* never more than max */
	n = p11a_scheme_list_for_key(P11A_KEY_RSA, 2048, got, 3);
	assert_int_equal(n, 3);
	assert_memory_equal(got, rsa, 3 * sizeof(rsa[0]));
	n = p11a_scheme_list_for_key(P11A_KEY_RSA, 2048, NULL, 0);
	assert_int_equal(n, 0);
}

static struct p11a_sign_path
path_of(uint16_t code, uint8_t type, unsigned bits, const CK_MECHANISM_TYPE *m,
	size_t n, int spki)
{
	return p11a_scheme_path(p11a_scheme_find(code), type, bits, m, n, spki);
}

static void
path_follows_the_tokens_mechanisms(void **state)
{
	static const CK_MECHANISM_TYPE piv[] = {CKM_RSA_PKCS, CKM_RSA_X_509};
	static const CK_MECHANISM_TYPE raw[] = {CKM_RSA_X_509};
	static const CK_MECHANISM_TYPE hashed[] = {CKM_SHA256_RSA_PKCS_PSS,
						   CKM_ECDSA_SHA256};
	static const CK_MECHANISM_TYPE pss[] = {CKM_RSA_PKCS_PSS};
	struct p11a_sign_path p;

	(void)state;
	/* the token did not say: the native mechanism */
	p = path_of(P11A_SCHEME_RSA_PSS_RSAE_SHA256, P11A_KEY_RSA, 2048, NULL,
		    0, 1);
	assert_int_equal(p.kind, P11A_PATH_NATIVE);
	assert_int_equal(p.mechanism, CKM_RSA_PKCS_PSS);
	/* a PIV card: PKCS#1 native, PSS padded by the agent */
	p = path_of(P11A_SCHEME_RSA_PKCS1_SHA256, P11A_KEY_RSA, 2048, piv, 2,
		    1);
	assert_int_equal(p.kind, P11A_PATH_NATIVE);
	p = path_of(P11A_SCHEME_RSA_PSS_RSAE_SHA256, P11A_KEY_RSA, 2048, piv, 2,
		    1);
	assert_int_equal(p.kind, P11A_PATH_RAW);
	assert_int_equal(p.mechanism, CKM_RSA_X_509);
	/* raw RSA needs the modulus from the public key */
	p = path_of(P11A_SCHEME_RSA_PKCS1_SHA256, P11A_KEY_RSA, 2048, raw, 1,
		    0);
	assert_int_equal(p.kind, P11A_PATH_NONE);
	p = path_of(P11A_SCHEME_RSA_PKCS1_MD5_SHA1, P11A_KEY_RSA, 2048, raw, 1,
		    1);
	assert_int_equal(p.kind, P11A_PATH_RAW);
	/* hash-and-sign when nothing else is there */
	p = path_of(P11A_SCHEME_RSA_PSS_RSAE_SHA256, P11A_KEY_RSA, 2048, hashed,
		    2, 1);
	assert_int_equal(p.kind, P11A_PATH_HASHED);
	assert_int_equal(p.mechanism, CKM_SHA256_RSA_PKCS_PSS);
	p = path_of(P11A_SCHEME_RSA_PSS_RSAE_SHA384, P11A_KEY_RSA, 2048, hashed,
		    2, 1);
	assert_int_equal(p.kind, P11A_PATH_NONE);
	p = path_of(P11A_SCHEME_ECDSA_SECP256R1_SHA256, P11A_KEY_EC, 256,
		    hashed, 2, 1);
	assert_int_equal(p.kind, P11A_PATH_HASHED);
	assert_int_equal(p.mechanism, CKM_ECDSA_SHA256);
	p = path_of(P11A_SCHEME_ECDSA_SECP384R1_SHA384, P11A_KEY_EC, 256,
		    hashed, 2, 1);
	assert_int_equal(p.kind, P11A_PATH_NONE);
	/* the modulus still has to fit, whatever the path */
	p = path_of(P11A_SCHEME_RSA_PSS_RSAE_SHA512, P11A_KEY_RSA, 1024, pss, 1,
		    1);
	assert_int_equal(p.kind, P11A_PATH_NONE);
	assert_string_equal(p11a_path_name(P11A_PATH_RAW), "raw");
}

static void
list_for_mechs_pairs_schemes_and_paths(void **state)
{
	static const CK_MECHANISM_TYPE piv[] = {CKM_RSA_PKCS, CKM_RSA_X_509};
	static const CK_MECHANISM_TYPE ecdsa_only[] = {CKM_ECDSA};
	uint16_t got[P11A_MAX_SCHEMES];
	struct p11a_sign_path paths[P11A_MAX_SCHEMES];
	size_t n;

	(void)state;
	n = p11a_scheme_list_for_mechs(P11A_KEY_RSA, 2048, piv, 2, 1, got,
				       paths, P11A_MAX_SCHEMES);
	assert_int_equal(n, 8);
	assert_int_equal(got[0], P11A_SCHEME_RSA_PSS_RSAE_SHA256);
	assert_int_equal(paths[0].kind, P11A_PATH_RAW);
	assert_int_equal(paths[3].kind, P11A_PATH_NATIVE);
	/* an RSA key on a token with only ECDSA can do nothing */
	n = p11a_scheme_list_for_mechs(P11A_KEY_RSA, 2048, ecdsa_only, 1, 1,
				       got, paths, P11A_MAX_SCHEMES);
	assert_int_equal(n, 0);
	n = p11a_scheme_list_for_mechs(P11A_KEY_EC, 256, ecdsa_only, 1, 1, got,
				       paths, P11A_MAX_SCHEMES);
	assert_int_equal(n, 4);
}

static void
hash_openssl_names(void **state)
{
	(void)state;
	assert_null(p11a_hash_openssl_name(P11A_HASH_NONE));
	assert_string_equal(p11a_hash_openssl_name(P11A_HASH_MD5_SHA1),
			    "MD5-SHA1");
	assert_string_equal(p11a_hash_openssl_name(P11A_HASH_SHA1), "SHA1");
	assert_string_equal(p11a_hash_openssl_name(P11A_HASH_SHA256), "SHA256");
	assert_string_equal(p11a_hash_openssl_name(P11A_HASH_SHA384), "SHA384");
	assert_string_equal(p11a_hash_openssl_name(P11A_HASH_SHA512), "SHA512");
}

#define MD5_ABC "900150983cd24fb0d6963f7d28e17f72"
#define SHA1_ABC "a9993e364706816aba3e25717850c26c9cd0d89d"
#define SHA256_ABC                                                             \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA384_ABC                                                             \
	"cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"                     \
	"1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
#define SHA512_ABC                                                             \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"     \
	"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void
check_hash(uint16_t code, const char *hex)
{
	uint8_t out[64];
	size_t n = 99;

	assert_int_equal(p11a_scheme_hash(p11a_scheme_find(code),
					  (const uint8_t *)"abc", 3, out,
					  sizeof(out), &n),
			 P11A_OK);
	assert_bytes_hex(out, n, hex);
}

static void
scheme_hash_matches_known_vectors(void **state)
{
	(void)state;
	check_hash(P11A_SCHEME_RSA_PKCS1_SHA1, SHA1_ABC);
	check_hash(P11A_SCHEME_ECDSA_SHA1, SHA1_ABC);
	check_hash(P11A_SCHEME_RSA_PKCS1_SHA256, SHA256_ABC);
	check_hash(P11A_SCHEME_ECDSA_SECP256R1_SHA256, SHA256_ABC);
	check_hash(P11A_SCHEME_RSA_PSS_RSAE_SHA384, SHA384_ABC);
	check_hash(P11A_SCHEME_ECDSA_SECP521R1_SHA512, SHA512_ABC);
	check_hash(P11A_SCHEME_RSA_PKCS1_MD5_SHA1, MD5_ABC SHA1_ABC);
}

static void
scheme_hash_refuses_ed25519_and_small_output(void **state)
{
	uint8_t out[64];
	size_t n = 99;

	(void)state;
	assert_int_equal(p11a_scheme_hash(p11a_scheme_find(P11A_SCHEME_ED25519),
					  (const uint8_t *)"abc", 3, out,
					  sizeof(out), &n),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(n, 0);
	assert_int_equal(
		p11a_scheme_hash(p11a_scheme_find(P11A_SCHEME_RSA_PKCS1_SHA256),
				 (const uint8_t *)"abc", 3, out, 31, &n),
		P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_scheme_hash(NULL, (const uint8_t *)"abc", 3, out,
					  sizeof(out), &n),
			 P11A_ERR_INVALID_ARGUMENT);
}

static void
digestinfo_of_sha256_abc_is_the_rfc_8017_encoding(void **state)
{
	uint8_t digest[32], out[128];
	size_t n, dlen;
	uint8_t *d;

	(void)state;
	d = unhex(SHA256_ABC, &dlen);
	assert_int_equal(dlen, 32);
	memcpy(digest, d, 32);
	free(d);
	assert_int_equal(p11a_digestinfo_build(P11A_HASH_SHA256, digest, 32,
					       out, sizeof(out), &n),
			 P11A_OK);
	assert_bytes_hex(out, n,
			 "3031300d060960864801650304020105000420" SHA256_ABC);
}

static void
check_digestinfo(enum p11a_hash h, const char *prefix, size_t len)
{
	uint8_t digest[64], out[128];
	size_t n, plen;
	uint8_t *p;

	memset(digest, 0xa5, sizeof(digest));
	assert_int_equal(
		p11a_digestinfo_build(h, digest, len, out, sizeof(out), &n),
		P11A_OK);
	p = unhex(prefix, &plen);
	assert_int_equal(n, plen + len);
	if (plen > 0)
		assert_memory_equal(out, p, plen);
	assert_memory_equal(out + plen, digest, len);
	free(p);
	/* exactly enough room is enough; one byte less is not */
	assert_int_equal(p11a_digestinfo_build(h, digest, len, out, n, &n),
			 P11A_OK);
	assert_int_equal(p11a_digestinfo_build(h, digest, len, out, n - 1, &n),
			 P11A_ERR_INVALID_ARGUMENT);
	/* a digest of the wrong length is the caller's bad input */
	assert_int_equal(
		p11a_digestinfo_build(h, digest, len - 1, out, sizeof(out), &n),
		P11A_ERR_BAD_INPUT);
	assert_int_equal(n, 0);
	assert_int_equal(
		p11a_digestinfo_build(h, digest, len + 1, out, sizeof(out), &n),
		P11A_ERR_BAD_INPUT);
}

static void
digestinfo_prefix_for_every_hash(void **state)
{
	(void)state;
	check_digestinfo(P11A_HASH_SHA1, "3021300906052b0e03021a05000414", 20);
	check_digestinfo(P11A_HASH_SHA256,
			 "3031300d060960864801650304020105000420", 32);
	check_digestinfo(P11A_HASH_SHA384,
			 "3041300d060960864801650304020205000430", 48);
	check_digestinfo(P11A_HASH_SHA512,
			 "3051300d060960864801650304020305000440", 64);
	/* TLS 1.0/1.1: the bare MD5 || SHA-1 */
	check_digestinfo(P11A_HASH_MD5_SHA1, "", 36);
}

static void
digestinfo_refuses_hash_none(void **state)
{
	uint8_t digest[32] = {0}, out[128];
	size_t n;

	(void)state;
	assert_int_equal(p11a_digestinfo_build(P11A_HASH_NONE, digest, 0, out,
					       sizeof(out), &n),
			 P11A_ERR_INVALID_ARGUMENT);
}

/*
 * Convert r||s, then check with OpenSSL: the DER parses, r and s are the
 * inputs as numbers, and re-encoding gives the same bytes (canonical).
 */
static void
check_raw_to_der(const uint8_t *rs, size_t rs_len)
{
	uint8_t out[P11A_ECDSA_DER_MAX(132)], *re = NULL;
	const uint8_t *p = out;
	const BIGNUM *r, *s;
	BIGNUM *wr, *ws;
	ECDSA_SIG *sig;
	size_t n = 0;
	int relen;

	assert_true(rs_len <= 132);
	assert_int_equal(p11a_ecdsa_raw_to_der(rs, rs_len, out,
					       P11A_ECDSA_DER_MAX(rs_len), &n),
			 P11A_OK);
	assert_true(n <= P11A_ECDSA_DER_MAX(rs_len));
	sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	assert_non_null(sig);
	assert_ptr_equal(p, out + n);
	ECDSA_SIG_get0(sig, &r, &s);
	wr = BN_bin2bn(rs, (int)(rs_len / 2), NULL);
	ws = BN_bin2bn(rs + rs_len / 2, (int)(rs_len / 2), NULL);
	assert_non_null(wr);
	assert_non_null(ws);
	assert_int_equal(BN_cmp(r, wr), 0);
	assert_int_equal(BN_cmp(s, ws), 0);
	relen = i2d_ECDSA_SIG(sig, &re);
	assert_int_equal(relen, n);
	assert_memory_equal(re, out, n);
	OPENSSL_free(re);
	BN_free(wr);
	BN_free(ws);
	ECDSA_SIG_free(sig);
	/* one byte less room is refused */
	assert_int_equal(p11a_ecdsa_raw_to_der(rs, rs_len, out, n - 1, &n),
			 P11A_ERR_INVALID_ARGUMENT);
}

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 37);
}

static void
ecdsa_raw_to_der_small_vector(void **state)
{
	/* r = 0x0080 (needs a 0x00 pad), s = 0x0001 (leading zero dropped) */
	static const uint8_t rs[] = {0x00, 0x80, 0x00, 0x01};
	uint8_t out[32];
	size_t n;

	(void)state;
	assert_int_equal(
		p11a_ecdsa_raw_to_der(rs, sizeof(rs), out, sizeof(out), &n),
		P11A_OK);
	assert_bytes_hex(out, n, "30 07 02 02 0080 02 01 01");
	check_raw_to_der(rs, sizeof(rs));
}

static void
ecdsa_raw_to_der_p256(void **state)
{
	uint8_t rs[64];

	(void)state;
	fill(rs, sizeof(rs), 0x11);
	rs[0] = 0x7f;
	rs[32] = 0x3c;
	check_raw_to_der(rs, sizeof(rs));
}

static void
ecdsa_raw_to_der_pads_high_bit(void **state)
{
	uint8_t rs[64];
	uint8_t out[P11A_ECDSA_DER_MAX(64)];
	size_t n;

	(void)state;
	fill(rs, sizeof(rs), 0x42);
	rs[0] = 0x80;
	rs[32] = 0xff;
	check_raw_to_der(rs, sizeof(rs));
	assert_int_equal(
		p11a_ecdsa_raw_to_der(rs, sizeof(rs), out, sizeof(out), &n),
		P11A_OK);
	assert_bytes_hex(out, 5, "30 46 02 21 00");
	assert_int_equal(n, 72);
}

static void
ecdsa_raw_to_der_strips_leading_zeros(void **state)
{
	uint8_t rs[64];

	(void)state;
	fill(rs, sizeof(rs), 0x99);
	rs[0] = rs[1] = rs[2] = 0x00;
	rs[3] = 0x7f;
	rs[32] = 0x00;
	rs[33] = 0x80; /* zero dropped, then a pad put back */
	check_raw_to_der(rs, sizeof(rs));
	/* a zero half is the INTEGER 0 */
	memset(rs, 0, 32);
	check_raw_to_der(rs, sizeof(rs));
}

static void
ecdsa_raw_to_der_p384(void **state)
{
	uint8_t rs[96];

	(void)state;
	fill(rs, sizeof(rs), 0x05);
	rs[0] = 0xc0;
	check_raw_to_der(rs, sizeof(rs));
}

static void
ecdsa_raw_to_der_p521_uses_long_form_length(void **state)
{
	uint8_t rs[132], out[P11A_ECDSA_DER_MAX(132)];
	size_t n;

	(void)state;
	/* P-521 halves are 66 bytes whose top byte is 0x00 or 0x01 */
	fill(rs, sizeof(rs), 0x21);
	rs[0] = 0x01;
	rs[66] = 0x01;
	check_raw_to_der(rs, sizeof(rs));
	assert_int_equal(
		p11a_ecdsa_raw_to_der(rs, sizeof(rs), out, sizeof(out), &n),
		P11A_OK);
	assert_bytes_hex(out, 5, "30 81 88 02 42");
	assert_int_equal(n, 3 + 136);

	rs[0] = 0x00;
	rs[1] = 0x00;
	check_raw_to_der(rs, sizeof(rs));
	/* the largest: both halves padded */
	rs[0] = 0xff;
	rs[66] = 0xff;
	check_raw_to_der(rs, sizeof(rs));
	assert_int_equal(
		p11a_ecdsa_raw_to_der(rs, sizeof(rs), out, sizeof(out), &n),
		P11A_OK);
	assert_bytes_hex(out, 6, "30 81 8a 02 43 00");
}

static void
ecdsa_raw_to_der_rejects_odd_or_empty_input(void **state)
{
	uint8_t rs[65] = {1}, out[128];
	size_t n = 99;

	(void)state;
	assert_int_equal(p11a_ecdsa_raw_to_der(rs, 65, out, sizeof(out), &n),
			 P11A_ERR_BAD_INPUT);
	assert_int_equal(n, 0);
	assert_int_equal(p11a_ecdsa_raw_to_der(rs, 1, out, sizeof(out), &n),
			 P11A_ERR_BAD_INPUT);
	assert_int_equal(p11a_ecdsa_raw_to_der(rs, 0, out, sizeof(out), &n),
			 P11A_ERR_BAD_INPUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			scheme_table_has_every_scheme_with_its_mechanism),
		cmocka_unit_test(scheme_lookup_of_unknown_code_or_name_is_null),
		cmocka_unit_test(key_can_requires_matching_key_type),
		cmocka_unit_test(key_can_rsa_1024_cannot_do_pss_sha512),
		cmocka_unit_test(key_can_rsa_512_cannot_do_long_digestinfo),
		cmocka_unit_test(key_can_ecdsa_on_any_curve),
		cmocka_unit_test(list_for_key_gives_schemes_in_table_order),
		cmocka_unit_test(path_follows_the_tokens_mechanisms),
		cmocka_unit_test(list_for_mechs_pairs_schemes_and_paths),
		cmocka_unit_test(hash_openssl_names),
		cmocka_unit_test(scheme_hash_matches_known_vectors),
		cmocka_unit_test(scheme_hash_refuses_ed25519_and_small_output),
		cmocka_unit_test(
			digestinfo_of_sha256_abc_is_the_rfc_8017_encoding),
		cmocka_unit_test(digestinfo_prefix_for_every_hash),
		cmocka_unit_test(digestinfo_refuses_hash_none),
		cmocka_unit_test(ecdsa_raw_to_der_small_vector),
		cmocka_unit_test(ecdsa_raw_to_der_p256),
		cmocka_unit_test(ecdsa_raw_to_der_pads_high_bit),
		cmocka_unit_test(ecdsa_raw_to_der_strips_leading_zeros),
		cmocka_unit_test(ecdsa_raw_to_der_p384),
		cmocka_unit_test(ecdsa_raw_to_der_p521_uses_long_form_length),
		cmocka_unit_test(ecdsa_raw_to_der_rejects_odd_or_empty_input),
	};

	return cmocka_run_group_tests_name("scheme", tests, NULL, NULL);
}
