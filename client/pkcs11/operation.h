/*
 * The life of a session's operation after its C_*Init, the same for a
 * signature and a digest: the single-part call, updates, the final call,
 * size queries and short buffers.  The operation is taken out of its
 * session while a thread works on it without the state lock (session.h):
 * a signature asks the agent, a digest may hash much data.
 *
 * PKCS#11 2.40 section 5.2 rules: a size query (out NULL) or a buffer
 * too short (CKR_BUFFER_TOO_SMALL) gives the length and leaves the
 * operation active; the single-part and final calls end it otherwise,
 * whatever the outcome; a failed update ends it.
 */
#ifndef P11M_OPERATION_H
#define P11M_OPERATION_H

#include <p11-kit/pkcs11.h>

#include "session.h"

/* p11m_op_single - C_Sign, C_Digest: data in, the result to out. */
CK_RV p11m_op_single(CK_SESSION_HANDLE h, enum p11m_op_kind kind,
		     const CK_BYTE *data, CK_ULONG len, CK_BYTE_PTR out,
		     CK_ULONG_PTR out_len);

/* p11m_op_update - C_SignUpdate, C_DigestUpdate. */
CK_RV p11m_op_update(CK_SESSION_HANDLE h, enum p11m_op_kind kind,
		     const CK_BYTE *part, CK_ULONG len);

/* p11m_op_final - C_SignFinal, C_DigestFinal. */
CK_RV p11m_op_final(CK_SESSION_HANDLE h, enum p11m_op_kind kind,
		    CK_BYTE_PTR out, CK_ULONG_PTR out_len);

/* p11m_op_free - release an operation of kind; NULL is fine. */
void p11m_op_free(enum p11m_op_kind kind, void *op);

#endif
