#include "p11util.h"

#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "p11agent/error.h"

CK_RV
p11_attr_get(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
	     CK_ATTRIBUTE_TYPE type, unsigned char **value, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv;

	*value = NULL;
	*len = 0;
	if ((rv = fn->C_GetAttributeValue(s, obj, &a, 1)) != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	/* one extra byte so an empty value still gets a non-NULL buffer */
	if ((a.pValue = malloc(a.ulValueLen + 1)) == NULL)
		return CKR_HOST_MEMORY;
	if ((rv = fn->C_GetAttributeValue(s, obj, &a, 1)) != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*value = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

CK_RV
p11_attr_get_ulong(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
		   CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
		   CK_ULONG *value)
{
	CK_ATTRIBUTE a = {type, value, sizeof(*value)};

	return fn->C_GetAttributeValue(s, obj, &a, 1);
}

CK_RV
p11_find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
	 CK_ULONG n_tmpl, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	CK_RV rv, rv_final;

	*n = 0;
	if ((rv = fn->C_FindObjectsInit(s, tmpl, n_tmpl)) != CKR_OK)
		return rv;
	rv = fn->C_FindObjects(s, out, max, n);
	rv_final = fn->C_FindObjectsFinal(s);
	return rv != CKR_OK ? rv : rv_final;
}

CK_OBJECT_HANDLE
p11_find_by_id(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
	       const void *id, size_t id_len)
{
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_ID, (void *)id, id_len},
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n;

	if (p11_find(fn, s, tmpl, 2, &h, 1, &n) != CKR_OK || n == 0)
		return CK_INVALID_HANDLE;
	return h;
}

void
p11_trim_copy(char *dst, size_t dst_len, const unsigned char *src,
	      size_t src_len)
{
	size_t n = src_len < dst_len - 1 ? src_len : dst_len - 1;

	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
}

void
p11_blank_nul_padding(unsigned char *field, size_t len)
{
	while (len > 0 && field[len - 1] == '\0')
		field[--len] = ' ';
}

void
p11_uri_blank_nul_padding(struct p11_kit_uri *uri)
{
	CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(uri);
	unsigned char *fields[] = {ti->label, ti->manufacturerID, ti->model,
				   ti->serialNumber};
	const size_t lens[] = {sizeof(ti->label), sizeof(ti->manufacturerID),
			       sizeof(ti->model), sizeof(ti->serialNumber)};

	/* a field the URI does not give is all NULs: it matches anything */
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		if (fields[i][0] != '\0')
			p11_blank_nul_padding(fields[i], lens[i]);
}

int
p11_error_from_rv(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return P11A_OK;
	case CKR_USER_NOT_LOGGED_IN:
		return P11A_ERR_LOCKED;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		return P11A_ERR_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
	case CKR_PIN_EXPIRED:
		return P11A_ERR_PIN_LOCKED;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
		return P11A_ERR_TOKEN_NOT_PRESENT;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return P11A_ERR_SCHEME_UNSUPPORTED;
	case CKR_HOST_MEMORY:
		return P11A_ERR_NO_MEMORY;
	default:
		return P11A_ERR_TOKEN;
	}
}
