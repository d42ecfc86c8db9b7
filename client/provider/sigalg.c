/*
 * From what OpenSSL asks for (key type, padding, digest) to what the
 * agent speaks (a TLS SignatureScheme), and the DER AlgorithmIdentifier
 * that certificates and CSRs carry for each combination.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "prov.h"
#include "scheme.h"

struct md_info {
	const char *name; /* canonical OpenSSL name */
	const char *aliases[3];
	size_t size;
	enum p11a_hash hash;
	uint16_t pkcs1, pss, ecdsa; /* schemes; 0: none */
	int pkcs1_nid, ecdsa_nid;   /* signature algorithm OIDs */
};

static const struct md_info mds[] = {
	{"SHA1",
	 {"SHA-1", "SSL3-SHA1", "1.3.14.3.2.26"},
	 20,
	 P11A_HASH_SHA1,
	 P11A_SCHEME_RSA_PKCS1_SHA1,
	 0,
	 P11A_SCHEME_ECDSA_SHA1,
	 NID_sha1WithRSAEncryption,
	 NID_ecdsa_with_SHA1},
	{"SHA256",
	 {"SHA2-256", "SHA-256", "2.16.840.1.101.3.4.2.1"},
	 32,
	 P11A_HASH_SHA256,
	 P11A_SCHEME_RSA_PKCS1_SHA256,
	 P11A_SCHEME_RSA_PSS_RSAE_SHA256,
	 P11A_SCHEME_ECDSA_SECP256R1_SHA256,
	 NID_sha256WithRSAEncryption,
	 NID_ecdsa_with_SHA256},
	{"SHA384",
	 {"SHA2-384", "SHA-384", "2.16.840.1.101.3.4.2.2"},
	 48,
	 P11A_HASH_SHA384,
	 P11A_SCHEME_RSA_PKCS1_SHA384,
	 P11A_SCHEME_RSA_PSS_RSAE_SHA384,
	 P11A_SCHEME_ECDSA_SECP384R1_SHA384,
	 NID_sha384WithRSAEncryption,
	 NID_ecdsa_with_SHA384},
	{"SHA512",
	 {"SHA2-512", "SHA-512", "2.16.840.1.101.3.4.2.3"},
	 64,
	 P11A_HASH_SHA512,
	 P11A_SCHEME_RSA_PKCS1_SHA512,
	 P11A_SCHEME_RSA_PSS_RSAE_SHA512,
	 P11A_SCHEME_ECDSA_SECP521R1_SHA512,
	 NID_sha512WithRSAEncryption,
	 NID_ecdsa_with_SHA512},
	/* TLS 1.0/1.1 RSA: no OID, no ECDSA form */
	{"MD5-SHA1",
	 {NULL, NULL, NULL},
	 36,
	 P11A_HASH_MD5_SHA1,
	 P11A_SCHEME_RSA_PKCS1_MD5_SHA1,
	 0,
	 0,
	 NID_undef,
	 NID_undef},
};

#define N_MDS (sizeof(mds) / sizeof(mds[0]))

static const struct md_info *
md_find(const char *name)
{
	size_t i, j;

	if (name == NULL)
		return NULL;
	for (i = 0; i < N_MDS; i++) {
		if (strcasecmp(name, mds[i].name) == 0)
			return &mds[i];
		for (j = 0; j < 3 && mds[i].aliases[j] != NULL; j++)
			if (strcasecmp(name, mds[i].aliases[j]) == 0)
				return &mds[i];
	}
	return NULL;
}

const char *
p11a_sigalg_md_canon(const char *mdname)
{
	const struct md_info *m = md_find(mdname);

	return m != NULL ? m->name : NULL;
}

size_t
p11a_sigalg_md_size(const char *mdname)
{
	const struct md_info *m = md_find(mdname);

	return m != NULL ? m->size : 0;
}

