/*
 * Sessions: the table of open sessions, each with its find and sign
 * state.  Every function here is called with the state lock held.
 *
 * A signing thread takes the session's operation out (op = NULL,
 * op_busy = 1) before it unlocks to call the agent, and puts it back or
 * frees it afterwards; so a session closed meanwhile by another thread
 * frees nothing the signing thread still uses.
 */
#ifndef P11M_SESSION_H
#define P11M_SESSION_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

struct p11m_signop;

struct p11m_session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	CK_FLAGS flags; /* CKF_SERIAL_SESSION, CKF_RW_SESSION */

	int finding; /* between C_FindObjectsInit and C_FindObjectsFinal */
	CK_OBJECT_HANDLE *found;
	size_t n_found;
	size_t next_found;

	struct p11m_signop *op; /* between C_SignInit and the end */
	int op_busy;		/* op taken out by a thread signing now */
};

/* p11m_session_open - a new session on slot; CKR_HOST_MEMORY. */
CK_RV p11m_session_open(CK_SLOT_ID slot, CK_FLAGS flags,
			CK_SESSION_HANDLE *handle);

/* p11m_session_get - the open session with this handle, or NULL. */
struct p11m_session *p11m_session_get(CK_SESSION_HANDLE handle);

/* p11m_session_close - close one; CKR_SESSION_HANDLE_INVALID. */
CK_RV p11m_session_close(CK_SESSION_HANDLE handle);

/* p11m_session_close_slot - close every session on slot. */
void p11m_session_close_slot(CK_SLOT_ID slot);

/* p11m_session_close_all - close every session. */
void p11m_session_close_all(void);

/* p11m_session_find_reset - end a find operation and free its results. */
void p11m_session_find_reset(struct p11m_session *s);

#endif
