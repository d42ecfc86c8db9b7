/*
 * Object entry points: finding objects and reading their attributes.
 * A find asks the agent again first, so that keys of a token unlocked
 * since show up without re-initialising.
 */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "session.h"
#include "state.h"

/* Handles of the visible objects on slot that match the template. */
static CK_RV
collect(struct p11m_session *s, const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_OBJECT_HANDLE h;
	size_t i;

	p11m_session_find_reset(s);
	if (p11m.n_objects > 0 &&
	    (s->found = calloc(p11m.n_objects, sizeof(*s->found))) == NULL)
		return CKR_HOST_MEMORY;
	for (i = 0; i < p11m.n_objects; i++) {
		h = i + 1;
		if (p11m_object_get(h, s->slot) != NULL &&
		    p11m_attrs_match(&p11m.objects[i].attrs, tmpl, n))
			s->found[s->n_found++] = h;
	}
	s->finding = 1;
	return CKR_OK;
}

CK_RV
C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
		  CK_ULONG ulCount)
{
	struct p11m_session *s;
	int disabled;
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((s = p11m_session_get(hSession)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	if (s->finding)
		return p11m_leave(CKR_OPERATION_ACTIVE);
	disabled = p11m.disabled;
	p11m_unlock();
	/* a failed refresh leaves what was known: still worth a search */
	if (!disabled)
		p11m_registry_refresh();
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	/* the session may have been closed meanwhile */
	if ((s = p11m_session_get(hSession)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	if (s->finding)
		return p11m_leave(CKR_OPERATION_ACTIVE);
	return p11m_leave(collect(s, pTemplate, ulCount));
}

CK_RV
C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
	      CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	struct p11m_session *s;
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (phObject == NULL || pulObjectCount == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((s = p11m_session_get(hSession)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	if (!s->finding)
		return p11m_leave(CKR_OPERATION_NOT_INITIALIZED);
	while (n < ulMaxObjectCount && s->next_found < s->n_found)
		phObject[n++] = s->found[s->next_found++];
	*pulObjectCount = n;
	return p11m_leave(CKR_OK);
}

CK_RV
C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	struct p11m_session *s;
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if ((s = p11m_session_get(hSession)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	if (!s->finding)
		return p11m_leave(CKR_OPERATION_NOT_INITIALIZED);
	p11m_session_find_reset(s);
	return p11m_leave(CKR_OK);
}

CK_RV
C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	const struct p11m_session *s;
	const struct p11m_object *o;
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pTemplate == NULL && ulCount > 0)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((s = p11m_session_get(hSession)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	if ((o = p11m_object_get(hObject, s->slot)) == NULL)
		return p11m_leave(CKR_OBJECT_HANDLE_INVALID);
	return p11m_leave(p11m_attrs_get(&o->attrs, pTemplate, ulCount));
}
