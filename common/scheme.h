/*
 * TLS SignatureScheme code points: names, hashes, the PKCS#11 mechanism
 * each maps to, and the encodings around a raw token signature
 * (PKCS#1 DigestInfo, ECDSA r||s to DER).
 */
#ifndef P11A_SCHEME_H
#define P11A_SCHEME_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

enum p11a_hash {
	P11A_HASH_NONE = 0, /* Ed25519 signs the message itself */
	P11A_HASH_MD5_SHA1,
	P11A_HASH_SHA1,
	P11A_HASH_SHA256,
	P11A_HASH_SHA384,
	P11A_HASH_SHA512
};

struct p11a_scheme_info {
	uint16_t code;
	const char *name; /* RFC 8446 name, e.g. "rsa_pss_rsae_sha256" */
	uint8_t key_type; /* P11A_KEY_* */
	enum p11a_hash hash;
	size_t hash_len;	     /* 0 for Ed25519 */
	CK_MECHANISM_TYPE mechanism; /* CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, ... */
	/* PSS only: parameters for CK_RSA_PKCS_PSS_PARAMS */
	CK_MECHANISM_TYPE pss_hash;
	CK_RSA_PKCS_MGF_TYPE pss_mgf;
};

/* NULL if the code is not one we know */
const struct p11a_scheme_info *p11a_scheme_find(uint16_t code);
/* by RFC 8446 name ("ecdsa_secp256r1_sha256"); NULL if unknown */
const struct p11a_scheme_info *p11a_scheme_by_name(const char *name);
/* name of a code, or NULL */
const char *p11a_scheme_name(uint16_t code);
/* every known scheme, in a stable order; *n receives the count */
const struct p11a_scheme_info *p11a_scheme_all(size_t *n);

/*
 * Whether a key of this type and size can make signatures of this
 * scheme.  ECDSA schemes are allowed on every supported curve because
 * TLS 1.2 does not bind the hash to the curve (docs/PROTOCOL.md); RSA-PSS
 * needs a modulus of at least 2 * hash_len + 2 bytes (salt = hash length)
 * and PKCS#1 v1.5 one of at least DigestInfo length + 11 bytes.  An RSA
 * key of 0 bits (size unknown) can do nothing.
 */
int p11a_scheme_key_can(const struct p11a_scheme_info *s, uint8_t key_type,
			unsigned bits);

/*
 * Fill schemes[] (room for max) with every scheme a key can do, in the
 * order of p11a_scheme_all(); returns the count.
 */
size_t p11a_scheme_list_for_key(uint8_t key_type, unsigned bits,
				uint16_t *schemes, size_t max);

/*
 * How a key makes a scheme's signature on its token, chosen once per
 * (key, scheme) from the mechanisms the token and the key allow:
 *   NATIVE  the scheme's own mechanism (CKM_RSA_PKCS_PSS on the digest,
 *           CKM_RSA_PKCS on the DigestInfo, CKM_ECDSA, CKM_EDDSA);
 *   RAW     CKM_RSA_X_509 on a block the agent padded (PSS or PKCS#1
 *           v1.5): RSA cards without PSS still do TLS 1.3;
 *   HASHED  the hash-and-sign mechanism (CKM_SHA256_RSA_PKCS_PSS,
 *           CKM_ECDSA_SHA256, ...) on the message itself: there is no
 *           digest form for it.
 */
enum p11a_path_kind {
	P11A_PATH_NONE = 0,
	P11A_PATH_NATIVE,
	P11A_PATH_RAW,
	P11A_PATH_HASHED
};

struct p11a_sign_path {
	uint8_t kind; /* enum p11a_path_kind */
	CK_MECHANISM_TYPE mechanism;
};

/* "native", "raw", "hashed" (or "none") */
const char *p11a_path_name(uint8_t kind);

/*
 * The path for a scheme on a key whose token and CKA_ALLOWED_MECHANISMS
 * leave mechs[n] for signing.  mechs NULL: the token did not say, the
 * native mechanism is assumed.  RAW needs the public key (have_spki).
 * Order of preference: native, raw, hashed.  P11A_PATH_NONE if the key
 * cannot make the scheme at all.
 */
struct p11a_sign_path p11a_scheme_path(const struct p11a_scheme_info *s,
				       uint8_t key_type, unsigned bits,
				       const CK_MECHANISM_TYPE *mechs, size_t n,
				       int have_spki);

/*
 * Like p11a_scheme_list_for_key() for a key with mechanisms (see
 * p11a_scheme_path()); paths[i] is the path of schemes[i].
 */
size_t p11a_scheme_list_for_mechs(uint8_t key_type, unsigned bits,
				  const CK_MECHANISM_TYPE *mechs, size_t n,
				  int have_spki, uint16_t *schemes,
				  struct p11a_sign_path *paths, size_t max);

/* OpenSSL digest name for a hash ("SHA256", "MD5-SHA1"); NULL for NONE */
const char *p11a_hash_openssl_name(enum p11a_hash h);

/*
 * Hash a message with the scheme's hash into out (hash_len bytes).
 * P11A_ERR_INVALID_ARGUMENT for Ed25519 (no hash).
 */
int p11a_scheme_hash(const struct p11a_scheme_info *s, const uint8_t *msg,
		     size_t len, uint8_t *out, size_t out_max, size_t *out_len);

/*
 * PKCS#1 v1.5 input for CKM_RSA_PKCS: the DER DigestInfo of digest for
 * the scheme's hash, or the bare 36 bytes for MD5+SHA1.
 */
int p11a_digestinfo_build(enum p11a_hash h, const uint8_t *digest,
			  size_t digest_len, uint8_t *out, size_t out_max,
			  size_t *out_len);

/*
 * Convert a PKCS#11 ECDSA signature r||s (two equal halves) into the DER
 * ECDSA-Sig-Value that TLS carries.
 */
int p11a_ecdsa_raw_to_der(const uint8_t *rs, size_t rs_len, uint8_t *out,
			  size_t out_max, size_t *out_len);

/* Upper bound on the DER size of an ECDSA signature from rs_len bytes. */
#define P11A_ECDSA_DER_MAX(rs_len) ((rs_len) + 16)

#endif
