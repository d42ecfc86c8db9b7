/*
 * libp11agent: agent identities on OpenSSL SSL_CTX objects.
 *
 * The provider (provider/) is part of this library; these calls register
 * it as a built-in provider, look identities up with LIST (so that the
 * caller gets a precise p11a_err, not an OpenSSL error queue), and get the
 * EVP_PKEY of an identity through the provider's store loader.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "p11agent/ssl.h"
#include "provider/prov.h"

#define ID_MAX 33 /* 32 hex digits and a NUL */
#define WHY_MAX 256

static int fail(char *msg, size_t len, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Put an explanation in msg (if any); returns r. */
static int
fail(char *msg, size_t len, int r, const char *fmt, ...)
{
	va_list ap;

	if (msg != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* ---- the provider -------------------------------------------------------- */

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static int
count_provider(OSSL_PROVIDER *prov, void *arg)
{
	(void)prov;
	(*(int *)arg)++;
	return 1;
}

int
p11a_ssl_load_provider(OSSL_LIB_CTX *libctx, const char *socket)
{
	int n = 0, r = P11A_OK;

	if (socket != NULL)
		p11a_agent_set_socket(socket, 0);
	pthread_mutex_lock(&load_lock);
	if (OSSL_PROVIDER_available(libctx, P11A_PROV_NAME))
		goto out;
	/*
	 * Listing the providers activates the fallback (default) provider
	 * when the program loaded none: loading ours first would disable
	 * that fallback and leave the program without ciphers.
	 */
	OSSL_PROVIDER_do_all(libctx, count_provider, &n);
	if ((n == 0 && OSSL_PROVIDER_load(libctx, "default") == NULL) ||
	    !OSSL_PROVIDER_add_builtin(libctx, P11A_PROV_NAME,
				       p11a_provider_init) ||
	    OSSL_PROVIDER_load(libctx, P11A_PROV_NAME) == NULL)
		r = P11A_ERR_INTERNAL;
out:
	pthread_mutex_unlock(&load_lock);
	return r;
}

/* ---- identities ---------------------------------------------------------- */

/*
 * Index in list of the identity named by name (id, pkcs11: URI, or
 * either behind "p11agent:").
 */
static int
find_by_name(const struct p11a_identity_list *list, const char *name,
	     size_t *index)
{
	struct p11a_key_uri uri;
	char *full = NULL;
	int r;

	/* p11a_key_uri_parse() tells an id from a pkcs11: URI */
	if (strncmp(name, P11A_URI_PREFIX, strlen(P11A_URI_PREFIX)) != 0) {
		size_t len = strlen(P11A_URI_PREFIX) + strlen(name) + 1;

		if ((full = malloc(len)) == NULL)
			return P11A_ERR_NO_MEMORY;
		snprintf(full, len, "%s%s", P11A_URI_PREFIX, name);
		name = full;
	}
	if ((r = p11a_key_uri_parse(name, &uri)) == P11A_OK)
		r = p11a_key_uri_find(&uri, list, index);
	p11a_key_uri_clear(&uri);
	free(full);
	return r;
}

/* Index of the identity whose public key is cert's. */
static int
find_by_cert(const struct p11a_identity_list *list, X509 *cert, size_t *index)
{
	unsigned char *spki = NULL;
	int len, r = P11A_ERR_IDENTITY_NOT_FOUND;
	size_t i;

	if ((len = i2d_PUBKEY(X509_get0_pubkey(cert), &spki)) <= 0)
		return P11A_ERR_INVALID_ARGUMENT;
	for (i = 0; i < list->n; i++) {
		if (list->items[i].spki_len == (size_t)len &&
		    memcmp(list->items[i].spki, spki, (size_t)len) == 0) {
			*index = i;
			r = P11A_OK;
			break;
		}
	}
	OPENSSL_free(spki);
	return r;
}

/* The EVP_PKEY of identity id, through the provider's store. */
static int
load_key(const char *id, EVP_PKEY **out, char *msg, size_t len)
{
	char uri[sizeof(P11A_URI_PREFIX) + ID_MAX];
	OSSL_STORE_CTX *st;
	OSSL_STORE_INFO *info;
	unsigned long e;

	*out = NULL;
	snprintf(uri, sizeof(uri), "%s%s", P11A_URI_PREFIX, id);
	st = OSSL_STORE_open_ex(uri, NULL, P11A_PROV_PROPS, NULL, NULL, NULL,
				NULL, NULL);
	if (st != NULL && OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY)) {
		while (*out == NULL && !OSSL_STORE_eof(st) &&
		       (info = OSSL_STORE_load(st)) != NULL) {
			*out = OSSL_STORE_INFO_get1_PKEY(info);
			OSSL_STORE_INFO_free(info);
		}
	}
	OSSL_STORE_close(st);
	if (*out != NULL)
		return P11A_OK;
	e = ERR_peek_last_error();
	fail(msg, len, P11A_ERR_INTERNAL, "cannot load the key of %s: %s", id,
	     e != 0 ? ERR_reason_error_string(e) : "no key");
	return P11A_ERR_INTERNAL;
}

/* An identity that cannot be used: the right code and words. */
static int
identity_unusable(const struct p11a_identity_list *list, const char *name,
		  int r, char *msg, size_t len)
{
	(void)list;
	if (r == P11A_ERR_IDENTITY_NOT_FOUND && p11a_agent_needs_unlock())
		return fail(msg, len, P11A_ERR_LOCKED,
			    "the agent is locked (its tokens show no keys "
			    "until 'p11agent unlock')");
	if (r == P11A_ERR_IDENTITY_NOT_FOUND)
		return fail(msg, len, r, "no identity matches %s", name);
	if (r == P11A_ERR_IDENTITY_AMBIGUOUS)
		return fail(msg, len, r,
			    "%s matches several identities: use an id from "
			    "'p11agent list'",
			    name);
	if (r == P11A_ERR_INVALID_ARGUMENT)
		return fail(msg, len, r,
			    "'%s' is neither an identity id nor a pkcs11: "
			    "URI",
			    name);
	return fail(msg, len, r, "%s: %s", name, p11a_strerror(r));
}

/* ---- certificate files --------------------------------------------------- */

/* Read a PEM file: the first certificate, then the rest as a chain. */
static int
read_cert_file(const char *path, X509 **leaf, STACK_OF(X509) * *chain,
	       char *msg, size_t len)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x;

	*leaf = NULL;
	*chain = NULL;
	if (bio == NULL)
		return fail(msg, len, P11A_ERR_INVALID_ARGUMENT,
			    "cannot open %s", path);
	*leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (*leaf != NULL && (*chain = sk_X509_new_null()) != NULL) {
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(*chain, x))
				X509_free(x);
	}
	ERR_clear_error(); /* the end of the file reads as an error */
	BIO_free(bio);
	if (*leaf != NULL && *chain != NULL)
		return P11A_OK;
	X509_free(*leaf);
	*leaf = NULL;
	return fail(msg, len, P11A_ERR_INVALID_ARGUMENT,
		    "no PEM certificate in %s", path);
}

