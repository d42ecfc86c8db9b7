/*
 * The key file's DER body (keyfile.h).  Parsing goes through libcrypto's
 * ASN.1 reader and then insists that re-encoding gives back the very same
 * bytes, so only canonical DER of exactly our structure is accepted.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>

#include "idname.h"
#include "keyfile.h"
#include "p11agent/error.h"

static int
id_valid(const char *s, size_t len)
{
	return p11a_name_kind(s, len) == P11A_NAME_ID;
}

/* A pkcs11: URI of printable ASCII (RFC 7512 percent-encodes the rest). */
static int
uri_valid(const char *s, size_t len)
{
	size_t i;

	if (len < 7 || len > P11A_KEYFILE_URI_MAX ||
	    strncmp(s, "pkcs11:", 7) != 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* Append an ASN1_TYPE of type t holding value (taken over) to seq. */
static int
push(STACK_OF(ASN1_TYPE) * seq, int t, void *value)
{
	ASN1_TYPE *a;

	if ((a = ASN1_TYPE_new()) == NULL)
		return 0;
	ASN1_TYPE_set(a, t, value);
	if (sk_ASN1_TYPE_push(seq, a) <= 0) {
		ASN1_TYPE_free(a);
		return 0;
	}
	return 1;
}

static int
push_utf8(STACK_OF(ASN1_TYPE) * seq, const char *s)
{
	ASN1_UTF8STRING *str = ASN1_UTF8STRING_new();

	if (str == NULL || !ASN1_STRING_set(str, s, (int)strlen(s)) ||
	    !push(seq, V_ASN1_UTF8STRING, str)) {
		ASN1_UTF8STRING_free(str);
		return 0;
	}
	return 1;
}

static int
push_version(STACK_OF(ASN1_TYPE) * seq)
{
	ASN1_INTEGER *v = ASN1_INTEGER_new();

	if (v == NULL || !ASN1_INTEGER_set(v, P11A_KEYFILE_VERSION) ||
	    !push(seq, V_ASN1_INTEGER, v)) {
		ASN1_INTEGER_free(v);
		return 0;
	}
	return 1;
}

int
p11a_keyfile_encode(const char *id, const char *uri, uint8_t **der, size_t *len)
{
	STACK_OF(ASN1_TYPE) *seq = NULL;
	unsigned char *out = NULL;
	int n, r = P11A_ERR_NO_MEMORY;

	*der = NULL;
	*len = 0;
	if (id == NULL || uri == NULL || !id_valid(id, strlen(id)) ||
	    !uri_valid(uri, strlen(uri)))
		return P11A_ERR_INVALID_ARGUMENT;
	if ((seq = sk_ASN1_TYPE_new_null()) == NULL || !push_version(seq) ||
	    !push_utf8(seq, id) || !push_utf8(seq, uri))
		goto out;
	if ((n = i2d_ASN1_SEQUENCE_ANY(seq, &out)) <= 0)
		goto out;
	*der = out;
	*len = (size_t)n;
	r = P11A_OK;
out:
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	return r;
}

/* Copy the UTF8String a (checked by valid) to a C string. */
static int
take_string(const ASN1_TYPE *a, int (*valid)(const char *, size_t), char **out)
{
	const char *s;
	size_t n;

	if (a->type != V_ASN1_UTF8STRING)
		return P11A_ERR_INVALID_ARGUMENT;
	s = (const char *)ASN1_STRING_get0_data(a->value.utf8string);
	n = (size_t)ASN1_STRING_length(a->value.utf8string);
	if (!valid(s, n))
		return P11A_ERR_INVALID_ARGUMENT;
	if ((*out = strndup(s, n)) == NULL)
		return P11A_ERR_NO_MEMORY;
	return P11A_OK;
}

/* Whether seq is our structure, canonically encoded as der. */
static int
is_keyfile(STACK_OF(ASN1_TYPE) * seq, const uint8_t *der, size_t len)
{
	const ASN1_TYPE *v;
	unsigned char *again = NULL;
	int n, same;

	if (sk_ASN1_TYPE_num(seq) != 3)
		return 0;
	v = sk_ASN1_TYPE_value(seq, 0);
	if (v->type != V_ASN1_INTEGER ||
	    ASN1_INTEGER_get(v->value.integer) != P11A_KEYFILE_VERSION)
		return 0;
	n = i2d_ASN1_SEQUENCE_ANY(seq, &again);
	same = n > 0 && (size_t)n == len && memcmp(again, der, len) == 0;
	OPENSSL_free(again);
	return same;
}

int
p11a_keyfile_decode(const uint8_t *der, size_t len, struct p11a_keyfile *out)
{
	STACK_OF(ASN1_TYPE) *seq = NULL;
	const unsigned char *p = der;
	int r = P11A_ERR_INVALID_ARGUMENT;

	memset(out, 0, sizeof(*out));
	if (der == NULL || len == 0 || len > P11A_KEYFILE_MAX)
		return r;
	if ((seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len)) == NULL ||
	    p != der + len || !is_keyfile(seq, der, len))
		goto out;
	if ((r = take_string(sk_ASN1_TYPE_value(seq, 1), id_valid, &out->id)) !=
		    P11A_OK ||
	    (r = take_string(sk_ASN1_TYPE_value(seq, 2), uri_valid,
			     &out->uri)) != P11A_OK)
		p11a_keyfile_clear(out);
out:
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	return r;
}

void
p11a_keyfile_clear(struct p11a_keyfile *k)
{
	free(k->id);
	free(k->uri);
	memset(k, 0, sizeof(*k));
}
