/*
 * What an identity name is: SIGN's identity field, a client's
 * --identity.  An identity id is exactly 32 lowercase hex digits; a URI
 * is anything that starts with "pkcs11:" (the scheme compared without
 * case, as RFC 3986 and p11-kit do).  The two cannot overlap, since 'p',
 * 'k', 's' and ':' are not hex digits: a name's length says nothing
 * about which one it is.  Every place that tells them apart asks here.
 */
#ifndef P11A_COMMON_IDNAME_H
#define P11A_COMMON_IDNAME_H

#include <stddef.h>

#define P11A_ID_LEN 32

enum p11a_name_kind {
	P11A_NAME_OTHER, /* neither: matches no identity */
	P11A_NAME_ID,
	P11A_NAME_URI
};

/* The kind of the len bytes at name (not NUL-terminated). */
enum p11a_name_kind p11a_name_kind(const char *name, size_t len);

#endif