const char *
p11a_sigalg_md_for_len(size_t len)
{
	size_t i;

	for (i = 0; i < N_MDS; i++)
		if (mds[i].size == len && mds[i].ecdsa != 0)
			return mds[i].name;
	return NULL;
}

uint16_t
p11a_sigalg_scheme(uint8_t key_type, enum p11a_pad pad, const char *mdname)
{
	const struct md_info *m = md_find(mdname);

	if (key_type == P11A_KEY_ED25519)
		return mdname == NULL ? P11A_SCHEME_ED25519 : 0;
	if (m == NULL)
		return 0;
	if (key_type == P11A_KEY_EC)
		return m->ecdsa;
	if (key_type != P11A_KEY_RSA)
		return 0;
	if (pad == P11A_PAD_PKCS1)
		return m->pkcs1;
	if (pad == P11A_PAD_PSS)
		return m->pss;
	return 0;
}

/* ---- the words of RSA parameters ----------------------------------------- */

/* OpenSSL names each padding and salt-length value in two forms. */
static const OSSL_ITEM pad_modes[] = {
	{RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15},
	{RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS},
	{RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE},
	{RSA_X931_PADDING, OSSL_PKEY_RSA_PAD_MODE_X931},
};

static const OSSL_ITEM saltlens[] = {
	{(unsigned int)RSA_PSS_SALTLEN_DIGEST,
	 OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST},
	{(unsigned int)RSA_PSS_SALTLEN_MAX, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX},
	{(unsigned int)RSA_PSS_SALTLEN_AUTO, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO},
#ifdef RSA_PSS_SALTLEN_AUTO_DIGEST_MAX /* OpenSSL 3.1 */
	{(unsigned int)RSA_PSS_SALTLEN_AUTO_DIGEST_MAX,
	 OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO_DIGEST_MAX},
#endif
};

#define N_ITEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *
item_name(const OSSL_ITEM *items, size_t n, int id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((int)items[i].id == id)
			return items[i].ptr;
	return NULL;
}

static int
item_id(const OSSL_ITEM *items, size_t n, const char *name, int *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(name, items[i].ptr) == 0) {
			*id = (int)items[i].id;
			return 1;
		}
	return 0;
}

int
p11a_sigalg_pad_mode(const char *name)
{
	int mode;

	return item_id(pad_modes, N_ITEMS(pad_modes), name, &mode) ? mode : -1;
}

const char *
p11a_sigalg_pad_mode_name(int mode)
{
	return item_name(pad_modes, N_ITEMS(pad_modes), mode);
}

/* A whole decimal int, sign allowed (as OpenSSL's own "-1"); -1 if not. */
static int
parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < INT_MIN ||
	    v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int
p11a_sigalg_saltlen_valid(int saltlen)
{
	return saltlen >= 0 ||
	       item_name(saltlens, N_ITEMS(saltlens), saltlen) != NULL;
}

int
p11a_sigalg_saltlen_parse(const char *s, int *saltlen)
{
	int n;

	if (!item_id(saltlens, N_ITEMS(saltlens), s, &n) &&
	    (parse_int(s, &n) != 0 || !p11a_sigalg_saltlen_valid(n)))
		return -1;
	*saltlen = n;
	return 0;
}

int
p11a_sigalg_saltlen_format(int saltlen, char *buf, size_t len)
{
	const char *name = item_name(saltlens, N_ITEMS(saltlens), saltlen);
	int n = name != NULL ? snprintf(buf, len, "%s", name)
			     : snprintf(buf, len, "%d", saltlen);

	return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* ---- AlgorithmIdentifier ------------------------------------------------- */

/* A hash's AlgorithmIdentifier with NULL parameters, as OpenSSL's own. */
static int
set_hash(X509_ALGOR *alg, const EVP_MD *md)
{
	return X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)),
			       V_ASN1_NULL, NULL);
}

