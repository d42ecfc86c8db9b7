/*
 * One signing operation, from C_SignInit to the signature: the checked
 * mechanism, what it has been fed so far (hashed here for the CKM_SHAx_*
 * and CKM_ECDSA_SHAx mechanisms, kept for the others), and the final
 * SIGN request to the agent with the signature converted to PKCS#11
 * form.  An operation is self-contained (it copies the key's details),
 * so it needs no lock while it talks to the agent.
 */
#ifndef P11M_SIGNOP_H
#define P11M_SIGNOP_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "mech.h"

struct p11m_signop;

/*
 * p11m_signop_new - check mechanism m for the key (identity id, info) and
 * start an operation.  CKR_MECHANISM_INVALID,
 * CKR_MECHANISM_PARAM_INVALID (mech.h), CKR_HOST_MEMORY.
 */
CK_RV p11m_signop_new(const CK_MECHANISM *m, const char *identity,
		      const struct p11m_keyinfo *info, struct p11m_signop **op);

/* p11m_signop_len - the length of the signature it makes. */
size_t p11m_signop_len(const struct p11m_signop *op);

/*
 * p11m_signop_update - feed data.  CKR_DATA_LEN_RANGE when an unhashed
 * input grows past what one SIGN request can carry.
 */
CK_RV p11m_signop_update(struct p11m_signop *op, const uint8_t *data,
			 size_t len);

/*
 * p11m_signop_final - ask the agent for the signature and write it to
 * out (room for p11m_signop_len() bytes); *out_len receives its length.
 */
CK_RV p11m_signop_final(struct p11m_signop *op, uint8_t *out,
			CK_ULONG *out_len);

/* p11m_signop_free - release; NULL is fine. */
void p11m_signop_free(struct p11m_signop *op);

#endif
