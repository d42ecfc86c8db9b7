/*
 * cmocka tests of the module's pure logic: mechanism checks and their
 * SIGN requests, digests, ECDSA DER to r||s, the identity filter, the
 * options and attribute templates.  No agent, no token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>

#include "attrs.h"
#include "digest.h"
#include "ecsig.h"
#include "filter.h"
#include "mech.h"
#include "options.h"

static struct p11m_keyinfo
key_with(uint8_t type, unsigned bits)
{
	struct p11m_keyinfo k = {.key_type = type, .bits = bits};

	k.n_schemes = p11a_scheme_list_for_key(type, bits, k.schemes,
					       P11A_MAX_SCHEMES);
	return k;
}

static CK_RV
plan(CK_MECHANISM_TYPE t, void *params, size_t len,
     const struct p11m_keyinfo *k, struct p11m_plan *p)
{
	CK_MECHANISM m = {t, params, len};

	return p11m_mech_plan(&m, k, p);
}

static void
mechanism_of_another_key_type_is_invalid(void **state)
{
	struct p11m_keyinfo rsa = key_with(P11A_KEY_RSA, 2048);
	struct p11m_keyinfo ec = key_with(P11A_KEY_EC, 256);
	struct p11m_keyinfo ed = key_with(P11A_KEY_ED25519, 256);
	struct p11m_plan p;

	(void)state;
	assert_int_equal(plan(CKM_ECDSA, NULL, 0, &rsa, &p),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(plan(CKM_SHA256_RSA_PKCS, NULL, 0, &ec, &p),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(plan(CKM_ECDSA, NULL, 0, &ed, &p),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(plan(CKM_SHA224_RSA_PKCS, NULL, 0, &rsa, &p),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(plan(CKM_EDDSA, NULL, 0, &ed, &p), CKR_OK);
}

static void
pss_needs_salt_of_hash_length_and_same_mgf(void **state)
{
	struct p11m_keyinfo rsa = key_with(P11A_KEY_RSA, 2048);
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA384, CKG_MGF1_SHA384, 48};
	struct p11m_plan p;

	(void)state;
	assert_int_equal(plan(CKM_RSA_PKCS_PSS, &pss, sizeof(pss), &rsa, &p),
			 CKR_OK);
	assert_int_equal(p.scheme, P11A_SCHEME_RSA_PSS_RSAE_SHA384);
	pss.sLen = 20;
	assert_int_equal(plan(CKM_RSA_PKCS_PSS, &pss, sizeof(pss), &rsa, &p),
			 CKR_MECHANISM_PARAM_INVALID);
	pss.sLen = 48;
	pss.mgf = CKG_MGF1_SHA256;
	assert_int_equal(plan(CKM_RSA_PKCS_PSS, &pss, sizeof(pss), &rsa, &p),
			 CKR_MECHANISM_PARAM_INVALID);
	/* PSS with SHA-1 is no TLS scheme */
	pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA_1, CKG_MGF1_SHA1, 20};
	assert_int_equal(plan(CKM_RSA_PKCS_PSS, &pss, sizeof(pss), &rsa, &p),
			 CKR_MECHANISM_PARAM_INVALID);
	/* parameters are required for the raw mechanism */
	assert_int_equal(plan(CKM_RSA_PKCS_PSS, NULL, 0, &rsa, &p),
			 CKR_MECHANISM_PARAM_INVALID);
	/* the hashed one takes none or matching ones */
	assert_int_equal(plan(CKM_SHA256_RSA_PKCS_PSS, NULL, 0, &rsa, &p),
			 CKR_OK);
	pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA384, CKG_MGF1_SHA384, 48};
	assert_int_equal(
		plan(CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss), &rsa, &p),
		CKR_MECHANISM_PARAM_INVALID);
}