static int
token_cert(const struct p11a_identity *id, X509 **out, char *msg, size_t len)
{
	const unsigned char *p = id->cert;

	*out = NULL;
	if (id->cert == NULL || id->cert_len == 0)
		return fail(msg, len, P11A_ERR_INVALID_ARGUMENT,
			    "the token holds no certificate for %s: give "
			    "one (--cert FILE)",
			    id->id);
	if ((*out = d2i_X509(NULL, &p, (long)id->cert_len)) == NULL)
		return fail(msg, len, P11A_ERR_INVALID_ARGUMENT,
			    "the certificate of %s is unreadable", id->id);
	return P11A_OK;
}

/* ---- a fixed identity ---------------------------------------------------- */

/* Pick the identity and its certificate (the file's, else the token's). */
static int
choose_identity(const struct p11a_identity_list *list, const char *identity,
		const char *cert_file, size_t *index, X509 **leaf,
		STACK_OF(X509) * *chain, char *msg, size_t len)
{
	int r;

	*leaf = NULL;
	*chain = NULL;
	if (cert_file != NULL &&
	    (r = read_cert_file(cert_file, leaf, chain, msg, len)) != P11A_OK)
		return r;
	if (identity != NULL)
		r = find_by_name(list, identity, index);
	else if (*leaf != NULL)
		r = find_by_cert(list, *leaf, index);
	else
		r = P11A_ERR_INVALID_ARGUMENT;
	if (r != P11A_OK)
		return identity_unusable(
			list, identity != NULL ? identity : "the certificate",
			r, msg, len);
	if (!(list->items[*index].flags & P11A_IDENTITY_AVAILABLE))
		return fail(msg, len, P11A_ERR_LOCKED,
			    "the agent is locked (run 'p11agent unlock')");
	if (*leaf == NULL)
		return token_cert(&list->items[*index], leaf, msg, len);
	return P11A_OK;
}

