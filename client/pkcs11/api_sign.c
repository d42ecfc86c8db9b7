/*
 * Signing entry points.  C_SignInit checks the mechanism against the key
 * at once (CKR_MECHANISM_INVALID for one the agent cannot do with it);
 * the agent is asked only at C_Sign or C_SignFinal, with the state lock
 * released: the operation is taken out of its session for that time
 * (session.h).  The signature length is known up front (modulus size,
 * twice the field size, 64), so size queries never reach the agent.
 */
#include <string.h>

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
	CK_RV rv;

	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (pMechanism == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((s = p11m_session_get(hSession)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	if (s->op != NULL || s->op_busy)
		return p11m_leave(CKR_OPERATION_ACTIVE);
	o = p11m_object_get(hKey, s->slot);
	if (o == NULL || o->class != CKO_PRIVATE_KEY)
		return p11m_leave(CKR_KEY_HANDLE_INVALID);
	k = p11m_object_key(o);
	return p11m_leave(p11m_signop_new(pMechanism, k->id, &k->info, &s->op));
}

/*
 * Take the session's operation out for a call that may reach the agent.
 * With sig == NULL (a size query) or a buffer too small, answer here and
 * leave the operation in place; then *op stays NULL.
 */
static CK_RV
take_op(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len,
	int finishing, struct p11m_signop **op)
{
	struct p11m_session *s;
	size_t len;
	CK_RV rv;

	*op = NULL;
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if ((s = p11m_session_get(h)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	if (s->op_busy)
		return p11m_leave(CKR_OPERATION_ACTIVE);
	if (s->op == NULL)
		return p11m_leave(CKR_OPERATION_NOT_INITIALIZED);
	if (finishing) {
		len = p11m_signop_len(s->op);
		if (sig == NULL || *sig_len < len) {
			rv = sig == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
			*sig_len = len;
			return p11m_leave(rv);
		}
	}
	*op = s->op;
	s->op = NULL;
	s->op_busy = 1;
	return p11m_leave(CKR_OK);
}

/* Give op back to its session (keep), or end it. */
static void
return_op(CK_SESSION_HANDLE h, struct p11m_signop *op, int keep)
{
	struct p11m_session *s;

	p11m_lock();
	/* the session (or the whole module) may be gone by now */
	s = p11m.initialized ? p11m_session_get(h) : NULL;
	if (s != NULL) {
		s->op_busy = 0;
		if (keep) {
			s->op = op;
			op = NULL;
		}
	}
	p11m_unlock();
	p11m_signop_free(op);
}

CK_RV
C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct p11m_signop *op;
	CK_RV rv;

	if (pulSignatureLen == NULL || (pData == NULL && ulDataLen > 0))
		return CKR_ARGUMENTS_BAD;
	rv = take_op(hSession, pSignature, pulSignatureLen, 1, &op);
	if (rv != CKR_OK || op == NULL)
		return rv;
	if ((rv = p11m_signop_update(op, pData, ulDataLen)) == CKR_OK)
		rv = p11m_signop_final(op, pSignature, pulSignatureLen);
	/* C_Sign ends the operation whatever the outcome */
	return_op(hSession, op, 0);
	return rv;
}

CK_RV
C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	struct p11m_signop *op;
	CK_RV rv;

	if (pPart == NULL && ulPartLen > 0)
		return CKR_ARGUMENTS_BAD;
	if ((rv = take_op(hSession, NULL, NULL, 0, &op)) != CKR_OK)
		return rv;
	rv = p11m_signop_update(op, pPart, ulPartLen);
	/* an error ends the operation (PKCS#11 2.40 section 5.12) */
	return_op(hSession, op, rv == CKR_OK);
	return rv;
}

CK_RV
C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
	    CK_ULONG_PTR pulSignatureLen)
{
	struct p11m_signop *op;
	CK_RV rv;

	if (pulSignatureLen == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = take_op(hSession, pSignature, pulSignatureLen, 1, &op);
	if (rv != CKR_OK || op == NULL)
		return rv;
	rv = p11m_signop_final(op, pSignature, pulSignatureLen);
	return_op(hSession, op, 0);
	return rv;
}
