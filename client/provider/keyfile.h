/*
 * The p11agent key file: a PEM file that names an agent identity, so that
 * programs which take a private key only as a file (curl, Python's ssl,
 * stunnel, nginx) load an agent key through the provider's decoders
 * (decoder.c).  It holds no secret.  docs/TLS.md ("Key files") documents
 * the format:
 *
 *   -----BEGIN P11AGENT KEY-----
 *   base64 of the DER of
 *     P11agentKey ::= SEQUENCE {
 *         version  INTEGER,     -- 1
 *         id       UTF8String,  -- the identity id, 32 lowercase hex digits
 *         uri      UTF8String   -- the identity's pkcs11: URI, for messages
 *     }
 *   -----END P11AGENT KEY-----
 *
 * Compiled into libp11agent (the decoders) and into the p11agent command
 * (export-key); it uses libcrypto only.
 */
#ifndef P11A_KEYFILE_H
#define P11A_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define P11A_KEYFILE_PEM_LABEL "P11AGENT KEY"
/* the decoders' name for the DER body ("structure=" property) */
#define P11A_KEYFILE_STRUCTURE "p11agent-key"
#define P11A_KEYFILE_VERSION 1
/* no key file body is longer: the decoders read no further */
#define P11A_KEYFILE_MAX 8192
/* the longest URI in one (far longer than any an agent gives) */
#define P11A_KEYFILE_URI_MAX 4096

struct p11a_keyfile {
	char *id;  /* 32 lowercase hex digits */
	char *uri; /* pkcs11:... */
};

/*
 * The DER body for an identity (*der is OPENSSL_free'd by the caller).
 * P11A_ERR_INVALID_ARGUMENT when id or uri is not one an agent gives.
 */
int p11a_keyfile_encode(const char *id, const char *uri, uint8_t **der,
			size_t *len);
/*
 * Parse a DER body; P11A_ERR_INVALID_ARGUMENT for anything that is not
 * exactly one (not DER, another structure, another version, a bad id or
 * URI, bytes after it).  out is cleared with p11a_keyfile_clear().
 */
int p11a_keyfile_decode(const uint8_t *der, size_t len,
			struct p11a_keyfile *out);
void p11a_keyfile_clear(struct p11a_keyfile *k);

#endif
