/*
 * Small wrappers around PKCS#11 object calls that every part of the
 * agent needs: reading variable-length attributes and finding objects.
 */
#ifndef P11A_AGENT_P11UTIL_H
#define P11A_AGENT_P11UTIL_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

/* Read one attribute of any length into a fresh allocation (free()). */
CK_RV p11_attr_get(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
		   CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
		   unsigned char **value, size_t *len);
/* Read a CK_ULONG attribute. */
CK_RV p11_attr_get_ulong(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
			 CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
			 CK_ULONG *value);
/* Up to max objects matching the template; *n receives the count. */
CK_RV p11_find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
	       CK_ULONG n_tmpl, CK_OBJECT_HANDLE *out, CK_ULONG max,
	       CK_ULONG *n);
/*
 * The first object of a class with this CKA_ID, or CK_INVALID_HANDLE.
 */
CK_OBJECT_HANDLE p11_find_by_id(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
				CK_OBJECT_CLASS cls, const void *id,
				size_t id_len);
/* Copy a blank-padded PKCS#11 text field into a trimmed C string. */
void p11_trim_copy(char *dst, size_t dst_len, const unsigned char *src,
		   size_t src_len);

/*
 * Turn the NUL bytes that end a padded text field into blanks: some
 * modules (tpm2-pkcs11's model) pad with NULs where PKCS#11 says blanks,
 * and p11-kit compares fields byte for byte, so a URI typed without the
 * padding would not match them.
 */
void p11_blank_nul_padding(unsigned char *field, size_t len);
struct p11_kit_uri;
/*
 * The same for the token fields a parsed URI gives (p11-kit formats a
 * NUL-padded field with %00s): so both forms match the blanked fields.
 */
void p11_uri_blank_nul_padding(struct p11_kit_uri *uri);

/* The p11a error code (p11agent/error.h) a CK_RV stands for. */
int p11_error_from_rv(CK_RV rv);

#endif
