/*
 * A PKCS#11 object's attributes: a list of (type, value) pairs with the
 * lookup and template semantics C_GetAttributeValue and C_FindObjects
 * need.  Values are copied in.  Adding sets a sticky failure flag on
 * allocation failure, checked once when the list is complete (as
 * p11-kit's buffers do), so builders need no check per attribute.
 */
#ifndef P11M_ATTRS_H
#define P11M_ATTRS_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

struct p11m_attr {
	CK_ATTRIBUTE_TYPE type;
	void *value; /* NULL when len is 0 or the attribute is sensitive */
	CK_ULONG len;
	int sensitive; /* exists, but its value is never revealed */
};

struct p11m_attrs {
	struct p11m_attr *items;
	size_t n;
	size_t cap;
	int failed; /* an allocation failed while adding */
};

/* Append an attribute (a later one with the same type is never added). */
void p11m_attrs_add(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type,
		    const void *value, size_t len);
void p11m_attrs_add_ulong(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type,
			  CK_ULONG v);
void p11m_attrs_add_bool(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type,
			 CK_BBOOL v);
/* An attribute that exists but answers CKR_ATTRIBUTE_SENSITIVE. */
void p11m_attrs_add_sensitive(struct p11m_attrs *a, CK_ATTRIBUTE_TYPE type);

/* Append copies of every attribute of src (sensitive ones stay so). */
void p11m_attrs_add_all(struct p11m_attrs *dst, const struct p11m_attrs *src);

/* The attribute of this type, or NULL. */
const struct p11m_attr *p11m_attrs_find(const struct p11m_attrs *a,
					CK_ATTRIBUTE_TYPE type);

/*
 * Whether every attribute of the template is present with exactly that
 * value (sensitive attributes never match).  An empty template matches.
 */
int p11m_attrs_match(const struct p11m_attrs *a, const CK_ATTRIBUTE *tmpl,
		     CK_ULONG n);

/*
 * Fill a C_GetAttributeValue template.  Every entry is processed; the
 * result is CKR_OK, or the code of the last problem seen:
 * CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_SENSITIVE or
 * CKR_BUFFER_TOO_SMALL (those entries get CK_UNAVAILABLE_INFORMATION),
 * as PKCS#11 2.40 section 5.7 prescribes.
 */
CK_RV p11m_attrs_get(const struct p11m_attrs *a, CK_ATTRIBUTE *tmpl,
		     CK_ULONG n);

/* Release the values and the list; safe on a zeroed list. */
void p11m_attrs_free(struct p11m_attrs *a);

#endif