static int
install(SSL_CTX *ctx, X509 *leaf, STACK_OF(X509) * chain, EVP_PKEY *key,
	char *msg, size_t len)
{
	int i;

	if (SSL_CTX_use_certificate(ctx, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		return fail(msg, len, P11A_ERR_INVALID_ARGUMENT,
			    "the certificate does not belong to the key");
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1)
			return fail(msg, len, P11A_ERR_NO_MEMORY,
				    "cannot add the chain");
	return P11A_OK;
}

int
p11a_ssl_ctx_use_identity(SSL_CTX *ctx, const char *identity,
			  const char *cert_file, char *msg, size_t msg_len)
{
	struct p11a_identity_list list;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	size_t i = 0;
	int r;

	memset(&list, 0, sizeof(list));
	if (ctx == NULL || (identity == NULL && cert_file == NULL))
		return fail(msg, msg_len, P11A_ERR_INVALID_ARGUMENT,
			    "name an identity or a certificate");
	if ((r = p11a_ssl_load_provider(NULL, NULL)) != P11A_OK) {
		fail(msg, msg_len, r, "cannot load the p11agent provider");
		goto out;
	}
	if ((r = p11a_agent_list(&list, msg, msg_len)) != P11A_OK ||
	    (r = choose_identity(&list, identity, cert_file, &i, &leaf, &chain,
				 msg, msg_len)) != P11A_OK ||
	    (r = load_key(list.items[i].id, &key, msg, msg_len)) != P11A_OK)
		goto out;
	r = install(ctx, leaf, chain, key, msg, msg_len);
out:
	EVP_PKEY_free(key);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	p11a_identity_list_free(&list);
	return r;
}

/* ---- an identity per handshake ------------------------------------------- */

struct auto_result {
	int r;
	char id[ID_MAX];
	char why[WHY_MAX];
};

static int result_index = -1;
static pthread_once_t result_once = PTHREAD_ONCE_INIT;

static void
result_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void
result_index_init(void)
{
	result_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, result_free);
}

static struct auto_result *
result_of(const SSL *ssl, int create)
{
	struct auto_result *res;

	pthread_once(&result_once, result_index_init);
	if (result_index < 0)
		return NULL;
	res = SSL_get_ex_data(ssl, result_index);
	if (res != NULL || !create)
		return res;
	if ((res = calloc(1, sizeof(*res))) == NULL)
		return NULL;
	if (!SSL_set_ex_data((SSL *)ssl, result_index, res)) {
		free(res);
		return NULL;
	}
	return res;
}

/* Whether TLS 1.3 lets this key sign with scheme (RFC 8446 4.2.3). */
static int
tls13_allows(const struct p11a_identity *id, uint16_t scheme)
{
	switch (scheme) {
	case P11A_SCHEME_RSA_PSS_RSAE_SHA256:
	case P11A_SCHEME_RSA_PSS_RSAE_SHA384:
	case P11A_SCHEME_RSA_PSS_RSAE_SHA512:
	case P11A_SCHEME_ED25519:
		return 1;
	case P11A_SCHEME_ECDSA_SECP256R1_SHA256:
		return id->curve != NULL && strcmp(id->curve, "P-256") == 0;
	case P11A_SCHEME_ECDSA_SECP384R1_SHA384:
		return id->curve != NULL && strcmp(id->curve, "P-384") == 0;
	case P11A_SCHEME_ECDSA_SECP521R1_SHA512:
		return id->curve != NULL && strcmp(id->curve, "P-521") == 0;
	default:
		return 0;
	}
}

/* Whether the key can make one of the signatures the server accepts. */
static int
sigalgs_fit(SSL *ssl, const struct p11a_identity *id)
{
	int tls13 = SSL_version(ssl) >= TLS1_3_VERSION;
	int n = SSL_get_sigalgs(ssl, -1, NULL, NULL, NULL, NULL, NULL);
	unsigned char rsig, rhash;
	uint16_t code;
	size_t j;
	int i;

	if (n <= 0)
		return !tls13; /* TLS 1.2 may omit the list */
	for (i = 0; i < n; i++) {
		SSL_get_sigalgs(ssl, i, NULL, NULL, NULL, &rsig, &rhash);
		code = (uint16_t)(rhash << 8 | rsig);
		for (j = 0; j < id->n_schemes; j++)
			if (id->schemes[j] == code &&
			    (!tls13 || tls13_allows(id, code)))
				return 1;
	}
	return 0;
}