/* RSASSA-PSS-params for md, salt = hash length, MGF1 with md. */
static ASN1_STRING *
pss_params(const EVP_MD *md, int salt)
{
	RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
	X509_ALGOR *mgf1md = X509_ALGOR_new();
	ASN1_STRING *mgf1 = NULL, *out = NULL;

	if (pss == NULL || mgf1md == NULL ||
	    (pss->hashAlgorithm = X509_ALGOR_new()) == NULL ||
	    (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
	    (pss->saltLength = ASN1_INTEGER_new()) == NULL)
		goto out;
	if (!set_hash(pss->hashAlgorithm, md) || !set_hash(mgf1md, md) ||
	    ASN1_item_pack(mgf1md, ASN1_ITEM_rptr(X509_ALGOR), &mgf1) == NULL ||
	    !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1),
			     V_ASN1_SEQUENCE, mgf1))
		goto out;
	mgf1 = NULL;
	if (!ASN1_INTEGER_set(pss->saltLength, salt))
		goto out;
	ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), &out);
out:
	ASN1_STRING_free(mgf1);
	X509_ALGOR_free(mgf1md);
	RSA_PSS_PARAMS_free(pss);
	return out;
}

/* Fill alg for the combination; 0 when there is no such algorithm. */
static int
set_algorithm(X509_ALGOR *alg, uint8_t key_type, enum p11a_pad pad,
	      const struct md_info *m)
{
	ASN1_STRING *params;

	if (key_type == P11A_KEY_ED25519)
		return m == NULL &&
		       X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED25519),
				       V_ASN1_UNDEF, NULL);
	if (m == NULL)
		return 0;
	if (key_type == P11A_KEY_EC)
		return m->ecdsa_nid != NID_undef &&
		       X509_ALGOR_set0(alg, OBJ_nid2obj(m->ecdsa_nid),
				       V_ASN1_UNDEF, NULL);
	if (key_type != P11A_KEY_RSA)
		return 0;
	if (pad == P11A_PAD_PKCS1)
		return m->pkcs1_nid != NID_undef &&
		       X509_ALGOR_set0(alg, OBJ_nid2obj(m->pkcs1_nid),
				       V_ASN1_NULL, NULL);
	if (pad != P11A_PAD_PSS || m->pss == 0)
		return 0;
	params = pss_params(EVP_get_digestbyname(m->name), (int)m->size);
	if (params == NULL)
		return 0;
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE,
			     params)) {
		ASN1_STRING_free(params);
		return 0;
	}
	return 1;
}

size_t
p11a_sigalg_algorithm_id(uint8_t key_type, enum p11a_pad pad,
			 const char *mdname, uint8_t *out, size_t max)
{
	X509_ALGOR *alg = X509_ALGOR_new();
	unsigned char *der = NULL;
	int len = 0;
	size_t n = 0;

	if (alg == NULL ||
	    !set_algorithm(alg, key_type, pad, mdname ? md_find(mdname) : NULL))
		goto out;
	if ((len = i2d_X509_ALGOR(alg, &der)) <= 0 || (size_t)len > max)
		goto out;
	memcpy(out, der, (size_t)len);
	n = (size_t)len;
out:
	OPENSSL_free(der);
	X509_ALGOR_free(alg);
	return n;
}

/* ---- DigestInfo ---------------------------------------------------------- */

int
p11a_sigalg_parse_digestinfo(const uint8_t *in, size_t len,
			     const uint8_t **digest, size_t *digest_len,
			     const char **mdname)
{
	static const uint8_t zeros[64];
	uint8_t buf[128];
	size_t i, n;

	for (i = 0; i < N_MDS; i++) {
		if (mds[i].pkcs1_nid == NID_undef ||
		    p11a_digestinfo_build(mds[i].hash, zeros, mds[i].size, buf,
					  sizeof(buf), &n) != P11A_OK)
			continue;
		/* same length and the same fixed prefix before the hash */
		if (n != len || memcmp(buf, in, n - mds[i].size) != 0)
			continue;
		*digest = in + (n - mds[i].size);
		*digest_len = mds[i].size;
		*mdname = mds[i].name;
		return 1;
	}
	return 0;
}
