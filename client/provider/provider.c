/*
 * The p11agent provider: initialisation, the algorithm tables and the
 * error reasons.
 *
 * Configuration (openssl.cnf, the provider's section):
 *   socket = PATH     the agent socket (default: $P11AGENT_SOCK, else
 *                     $XDG_RUNTIME_DIR/p11agent/agent.sock)
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "keyfile.h"
#include "prov.h"

#define P11A_PROV_VERSION P11A_VERSION

/* ---- errors -------------------------------------------------------------- */

void
p11a_prov_raise(const struct p11a_prov *prov, int reason, const char *fmt, ...)
{
	va_list ap;

	if (prov == NULL || prov->new_error == NULL)
		return;
	prov->new_error(prov->handle);
	if (prov->set_error_debug != NULL)
		prov->set_error_debug(prov->handle, NULL, 0, NULL);
	va_start(ap, fmt);
	if (prov->vset_error != NULL)
		prov->vset_error(prov->handle, (uint32_t)reason, fmt, ap);
	va_end(ap);
}

void
p11a_prov_raise_agent(const struct p11a_prov *prov, int r, const char *what,
		      const char *msg)
{
	const char *text = p11a_strerror(r);

	if (r == P11A_ERR_LOCKED) {
		p11a_prov_raise(prov, r,
				"%s: the agent is locked (run "
				"'p11agent unlock')",
				what);
	} else if (msg == NULL || *msg == '\0' || strcmp(msg, text) == 0) {
		p11a_prov_raise(prov, r, "%s", what);
	} else {
		p11a_prov_raise(prov, r, "%s: %s", what, msg);
	}
}

/*
 * Reason strings: every p11a_err code, then our own.  Filled once, on
 * first use; the table is never written again, so readers need no lock.
 */
static OSSL_ITEM reasons[P11A_ERR_MAX_ + (P11A_PROV_R_MAX_ - 100) + 1];
static CRYPTO_ONCE reasons_once = CRYPTO_ONCE_STATIC_INIT;

static void
reasons_init(void)
{
	static const struct {
		int id;
		const char *text;
	} local[] = {
		{P11A_PROV_R_BAD_URI, "malformed p11agent: key URI"},
		{P11A_PROV_R_NO_PRIVATE_KEY, "key has no agent identity"},
		{P11A_PROV_R_UNSUPPORTED_PADDING, "padding not supported"},
		{P11A_PROV_R_UNSUPPORTED_DIGEST, "digest not supported"},
		{P11A_PROV_R_BUFFER_TOO_SMALL, "signature buffer too small"},
		{P11A_PROV_R_MESSAGE_TOO_LONG, "message too long to send"},
		{P11A_PROV_R_OPENSSL, "OpenSSL operation failed"},
	};
	size_t n = 0, i;

	for (i = 1; i < P11A_ERR_MAX_; i++) {
		reasons[n].id = (unsigned)i;
		reasons[n++].ptr = (void *)p11a_strerror((int)i);
	}
	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		reasons[n].id = (unsigned)local[i].id;
		reasons[n++].ptr = (void *)local[i].text;
	}
	reasons[n].id = 0;
	reasons[n].ptr = NULL;
}

static const OSSL_ITEM *
prov_reason_strings(void *provctx)
{
	(void)provctx;
	CRYPTO_THREAD_run_once(&reasons_once, reasons_init);
	return reasons;
}

/* ---- algorithms ---------------------------------------------------------- */

/* The names of the key types, as the default provider spells them. */
#define NAMES_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define NAMES_EC "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define NAMES_ED25519 "ED25519:1.3.101.112"

