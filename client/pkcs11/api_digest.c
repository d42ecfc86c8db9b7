/*
 * Digest entry points, hashed in the module (digest.h): the agent is not
 * asked.  A session runs one digest at a time, beside (not instead of)
 * a signing operation.  The hashing happens without the state lock
 * (operation.h), so a long C_DigestUpdate holds up no other thread.
 * C_DigestKey stays unsupported: the module has no secret keys to digest.
 */
#include "digest.h"
#include "operation.h"
#include "session.h"
#include "state.h"

CK_RV
C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	struct p11m_session *s;
	struct p11m_digest *d;
	CK_RV rv;

	rv = p11m_session_op_enter(hSession, P11M_OP_DIGEST, pMechanism, &s);
	if (rv != CKR_OK)
		return rv;
	rv = p11m_digest_new(pMechanism, &d);
	s->ops[P11M_OP_DIGEST].op = d;
	return p11m_leave(rv);
}

CK_RV
C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
	 CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	return p11m_op_single(hSession, P11M_OP_DIGEST, pData, ulDataLen,
			      pDigest, pulDigestLen);
}

CK_RV
C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
	       CK_ULONG ulPartLen)
{
	return p11m_op_update(hSession, P11M_OP_DIGEST, pPart, ulPartLen);
}

CK_RV
C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
	      CK_ULONG_PTR pulDigestLen)
{
	return p11m_op_final(hSession, P11M_OP_DIGEST, pDigest, pulDigestLen);
}
