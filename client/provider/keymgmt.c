/*
 * Key management for agent keys: RSA, EC and Ed25519.
 *
 * A key is loaded from a store reference (store.c) or imported as a bare
 * public key (OpenSSL does that to compare a certificate's key with
 * ours).  Public questions (size, group, default digest, components) are
 * answered by the public half.  Export gives the public half only and
 * fails when the private half is asked for: that failure is what keeps
 * OpenSSL from moving our key into another provider and signing there.
 *
 * Signature names: the key manager names the signature operation
 * P11AGENT-RSA / -ECDSA / -ED25519, which only this provider implements.
 * So OpenSSL always pairs our keys with our signatures, whichever order
 * the providers were loaded in, and never pairs another provider's keys
 * with our signatures.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "prov.h"

/* ---- life cycle ---------------------------------------------------------- */

static void *
rsa_new(void *provctx)
{
	return p11a_key_new(provctx, P11A_KEY_RSA);
}

static void *
ec_new(void *provctx)
{
	return p11a_key_new(provctx, P11A_KEY_EC);
}

static void *
ed25519_new(void *provctx)
{
	return p11a_key_new(provctx, P11A_KEY_ED25519);
}

static void
key_free(void *keydata)
{
	p11a_key_unref(keydata);
}

static void *
key_load(const void *reference, size_t reference_sz)
{
	struct p11a_key_ref ref;

	if (reference == NULL || reference_sz != sizeof(ref))
		return NULL;
	memcpy(&ref, reference, sizeof(ref));
	if (ref.magic != P11A_KEY_REF_MAGIC || ref.key == NULL)
		return NULL;
	return p11a_key_ref(ref.key);
}

/* Keys never change once made, so a duplicate can share the object. */
static void *
key_dup(const void *keydata, int selection)
{
	struct p11a_key *k = (struct p11a_key *)keydata;

	(void)selection;
	return p11a_key_ref(k);
}

/* ---- questions ----------------------------------------------------------- */

static int
key_has(const void *keydata, int selection)
{
	const struct p11a_key *k = keydata;

	if (k == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && k->id == NULL)
		return 0;
	if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY |
			  OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) &&
	    k->pub == NULL)
		return 0;
	return 1;
}

static int
key_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct p11a_key *a = keydata1, *b = keydata2;

	if (a == NULL || b == NULL || a->pub == NULL || b->pub == NULL)
		return 0;
	if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
		return EVP_PKEY_eq(a->pub, b->pub) == 1;
	if (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)
		return EVP_PKEY_parameters_eq(a->pub, b->pub) == 1;
	return 1;
}

static int
key_get_params(void *keydata, OSSL_PARAM params[])
{
	struct p11a_key *k = keydata;

	if (k == NULL || k->pub == NULL)
		return 0;
	return EVP_PKEY_get_params(k->pub, params);
}

#define COMMON_GETTABLE                                                        \
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),                            \
		OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),           \
		OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),                \
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL,   \
				       0),                                     \
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, \
				       0)

static const OSSL_PARAM rsa_gettable[] = {
	COMMON_GETTABLE,
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM ec_gettable[] = {
	COMMON_GETTABLE,
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL,
			       0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM ed25519_gettable[] = {
	COMMON_GETTABLE,
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
rsa_gettable_params(void *provctx)
{
	(void)provctx;
	return rsa_gettable;
}

static const OSSL_PARAM *
ec_gettable_params(void *provctx)
{
	(void)provctx;
	return ec_gettable;
}

static const OSSL_PARAM *
ed25519_gettable_params(void *provctx)
{
	(void)provctx;
	return ed25519_gettable;
}

static const char *
rsa_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? P11A_SIG_RSA : NULL;
}

static const char *
ec_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? P11A_SIG_ECDSA : NULL;
}

static const char *
ed25519_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? P11A_SIG_ED25519 : NULL;
}