static void
pss_sha512_is_refused_on_a_1024_bit_key(void **state)
{
	struct p11m_keyinfo rsa = key_with(P11A_KEY_RSA, 1024);
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA512, CKG_MGF1_SHA512, 64};
	struct p11m_plan p;

	(void)state;
	assert_int_equal(plan(CKM_RSA_PKCS_PSS, &pss, sizeof(pss), &rsa, &p),
			 CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(plan(CKM_SHA512_RSA_PKCS_PSS, NULL, 0, &rsa, &p),
			 CKR_MECHANISM_INVALID);
}

static void
eddsa_refuses_prehash_and_context(void **state)
{
	struct p11m_keyinfo ed = key_with(P11A_KEY_ED25519, 256);
	struct p11m_eddsa_params e = {CK_TRUE, 0, NULL};
	struct p11m_plan p;

	(void)state;
	assert_int_equal(plan(CKM_EDDSA, &e, sizeof(e), &ed, &p),
			 CKR_MECHANISM_PARAM_INVALID);
	e.ph_flag = CK_FALSE;
	assert_int_equal(plan(CKM_EDDSA, &e, sizeof(e), &ed, &p), CKR_OK);
}

static void
rsa_pkcs_digestinfo_maps_to_its_hash(void **state)
{
	struct p11m_keyinfo rsa = key_with(P11A_KEY_RSA, 2048);
	static const uint8_t prefix384[] = {
		0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
	uint8_t in[19 + 48];
	const uint8_t *data;
	size_t len;
	uint16_t scheme;
	uint32_t flags;
	struct p11m_plan p;

	(void)state;
	assert_int_equal(plan(CKM_RSA_PKCS, NULL, 0, &rsa, &p), CKR_OK);
	memcpy(in, prefix384, sizeof(prefix384));
	memset(in + 19, 0xab, 48);
	assert_int_equal(p11m_mech_request(&p, &rsa, in, sizeof(in), &scheme,
					   &flags, &data, &len),
			 CKR_OK);
	assert_int_equal(scheme, P11A_SCHEME_RSA_PKCS1_SHA384);
	assert_int_equal(flags, P11A_SIGN_DIGEST);
	assert_int_equal(len, 48);
	assert_ptr_equal(data, in + 19);
	/* the bare 36 bytes of TLS 1.0/1.1 */
	assert_int_equal(p11m_mech_request(&p, &rsa, in, 36, &scheme, &flags,
					   &data, &len),
			 CKR_OK);
	assert_int_equal(scheme, P11A_SCHEME_RSA_PKCS1_MD5_SHA1);
	assert_int_equal(len, 36);
	/* anything else: not a DigestInfo the agent can sign */
	in[3] ^= 1;
	assert_int_equal(p11m_mech_request(&p, &rsa, in, sizeof(in), &scheme,
					   &flags, &data, &len),
			 CKR_DATA_INVALID);
	assert_int_equal(p11m_mech_request(&p, &rsa, in, 35, &scheme, &flags,
					   &data, &len),
			 CKR_DATA_INVALID);
}

static void
ecdsa_digest_length_picks_the_scheme(void **state)
{
	struct p11m_keyinfo ec = key_with(P11A_KEY_EC, 256);
	static const struct {
		size_t len;
		uint16_t scheme;
	} want[] = {
		{20, P11A_SCHEME_ECDSA_SHA1},
		{32, P11A_SCHEME_ECDSA_SECP256R1_SHA256},
		{48, P11A_SCHEME_ECDSA_SECP384R1_SHA384},
		{64, P11A_SCHEME_ECDSA_SECP521R1_SHA512},
	};
	uint8_t in[64] = {0};
	const uint8_t *data;
	size_t len, i;
	uint16_t scheme;
	uint32_t flags;
	struct p11m_plan p;

	(void)state;
	assert_int_equal(plan(CKM_ECDSA, NULL, 0, &ec, &p), CKR_OK);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(p11m_mech_request(&p, &ec, in, want[i].len,
						   &scheme, &flags, &data,
						   &len),
				 CKR_OK);
		assert_int_equal(scheme, want[i].scheme);
		assert_int_equal(flags, P11A_SIGN_DIGEST);
	}
	assert_int_equal(p11m_mech_request(&p, &ec, in, 28, &scheme, &flags,
					   &data, &len),
			 CKR_DATA_LEN_RANGE);
}

