/*
 * The p11agent OpenSSL 3 provider: internal interfaces.
 *
 * The provider is compiled into libp11agent (so that a program linking
 * the library can register it as a built-in provider, see
 * include/p11agent/ssl.h) and exposed to stock OpenSSL programs by the
 * thin module p11agent.so (module.c).  Files, one OpenSSL operation each:
 *
 *   provider.c   init, teardown, algorithm tables, error reasons
 *   agent.c      the one agent connection per process (fork-safe), LIST,
 *                SIGN, the sign observer
 *   uri.c        the p11agent: key URI and pkcs11: attribute matching
 *   key.c        the key object: an identity's public half, never private
 *                key bytes
 *   keymgmt.c    key management for RSA, EC and Ed25519 keys
 *   sigalg.c     (key, padding, digest) -> TLS scheme, AlgorithmIdentifier
 *   signature.c  signature operations; TLS 1.3 CertificateVerify detection
 *   store.c      the OSSL_STORE loader for p11agent: URIs
 *   decoder.c    the decoders of key files that name an identity
 *                (keyfile.c holds their format)
 *   lookup.c     the identity a key URI names, for store.c and decoder.c
 *
 * Internal functions return p11a_err codes (0 on success); only OpenSSL
 * entry points return OpenSSL's 1/0, after raising an error with
 * p11a_prov_raise().
 */
#ifndef P11A_PROV_H
#define P11A_PROV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "p11agent/client.h"
#include "p11agent/ssl.h"

/* The name of the provider and the property its algorithms carry. */
#define P11A_PROV_NAME "p11agent"
#define P11A_PROV_PROPS "provider=p11agent"
/*
 * What the provider itself fetches (digests, public-key decoding and
 * verification) must come from another provider: this one implements
 * no digest, and its own key management would recurse.
 */
#define P11A_PROV_PROPQ "provider!=p11agent"

/* The URI scheme of the store loader: "p11agent:ID" or "p11agent:pkcs11:..." */
#define P11A_URI_SCHEME "p11agent"
#define P11A_URI_PREFIX "p11agent:"

/* Signature algorithm names: unique, so that no other provider's
 * signature implementation is ever tried with our keys (see keymgmt.c). */
#define P11A_SIG_RSA "P11AGENT-RSA"
#define P11A_SIG_ECDSA "P11AGENT-ECDSA"
#define P11A_SIG_ED25519 "P11AGENT-ED25519"

/* Error reasons that are not p11a_err codes (those are used as they are). */
enum p11a_prov_reason {
	P11A_PROV_R_BAD_URI = 100,
	P11A_PROV_R_NO_PRIVATE_KEY,
	P11A_PROV_R_UNSUPPORTED_PADDING,
	P11A_PROV_R_UNSUPPORTED_DIGEST,
	P11A_PROV_R_BUFFER_TOO_SMALL,
	P11A_PROV_R_MESSAGE_TOO_LONG,
	P11A_PROV_R_OPENSSL,
	P11A_PROV_R_MAX_
};

struct p11a_prov {
	const OSSL_CORE_HANDLE *handle;
	OSSL_LIB_CTX *libctx; /* child of the application's context */
	OSSL_FUNC_core_new_error_fn *new_error;
	OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
	OSSL_FUNC_core_vset_error_fn *vset_error;
};

