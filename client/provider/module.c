/*
 * p11agent.so: the provider as an OpenSSL module, for stock programs
 * (openssl s_client -provider p11agent, or an openssl.cnf section).  The
 * implementation lives in libp11agent, which this module links; the
 * module adds nothing but the entry point OpenSSL looks for.
 */
#include <openssl/core.h>

#include "p11agent/ssl.h"

__attribute__((visibility("default"))) int
OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		   const OSSL_DISPATCH **out, void **provctx)
{
	return p11a_provider_init(handle, in, out, provctx);
}