/* Whether the certificate's issuer is one the server named (or none). */
static int
issuer_fits(SSL *ssl, X509 *cert)
{
	const STACK_OF(X509_NAME) *cas = SSL_get0_peer_CA_list(ssl);
	int i;

	if (cas == NULL || sk_X509_NAME_num(cas) == 0)
		return 1;
	for (i = 0; i < sk_X509_NAME_num(cas); i++)
		if (X509_NAME_cmp(sk_X509_NAME_value(cas, i),
				  X509_get_issuer_name(cert)) == 0)
			return 1;
	return 0;
}

/* The first identity that fits; -1 when none; *locked if one was locked. */
static int
pick(SSL *ssl, const struct p11a_identity_list *list, X509 **cert, int *locked)
{
	const unsigned char *p;
	X509 *x;
	size_t i;

	*locked = 0;
	for (i = 0; i < list->n; i++) {
		const struct p11a_identity *id = &list->items[i];

		if (id->cert == NULL || !sigalgs_fit(ssl, id))
			continue;
		/* it would refuse the TLS 1.2 CertificateVerify */
		if ((id->flags & P11A_IDENTITY_TLS13_CLIENT_ONLY) &&
		    SSL_version(ssl) < TLS1_3_VERSION)
			continue;
		p = id->cert;
		if ((x = d2i_X509(NULL, &p, (long)id->cert_len)) == NULL)
			continue;
		if (!issuer_fits(ssl, x)) {
			X509_free(x);
			continue;
		}
		if (!(id->flags & P11A_IDENTITY_AVAILABLE)) {
			*locked = 1;
			X509_free(x);
			continue;
		}
		*cert = x;
		return (int)i;
	}
	return -1;
}

/* Choose and install; the outcome goes into res. */
static void
auto_choose(SSL *ssl, struct auto_result *res)
{
	struct p11a_identity_list list;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int i, locked;

	res->r = p11a_agent_list(&list, res->why, sizeof(res->why));
	if (res->r != P11A_OK)
		return;
	if ((i = pick(ssl, &list, &cert, &locked)) < 0) {
		res->r = locked || p11a_agent_needs_unlock()
				 ? P11A_ERR_LOCKED
				 : P11A_ERR_IDENTITY_NOT_FOUND;
		snprintf(res->why, sizeof(res->why), "%s",
			 res->r == P11A_ERR_LOCKED
				 ? "the agent is locked (run 'p11agent "
				   "unlock')"
				 : "no identity has a certificate from a CA "
				   "the server names and a signature "
				   "algorithm it accepts");
		goto out;
	}
	snprintf(res->id, sizeof(res->id), "%s", list.items[i].id);
	res->r = load_key(res->id, &key, res->why, sizeof(res->why));
	if (res->r == P11A_OK && (SSL_use_certificate(ssl, cert) != 1 ||
				  SSL_use_PrivateKey(ssl, key) != 1)) {
		res->r = P11A_ERR_INTERNAL;
		snprintf(res->why, sizeof(res->why),
			 "OpenSSL refused the certificate or key of %s",
			 res->id);
	}
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	p11a_identity_list_free(&list);
}

int
p11a_ssl_client_cert_cb(SSL *ssl, void *arg)
{
	struct auto_result *res = result_of(ssl, 1);

	(void)arg;
	if (res == NULL)
		return 1;
	memset(res, 0, sizeof(*res));
	auto_choose(ssl, res);
	/* with nothing chosen the handshake goes on without a certificate */
	ERR_clear_error();
	return 1;
}

int
p11a_ssl_ctx_use_auto_identity(SSL_CTX *ctx, char *msg, size_t msg_len)
{
	int r;

	if (ctx == NULL)
		return fail(msg, msg_len, P11A_ERR_INVALID_ARGUMENT,
			    "no SSL_CTX");
	if ((r = p11a_ssl_load_provider(NULL, NULL)) != P11A_OK)
		return fail(msg, msg_len, r,
			    "cannot load the p11agent provider");
	SSL_CTX_set_cert_cb(ctx, p11a_ssl_client_cert_cb, NULL);
	return P11A_OK;
}

int
p11a_ssl_auto_result(const SSL *ssl, char *id, size_t id_len, char *why,
		     size_t why_len)
{
	const struct auto_result *res = result_of(ssl, 0);

	if (res == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	if (id != NULL && id_len > 0)
		snprintf(id, id_len, "%s", res->id);
	if (why != NULL && why_len > 0)
		snprintf(why, why_len, "%s", res->why);
	return res->r;
}

void
p11a_set_sign_observer(p11a_sign_observer_fn fn, void *arg)
{
	p11a_agent_set_observer(fn, arg);
}
