/* The objects of an identity: see object.h. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "log.h"
#include "object.h"
#include "pubkey.h"

/* What the certificate gives the other objects. */
struct cert_parts {
	X509 *x509;
	unsigned char *subject; /* DER Name */
	int subject_len;
	unsigned char *spki; /* the certificate's SPKI, DER */
	int spki_len;
};

static void
cert_parts_free(struct cert_parts *c)
{
	OPENSSL_free(c->subject);
	OPENSSL_free(c->spki);
	X509_free(c->x509);
	memset(c, 0, sizeof(*c));
}

static void
cert_parts_parse(const struct p11a_identity *ident, struct cert_parts *c)
{
	const unsigned char *p = ident->cert;

	memset(c, 0, sizeof(*c));
	if (ident->cert == NULL || ident->cert_len == 0)
		return;
	c->x509 = d2i_X509(NULL, &p, (long)ident->cert_len);
	if (c->x509 == NULL) {
		p11m_debug("identity %s: certificate does not parse",
			   ident->id);
		return;
	}
	c->subject_len =
		i2d_X509_NAME(X509_get_subject_name(c->x509), &c->subject);
	c->spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->x509), &c->spki);
	if (c->subject_len <= 0 || c->spki_len <= 0)
		cert_parts_free(c);
}

/* Attributes of every object: storage attributes and the label. */
static void
add_storage(struct p11m_attrs *a, CK_OBJECT_CLASS class, CK_BBOOL private,
	    const struct p11m_object_src *src)
{
	p11m_attrs_add_ulong(a, CKA_CLASS, class);
	p11m_attrs_add_bool(a, CKA_TOKEN, CK_TRUE);
	p11m_attrs_add_bool(a, CKA_PRIVATE, private);
	p11m_attrs_add_bool(a, CKA_MODIFIABLE, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_COPYABLE, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_DESTROYABLE, CK_FALSE);
	p11m_attrs_add(a, CKA_LABEL, src->label, src->label_len);
}

/* Attributes of both keys. */
static void
add_key_common(struct p11m_attrs *a, const struct p11m_object_src *src,
	       const struct p11m_pubkey *pk, const struct cert_parts *c)
{
	CK_MECHANISM_TYPE mechs[P11M_MECH_MAX];
	size_t n = p11m_mech_list_for_key(src->info, mechs, P11M_MECH_MAX);

	p11m_attrs_add_ulong(a, CKA_KEY_TYPE, pk->key_type);
	p11m_attrs_add(a, CKA_ID, src->id, src->id_len);
	p11m_attrs_add(a, CKA_START_DATE, NULL, 0);
	p11m_attrs_add(a, CKA_END_DATE, NULL, 0);
	p11m_attrs_add_bool(a, CKA_DERIVE, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_LOCAL, CK_FALSE);
	p11m_attrs_add_ulong(a, CKA_KEY_GEN_MECHANISM,
			     CK_UNAVAILABLE_INFORMATION);
	p11m_attrs_add(a, CKA_ALLOWED_MECHANISMS, mechs, n * sizeof(mechs[0]));
	p11m_attrs_add(a, CKA_SUBJECT, c->subject,
		       c->subject_len > 0 ? (size_t)c->subject_len : 0);
	p11m_attrs_add_all(a, &pk->attrs);
}

static void
add_secret_parts(struct p11m_attrs *a, CK_KEY_TYPE type)
{
	static const CK_ATTRIBUTE_TYPE rsa[] = {
		CKA_PRIVATE_EXPONENT, CKA_PRIME_1,    CKA_PRIME_2,
		CKA_EXPONENT_1,	      CKA_EXPONENT_2, CKA_COEFFICIENT};
	size_t i;

	if (type != CKK_RSA) {
		p11m_attrs_add_sensitive(a, CKA_VALUE);
		return;
	}
	for (i = 0; i < sizeof(rsa) / sizeof(rsa[0]); i++)
		p11m_attrs_add_sensitive(a, rsa[i]);
}

static void
build_private(struct p11m_attrs *a, const struct p11m_object_src *src,
	      const struct p11m_pubkey *pk, const struct cert_parts *c,
	      const uint8_t *spki, size_t spki_len)
{
	add_storage(a, CKO_PRIVATE_KEY, CK_TRUE, src);
	add_key_common(a, src, pk, c);
	p11m_attrs_add_bool(a, CKA_SENSITIVE, CK_TRUE);
	p11m_attrs_add_bool(a, CKA_DECRYPT, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_SIGN, CK_TRUE);
	p11m_attrs_add_bool(a, CKA_SIGN_RECOVER, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_UNWRAP, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_EXTRACTABLE, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_ALWAYS_SENSITIVE, CK_TRUE);
	p11m_attrs_add_bool(a, CKA_NEVER_EXTRACTABLE, CK_TRUE);
	p11m_attrs_add_bool(a, CKA_WRAP_WITH_TRUSTED, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_ALWAYS_AUTHENTICATE, CK_FALSE);
	p11m_attrs_add(a, CKA_PUBLIC_KEY_INFO, spki, spki_len);
	add_secret_parts(a, pk->key_type);
}

