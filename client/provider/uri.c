/*
 * Key URIs of the provider:
 *
 *   p11agent:<id>              an identity id (32 hex digits)
 *   p11agent:pkcs11:<attrs>    the identity whose RFC 7512 URI has every
 *                              path attribute given (e.g. token=, object=)
 *
 * The "p11agent:" scheme keeps the URI away from every other store
 * loader: a bare pkcs11: URI would also be claimed by pkcs11-provider, or
 * fall through to the file loader, depending on which providers the
 * program loaded.  The identity's public half comes from LIST, so the
 * pkcs11: form is matched here, against the URIs LIST gives.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "idname.h"
#include "prov.h"

#define ATTR_MAX 64 /* more attributes than any real URI has */

int
p11a_key_uri_parse(const char *uri, struct p11a_key_uri *out)
{
	const char *rest;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (uri == NULL ||
	    strncasecmp(uri, P11A_URI_PREFIX, strlen(P11A_URI_PREFIX)) != 0)
		return P11A_ERR_INVALID_ARGUMENT;
	rest = uri + strlen(P11A_URI_PREFIX);
	if (p11a_name_kind(rest, strlen(rest)) == P11A_NAME_URI) {
		if ((out->pkcs11 = strdup(rest)) == NULL)
			return P11A_ERR_NO_MEMORY;
		return P11A_OK;
	}
	if ((out->id = strdup(rest)) == NULL)
		return P11A_ERR_NO_MEMORY;
	/* an id is lower case; a key URI may spell it in either */
	for (i = 0; out->id[i] != '\0'; i++)
		out->id[i] = (char)tolower((unsigned char)out->id[i]);
	if (p11a_name_kind(out->id, i) != P11A_NAME_ID) {
		p11a_key_uri_clear(out);
		return P11A_ERR_INVALID_ARGUMENT;
	}
	return P11A_OK;
}

void
p11a_key_uri_clear(struct p11a_key_uri *u)
{
	free(u->id);
	free(u->pkcs11);
	memset(u, 0, sizeof(*u));
}

/* ---- pkcs11: attributes -------------------------------------------------- */

struct attr {
	const char *name;
	size_t name_len;
	const char *value; /* still percent-encoded */
	size_t value_len;
};

/* Split the path of a pkcs11: URI into attributes; -1 if malformed. */
static int
split_attrs(const char *uri, struct attr *attrs, size_t max)
{
	const char *p = uri + 7, *end, *eq;
	size_t n = 0;

	end = p + strcspn(p, "?#");
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi != NULL ? semi : end;

		if (stop > p) {
			eq = memchr(p, '=', (size_t)(stop - p));
			if (eq == NULL || eq == p || n == max)
				return -1;
			attrs[n].name = p;
			attrs[n].name_len = (size_t)(eq - p);
			attrs[n].value = eq + 1;
			attrs[n].value_len = (size_t)(stop - eq - 1);
			n++;
		}
		p = stop + 1;
	}
	return (int)n;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The next decoded byte of v at *i; -1 at the end or on a bad escape. */
static int
next_byte(const char *v, size_t len, size_t *i)
{
	int hi, lo;

	if (*i >= len)
		return -1;
	if (v[*i] != '%')
		return (unsigned char)v[(*i)++];
	if (*i + 2 >= len)
		return -1;
	hi = hex_value(v[*i + 1]);
	lo = hex_value(v[*i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	*i += 3;
	return hi * 16 + lo;
}

/* Whether two percent-encoded values decode to the same bytes. */
static int
values_equal(const struct attr *a, const struct attr *b)
{
	size_t i = 0, j = 0;
	int x, y;

	for (;;) {
		x = next_byte(a->value, a->value_len, &i);
		y = next_byte(b->value, b->value_len, &j);
		if (x != y)
			return 0;
		if (x < 0)
			return i >= a->value_len && j >= b->value_len;
	}
}

static int
has_attr(const struct attr *want, const struct attr *have, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (have[i].name_len == want->name_len &&
		    memcmp(have[i].name, want->name, want->name_len) == 0 &&
		    values_equal(want, &have[i]))
			return 1;
	return 0;
}

int
p11a_pkcs11_uri_matches(const char *want, const char *have)
{
	struct attr w[ATTR_MAX], h[ATTR_MAX];
	int nw, nh, i;

	if (strncasecmp(want, "pkcs11:", 7) != 0 ||
	    strncasecmp(have, "pkcs11:", 7) != 0)
		return 0;
	if ((nw = split_attrs(want, w, ATTR_MAX)) < 0 ||
	    (nh = split_attrs(have, h, ATTR_MAX)) < 0)
		return 0;
	for (i = 0; i < nw; i++)
		if (!has_attr(&w[i], h, nh))
			return 0;
	return 1;
}

int
p11a_key_uri_find(const struct p11a_key_uri *uri,
		  const struct p11a_identity_list *list, size_t *index)
{
	size_t i, found = 0;

	for (i = 0; i < list->n; i++) {
		const struct p11a_identity *id = &list->items[i];
		int match =
			uri->id != NULL
				? strcmp(id->id, uri->id) == 0
				: p11a_pkcs11_uri_matches(uri->pkcs11, id->uri);

		if (!match)
			continue;
		if (found++ == 0)
			*index = i;
	}
	if (found == 0)
		return P11A_ERR_IDENTITY_NOT_FOUND;
	return found == 1 ? P11A_OK : P11A_ERR_IDENTITY_AMBIGUOUS;
}
