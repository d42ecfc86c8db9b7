#include "idname.h"

#include <strings.h>

#define URI_SCHEME "pkcs11:"
#define URI_SCHEME_LEN (sizeof(URI_SCHEME) - 1)

/* Not isxdigit(): an id is lower case, whatever the locale says. */
static int
is_id(const char *s, size_t len)
{
	if (len != P11A_ID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

enum p11a_name_kind
p11a_name_kind(const char *name, size_t len)
{
	if (name == NULL)
		return P11A_NAME_OTHER;
	if (len >= URI_SCHEME_LEN &&
	    strncasecmp(name, URI_SCHEME, URI_SCHEME_LEN) == 0)
		return P11A_NAME_URI;
	return is_id(name, len) ? P11A_NAME_ID : P11A_NAME_OTHER;
}