static void
eddsa_sends_the_message_form(void **state)
{
	struct p11m_keyinfo ed = key_with(P11A_KEY_ED25519, 256);
	const uint8_t msg[5] = "hello";
	const uint8_t *data;
	size_t len;
	uint16_t scheme;
	uint32_t flags;
	struct p11m_plan p;

	(void)state;
	assert_int_equal(plan(CKM_EDDSA, NULL, 0, &ed, &p), CKR_OK);
	assert_int_equal(p11m_mech_request(&p, &ed, msg, sizeof(msg), &scheme,
					   &flags, &data, &len),
			 CKR_OK);
	assert_int_equal(scheme, P11A_SCHEME_ED25519);
	assert_int_equal(flags, 0);
	assert_int_equal(len, sizeof(msg));
}

/* A key whose token only hashes-and-signs gets the message, unhashed. */
static void
message_only_key_sends_the_message_of_hashed_mechanisms(void **state)
{
	struct p11m_keyinfo rsa = key_with(P11A_KEY_RSA, 2048);
	struct p11m_keyinfo ec = key_with(P11A_KEY_EC, 256);
	const uint8_t msg[5] = "hello", *data;
	CK_MECHANISM_TYPE m[P11M_MECH_MAX];
	size_t len, n, i;
	uint16_t scheme;
	uint32_t flags;
	struct p11m_plan p;

	(void)state;
	rsa.flags = ec.flags = P11A_IDENTITY_MESSAGE_ONLY;
	assert_int_equal(plan(CKM_SHA384_RSA_PKCS, NULL, 0, &rsa, &p), CKR_OK);
	assert_true(p.message);
	assert_int_equal(p11m_mech_request(&p, &rsa, msg, sizeof(msg), &scheme,
					   &flags, &data, &len),
			 CKR_OK);
	assert_int_equal(scheme, P11A_SCHEME_RSA_PKCS1_SHA384);
	assert_int_equal(flags, 0);
	assert_ptr_equal(data, msg);
	assert_int_equal(len, sizeof(msg));
	assert_int_equal(plan(CKM_RSA_PKCS, NULL, 0, &rsa, &p),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(plan(CKM_ECDSA, NULL, 0, &ec, &p),
			 CKR_MECHANISM_INVALID);
	n = p11m_mech_list_for_key(&ec, m, P11M_MECH_MAX);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++)
		assert_int_not_equal(m[i], CKM_ECDSA);
	/* a key that signs digests keeps getting the digest */
	ec.flags = 0;
	assert_int_equal(plan(CKM_ECDSA_SHA256, NULL, 0, &ec, &p), CKR_OK);
	assert_false(p.message);
}

static void
key_mechanism_list_follows_its_schemes(void **state)
{
	struct p11m_keyinfo rsa = key_with(P11A_KEY_RSA, 1024);
	struct p11m_keyinfo ec = key_with(P11A_KEY_EC, 384);
	CK_MECHANISM_TYPE m[P11M_MECH_MAX];
	size_t n, i;

	(void)state;
	n = p11m_mech_list_for_key(&rsa, m, P11M_MECH_MAX);
	/* 1024 bits: no PSS with SHA-512 (128 < 2 * 64 + 2) */
	for (i = 0; i < n; i++)
		assert_int_not_equal(m[i], CKM_SHA512_RSA_PKCS_PSS);
	assert_int_equal(n, 8);
	n = p11m_mech_list_for_key(&ec, m, P11M_MECH_MAX);
	assert_int_equal(n, 5);
	assert_int_equal(m[0], CKM_ECDSA);
	assert_int_equal(p11m_sig_len(&ec), 96);
	assert_int_equal(p11m_sig_len(&rsa), 128);
}

