/*
 * Decoders for p11agent key files (keyfile.h): what makes an agent key
 * load wherever a program reads a private key *file* with libcrypto
 * (PEM_read_bio_PrivateKey, SSL_CTX_use_PrivateKey_file, OSSL_DECODER).
 *
 * Two steps, as OpenSSL chains decoders:
 *   PEM -> DER   only a PEM block labelled "P11AGENT KEY"; its body goes
 *                on as structure "p11agent-key"
 *   DER -> key   one decoder per key type (named as our key managers):
 *                the body names an identity; LIST finds it, and a key of
 *                the decoder's type is handed to our key manager as a
 *                reference (OSSL_OBJECT_PARAM_REFERENCE), as store.c does
 * Anything else (other PEM labels, other DER) is left alone: the decoder
 * returns 1 without an object, so other providers decode it.  Once the
 * body is ours, a failure (no agent, a locked token, an unknown identity)
 * returns 0, which stops OpenSSL's search and keeps our error for the
 * program to print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "keyfile.h"
#include "prov.h"

struct decoderctx {
	struct p11a_prov *prov;
	uint8_t type; /* P11A_KEY_*; 0 for the PEM decoder */
};

static void *
newctx(void *provctx, uint8_t type)
{
	struct decoderctx *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->prov = provctx;
	d->type = type;
	return d;
}

static void *
pem_newctx(void *provctx)
{
	return newctx(provctx, 0);
}

static void *
rsa_newctx(void *provctx)
{
	return newctx(provctx, P11A_KEY_RSA);
}

static void *
ec_newctx(void *provctx)
{
	return newctx(provctx, P11A_KEY_EC);
}

static void *
ed25519_newctx(void *provctx)
{
	return newctx(provctx, P11A_KEY_ED25519);
}

static void
freectx(void *vctx)
{
	free(vctx);
}

/* ---- PEM -> DER ---------------------------------------------------------- */

static int
pem_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
	   OSSL_CALLBACK *data_cb, void *data_cbarg,
	   OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct decoderctx *d = vctx;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long len = 0;
	BIO *in;
	int ok = 1;

	(void)selection;
	(void)pw_cb;
	(void)pw_cbarg;
	if ((in = BIO_new_from_core_bio(d->prov->libctx, cin)) == NULL)
		return 0;
	if (PEM_read_bio(in, &name, &header, &der, &len) > 0 &&
	    strcmp(name, P11A_KEYFILE_PEM_LABEL) == 0) {
		OSSL_PARAM params[3];

		params[0] = OSSL_PARAM_construct_octet_string(
			OSSL_OBJECT_PARAM_DATA, der, (size_t)len);
		params[1] = OSSL_PARAM_construct_utf8_string(
			OSSL_OBJECT_PARAM_DATA_STRUCTURE,
			(char *)P11A_KEYFILE_STRUCTURE, 0);
		params[2] = OSSL_PARAM_construct_end();
		ok = data_cb(params, data_cbarg);
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(in);
	return ok;
}

/* ---- DER -> key ---------------------------------------------------------- */

/* Read the whole input (at most P11A_KEYFILE_MAX bytes) into buf. */
static size_t
read_body(struct decoderctx *d, OSSL_CORE_BIO *cin, uint8_t *buf, size_t max)
{
	size_t len = 0;
	BIO *in;
	int n;

	if ((in = BIO_new_from_core_bio(d->prov->libctx, cin)) == NULL)
		return 0;
	while (len < max && (n = BIO_read(in, buf + len, (int)(max - len))) > 0)
		len += (size_t)n;
	BIO_free(in);
	return len;
}

/* Hand key to the caller as a reference our key manager loads. */
static int
yield_key(struct p11a_key *key, OSSL_CALLBACK *data_cb, void *data_cbarg)
{
	struct p11a_key_ref ref = {P11A_KEY_REF_MAGIC, key};
	int type = OSSL_OBJECT_PKEY;
	OSSL_PARAM params[4];

	/* construct_utf8_string measures the string: the decoder reads it
	 * by its size, not up to its NUL */
	params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	params[1] = OSSL_PARAM_construct_utf8_string(
		OSSL_OBJECT_PARAM_DATA_TYPE,
		(char *)p11a_key_type_name(key->type), 0);
	params[2] = OSSL_PARAM_construct_octet_string(
		OSSL_OBJECT_PARAM_REFERENCE, &ref, sizeof(ref));
	params[3] = OSSL_PARAM_construct_end();
	return data_cb(params, data_cbarg);
}

static int
key_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
	   OSSL_CALLBACK *data_cb, void *data_cbarg,
	   OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct decoderctx *d = vctx;
	uint8_t body[P11A_KEYFILE_MAX + 1];
	struct p11a_keyfile kf;
	struct p11a_key_uri uri = {0};
	struct p11a_key *key = NULL;
	char what[P11A_KEYFILE_URI_MAX + 80];
	size_t len;
	int ok = 1;

	(void)pw_cb;
	(void)pw_cbarg;
	/* domain parameters alone are not what a key file holds */
	if (selection != 0 && !(selection & OSSL_KEYMGMT_SELECT_KEYPAIR))
		return 1;
	len = read_body(d, cin, body, sizeof(body));
	if (len > P11A_KEYFILE_MAX ||
	    p11a_keyfile_decode(body, len, &kf) != P11A_OK)
		return 1;
	snprintf(what, sizeof(what), "p11agent key file of identity %s (%s)",
		 kf.id, kf.uri);
	uri.id = kf.id;
	if (p11a_key_lookup(d->prov, &uri, what, &key) != P11A_OK) {
		ok = 0;
		goto out;
	}
	/* the decoder of the key's own type yields it */
	if (key->type == d->type)
		ok = yield_key(key, data_cb, data_cbarg);
out:
	p11a_key_unref(key);
	p11a_keyfile_clear(&kf);
	return ok;
}

/*
 * The private half cannot leave the agent: a key file's key exists only
 * in our key manager, never as another provider's key.
 */
static int
export_object(void *vctx, const void *reference, size_t reference_sz,
	      OSSL_CALLBACK *export_cb, void *export_cbarg)
{
	(void)vctx;
	(void)reference;
	(void)reference_sz;
	(void)export_cb;
	(void)export_cbarg;
	return 0;
}

const OSSL_DISPATCH p11a_decoder_pem_functions[] = {
	{OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))pem_newctx},
	{OSSL_FUNC_DECODER_FREECTX, (void (*)(void))freectx},
	{OSSL_FUNC_DECODER_DECODE, (void (*)(void))pem_decode},
	{0, NULL},
};

#define KEY_DECODER_FUNCTIONS(prefix)                                          \
	{OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))prefix##_newctx},           \
		{OSSL_FUNC_DECODER_FREECTX, (void (*)(void))freectx},          \
		{OSSL_FUNC_DECODER_DECODE, (void (*)(void))key_decode},        \
		{OSSL_FUNC_DECODER_EXPORT_OBJECT,                              \
		 (void (*)(void))export_object},                               \
	{                                                                      \
		0, NULL                                                        \
	}

const OSSL_DISPATCH p11a_decoder_rsa_functions[] = {KEY_DECODER_FUNCTIONS(rsa)};
const OSSL_DISPATCH p11a_decoder_ec_functions[] = {KEY_DECODER_FUNCTIONS(ec)};
const OSSL_DISPATCH p11a_decoder_ed25519_functions[] = {
	KEY_DECODER_FUNCTIONS(ed25519)};
