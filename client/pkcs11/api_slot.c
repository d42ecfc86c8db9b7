/*
 * Slot, token and mechanism entry points.  One slot per agent token; the
 * token shows the real token's label, manufacturer, model and serial (so
 * pkcs11: URIs written for the real token find it here), needs no login
 * and is read-only in practice (nothing can be created).
 */
#include <stdio.h>
#include <string.h>

#include "p11agent/protocol.h"
#include "registry.h"
#include "state.h"

#define MANUFACTURER "p11agent"
#define SLOT_PREFIX "p11agent: "

/*
 * Ask the agent again, so tokens and keys that appeared since (an agent
 * started late, a token unlocked) show up.  Not under the lock.
 */
static void
refresh(void)
{
	int disabled;

	if (p11m_enter() != CKR_OK)
		return;
	disabled = p11m.disabled;
	p11m_unlock();
	if (!disabled)
		p11m_registry_refresh();
}

static int
slot_shown(const struct p11m_slot *s, CK_BBOOL token_present)
{
	return s->listed &&
	       (!token_present || (s->flags & P11A_TOKEN_PRESENT) != 0);
}

CK_RV
C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
	      CK_ULONG_PTR pulCount)
{
	CK_ULONG n = 0, i;
	CK_RV rv;

	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	/* only on the first of the two calls, so the count stays right */
	if (pSlotList == NULL)
		refresh();
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	for (i = 0; i < p11m.n_slots; i++)
		if (slot_shown(&p11m.slots[i], tokenPresent))
			n++;
	if (pSlotList == NULL) {
		*pulCount = n;
		return p11m_leave(CKR_OK);
	}
	if (*pulCount < n) {
		*pulCount = n;
		return p11m_leave(CKR_BUFFER_TOO_SMALL);
	}
	for (n = 0, i = 0; i < p11m.n_slots; i++)
		if (slot_shown(&p11m.slots[i], tokenPresent))
			pSlotList[n++] = i;
	*pulCount = n;
	return p11m_leave(CKR_OK);
}

CK_RV
C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	const struct p11m_slot *s;
	char desc[128];
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((s = p11m_slot_get(slotID)) == NULL)
		return p11m_leave(CKR_SLOT_ID_INVALID);
	memset(pInfo, 0, sizeof(*pInfo));
	snprintf(desc, sizeof(desc), SLOT_PREFIX "%.32s",
		 (const char *)s->label);
	p11m_pad(pInfo->slotDescription, sizeof(pInfo->slotDescription), desc);
	p11m_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
		 MANUFACTURER);
	pInfo->flags = CKF_REMOVABLE_DEVICE;
	if (s->flags & P11A_TOKEN_PRESENT)
		pInfo->flags |= CKF_TOKEN_PRESENT;
	pInfo->hardwareVersion.major = P11M_VERSION_MAJOR;
	pInfo->hardwareVersion.minor = P11M_VERSION_MINOR;
	pInfo->firmwareVersion = pInfo->hardwareVersion;
	return p11m_leave(CKR_OK);
}

static void
fill_token_info(const struct p11m_slot *s, CK_TOKEN_INFO *t)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->label, s->label, sizeof(t->label));
	memcpy(t->manufacturerID, s->manufacturer, sizeof(t->manufacturerID));
	memcpy(t->model, s->model, sizeof(t->model));
	memcpy(t->serialNumber, s->serial, sizeof(t->serialNumber));
	/* no CKF_LOGIN_REQUIRED: the agent holds the login, no PIN here */
	t->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
	t->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	t->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
	t->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	t->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
	t->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	t->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	t->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	t->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	t->hardwareVersion.major = P11M_VERSION_MAJOR;
	t->hardwareVersion.minor = P11M_VERSION_MINOR;
	t->firmwareVersion = t->hardwareVersion;
	memset(t->utcTime, ' ', sizeof(t->utcTime));
}

CK_RV
C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	const struct p11m_slot *s;
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((s = p11m_slot_get(slotID)) == NULL)
		return p11m_leave(CKR_SLOT_ID_INVALID);
	if (!(s->flags & P11A_TOKEN_PRESENT))
		return p11m_leave(CKR_TOKEN_NOT_PRESENT);
	fill_token_info(s, pInfo);
	return p11m_leave(CKR_OK);
}

CK_RV
C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
		   CK_ULONG_PTR pulCount)
{
	CK_MECHANISM_TYPE m[P11M_SLOT_MECH_MAX];
	size_t n;
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pulCount == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if (p11m_slot_get(slotID) == NULL)
		return p11m_leave(CKR_SLOT_ID_INVALID);
	n = p11m_slot_mechanisms(slotID, m);
	if (pMechanismList == NULL) {
		*pulCount = n;
		return p11m_leave(CKR_OK);
	}
	if (*pulCount < n) {
		*pulCount = n;
		return p11m_leave(CKR_BUFFER_TOO_SMALL);
	}
	memcpy(pMechanismList, m, n * sizeof(m[0]));
	*pulCount = n;
	return p11m_leave(CKR_OK);
}

CK_RV
C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
		   CK_MECHANISM_INFO_PTR pInfo)
{
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if (p11m_slot_get(slotID) == NULL)
		return p11m_leave(CKR_SLOT_ID_INVALID);
	return p11m_leave(p11m_slot_mechanism_info(slotID, type, pInfo));
}