/* ---- import and export of the public half -------------------------------- */

static const OSSL_PARAM rsa_public_types[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM ec_public_types[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL,
			       0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM ed25519_public_types[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
rsa_types(int selection)
{
	(void)selection;
	return rsa_public_types;
}

static const OSSL_PARAM *
ec_types(int selection)
{
	(void)selection;
	return ec_public_types;
}

static const OSSL_PARAM *
ed25519_types(int selection)
{
	(void)selection;
	return ed25519_public_types;
}

static int
has_param(const OSSL_PARAM params[], const char *key)
{
	return OSSL_PARAM_locate_const(params, key) != NULL;
}

/* Whether params carry a private component (which we never hold). */
static int
has_private_part(const OSSL_PARAM params[])
{
	return has_param(params, OSSL_PKEY_PARAM_PRIV_KEY) ||
	       has_param(params, OSSL_PKEY_PARAM_RSA_D);
}

static int
key_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct p11a_key *k = keydata;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL;
	int sel, ok = 0;

	(void)selection;
	if (k == NULL || k->id != NULL || k->pub != NULL ||
	    has_private_part(params))
		return 0;
	/* a public key, or EC domain parameters alone (copy_parameters) */
	sel = has_param(params, OSSL_PKEY_PARAM_PUB_KEY) ||
			      has_param(params, OSSL_PKEY_PARAM_RSA_N)
		      ? EVP_PKEY_PUBLIC_KEY
		      : EVP_PKEY_KEY_PARAMETERS;
	ctx = EVP_PKEY_CTX_new_from_name(
		k->prov->libctx, p11a_key_type_name(k->type), P11A_PROV_PROPQ);
	if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
	    EVP_PKEY_fromdata(ctx, &pub, sel, (OSSL_PARAM *)params) > 0) {
		k->pub = pub;
		ok = 1;
	}
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static int
key_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct p11a_key *k = keydata;
	OSSL_PARAM *params = NULL;
	int ok;

	/* no private bytes here: refuse rather than export half a key */
	if (k == NULL || k->pub == NULL ||
	    (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
		return 0;
	if (EVP_PKEY_todata(k->pub,
			    (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
				    ? EVP_PKEY_PUBLIC_KEY
				    : EVP_PKEY_KEY_PARAMETERS,
			    &params) <= 0)
		return 0;
	ok = cb(params, cbarg);
	OSSL_PARAM_free(params);
	return ok;
}

/* ---- dispatch tables ----------------------------------------------------- */

#define KEYMGMT_FUNCTIONS(prefix)                                              \
	{OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))prefix##_new},                 \
		{OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))key_free},            \
		{OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))key_load},            \
		{OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))key_dup},              \
		{OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))key_has},              \
		{OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))key_match},          \
		{OSSL_FUNC_KEYMGMT_GET_PARAMS,                                 \
		 (void (*)(void))key_get_params},                              \
		{OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,                            \
		 (void (*)(void))prefix##_gettable_params},                    \
		{OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,                       \
		 (void (*)(void))prefix##_operation_name},                     \
		{OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))key_import},        \
		{OSSL_FUNC_KEYMGMT_IMPORT_TYPES,                               \
		 (void (*)(void))prefix##_types},                              \
		{OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))key_export},        \
		{OSSL_FUNC_KEYMGMT_EXPORT_TYPES,                               \
		 (void (*)(void))prefix##_types},                              \
	{                                                                      \
		0, NULL                                                        \
	}

const OSSL_DISPATCH p11a_keymgmt_rsa_functions[] = {KEYMGMT_FUNCTIONS(rsa)};
const OSSL_DISPATCH p11a_keymgmt_ec_functions[] = {KEYMGMT_FUNCTIONS(ec)};
const OSSL_DISPATCH p11a_keymgmt_ed25519_functions[] = {
	KEYMGMT_FUNCTIONS(ed25519)};
