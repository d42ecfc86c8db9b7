/* Attribute lists: see attrs.h. */
#include <stdlib.h>
#include <string.h>

#include "attrs.h"

static int
grow(struct p11m_attrs *a)
{
	size_t cap = a->cap ? a->cap * 2 : 16;
	struct p11m_attr *p;

	if ((p = realloc(a->items, cap * sizeof(*p))) == NULL)
		return -1;
	a->items = p;
	a->cap = cap;
	return 0;
}

/* A fresh slot at the end, or NULL (failure recorded). */
static struct p11m_attr *
append(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type)
{
	struct p11m_attr *at;

	if (a->failed || p11m_attrs_find(a, type) != NULL)
		return NULL;
	if (a->n == a->cap && grow(a) != 0) {
		a->failed = 1;
		return NULL;
	}
	at = &a->items[a->n++];
	memset(at, 0, sizeof(*at));
	at->type = type;
	return at;
}

void
p11m_attrs_add(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type, const void *value,
	       size_t len)
{
	struct p11m_attr *at;

	if ((at = append(a, type)) == NULL)
		return;
	if (len == 0)
		return;
	if ((at->value = malloc(len)) == NULL) {
		a->failed = 1;
		return;
	}
	memcpy(at->value, value, len);
	at->len = len;
}

void
p11m_attrs_add_ulong(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	p11m_attrs_add(a, type, &v, sizeof(v));
}

void
p11m_attrs_add_bool(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type, CK_BBOOL v)
{
	p11m_attrs_add(a, type, &v, sizeof(v));
}

void
p11m_attrs_add_sensitive(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type)
{
	struct p11m_attr *at;

	if ((at = append(a, type)) != NULL)
		at->sensitive = 1;
}

void
p11m_attrs_add_all(struct p11m_attrs *dst, const struct p11m_attrs *src)
{
	size_t i;

	if (src->failed)
		dst->failed = 1;
	for (i = 0; i < src->n; i++) {
		if (src->items[i].sensitive)
			p11m_attrs_add_sensitive(dst, src->items[i].type);
		else
			p11m_attrs_add(dst, src->items[i].type,
				       src->items[i].value, src->items[i].len);
	}
}

const struct p11m_attr *
p11m_attrs_find(const struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (a->items[i].type == type)
			return &a->items[i];
	return NULL;
}

static int
attr_equals(const struct p11m_attr *at, const CK_ATTRIBUTE *t)
{
	if (at->sensitive || at->len != t->ulValueLen)
		return 0;
	if (at->len == 0)
		return 1;
	return t->pValue != NULL && memcmp(at->value, t->pValue, at->len) == 0;
}

int
p11m_attrs_match(const struct p11m_attrs *a, const CK_ATTRIBUTE *tmpl,
		 CK_ULONG n)
{
	const struct p11m_attr *at;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		at = p11m_attrs_find(a, tmpl[i].type);
		if (at == NULL || !attr_equals(at, &tmpl[i]))
			return 0;
	}
	return 1;
}

/* One template entry; returns its problem or CKR_OK. */
static CK_RV
get_one(const struct p11m_attrs *a, CK_ATTRIBUTE *t)
{
	const struct p11m_attr *at = p11m_attrs_find(a, t->type);

	if (at == NULL) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	if (at->sensitive) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_ATTRIBUTE_SENSITIVE;
	}
	if (t->pValue == NULL) {
		t->ulValueLen = at->len;
		return CKR_OK;
	}
	if (t->ulValueLen < at->len) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (at->len > 0)
		memcpy(t->pValue, at->value, at->len);
	t->ulValueLen = at->len;
	return CKR_OK;
}

CK_RV
p11m_attrs_get(const struct p11m_attrs *a, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_RV rv = CKR_OK, r;
	CK_ULONG i;

	for (i = 0; i < n; i++)
		if ((r = get_one(a, &tmpl[i])) != CKR_OK)
			rv = r;
	return rv;
}

void
p11m_attrs_free(struct p11m_attrs *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->items[i].value);
	free(a->items);
	memset(a, 0, sizeof(*a));
}
