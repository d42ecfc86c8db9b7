/*
 * libp11agent: TLS client authentication with an agent-held key.
 *
 * The library carries the p11agent OpenSSL 3 provider (docs/TLS.md).  A
 * key it gives out is an ordinary EVP_PKEY whose private operation is a
 * SIGN request to p11agentd: no private key byte is ever in the process.
 * The calls below register that provider in a library context and put an
 * agent identity on an SSL_CTX, either a fixed one or one chosen per
 * handshake from the server's CertificateRequest.
 *
 * Every function returns a p11a_err code (0 on success); where a msg
 * buffer is taken, a failure leaves a one-line explanation in it.
 */
#ifndef P11AGENT_SSL_H
#define P11AGENT_SSL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/ssl.h>

#include "p11agent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * p11a_provider_init - the provider's OSSL_provider_init function.
 * p11agent.so exports it as OSSL_provider_init; a program may also
 * register it itself: OSSL_PROVIDER_add_builtin(ctx, "p11agent",
 * p11a_provider_init).
 */
int p11a_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		       const OSSL_DISPATCH **out, void **provctx);

/*
 * p11a_ssl_load_provider - make the p11agent provider available in
 * libctx (NULL: the default context) unless it already is, keeping the
 * default provider available beside it.  socket is the agent socket the
 * provider uses in this process (NULL: $P11AGENT_SOCK, else
 * $XDG_RUNTIME_DIR/p11agent/agent.sock; an openssl.cnf "socket" setting
 * wins over both).
 */
int p11a_ssl_load_provider(OSSL_LIB_CTX *libctx, const char *socket);

/*
 * p11a_ssl_ctx_use_identity - put an agent identity on ctx: its key, its
 * certificate and the chain.  identity is an identity id or a pkcs11:
 * URI (as `p11agent list` prints them); cert_file, if not NULL, is a PEM
 * file whose first certificate is used instead of the token's and whose
 * further certificates become the chain.  With identity NULL the
 * identity whose public key matches cert_file's certificate is used.
 * ctx must belong to the default library context; the provider is loaded
 * there if needed (with the default socket unless p11a_ssl_load_provider
 * said otherwise).  P11A_ERR_LOCKED when the identity's token is locked,
 * P11A_ERR_IDENTITY_NOT_FOUND / _AMBIGUOUS when the name matches no or
 * several identities.
 */
int p11a_ssl_ctx_use_identity(SSL_CTX *ctx, const char *identity,
			      const char *cert_file, char *msg, size_t msg_len);

/*
 * p11a_ssl_client_cert_cb - a callback for SSL_CTX_set_cert_cb() that,
 * when the server asks for a client certificate, picks the first agent
 * identity (in LIST order) that has a certificate, is available, whose
 * issuer is among the CA names of the CertificateRequest (any issuer when
 * the server names none) and that can sign with one of the server's
 * signature algorithms for the TLS version in use.  arg is ignored.  It
 * always returns 1: with no such identity the handshake goes on without a
 * client certificate, and p11a_ssl_auto_result() tells why.
 */
int p11a_ssl_client_cert_cb(SSL *ssl, void *arg);

/*
 * p11a_ssl_ctx_use_auto_identity - load the provider (as above) and
 * install p11a_ssl_client_cert_cb on ctx.
 */
int p11a_ssl_ctx_use_auto_identity(SSL_CTX *ctx, char *msg, size_t msg_len);

/*
 * p11a_ssl_auto_result - what p11a_ssl_client_cert_cb did on ssl: 0 and
 * the chosen identity id in id (room for id_len) when it chose one;
 * P11A_ERR_IDENTITY_NOT_FOUND (no identity fits), P11A_ERR_LOCKED (only
 * locked ones would), P11A_ERR_CONNECT (agent unreachable) with the reason
 * in why (room for why_len); P11A_ERR_INVALID_ARGUMENT if the callback
 * has not run on ssl.  id and why may be NULL when their length is 0.
 */
int p11a_ssl_auto_result(const SSL *ssl, char *id, size_t id_len, char *why,
			 size_t why_len);

/* What the provider reports after each signature it asked the agent for. */
struct p11a_sign_event {
	const char *identity; /* identity id */
	const char *label;    /* the key's label, may be empty */
	uint16_t scheme;      /* TLS SignatureScheme */
	uint32_t flags;	      /* P11A_SIGN_* form sent */
	size_t data_len;      /* bytes of data sent */
	uint64_t usec;	      /* request to reply, microseconds */
	int error;	      /* 0, or the p11a_err of the failure */
};

typedef void (*p11a_sign_observer_fn)(const struct p11a_sign_event *ev,
				      void *arg);

/*
 * p11a_set_sign_observer - call fn(ev, arg) in the signing thread after
 * every SIGN the provider makes in this process (NULL: stop).  fn must be
 * quick and must not sign itself.
 */
void p11a_set_sign_observer(p11a_sign_observer_fn fn, void *arg);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
