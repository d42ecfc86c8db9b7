#include "pubkey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "p11util.h"

static const struct {
	int nid;
	const char *curve;
	unsigned bits;
} ec_curves[] = {
	{NID_X9_62_prime256v1, "P-256", 256},
	{NID_secp384r1, "P-384", 384},
	{NID_secp521r1, "P-521", 521},
};

/* Tokens name Ed25519 either by OID or by the printable string. */
static int
pubkey_edwards_nid(const unsigned char *p, size_t len)
{
	static const unsigned char ed25519_str[] = "\x13\x0c"
						   "edwards25519";
	static const unsigned char ed448_str[] = "\x13\x0a"
						 "edwards448";
	const unsigned char *q = p;
	ASN1_OBJECT *obj;
	int nid;

	if (len == sizeof(ed25519_str) - 1 && memcmp(p, ed25519_str, len) == 0)
		return NID_ED25519;
	if (len == sizeof(ed448_str) - 1 && memcmp(p, ed448_str, len) == 0)
		return NID_ED448;
	if ((obj = d2i_ASN1_OBJECT(NULL, &q, (long)len)) == NULL)
		return NID_undef;
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	return nid;
}

static int
pubkey_shape_ec(const unsigned char *params, size_t len,
		struct key_shape *shape, char *why, size_t why_len)
{
	const unsigned char *q = params;
	ASN1_OBJECT *obj;
	int nid;

	if ((obj = d2i_ASN1_OBJECT(NULL, &q, (long)len)) == NULL) {
		snprintf(why, why_len,
			 "EC key with explicit or unreadable "
			 "curve parameters");
		return P11A_ERR_SCHEME_UNSUPPORTED;
	}
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	for (size_t i = 0; i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++) {
		if (ec_curves[i].nid != nid)
			continue;
		shape->key_type = P11A_KEY_EC;
		shape->bits = ec_curves[i].bits;
		shape->curve = ec_curves[i].curve;
		shape->nid = nid;
		return P11A_OK;
	}
	snprintf(why, why_len, "EC key on unsupported curve %s",
		 nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
	return P11A_ERR_SCHEME_UNSUPPORTED;
}

int
pubkey_shape(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
	     struct key_shape *shape, char *why, size_t why_len)
{
	unsigned char *v = NULL;
	CK_ULONG key_type;
	size_t len;
	int r = P11A_ERR_SCHEME_UNSUPPORTED;

