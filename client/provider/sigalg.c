/*
 * From what OpenSSL asks for (key type, padding, digest) to what the
 * agent speaks (a TLS SignatureScheme), and the DER AlgorithmIdentifier
 * that certificates and CSRs carry for each combination.
 */
#include <string.h>
#include <strings.h>

#include <openssl/asn1t.h>
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

/* ---- AlgorithmIdentifier ------------------------------------------------- */

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
	X509_ALGOR_set_md(pss->hashAlgorithm, md);
	X509_ALGOR_set_md(mgf1md, md);
	if (ASN1_item_pack(mgf1md, ASN1_ITEM_rptr(X509_ALGOR), &mgf1) == NULL ||
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
