/*
 * Helpers of the PKCS#11 module tests: load a module through its
 * function list (as any PKCS#11 consumer does), find slots, keys and
 * attributes, sign with a mechanism, and verify the signature with
 * OpenSSL against the public key p11a-mktoken read from the real token
 * (DIR/NAME.pub.pem), never against anything the module says.
 */
#ifndef P11M_TESTLIB_H
#define P11M_TESTLIB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

extern atomic_int tl_failures;

/* Record a failure (message to stderr) unless cond holds. */
#define TL_CHECK(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond))                                                   \
			tl_fail(__FILE__, __LINE__, __VA_ARGS__);              \
	} while (0)

/* TL_CHECK for a CK_RV expected to be want. */
#define TL_RV(rv, want, what)                                                  \
	TL_CHECK((rv) == (want), "%s: rv 0x%lx, expected 0x%lx (%s)", what,    \
		 (unsigned long)(rv), (unsigned long)(want), #want)

void tl_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Load path and fetch its function list; exits on failure. */
CK_FUNCTION_LIST *tl_load(const char *path);

/* C_Initialize with OS locking and pReserved = reserved (may be NULL). */
CK_RV tl_initialize(CK_FUNCTION_LIST *f, const char *reserved);

/* The slot whose token has this label; exits if none. */
CK_SLOT_ID tl_slot(CK_FUNCTION_LIST *f, const char *label);

/* A read-only session on slot; exits on failure. */
CK_SESSION_HANDLE tl_session(CK_FUNCTION_LIST *f, CK_SLOT_ID slot);

/*
 * Handles of the objects of class with CKA_LABEL label (label NULL: any)
 * into out (room for max); returns the count.
 */
size_t tl_find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS class,
	       const char *label, CK_OBJECT_HANDLE *out, size_t max);

/* The one object of class with this label; 0 (and a failure) otherwise. */
CK_OBJECT_HANDLE tl_find_one(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
			     CK_OBJECT_CLASS class, const char *label);

/* An attribute's value (malloc'd; free()); NULL if it cannot be read. */
uint8_t *tl_attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		 CK_ATTRIBUTE_TYPE type, size_t *len);

/* A CK_ULONG or CK_BBOOL attribute; -1 if it cannot be read. */
long tl_attr_ulong(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		   CK_ATTRIBUTE_TYPE type);
int tl_attr_bool(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		 CK_ATTRIBUTE_TYPE type);

/* DIR/NAME.pub.pem, DIR/NAME.pem (DER in *der), DIR/NAME.id (bytes). */
EVP_PKEY *tl_read_pub(const char *dir, const char *name);
uint8_t *tl_read_cert_der(const char *dir, const char *name, size_t *len);
uint8_t *tl_read_id(const char *dir, const char *name, size_t *len);

enum tl_input {
	TL_MESSAGE,    /* the message; the mechanism hashes */
	TL_DIGEST,     /* the digest of the message */
	TL_DIGESTINFO, /* DER DigestInfo of the digest (CKM_RSA_PKCS) */
};

/* One way to sign: a mechanism, its input, and how OpenSSL checks it. */
struct tl_case {
	const char *name;
	CK_MECHANISM_TYPE mech;
	CK_KEY_TYPE key_type;
	const char *md; /* OpenSSL digest name; NULL for Ed25519 */
	enum tl_input input;
	int pss;
};

/* Every mechanism the module offers, with each input form. */
const struct tl_case *tl_cases(size_t *n);

/*
 * Sign msg the case's way with key (C_SignInit + C_Sign, or with parts >
 * 1 C_SignUpdate in that many pieces + C_SignFinal) into sig (room for
 * *sig_len).  Returns the first CK_RV that is not CKR_OK.
 */
CK_RV tl_sign(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
	      const struct tl_case *c, const uint8_t *msg, size_t len,
	      int parts, uint8_t *sig, CK_ULONG *sig_len);

/* 1 if sig is the case's signature of msg under pub (OpenSSL), else 0. */
int tl_verify(EVP_PKEY *pub, const struct tl_case *c, const uint8_t *msg,
	      size_t len, const uint8_t *sig, size_t sig_len);

/* CKK_* of an OpenSSL public key (CKK_RSA, CKK_EC, CKK_EC_EDWARDS). */
CK_KEY_TYPE tl_key_type(EVP_PKEY *pub);

/* len random bytes. */
void tl_random(uint8_t *p, size_t len);

#endif