	memset(shape, 0, sizeof(*shape));
	shape->curve = "";
	if (p11_attr_get_ulong(fn, s, priv, CKA_KEY_TYPE, &key_type) !=
	    CKR_OK) {
		snprintf(why, why_len, "key type unreadable");
		return r;
	}
	switch (key_type) {
	case CKK_RSA:
		if (p11_attr_get(fn, s, priv, CKA_MODULUS, &v, &len) !=
			    CKR_OK ||
		    len == 0) {
			snprintf(why, why_len,
				 "RSA key without readable "
				 "modulus");
			break;
		}
		shape->key_type = P11A_KEY_RSA;
		shape->bits = (unsigned)len * 8;
		/* the modulus may carry leading zero bytes */
		for (size_t i = 0; i < len && v[i] == 0; i++)
			shape->bits -= 8;
		/* the signature buffer (SIGNER_MAX_SIG) holds RSA-8192 */
		if (shape->bits > 8192) {
			snprintf(why, why_len,
				 "RSA key of %u bits (more than "
				 "8192)",
				 shape->bits);
			break;
		}
		r = P11A_OK;
		break;
	case CKK_EC:
		if (p11_attr_get(fn, s, priv, CKA_EC_PARAMS, &v, &len) !=
		    CKR_OK) {
			snprintf(why, why_len, "EC key without parameters");
			break;
		}
		r = pubkey_shape_ec(v, len, shape, why, why_len);
		break;
	case CKK_EC_EDWARDS:
		if (p11_attr_get(fn, s, priv, CKA_EC_PARAMS, &v, &len) !=
			    CKR_OK ||
		    pubkey_edwards_nid(v, len) != NID_ED25519) {
			snprintf(why, why_len,
				 "Edwards key other than Ed25519");
			break;
		}
		shape->key_type = P11A_KEY_ED25519;
		shape->bits = 256;
		shape->curve = "Ed25519";
		shape->nid = NID_ED25519;
		r = P11A_OK;
		break;
	default:
		snprintf(why, why_len, "key type 0x%lx not supported",
			 key_type);
		break;
	}
	free(v);
	return r;
}

/* EC_POINT is a DER OCTET STRING per the standard; some tokens give it raw. */
static int
pubkey_ec_point(const unsigned char *v, size_t len, const unsigned char **pt,
		size_t *pt_len, ASN1_OCTET_STRING **holder)
{
	const unsigned char *q = v;

	*holder = d2i_ASN1_OCTET_STRING(NULL, &q, (long)len);
	if (*holder != NULL && q == v + len) {
		*pt = ASN1_STRING_get0_data(*holder);
		*pt_len = (size_t)ASN1_STRING_length(*holder);
		return 0;
	}
	*pt = v;
	*pt_len = len;
	return 0;
}

static EVP_PKEY *
pubkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *
pubkey_rsa(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj)
{
	unsigned char *n = NULL, *e = NULL;
	size_t n_len, e_len;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (p11_attr_get(fn, s, obj, CKA_MODULUS, &n, &n_len) != CKR_OK ||
	    p11_attr_get(fn, s, obj, CKA_PUBLIC_EXPONENT, &e, &e_len) != CKR_OK)
		goto out;
	if ((bn_n = BN_bin2bn(n, (int)n_len, NULL)) == NULL ||
	    (bn_e = BN_bin2bn(e, (int)e_len, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		goto out;
	pkey = pubkey_from_params("RSA", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *
pubkey_ec(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
	  const struct key_shape *shape)
{
	ASN1_OCTET_STRING *holder = NULL;
	const unsigned char *pt;
	unsigned char *v = NULL;
	size_t len, pt_len;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (p11_attr_get(fn, s, obj, CKA_EC_POINT, &v, &len) != CKR_OK)
		goto out;
	pubkey_ec_point(v, len, &pt, &pt_len, &holder);
	if (shape->key_type == P11A_KEY_ED25519) {
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt,
						   pt_len);
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     OBJ_nid2sn(shape->nid), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
					      pt_len))
		goto out;
	pkey = pubkey_from_params("EC", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(holder);
	free(v);
	return pkey;
}

static EVP_PKEY *
pubkey_from_cert(const uint8_t *cert, size_t cert_len)
{
	const unsigned char *q = cert;
	EVP_PKEY *pkey;
	X509 *x;

	if (cert == NULL || (x = d2i_X509(NULL, &q, (long)cert_len)) == NULL)
		return NULL;
	pkey = X509_get_pubkey(x);
	X509_free(x);
	return pkey;
}

static EVP_PKEY *
pubkey_from_object(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
		   CK_OBJECT_HANDLE obj, const struct key_shape *shape)
{
	if (shape->key_type == P11A_KEY_RSA)
		return pubkey_rsa(fn, s, obj);
	return pubkey_ec(fn, s, obj, shape);
}

int
pubkey_spki(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
	    const struct key_shape *shape, const uint8_t *ck_id,
	    size_t ck_id_len, const uint8_t *cert, size_t cert_len,
	    uint8_t **spki, size_t *spki_len)
{
	CK_OBJECT_HANDLE pub;
	EVP_PKEY *pkey = NULL;
	unsigned char *der = NULL;
	int len;

	*spki = NULL;
	*spki_len = 0;
	pub = p11_find_by_id(fn, s, CKO_PUBLIC_KEY, ck_id, ck_id_len);
	if (pub != CK_INVALID_HANDLE)
		pkey = pubkey_from_object(fn, s, pub, shape);
	if (pkey == NULL)
		pkey = pubkey_from_cert(cert, cert_len);
	if (pkey == NULL && shape->key_type == P11A_KEY_RSA)
		pkey = pubkey_rsa(fn, s, priv);
	if (pkey == NULL)
		return P11A_OK;
	len = i2d_PUBKEY(pkey, &der);
	EVP_PKEY_free(pkey);
	if (len <= 0)
		return P11A_ERR_NO_MEMORY;
	if ((*spki = malloc((size_t)len)) == NULL) {
		OPENSSL_free(der);
		return P11A_ERR_NO_MEMORY;
	}
	memcpy(*spki, der, (size_t)len);
	*spki_len = (size_t)len;
	OPENSSL_free(der);
	return P11A_OK;
}
