/*
 * Sessions: the table of open sessions, each with its find state and
 * its operations: one signing and one digest at a time (PKCS#11 lets a
 * session run one operation of each kind).  Every function here is
 * called with the state lock held, but for the p11m_session_op_*() ones,
 * which take it.
 *
 * A thread that works on an operation without the lock (signing calls
 * the agent; a digest hashes what may be much data) takes it out of its
 * session (op = NULL, busy = 1) and puts it back or frees it afterwards;
 * so a session closed meanwhile by another thread frees nothing the
 * working thread still uses.
 */
#ifndef P11M_SESSION_H
#define P11M_SESSION_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

/* The kinds of operation a session holds, at most one of each. */
enum p11m_op_kind {
	P11M_OP_SIGN,	/* struct p11m_signop: C_SignInit to the signature */
	P11M_OP_DIGEST, /* struct p11m_digest: C_DigestInit to the digest */
	P11M_OP_KINDS
};

struct p11m_session_op {
	void *op; /* the operation of this kind, or NULL */
	int busy; /* op taken out by a thread working on it now */
};

struct p11m_session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	CK_FLAGS flags; /* CKF_SERIAL_SESSION, CKF_RW_SESSION */

	int finding; /* between C_FindObjectsInit and C_FindObjectsFinal */
	CK_OBJECT_HANDLE *found;
	size_t n_found;
	size_t next_found;

	struct p11m_session_op ops[P11M_OP_KINDS];
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

/*
 * p11m_session_op_enter - p11m_enter() for a C_*Init with mechanism m:
 * CKR_OK with the lock held and *s the session h, free to start an
 * operation of kind; otherwise the lock is not held and the answer is
 * CKR_CRYPTOKI_NOT_INITIALIZED, CKR_ARGUMENTS_BAD (m NULL),
 * CKR_SESSION_HANDLE_INVALID or CKR_OPERATION_ACTIVE (one runs, or is
 * taken out).
 */
CK_RV p11m_session_op_enter(CK_SESSION_HANDLE h, enum p11m_op_kind kind,
			    const CK_MECHANISM *m, struct p11m_session **s);

/*
 * p11m_session_op_take - take session h's operation of kind out, to
 * work on it without the lock (which this takes and releases).
 * CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SESSION_HANDLE_INVALID,
 * CKR_OPERATION_ACTIVE (another thread has it out),
 * CKR_OPERATION_NOT_INITIALIZED.
 */
CK_RV p11m_session_op_take(CK_SESSION_HANDLE h, enum p11m_op_kind kind,
			   void **op);

/*
 * p11m_session_op_put - give op back to session h (keep) or end it;
 * takes the lock.  Returns what the caller must free: op when it is not
 * kept or its session (or the whole module) is gone, else NULL.
 */
void *p11m_session_op_put(CK_SESSION_HANDLE h, enum p11m_op_kind kind, void *op,
			  int keep);

#endif
