/* Module options: see options.h. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"

/* Longest pReserved string looked at: anything longer is not ours. */
#define RESERVED_MAX 4096

static int
set(char **dst, const char *v, size_t len)
{
	char *s = strndup(v, len);

	if (s == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* One "key=value" word of pReserved. */
static int
take_word(struct p11m_options *o, const char *w, size_t len)
{
	const char *eq = memchr(w, '=', len);
	size_t klen, vlen;

	if (eq == NULL) {
		p11m_debug("init args: ignoring '%.*s'", (int)len, w);
		return 0;
	}
	klen = (size_t)(eq - w);
	vlen = len - klen - 1;
	if (klen == 6 && memcmp(w, "socket", 6) == 0)
		return set(&o->socket, eq + 1, vlen);
	if (klen == 6 && memcmp(w, "filter", 6) == 0)
		return set(&o->filter, eq + 1, vlen);
	p11m_debug("init args: ignoring unknown key '%.*s'", (int)klen, w);
	return 0;
}

static int
parse_reserved(struct p11m_options *o, const char *s)
{
	const char *end;

	if (strnlen(s, RESERVED_MAX + 1) > RESERVED_MAX)
		return 0;
	while (*s != '\0') {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		for (end = s; *end != '\0' && !isspace((unsigned char)*end);
		     end++)
			;
		if (take_word(o, s, (size_t)(end - s)) != 0)
			return -1;
		s = end;
	}
	return 0;
}

static int
from_env(char **dst, const char *var)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0')
		return 0;
	return set(dst, v, strlen(v));
}

CK_RV
p11m_options_load(struct p11m_options *o, const char *reserved)
{
	memset(o, 0, sizeof(*o));
	if (reserved != NULL && parse_reserved(o, reserved) != 0)
		goto fail;
	if (from_env(&o->socket, "P11AGENT_SOCK") != 0 ||
	    from_env(&o->filter, "P11AGENT_PKCS11_FILTER") != 0)
		goto fail;
	p11m_debug("socket %s, filter %s", o->socket ? o->socket : "(default)",
		   o->filter ? o->filter : "(none)");
	return CKR_OK;
fail:
	p11m_options_free(o);
	return CKR_HOST_MEMORY;
}

void
p11m_options_free(struct p11m_options *o)
{
	free(o->socket);
	free(o->filter);
	o->socket = NULL;
	o->filter = NULL;
}
