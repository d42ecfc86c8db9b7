/* Identity filter: see filter.h. */
#include <string.h>
#include <strings.h>

#include "p11agent/protocol.h"
#include "filter.h"

#define URI_PREFIX "pkcs11:"

static const struct {
	const char *name;
	uint8_t type;
} type_names[] = {
	{"rsa", P11A_KEY_RSA},	     {"ec", P11A_KEY_EC},
	{"ecdsa", P11A_KEY_EC},	     {"ed25519", P11A_KEY_ED25519},
	{"eddsa", P11A_KEY_ED25519},
};

static int
type_bit(const char *w, size_t len, unsigned *bit)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strlen(type_names[i].name) == len &&
		    strncasecmp(w, type_names[i].name, len) == 0) {
			*bit = 1u << type_names[i].type;
			return 0;
		}
	return -1;
}

static int
parse_types(const char *spec, struct p11m_filter *f, const char **why)
{
	const char *w = spec, *end;
	unsigned bit;

	while (*w != '\0') {
		end = strchr(w, ',');
		if (end == NULL)
			end = w + strlen(w);
		if (end > w) {
			if (type_bit(w, (size_t)(end - w), &bit) != 0) {
				*why = "unknown key type (known: rsa, ec, "
				       "ed25519)";
				return -1;
			}
			f->types |= bit;
		}
		w = *end == ',' ? end + 1 : end;
	}
	if (f->types == 0) {
		*why = "empty key type list";
		return -1;
	}
	return 0;
}

static int
parse_uri(const char *spec, struct p11m_filter *f, const char **why)
{
	if ((f->uri = p11_kit_uri_new()) == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (p11_kit_uri_parse(spec, P11_KIT_URI_FOR_ANY, f->uri) !=
	    P11_KIT_URI_OK) {
		*why = "not a valid pkcs11: URI";
		return -1;
	}
	/* the filter picks keys; their certificates and public keys follow */
	p11_kit_uri_clear_attribute(f->uri, CKA_CLASS);
	return 0;
}

int
p11m_filter_parse(const char *spec, struct p11m_filter *f, const char **why)
{
	memset(f, 0, sizeof(*f));
	*why = NULL;
	if (spec == NULL || *spec == '\0')
		return 0;
	if (strncmp(spec, URI_PREFIX, strlen(URI_PREFIX)) == 0) {
		if (parse_uri(spec, f, why) == 0)
			return 0;
	} else if (parse_types(spec, f, why) == 0) {
		return 0;
	}
	p11m_filter_free(f);
	return -1;
}

/*
 * Add the identity's attribute of this type to attrs; 0 when the filter
 * names an attribute the identity does not have (p11-kit would skip it).
 */
static int
take_attr(P11KitUri *filter, P11KitUri *identity, CK_ATTRIBUTE_TYPE type,
	  CK_ATTRIBUTE *attrs, CK_ULONG *n)
{
	CK_ATTRIBUTE_PTR a = p11_kit_uri_get_attribute(identity, type);

	if (a != NULL) {
		attrs[(*n)++] = *a;
		return 1;
	}
	return p11_kit_uri_get_attribute(filter, type) == NULL;
}

static int
uri_match(P11KitUri *filter, P11KitUri *identity)
{
	CK_ATTRIBUTE attrs[2];
	CK_ULONG n = 0;

	if (!p11_kit_uri_match_token_info(filter,
					  p11_kit_uri_get_token_info(identity)))
		return 0;
	if (!take_attr(filter, identity, CKA_ID, attrs, &n) ||
	    !take_attr(filter, identity, CKA_LABEL, attrs, &n))
		return 0;
	return p11_kit_uri_match_attributes(filter, attrs, n);
}

int
p11m_filter_match(const struct p11m_filter *f, P11KitUri *identity,
		  uint8_t key_type)
{
	if (f->types != 0 &&
	    (key_type >= 32 || (f->types & (1u << key_type)) == 0))
		return 0;
	if (f->uri != NULL && !uri_match(f->uri, identity))
		return 0;
	return 1;
}

void
p11m_filter_free(struct p11m_filter *f)
{
	if (f->uri != NULL)
		p11_kit_uri_free(f->uri);
	memset(f, 0, sizeof(*f));
}
