/* A session's operation from C_*Init to its end: see operation.h. */
#include <stddef.h>

#include "digest.h"
#include "operation.h"
#include "signop.h"
#include "state.h"

/* What each kind of operation does. */
static size_t
op_len(enum p11m_op_kind kind, const void *op)
{
	return kind == P11M_OP_SIGN ? p11m_signop_len(op) : p11m_digest_len(op);
}

static CK_RV
op_update(enum p11m_op_kind kind, void *op, const CK_BYTE *data, CK_ULONG len)
{
	if (kind == P11M_OP_SIGN)
		return p11m_signop_update(op, data, len);
	return p11m_digest_update(op, data, len);
}

static CK_RV
op_final(enum p11m_op_kind kind, void *op, CK_BYTE_PTR out,
	 CK_ULONG_PTR out_len)
{
	if (kind == P11M_OP_SIGN)
		return p11m_signop_final(op, out, out_len);
	return p11m_digest_final(op, out, out_len);
}

void
p11m_op_free(enum p11m_op_kind kind, void *op)
{
	if (kind == P11M_OP_SIGN)
		p11m_signop_free(op);
	else
		p11m_digest_free(op);
}

/* Give op back to session h (keep), or end it. */
static void
put_op(CK_SESSION_HANDLE h, enum p11m_op_kind kind, void *op, int keep)
{
	p11m_op_free(kind, p11m_session_op_put(h, kind, op, keep));
}

/*
 * Take session h's operation out.  When finishing with out NULL (a size
 * query) or a buffer too small, answer here and put it back; then *op
 * stays NULL.
 */
static CK_RV
take_op(CK_SESSION_HANDLE h, enum p11m_op_kind kind, CK_BYTE_PTR out,
	CK_ULONG_PTR out_len, int finishing, void **op)
{
	void *taken;
	CK_RV rv;

	*op = NULL;
	if ((rv = p11m_session_op_take(h, kind, &taken)) != CKR_OK)
		return rv;
	if (finishing &&
	    p11m_size_answered(out, out_len, op_len(kind, taken), &rv)) {
		put_op(h, kind, taken, 1);
		return rv;
	}
	*op = taken;
	return CKR_OK;
}

CK_RV
p11m_op_single(CK_SESSION_HANDLE h, enum p11m_op_kind kind, const CK_BYTE *data,
	       CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	void *op;
	CK_RV rv;

	if (out_len == NULL || (data == NULL && len > 0))
		return CKR_ARGUMENTS_BAD;
	rv = take_op(h, kind, out, out_len, 1, &op);
	if (rv != CKR_OK || op == NULL)
		return rv;
	if ((rv = op_update(kind, op, data, len)) == CKR_OK)
		rv = op_final(kind, op, out, out_len);
	put_op(h, kind, op, 0);
	return rv;
}

CK_RV
p11m_op_update(CK_SESSION_HANDLE h, enum p11m_op_kind kind, const CK_BYTE *part,
	       CK_ULONG len)
{
	void *op;
	CK_RV rv;

	if (part == NULL && len > 0)
		return CKR_ARGUMENTS_BAD;
	if ((rv = take_op(h, kind, NULL, NULL, 0, &op)) != CKR_OK)
		return rv;
	rv = op_update(kind, op, part, len);
	put_op(h, kind, op, rv == CKR_OK);
	return rv;
}

CK_RV
p11m_op_final(CK_SESSION_HANDLE h, enum p11m_op_kind kind, CK_BYTE_PTR out,
	      CK_ULONG_PTR out_len)
{
	void *op;
	CK_RV rv;

	if (out_len == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = take_op(h, kind, out, out_len, 1, &op);
	if (rv != CKR_OK || op == NULL)
		return rv;
	rv = op_final(kind, op, out, out_len);
	put_op(h, kind, op, 0);
	return rv;
}