static const OSSL_ALGORITHM keymgmt_algs[] = {
	{NAMES_RSA, P11A_PROV_PROPS, p11a_keymgmt_rsa_functions,
	 "p11agent RSA key"},
	{NAMES_EC, P11A_PROV_PROPS, p11a_keymgmt_ec_functions,
	 "p11agent EC key"},
	{NAMES_ED25519, P11A_PROV_PROPS, p11a_keymgmt_ed25519_functions,
	 "p11agent Ed25519 key"},
	{NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM signature_algs[] = {
	{P11A_SIG_RSA, P11A_PROV_PROPS, p11a_signature_functions,
	 "RSA PKCS#1 v1.5 and PSS by the agent"},
	{P11A_SIG_ECDSA, P11A_PROV_PROPS, p11a_signature_functions,
	 "ECDSA by the agent"},
	{P11A_SIG_ED25519, P11A_PROV_PROPS, p11a_signature_functions,
	 "Ed25519 by the agent"},
	{NULL, NULL, NULL, NULL},
};

/*
 * Key files (decoder.c): PEM to the DER of our structure, then DER to a
 * key of each type.  The structure property keeps the DER decoders away
 * from every other DER, and other decoders away from ours.
 */
#define DECODER_PEM_PROPS P11A_PROV_PROPS ",input=pem"
#define DECODER_DER_PROPS                                                      \
	P11A_PROV_PROPS ",input=der,structure=" P11A_KEYFILE_STRUCTURE

static const OSSL_ALGORITHM decoder_algs[] = {
	{"DER", DECODER_PEM_PROPS, p11a_decoder_pem_functions,
	 "p11agent key file (PEM) to DER"},
	{NAMES_RSA, DECODER_DER_PROPS, p11a_decoder_rsa_functions,
	 "p11agent key file to RSA key"},
	{NAMES_EC, DECODER_DER_PROPS, p11a_decoder_ec_functions,
	 "p11agent key file to EC key"},
	{NAMES_ED25519, DECODER_DER_PROPS, p11a_decoder_ed25519_functions,
	 "p11agent key file to Ed25519 key"},
	{NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM store_algs[] = {
	{P11A_URI_SCHEME, P11A_PROV_PROPS, p11a_store_functions,
	 "keys and certificates held by p11agentd"},
	{NULL, NULL, NULL, NULL},
};

/*
 * Our key managers carry the standard names (RSA, EC, ED25519): libssl
 * recognises a key's type by those names.  OpenSSL 3.0 answers a fetch
 * without properties with the first implementation registered, in the
 * order the providers were loaded; so the default provider must come
 * first, or generic fetches must say "?provider!=p11agent" (docs/TLS.md).
 * Our own calls into the child context say "provider!=p11agent" for that
 * reason, and never use our key managers there.
 */
static const OSSL_ALGORITHM *
prov_query(void *provctx, int operation_id, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return keymgmt_algs;
	case OSSL_OP_SIGNATURE:
		return signature_algs;
	case OSSL_OP_STORE:
		return store_algs;
	case OSSL_OP_DECODER:
		return decoder_algs;
	default:
		return NULL;
	}
}

/* ---- provider parameters ------------------------------------------------- */

static const OSSL_PARAM *
prov_gettable_params(void *provctx)
{
	static const OSSL_PARAM gettable[] = {
		OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL,
				0),
		OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR,
				NULL, 0),
		OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR,
				NULL, 0),
		OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER,
				NULL, 0),
		OSSL_PARAM_END,
	};

	(void)provctx;
	return gettable;
}

static int
prov_get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	(void)provctx;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL &&
	    !OSSL_PARAM_set_utf8_ptr(p, "p11agent: keys held by p11agentd"))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL &&
	    !OSSL_PARAM_set_utf8_ptr(p, P11A_PROV_VERSION))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) !=
		    NULL &&
	    !OSSL_PARAM_set_utf8_ptr(p, "p11agent " P11A_PROV_VERSION))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL &&
	    !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

/* ---- life cycle ---------------------------------------------------------- */

static void
prov_teardown(void *provctx)
{
	struct p11a_prov *prov = provctx;

	if (prov == NULL)
		return;
	OSSL_LIB_CTX_free(prov->libctx);
	OPENSSL_free(prov);
}

static const OSSL_DISPATCH prov_functions[] = {
	{OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown},
	{OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query},
	{OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
	 (void (*)(void))prov_gettable_params},
	{OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))prov_get_params},
	{OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
	 (void (*)(void))prov_reason_strings},
	{0, NULL},
};

/* Take the core functions we use from the dispatch table. */
static void
take_core_functions(struct p11a_prov *prov, const OSSL_DISPATCH *in,
		    OSSL_FUNC_core_get_params_fn **get_params)
{
	for (; in->function_id != 0; in++) {
		switch (in->function_id) {
		case OSSL_FUNC_CORE_GET_PARAMS:
			*get_params = OSSL_FUNC_core_get_params(in);
			break;
		case OSSL_FUNC_CORE_NEW_ERROR:
			prov->new_error = OSSL_FUNC_core_new_error(in);
			break;
		case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
			prov->set_error_debug =
				OSSL_FUNC_core_set_error_debug(in);
			break;
		case OSSL_FUNC_CORE_VSET_ERROR:
			prov->vset_error = OSSL_FUNC_core_vset_error(in);
			break;
		default:
			break;
		}
	}
}

/* The "socket" setting of the provider's openssl.cnf section, if any. */
static void
read_config(const OSSL_CORE_HANDLE *handle,
	    OSSL_FUNC_core_get_params_fn *get_params)
{
	char *socket = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_ptr("socket", &socket, 0),
		OSSL_PARAM_END,
	};

	if (get_params == NULL || !get_params(handle, params))
		return;
	if (socket != NULL && *socket != '\0')
		p11a_agent_set_socket(socket, 1);
}

int
p11a_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		   const OSSL_DISPATCH **out, void **provctx)
{
	OSSL_FUNC_core_get_params_fn *get_params = NULL;
	struct p11a_prov *prov;

	if ((prov = OPENSSL_zalloc(sizeof(*prov))) == NULL)
		return 0;
	prov->handle = handle;
	take_core_functions(prov, in, &get_params);
	read_config(handle, get_params);
	/*
	 * A child context sees the application's providers, so that the
	 * public halves, digests and verifications we delegate run in
	 * whatever providers the application loaded.
	 */
	if ((prov->libctx = OSSL_LIB_CTX_new_child(handle, in)) == NULL) {
		OPENSSL_free(prov);
		return 0;
	}
	*out = prov_functions;
	*provctx = prov;
	return 1;
}