/* DER of (r, s) by OpenSSL, for the converter to undo. */
static size_t
der_of(const uint8_t *r, const uint8_t *s, size_t half, uint8_t *out)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *p = out;
	int n;

	assert_true(ECDSA_SIG_set0(sig, BN_bin2bn(r, (int)half, NULL),
				   BN_bin2bn(s, (int)half, NULL)));
	n = i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	assert_true(n > 0);
	return (size_t)n;
}

static void
ecdsa_der_becomes_fixed_width_r_and_s(void **state)
{
	uint8_t r[66], s[66], der[160], raw[132];
	size_t len;

	(void)state;
	/* P-521 (long DER form) with small values needing left padding */
	memset(r, 0, sizeof(r));
	memset(s, 0xff, sizeof(s));
	r[65] = 7;
	s[0] = 0x01;
	len = der_of(r, s, 66, der);
	assert_int_equal(p11m_ecdsa_der_to_raw(der, len, 66, raw), 0);
	assert_memory_equal(raw, r, 66);
	assert_memory_equal(raw + 66, s, 66);
	/* trailing bytes, truncation, a value too large for the half */
	der[len] = 0;
	assert_int_equal(p11m_ecdsa_der_to_raw(der, len + 1, 66, raw), -1);
	assert_int_equal(p11m_ecdsa_der_to_raw(der, len - 1, 66, raw), -1);
	assert_int_equal(p11m_ecdsa_der_to_raw(der, len, 32, raw), -1);
}

static P11KitUri *
identity_uri(const char *s)
{
	P11KitUri *u = p11_kit_uri_new();

	assert_int_equal(p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, u),
			 P11_KIT_URI_OK);
	return u;
}

static void
filter_by_key_type_and_by_uri(void **state)
{
	P11KitUri *a = identity_uri(
		"pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;"
		"serial=1;token=A;id=%01;object=a-rsa;type=private");
	P11KitUri *noid = identity_uri("pkcs11:token=A;object=x;type=private");
	struct p11m_filter f;
	const char *why;

	(void)state;
	assert_int_equal(p11m_filter_parse("rsa,EC", &f, &why), 0);
	assert_true(p11m_filter_match(&f, a, P11A_KEY_RSA));
	assert_true(p11m_filter_match(&f, a, P11A_KEY_EC));
	assert_false(p11m_filter_match(&f, a, P11A_KEY_ED25519));
	p11m_filter_free(&f);

	assert_int_equal(
		p11m_filter_parse("pkcs11:token=A;id=%01;type=cert", &f, &why),
		0);
	/* type= is ignored: the filter picks identities */
	assert_true(p11m_filter_match(&f, a, P11A_KEY_ED25519));
	/* an id the identity does not have never matches */
	assert_false(p11m_filter_match(&f, noid, P11A_KEY_RSA));
	p11m_filter_free(&f);

	assert_int_equal(p11m_filter_parse("pkcs11:token=B", &f, &why), 0);
	assert_false(p11m_filter_match(&f, a, P11A_KEY_RSA));
	p11m_filter_free(&f);

	assert_int_equal(p11m_filter_parse("rsa,dsa", &f, &why), -1);
	assert_non_null(why);
	assert_int_equal(p11m_filter_parse(",", &f, &why), -1);
	assert_int_equal(p11m_filter_parse("pkcs11:token=%zz", &f, &why), -1);
	assert_int_equal(p11m_filter_parse(NULL, &f, &why), 0);
	assert_true(p11m_filter_match(&f, a, P11A_KEY_ED25519));
	p11_kit_uri_free(a);
	p11_kit_uri_free(noid);
}

