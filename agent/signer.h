/*
 * One signature on a token session, in the form a TLS CertificateVerify
 * carries: the agent hashes (unless given a digest), wraps the input for
 * the mechanism, has the token's helper call C_SignInit/C_Sign and
 * converts ECDSA output to DER.
 */
#ifndef P11A_AGENT_SIGNER_H
#define P11A_AGENT_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "buf.h"
#include "scheme.h"
#include "token.h"

/* Large enough for RSA-8192 and for DER ECDSA on P-521. */
#define SIGNER_MAX_SIG 1100

/*
 * Whether the identity can make this signature from this input: the
 * checks done before a request is queued, so that a bad request is
 * answered at once.  Returns a p11a_err and, on error, a message in *why.
 */
int signer_check(const struct identity *id, const struct p11a_scheme_info *sc,
		 uint32_t flags, size_t data_len, const char **why);

/* What one signature came to. */
struct signer_result {
	uint8_t sig[SIGNER_MAX_SIG];
	size_t sig_len;
	CK_RV rv;	  /* the module's answer, for logs and retries */
	uint64_t sign_us; /* the token's time for it, as the helper saw it */
	char why[320];	  /* for the client when it failed; "" : the rv says */
};

/*
 * Sign through the token's helper with the identity's key handle key of
 * helper generation gen, on the path chosen for the scheme at discovery.
 * pin not NULL: the key wants CKU_CONTEXT_SPECIFIC login with it on the
 * session of the signature (empty: the reader's own pad).  Returns a
 * p11a_err; res says the rest (a helper that died has rv
 * CKR_DEVICE_ERROR and says so in why).
 */
int signer_sign(const struct identity *id, CK_OBJECT_HANDLE key, unsigned gen,
		const struct p11a_scheme_info *sc, uint32_t flags,
		const uint8_t *data, size_t len, const struct pin *pin,
		struct signer_result *res);

/*
 * The two halves of signer_sign(), for a request sent without waiting
 * (hlink_send): the H_SIGN payload (its owner frees it, which wipes a
 * PIN in it), and the result from the helper's reply.
 */
int signer_build(const struct identity *id, CK_OBJECT_HANDLE key,
		 const struct p11a_scheme_info *sc, uint32_t flags,
		 const uint8_t *data, size_t len, const struct pin *pin,
		 struct p11a_buf *req);
struct hlink_reply;
int signer_finish(const struct p11a_scheme_info *sc, struct hlink_reply *rep,
		  struct signer_result *res);

#endif
