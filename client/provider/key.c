/*
 * The provider's key object: an agent identity as OpenSSL sees it.
 *
 * It holds the public half (an EVP_PKEY of another provider, decoded from
 * the SubjectPublicKeyInfo that LIST gives) and the identity's id, flags
 * and schemes.  The private half is the identity id: signing is a SIGN
 * request.  A key imported from outside (a public key OpenSSL wants to
 * compare with ours) has a public half and no id.
 *
 * Keys are reference-counted: the store hands the same object to the
 * key manager, and EVP_PKEY_dup() shares it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "prov.h"

const char *
p11a_key_type_name(uint8_t type)
{
	switch (type) {
	case P11A_KEY_RSA:
		return "RSA";
	case P11A_KEY_EC:
		return "EC";
	case P11A_KEY_ED25519:
		return "ED25519";
	default:
		return NULL;
	}
}

struct p11a_key *
p11a_key_new(const struct p11a_prov *prov, uint8_t type)
{
	struct p11a_key *k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->refs = 1;
	k->prov = prov;
	k->type = type;
	return k;
}

struct p11a_key *
p11a_key_ref(struct p11a_key *k)
{
	int refs;

	if (k != NULL)
		CRYPTO_atomic_add(&k->refs, 1, &refs, NULL);
	return k;
}

void
p11a_key_unref(struct p11a_key *k)
{
	int refs;

	if (k == NULL)
		return;
	CRYPTO_atomic_add(&k->refs, -1, &refs, NULL);
	if (refs > 0)
		return;
	EVP_PKEY_free(k->pub);
	free(k->id);
	free(k->label);
	free(k->uri);
	free(k->cert);
	free(k);
}

int
p11a_key_has_scheme(const struct p11a_key *k, uint16_t scheme)
{
	size_t i;

	for (i = 0; i < k->n_schemes; i++)
		if (k->schemes[i] == scheme)
			return 1;
	return 0;
}

/* The public half: the SPKI, else the certificate's key. */
static EVP_PKEY *
decode_public_inner(const struct p11a_prov *prov,
		    const struct p11a_identity *id)
{
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;

	if (id->spki != NULL && id->spki_len > 0 && id->spki_len < LONG_MAX) {
		p = id->spki;
		pub = d2i_PUBKEY_ex(NULL, &p, (long)id->spki_len, prov->libctx,
				    P11A_PROV_PROPQ);
		if (pub != NULL)
			return pub;
	}
	if (id->cert == NULL || id->cert_len == 0 || id->cert_len >= LONG_MAX)
		return NULL;
	if ((x = X509_new_ex(prov->libctx, P11A_PROV_PROPQ)) == NULL)
		return NULL;
	p = id->cert;
	if (d2i_X509(&x, &p, (long)id->cert_len) != NULL)
		pub = X509_get_pubkey(x);
	X509_free(x);
	return pub;
}

static EVP_PKEY *
decode_public(const struct p11a_prov *prov, const struct p11a_identity *id)
{
	EVP_PKEY *pub;

	pub = decode_public_inner(prov, id);
	return pub;
}

static int
copy_string(char **dst, const char *src)
{
	*dst = strdup(src != NULL ? src : "");
	return *dst != NULL ? P11A_OK : P11A_ERR_NO_MEMORY;
}

int
p11a_key_from_identity(const struct p11a_prov *prov,
		       const struct p11a_identity *id, struct p11a_key **out)
{
	struct p11a_key *k;
	const char *name = p11a_key_type_name(id->key_type);
	int r;

	*out = NULL;
	if (name == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	if ((k = p11a_key_new(prov, id->key_type)) == NULL)
		return P11A_ERR_NO_MEMORY;
	r = P11A_ERR_INVALID_ARGUMENT;
	if ((k->pub = decode_public(prov, id)) == NULL ||
	    !EVP_PKEY_is_a(k->pub, name))
		goto fail;
	if ((r = copy_string(&k->id, id->id)) != P11A_OK ||
	    (r = copy_string(&k->label, id->label)) != P11A_OK ||
	    (r = copy_string(&k->uri, id->uri)) != P11A_OK)
		goto fail;
	k->flags = id->flags;
	k->n_schemes = id->n_schemes < P11A_MAX_SCHEMES ? id->n_schemes
							: P11A_MAX_SCHEMES;
	memcpy(k->schemes, id->schemes, k->n_schemes * sizeof(k->schemes[0]));
	if (id->cert != NULL && id->cert_len > 0) {
		r = P11A_ERR_NO_MEMORY;
		if ((k->cert = malloc(id->cert_len)) == NULL)
			goto fail;
		memcpy(k->cert, id->cert, id->cert_len);
		k->cert_len = id->cert_len;
	}
	*out = k;
	return P11A_OK;
fail:
	p11a_key_unref(k);
	return r;
}