/* provider.c */
void p11a_prov_raise(const struct p11a_prov *prov, int reason, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
/* Raise for an agent error r, adding the agent's (or library's) text. */
void p11a_prov_raise_agent(const struct p11a_prov *prov, int r,
			   const char *what, const char *msg);

/* agent.c: a pool of connections per process (client/pool.h), shared by
 * every provider context */

/*
 * Use this socket from now on (NULL: the default path).  A path from
 * openssl.cnf (from_config) is kept against later calls without it.
 */
void p11a_agent_set_socket(const char *path, int from_config);
/*
 * Fetch the identities; *list is freed with p11a_identity_list_free().
 * On failure msg (room for len) explains.
 */
int p11a_agent_list(struct p11a_identity_list *list, char *msg, size_t len);
/* Whether some token of the agent waits for UNLOCK (best effort: 0). */
int p11a_agent_needs_unlock(void);
/* SIGN and wait; *sig is malloc'd.  Tells the sign observer. */
int p11a_agent_sign(const struct p11a_sign_request *req, const char *label,
		    uint8_t **sig, size_t *sig_len, char *msg, size_t len);
/* ssl.c sets it; agent.c calls it after every SIGN. */
void p11a_agent_set_observer(p11a_sign_observer_fn fn, void *arg);

/* uri.c */
struct p11a_key_uri {
	char *id;     /* identity id (32 hex), or NULL */
	char *pkcs11; /* pkcs11: URI to match, or NULL */
};
/* Parse "p11agent:ID" or "p11agent:pkcs11:ATTRS". */
int p11a_key_uri_parse(const char *uri, struct p11a_key_uri *out);
void p11a_key_uri_clear(struct p11a_key_uri *u);
/*
 * Whether the identity URI have matches the pkcs11: URI want: every
 * path attribute of want is in have with the same (decoded) value.
 * Query attributes (pin-value, ...) are ignored.
 */
int p11a_pkcs11_uri_matches(const char *want, const char *have);
/*
 * The one identity of list that uri names; P11A_ERR_IDENTITY_NOT_FOUND
 * or P11A_ERR_IDENTITY_AMBIGUOUS otherwise.
 */
int p11a_key_uri_find(const struct p11a_key_uri *uri,
		      const struct p11a_identity_list *list, size_t *index);

/* key.c */
struct p11a_key {
	int refs;
	const struct p11a_prov *prov;
	uint8_t type;  /* P11A_KEY_RSA, _EC, _ED25519 */
	EVP_PKEY *pub; /* the public half, held by another provider */
	/* the identity; id is NULL for a key that has only a public half */
	char *id;
	char *label;
	char *uri;
	uint32_t flags; /* P11A_IDENTITY_* */
	size_t n_schemes;
	uint16_t schemes[P11A_MAX_SCHEMES];
	uint8_t *cert; /* DER; NULL when the token holds none */
	size_t cert_len;
};

/*
 * What the store passes to the key manager's load(): a pointer to a live
 * key (the store keeps its own reference while load() runs).  The magic
 * number catches a reference from anywhere else.
 */
#define P11A_KEY_REF_MAGIC 0x70313161u
struct p11a_key_ref {
	uint32_t magic;
	struct p11a_key *key;
};

/* A key of this type with no halves yet (keymgmt new/import). */
struct p11a_key *p11a_key_new(const struct p11a_prov *prov, uint8_t type);
/* A key for an identity from LIST; NULL when its SPKI is unusable. */
int p11a_key_from_identity(const struct p11a_prov *prov,
			   const struct p11a_identity *id,
			   struct p11a_key **out);
struct p11a_key *p11a_key_ref(struct p11a_key *k);
void p11a_key_unref(struct p11a_key *k);
int p11a_key_has_scheme(const struct p11a_key *k, uint16_t scheme);
/* The OpenSSL key type name: "RSA", "EC", "ED25519". */
const char *p11a_key_type_name(uint8_t type);

/* lookup.c */
/*
 * The key of the one available identity uri names; on failure an error
 * is raised that starts with what (the URI or file, for the user).
 */
int p11a_key_lookup(const struct p11a_prov *prov,
		    const struct p11a_key_uri *uri, const char *what,
		    struct p11a_key **out);

/* keymgmt.c, signature.c, store.c, decoder.c: dispatch tables */
extern const OSSL_DISPATCH p11a_keymgmt_rsa_functions[];
extern const OSSL_DISPATCH p11a_keymgmt_ec_functions[];
extern const OSSL_DISPATCH p11a_keymgmt_ed25519_functions[];
extern const OSSL_DISPATCH p11a_signature_functions[];
extern const OSSL_DISPATCH p11a_store_functions[];
extern const OSSL_DISPATCH p11a_decoder_pem_functions[];
extern const OSSL_DISPATCH p11a_decoder_rsa_functions[];
extern const OSSL_DISPATCH p11a_decoder_ec_functions[];
extern const OSSL_DISPATCH p11a_decoder_ed25519_functions[];

/* sigalg.c */
enum p11a_pad { P11A_PAD_PKCS1 = 1, P11A_PAD_PSS, P11A_PAD_NONE };
/*
 * The TLS scheme for a key type, padding and digest (OpenSSL name, or
 * NULL for Ed25519); 0 when the agent has none.
 */
uint16_t p11a_sigalg_scheme(uint8_t key_type, enum p11a_pad pad,
			    const char *mdname);
/* The digest's output size; 0 if unknown. */
size_t p11a_sigalg_md_size(const char *mdname);
/* Canonical OpenSSL digest name ("SHA256"), NULL if not one we use. */
const char *p11a_sigalg_md_canon(const char *mdname);
/* The digest whose output is len bytes (ECDSA over a bare hash). */
const char *p11a_sigalg_md_for_len(size_t len);
/* RSA_*_PADDING of OpenSSL's padding name ("pss"), -1 if none. */
int p11a_sigalg_pad_mode(const char *name);
/* OpenSSL's name of an RSA_*_PADDING; NULL if it has none. */
const char *p11a_sigalg_pad_mode_name(int mode);
/* Whether saltlen is a length or one of RSA_PSS_SALTLEN_*. */
int p11a_sigalg_saltlen_valid(int saltlen);
/*
 * A PSS salt length as OpenSSL writes it ("digest", "max", "auto" or a
 * decimal number) to RSA_PSS_SALTLEN_* or the length; -1 if none.
 */
int p11a_sigalg_saltlen_parse(const char *s, int *saltlen);
/* The reverse, into buf (room for len); -1 if it does not fit. */
int p11a_sigalg_saltlen_format(int saltlen, char *buf, size_t len);
/*
 * DER AlgorithmIdentifier of the signature (for certificates and CSRs);
 * writes into out (room for max); 0 on failure.
 */
size_t p11a_sigalg_algorithm_id(uint8_t key_type, enum p11a_pad pad,
				const char *mdname, uint8_t *out, size_t max);
/*
 * If in is a DER DigestInfo of a digest we know, point *digest at the
 * hash inside and set *mdname.  Returns 1 when it is one.
 */
int p11a_sigalg_parse_digestinfo(const uint8_t *in, size_t len,
				 const uint8_t **digest, size_t *digest_len,
				 const char **mdname);

#endif