static void
environment_overrides_init_args(void **state)
{
	struct p11m_options o;

	(void)state;
	unsetenv("P11AGENT_SOCK");
	unsetenv("P11AGENT_PKCS11_FILTER");
	assert_int_equal(p11m_options_load(&o, "  socket=/a/s  junk "
					       "colour=blue filter=pkcs11:"
					       "token=A;object=k "),
			 CKR_OK);
	assert_string_equal(o.socket, "/a/s");
	assert_string_equal(o.filter, "pkcs11:token=A;object=k");
	p11m_options_free(&o);
	setenv("P11AGENT_PKCS11_FILTER", "ec", 1);
	assert_int_equal(p11m_options_load(&o, "filter=rsa"), CKR_OK);
	assert_string_equal(o.filter, "ec");
	assert_null(o.socket);
	p11m_options_free(&o);
	unsetenv("P11AGENT_PKCS11_FILTER");
}

static void
attribute_template_semantics(void **state)
{
	struct p11m_attrs a = {0};
	CK_ULONG cls = CKO_PRIVATE_KEY, out = 0;
	CK_BBOOL yes = CK_TRUE;
	uint8_t small[2];
	CK_ATTRIBUTE t[4] = {
		{CKA_CLASS, &out, sizeof(out)},
		{CKA_PRIVATE_EXPONENT, NULL, 0},
		{CKA_LABEL, small, sizeof(small)},
		{CKA_MODULUS, NULL, 0},
	};
	CK_ATTRIBUTE m[2] = {{CKA_CLASS, &cls, sizeof(cls)},
			     {CKA_SIGN, &yes, sizeof(yes)}};

	(void)state;
	p11m_attrs_add_ulong(&a, CKA_CLASS, CKO_PRIVATE_KEY);
	p11m_attrs_add_bool(&a, CKA_SIGN, CK_TRUE);
	p11m_attrs_add(&a, CKA_LABEL, "label", 5);
	p11m_attrs_add_sensitive(&a, CKA_PRIVATE_EXPONENT);
	assert_false(a.failed);
	/* every entry processed; the last problem is what is returned */
	assert_int_equal(p11m_attrs_get(&a, t, 4), CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(out, CKO_PRIVATE_KEY);
	assert_int_equal(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_true(p11m_attrs_match(&a, m, 2));
	yes = CK_FALSE;
	assert_false(p11m_attrs_match(&a, m, 2));
	/* a sensitive attribute never matches a template */
	m[0] = (CK_ATTRIBUTE){CKA_PRIVATE_EXPONENT, NULL, 0};
	assert_false(p11m_attrs_match(&a, m, 1));
	p11m_attrs_free(&a);
}

/* FIPS 180-4 example values: the digests of "abc". */
static const struct {
	CK_MECHANISM_TYPE type;
	const char *abc;
} known[] = {
	{CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
	{CKM_SHA224,
	 "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
	{CKM_SHA256, "ba7816bf8f01cfea414140de5dae2223"
		     "b00361a396177a9cb410ff61f20015ad"},
	{CKM_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
		     "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"},
	{CKM_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea2"
		     "0a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
		     "454d4423643ce80e2a9ac94fa54ca49f"},
};

#define N_KNOWN (sizeof(known) / sizeof(known[0]))

static void
digests_match_known_answers_in_parts(void **state)
{
	CK_MECHANISM m = {0, NULL, 0};
	struct p11m_digest *d;
	uint8_t out[64], *want;
	CK_ULONG len;
	long want_len;
	size_t i;

	(void)state;
	for (i = 0; i < N_KNOWN; i++) {
		want = OPENSSL_hexstr2buf(known[i].abc, &want_len);
		assert_non_null(want);
		m.mechanism = known[i].type;
		assert_int_equal(p11m_digest_new(&m, &d), CKR_OK);
		assert_int_equal(p11m_digest_len(d), (size_t)want_len);
		/* "abc" in three parts, one of them empty */
		assert_int_equal(p11m_digest_update(d, (const uint8_t *)"a", 1),
				 CKR_OK);
		assert_int_equal(p11m_digest_update(d, NULL, 0), CKR_OK);
		assert_int_equal(
			p11m_digest_update(d, (const uint8_t *)"bc", 2),
			CKR_OK);
		assert_int_equal(p11m_digest_final(d, out, &len), CKR_OK);
		assert_int_equal(len, (CK_ULONG)want_len);
		assert_memory_equal(out, want, len);
		p11m_digest_free(d);
		OPENSSL_free(want);
	}
}

static void
digest_refuses_other_mechanisms_and_parameters(void **state)
{
	CK_MECHANISM m = {CKM_MD5, NULL, 0};
	struct p11m_digest *d = (struct p11m_digest *)&m;
	CK_BYTE param = 0;

	(void)state;
	assert_int_equal(p11m_digest_new(&m, &d), CKR_MECHANISM_INVALID);
	assert_null(d);
	m.mechanism = CKM_SHA256_RSA_PKCS;
	assert_int_equal(p11m_digest_new(&m, &d), CKR_MECHANISM_INVALID);
	m.mechanism = CKM_SHA256;
	m.pParameter = &param;
	m.ulParameterLen = 1;
	assert_int_equal(p11m_digest_new(&m, &d), CKR_MECHANISM_PARAM_INVALID);
	assert_null(d);
	assert_int_equal(p11m_digest_new(NULL, &d), CKR_ARGUMENTS_BAD);
	assert_int_equal(p11m_digest_new_md("NO-SUCH-HASH", &d),
			 CKR_GENERAL_ERROR);
	assert_null(d);
}

static void
digest_mechanisms_are_listed_with_digest_flag(void **state)
{
	CK_MECHANISM_TYPE list[P11M_DIGEST_MAX];
	CK_MECHANISM_INFO info;
	size_t i, n;

	(void)state;
	n = p11m_digest_mechanisms(list, P11M_DIGEST_MAX);
	assert_int_equal(n, N_KNOWN);
	for (i = 0; i < n; i++) {
		assert_int_equal(list[i], known[i].type);
		assert_int_equal(p11m_digest_mechanism_info(list[i], &info),
				 CKR_OK);
		assert_int_equal(info.flags, CKF_DIGEST);
		assert_int_equal(info.ulMinKeySize, 0);
		assert_int_equal(info.ulMaxKeySize, 0);
	}
	assert_int_equal(p11m_digest_mechanisms(list, 2), 2);
	assert_int_equal(p11m_digest_mechanism_info(CKM_ECDSA, &info),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(p11m_digest_mechanism_info(CKM_MD5, &info),
			 CKR_MECHANISM_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mechanism_of_another_key_type_is_invalid),
		cmocka_unit_test(pss_needs_salt_of_hash_length_and_same_mgf),
		cmocka_unit_test(pss_sha512_is_refused_on_a_1024_bit_key),
		cmocka_unit_test(eddsa_refuses_prehash_and_context),
		cmocka_unit_test(rsa_pkcs_digestinfo_maps_to_its_hash),
		cmocka_unit_test(ecdsa_digest_length_picks_the_scheme),
		cmocka_unit_test(eddsa_sends_the_message_form),
		cmocka_unit_test(
			message_only_key_sends_the_message_of_hashed_mechanisms),
		cmocka_unit_test(key_mechanism_list_follows_its_schemes),
		cmocka_unit_test(digests_match_known_answers_in_parts),
		cmocka_unit_test(
			digest_refuses_other_mechanisms_and_parameters),
		cmocka_unit_test(digest_mechanisms_are_listed_with_digest_flag),
		cmocka_unit_test(ecdsa_der_becomes_fixed_width_r_and_s),
		cmocka_unit_test(filter_by_key_type_and_by_uri),
		cmocka_unit_test(environment_overrides_init_args),
		cmocka_unit_test(attribute_template_semantics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
