/* Public-key attributes from an SPKI: see pubkey.h. */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "pubkey.h"

/* The BIGNUM parameter name of pkey as unsigned big-endian bytes. */
static int
add_bn(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type, const EVP_PKEY *pkey,
       const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	int len, rc = -1;

	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		return -1;
	len = BN_num_bytes(bn);
	if ((buf = OPENSSL_malloc(len > 0 ? (size_t)len : 1)) == NULL)
		goto out;
	BN_bn2bin(bn, buf);
	p11m_attrs_add(a, type, buf, (size_t)len);
	rc = 0;
out:
	OPENSSL_free(buf);
	BN_free(bn);
	return rc;
}

static int
rsa_attrs(X509_PUBKEY *xpk, struct p11m_pubkey *pk)
{
	EVP_PKEY *pkey = X509_PUBKEY_get0(xpk);

	if (pkey == NULL)
		return -1;
	pk->key_type = CKK_RSA;
	pk->modulus_bits = (CK_ULONG)EVP_PKEY_get_bits(pkey);
	if (add_bn(&pk->attrs, CKA_MODULUS, pkey, OSSL_PKEY_PARAM_RSA_N) != 0 ||
	    add_bn(&pk->attrs, CKA_PUBLIC_EXPONENT, pkey,
		   OSSL_PKEY_PARAM_RSA_E) != 0)
		return -1;
	return 0;
}

/* DER of an ASN.1 object (an OID) as an attribute. */
static int
add_oid(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type, const ASN1_OBJECT *obj)
{
	unsigned char *der = NULL;
	int len;

	if ((len = i2d_ASN1_OBJECT(obj, &der)) <= 0)
		return -1;
	p11m_attrs_add(a, type, der, (size_t)len);
	OPENSSL_free(der);
	return 0;
}

/* A DER OCTET STRING around point, as CKA_EC_POINT. */
static int
add_point(struct p11m_attrs *a, const unsigned char *point, int len)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	unsigned char *der = NULL;
	int der_len, rc = -1;

	if (os == NULL || !ASN1_OCTET_STRING_set(os, point, len))
		goto out;
	if ((der_len = i2d_ASN1_OCTET_STRING(os, &der)) <= 0)
		goto out;
	p11m_attrs_add(a, CKA_EC_POINT, der, (size_t)der_len);
	rc = 0;
out:
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(os);
	return rc;
}

/* EC (params: the named curve's OID) and Ed25519 (no params). */
static int
ec_attrs(X509_PUBKEY *xpk, int nid, struct p11m_pubkey *pk)
{
	const unsigned char *point;
	const ASN1_OBJECT *curve;
	const void *pval;
	X509_ALGOR *alg;
	int len, ptype;

	if (!X509_PUBKEY_get0_param(NULL, &point, &len, &alg, xpk))
		return -1;
	if (nid == NID_ED25519) {
		pk->key_type = CKK_EC_EDWARDS;
		curve = OBJ_nid2obj(NID_ED25519);
	} else {
		pk->key_type = CKK_EC;
		X509_ALGOR_get0(NULL, &ptype, &pval, alg);
		/* explicit curve parameters: not a key the agent lists */
		if (ptype != V_ASN1_OBJECT)
			return -1;
		curve = pval;
	}
	if (curve == NULL || add_oid(&pk->attrs, CKA_EC_PARAMS, curve) != 0)
		return -1;
	return add_point(&pk->attrs, point, len);
}

int
p11m_pubkey_from_spki(const uint8_t *spki, size_t len, struct p11m_pubkey *pk)
{
	const unsigned char *p = spki;
	X509_PUBKEY *xpk;
	ASN1_OBJECT *alg_obj;
	int nid, rc = -1;

	memset(pk, 0, sizeof(*pk));
	if (spki == NULL || len == 0 || len > 65536)
		return -1;
	if ((xpk = d2i_X509_PUBKEY(NULL, &p, (long)len)) == NULL)
		return -1;
	if (!X509_PUBKEY_get0_param(&alg_obj, NULL, NULL, NULL, xpk))
		goto out;
	nid = OBJ_obj2nid(alg_obj);
	if (nid == NID_rsaEncryption)
		rc = rsa_attrs(xpk, pk);
	else if (nid == NID_X9_62_id_ecPublicKey || nid == NID_ED25519)
		rc = ec_attrs(xpk, nid, pk);
	if (pk->attrs.failed)
		rc = -1;
out:
	X509_PUBKEY_free(xpk);
	if (rc != 0)
		p11m_pubkey_free(pk);
	return rc;
}

void
p11m_pubkey_free(struct p11m_pubkey *pk)
{
	p11m_attrs_free(&pk->attrs);
	memset(pk, 0, sizeof(*pk));
}
