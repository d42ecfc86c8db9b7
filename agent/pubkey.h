/*
 * What kind of key a token holds, and its public half as a DER
 * SubjectPublicKeyInfo, built from PKCS#11 attributes or a certificate.
 */
#ifndef P11A_AGENT_PUBKEY_H
#define P11A_AGENT_PUBKEY_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

struct key_shape {
	uint8_t key_type; /* P11A_KEY_* */
	unsigned bits;
	const char *curve; /* "P-256", "Ed25519"; "" for RSA */
	int nid;	   /* OpenSSL curve NID; 0 for RSA */
};

/*
 * Recognise a private key.  Returns P11A_OK, or P11A_ERR_SCHEME_UNSUPPORTED
 * with a reason in why[] for a key we cannot use.
 */
int pubkey_shape(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
		 CK_OBJECT_HANDLE priv, struct key_shape *shape, char *why,
		 size_t why_len);

/*
 * The SPKI DER of the key: from the public key object with the same
 * CKA_ID, else from the certificate (cert may be NULL), else (RSA) from
 * the private key's public attributes.  *spki is NULL when none is
 * found, which is not an error.
 */
int pubkey_spki(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
		CK_OBJECT_HANDLE priv, const struct key_shape *shape,
		const uint8_t *ck_id, size_t ck_id_len, const uint8_t *cert,
		size_t cert_len, uint8_t **spki, size_t *spki_len);

#endif
