/*
 * Session and login entry points.  The agent holds the token login, so
 * sessions are always in the user state and C_Login is accepted and
 * ignored: the PIN is never read, kept or sent anywhere.
 */
#include <string.h>

#include "p11agent/protocol.h"
#include "registry.h"
#include "session.h"
#include "state.h"

CK_RV
C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
	      CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	const struct p11m_slot *s;
	CK_RV rv;

	/* no callbacks are ever made */
	(void)pApplication;
	(void)Notify;
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (phSession == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if (!(flags & CKF_SERIAL_SESSION))
		return p11m_leave(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	if ((s = p11m_slot_get(slotID)) == NULL)
		return p11m_leave(CKR_SLOT_ID_INVALID);
	if (!(s->flags & P11A_TOKEN_PRESENT))
		return p11m_leave(CKR_TOKEN_NOT_PRESENT);
	rv = p11m_session_open(slotID,
			       flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION),
			       phSession);
	return p11m_leave(rv);
}

CK_RV
C_CloseSession(CK_SESSION_HANDLE hSession)
{
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	return p11m_leave(p11m_session_close(hSession));
}

CK_RV
C_CloseAllSessions(CK_SLOT_ID slotID)
{
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (p11m_slot_get(slotID) == NULL)
		return p11m_leave(CKR_SLOT_ID_INVALID);
	p11m_session_close_slot(slotID);
	return p11m_leave(CKR_OK);
}

CK_RV
C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	const struct p11m_session *s;
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((s = p11m_session_get(hSession)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->slotID = s->slot;
	pInfo->flags = s->flags;
	pInfo->state = (s->flags & CKF_RW_SESSION) ? CKS_RW_USER_FUNCTIONS
						   : CKS_RO_USER_FUNCTIONS;
	return p11m_leave(CKR_OK);
}

CK_RV
C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
	CK_ULONG ulPinLen)
{
	CK_RV rv;

	/* deliberately unused: the agent logs in, never this module */
	(void)userType;
	(void)pPin;
	(void)ulPinLen;
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (p11m_session_get(hSession) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	return p11m_leave(CKR_OK);
}

CK_RV
C_Logout(CK_SESSION_HANDLE hSession)
{
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (p11m_session_get(hSession) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	return p11m_leave(CKR_OK);
}