static void
build_public(struct p11m_attrs *a, const struct p11m_object_src *src,
	     const struct p11m_pubkey *pk, const struct cert_parts *c,
	     const uint8_t *spki, size_t spki_len)
{
	add_storage(a, CKO_PUBLIC_KEY, CK_FALSE, src);
	add_key_common(a, src, pk, c);
	p11m_attrs_add_bool(a, CKA_ENCRYPT, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_VERIFY, CK_TRUE);
	p11m_attrs_add_bool(a, CKA_VERIFY_RECOVER, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_WRAP, CK_FALSE);
	p11m_attrs_add_bool(a, CKA_TRUSTED, CK_FALSE);
	p11m_attrs_add(a, CKA_PUBLIC_KEY_INFO, spki, spki_len);
	if (pk->key_type == CKK_RSA)
		p11m_attrs_add_ulong(a, CKA_MODULUS_BITS, pk->modulus_bits);
}

/* A DER encoding by an i2d function, as an attribute. */
#define ADD_DER(a, type, i2d, obj)                                             \
	do {                                                                   \
		unsigned char *der_ = NULL;                                    \
		int len_ = i2d((obj), &der_);                                  \
		if (len_ > 0)                                                  \
			p11m_attrs_add((a), (type), der_, (size_t)len_);       \
		else                                                           \
			(a)->failed = 1;                                       \
		OPENSSL_free(der_);                                            \
	} while (0)

static void
build_cert(struct p11m_attrs *a, const struct p11m_object_src *src,
	   const struct cert_parts *c)
{
	const struct p11a_identity *ident = src->ident;
	unsigned char sha1[EVP_MAX_MD_SIZE];
	unsigned int sha1_len = 0;

	add_storage(a, CKO_CERTIFICATE, CK_FALSE, src);
	p11m_attrs_add_ulong(a, CKA_CERTIFICATE_TYPE, CKC_X_509);
	p11m_attrs_add_bool(a, CKA_TRUSTED, CK_FALSE);
	p11m_attrs_add_ulong(a, CKA_CERTIFICATE_CATEGORY, 0);
	/* the check value is the first 3 bytes of the SHA-1 of the value */
	if (EVP_Digest(ident->cert, ident->cert_len, sha1, &sha1_len,
		       EVP_sha1(), NULL))
		p11m_attrs_add(a, CKA_CHECK_VALUE, sha1, 3);
	p11m_attrs_add(a, CKA_START_DATE, NULL, 0);
	p11m_attrs_add(a, CKA_END_DATE, NULL, 0);
	p11m_attrs_add(a, CKA_SUBJECT, c->subject, (size_t)c->subject_len);
	p11m_attrs_add(a, CKA_ID, src->id, src->id_len);
	ADD_DER(a, CKA_ISSUER, i2d_X509_NAME, X509_get_issuer_name(c->x509));
	ADD_DER(a, CKA_SERIAL_NUMBER, i2d_ASN1_INTEGER,
		X509_get0_serialNumber(c->x509));
	p11m_attrs_add(a, CKA_VALUE, ident->cert, ident->cert_len);
	p11m_attrs_add(a, CKA_URL, NULL, 0);
	p11m_attrs_add(a, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, NULL, 0);
	p11m_attrs_add(a, CKA_HASH_OF_ISSUER_PUBLIC_KEY, NULL, 0);
	p11m_attrs_add_ulong(a, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);
	p11m_attrs_add(a, CKA_PUBLIC_KEY_INFO, c->spki, (size_t)c->spki_len);
}

CK_RV
p11m_objects_build(const struct p11m_object_src *src, struct p11m_objects *o)
{
	const struct p11a_identity *ident = src->ident;
	struct cert_parts c;
	struct p11m_pubkey pk;
	const uint8_t *spki = ident->spki;
	size_t spki_len = ident->spki_len;
	CK_RV rv = CKR_OK;

	memset(o, 0, sizeof(*o));
	memset(&pk, 0, sizeof(pk));
	cert_parts_parse(ident, &c);
	if ((spki == NULL || spki_len == 0) && c.spki != NULL) {
		spki = c.spki;
		spki_len = (size_t)c.spki_len;
	}
	/* without a public key the private key cannot be described */
	if (p11m_pubkey_from_spki(spki, spki_len, &pk) != 0) {
		p11m_debug("identity %s: no usable public key", ident->id);
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	build_private(&o->priv, src, &pk, &c, spki, spki_len);
	build_public(&o->pub, src, &pk, &c, spki, spki_len);
	o->has_pub = 1;
	if (c.x509 != NULL) {
		build_cert(&o->cert, src, &c);
		o->has_cert = 1;
	}
	if (o->priv.failed || o->pub.failed || o->cert.failed)
		rv = CKR_HOST_MEMORY;
out:
	if (rv != CKR_OK)
		p11m_objects_free(o);
	p11m_pubkey_free(&pk);
	cert_parts_free(&c);
	return rv;
}

void
p11m_objects_free(struct p11m_objects *o)
{
	p11m_attrs_free(&o->priv);
	p11m_attrs_free(&o->pub);
	p11m_attrs_free(&o->cert);
	memset(o, 0, sizeof(*o));
}
