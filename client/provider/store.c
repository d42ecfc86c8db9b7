/*
 * The OSSL_STORE loader for "p11agent:" URIs (uri.c gives the syntax).
 *
 * Opening only parses the URI, so that a typo is reported against this
 * loader rather than the file loader OpenSSL would try next.  The first
 * load asks the agent for its identities, picks the one the URI names
 * and yields, in this order, its key (a reference our key manager loads)
 * and its certificate, if the token has one.  OSSL_STORE_expect() narrows
 * that to one of them.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include "prov.h"

enum step { STEP_KEY, STEP_CERT, STEP_DONE };

struct storectx {
	struct p11a_prov *prov;
	struct p11a_key_uri uri;
	char *text; /* the URI as given, for messages */
	int expect; /* OSSL_STORE_INFO_*, 0: anything */
	enum step step;
	struct p11a_key *key; /* once looked up */
};

static void *
store_open(void *provctx, const char *uri)
{
	struct p11a_prov *prov = provctx;
	struct storectx *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->prov = prov;
	if (p11a_key_uri_parse(uri, &s->uri) != P11A_OK) {
		p11a_prov_raise(prov, P11A_PROV_R_BAD_URI,
				"'%s': want p11agent:ID (32 hex digits) or "
				"p11agent:pkcs11:ATTRIBUTES",
				uri != NULL ? uri : "");
		free(s);
		return NULL;
	}
	if ((s->text = strdup(uri)) == NULL) {
		p11a_key_uri_clear(&s->uri);
		free(s);
		return NULL;
	}
	return s;
}

static int
store_close(void *loaderctx)
{
	struct storectx *s = loaderctx;

	if (s == NULL)
		return 1;
	p11a_key_unref(s->key);
	p11a_key_uri_clear(&s->uri);
	free(s->text);
	free(s);
	return 1;
}

static const OSSL_PARAM *
store_settable_ctx_params(void *provctx)
{
	static const OSSL_PARAM settable[] = {
		OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
		OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_PROPERTIES, NULL, 0),
		OSSL_PARAM_END,
	};

	(void)provctx;
	return settable;
}

static int
store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
	struct storectx *s = loaderctx;
	const OSSL_PARAM *p;

	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
	if (p != NULL && !OSSL_PARAM_get_int(p, &s->expect))
		return 0;
	return 1;
}

/* ---- yielding objects ---------------------------------------------------- */

static int
yield_key(struct storectx *s, OSSL_CALLBACK *cb, void *cbarg)
{
	struct p11a_key_ref ref = {P11A_KEY_REF_MAGIC, s->key};
	int type = OSSL_OBJECT_PKEY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_int(OSSL_OBJECT_PARAM_TYPE, &type),
		OSSL_PARAM_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
				       (char *)p11a_key_type_name(s->key->type),
				       0),
		OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &ref,
					sizeof(ref)),
		OSSL_PARAM_END,
	};

	return cb(params, cbarg);
}

static int
yield_cert(struct storectx *s, OSSL_CALLBACK *cb, void *cbarg)
{
	int type = OSSL_OBJECT_CERT;
	OSSL_PARAM params[] = {
		OSSL_PARAM_int(OSSL_OBJECT_PARAM_TYPE, &type),
		OSSL_PARAM_octet_string(OSSL_OBJECT_PARAM_DATA, s->key->cert,
					s->key->cert_len),
		OSSL_PARAM_END,
	};

	return cb(params, cbarg);
}

static int
wants(const struct storectx *s, int info_type)
{
	if (s->expect == 0)
		return 1;
	if (info_type == OSSL_STORE_INFO_PKEY)
		return s->expect == OSSL_STORE_INFO_PKEY ||
		       s->expect == OSSL_STORE_INFO_PUBKEY;
	return s->expect == info_type;
}

static int
store_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
	   OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct storectx *s = loaderctx;

	(void)pw_cb;
	(void)pw_cbarg;
	if (s->key == NULL &&
	    p11a_key_lookup(s->prov, &s->uri, s->text, &s->key) != P11A_OK) {
		s->step = STEP_DONE;
		return 0;
	}
	while (s->step != STEP_DONE) {
		enum step now = s->step++;

		if (now == STEP_KEY && wants(s, OSSL_STORE_INFO_PKEY))
			return yield_key(s, object_cb, object_cbarg);
		if (now == STEP_CERT && s->key->cert != NULL &&
		    wants(s, OSSL_STORE_INFO_CERT))
			return yield_cert(s, object_cb, object_cbarg);
	}
	return 0;
}

static int
store_eof(void *loaderctx)
{
	const struct storectx *s = loaderctx;

	return s->step == STEP_DONE;
}

const OSSL_DISPATCH p11a_store_functions[] = {
	{OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open},
	{OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
	 (void (*)(void))store_settable_ctx_params},
	{OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params},
	{OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load},
	{OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof},
	{OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close},
	{0, NULL},
};
