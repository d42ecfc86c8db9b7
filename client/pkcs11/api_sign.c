/*
 * Signing entry points.  C_SignInit checks the mechanism against the key
 * at once (CKR_MECHANISM_INVALID for one the agent cannot do with it);
 * the agent is asked only at C_Sign or C_SignFinal, with the state lock
 * released (operation.h).  The signature length is known up front
 * (modulus size, twice the field size, 64), so size queries never reach
 * the agent.
 */
#include "operation.h"
#include "registry.h"
#include "session.h"
#include "signop.h"
#include "state.h"

CK_RV
C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
	   CK_OBJECT_HANDLE hKey)
{
	struct p11m_session *s;
	const struct p11m_object *o;
	const struct p11m_key *k;
	struct p11m_signop *op;
	CK_RV rv;

	rv = p11m_session_op_enter(hSession, P11M_OP_SIGN, pMechanism, &s);
	if (rv != CKR_OK)
		return rv;
	o = p11m_object_get(hKey, s->slot);
	if (o == NULL || o->class != CKO_PRIVATE_KEY)
		return p11m_leave(CKR_KEY_HANDLE_INVALID);
	k = p11m_object_key(o);
	rv = p11m_signop_new(pMechanism, k->id, &k->info, &op);
	s->ops[P11M_OP_SIGN].op = op;
	return p11m_leave(rv);
}

CK_RV
C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	return p11m_op_single(hSession, P11M_OP_SIGN, pData, ulDataLen,
			      pSignature, pulSignatureLen);
}

CK_RV
C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return p11m_op_update(hSession, P11M_OP_SIGN, pPart, ulPartLen);
}

CK_RV
C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
	    CK_ULONG_PTR pulSignatureLen)
{
	return p11m_op_final(hSession, P11M_OP_SIGN, pSignature,
			     pulSignatureLen);
}
