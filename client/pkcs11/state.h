/*
 * The module's state: one per process, guarded by one mutex.  The mutex
 * is held only for table look-ups and updates, never across a call to
 * the agent, so threads sign in parallel (each on a pooled connection,
 * agent.h) and a fork() never waits for a slow token.
 *
 * Tables only grow while the module is initialised: slots, keys and
 * objects that disappear from the agent are marked not listed instead of
 * freed, so slot ids and object handles stay valid and stable (an agent
 * restart gives the same identities the same handles again).
 *
 *   slot id       = index in slots[]
 *   object handle = index in objects[] + 1 (0 is CK_INVALID_HANDLE)
 */
#ifndef P11M_STATE_H
#define P11M_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <p11-kit/pkcs11.h>

#include "attrs.h"
#include "filter.h"
#include "mech.h"
#include "options.h"

struct p11m_session;

/* A token of the agent (STATUS), shown as a slot. */
struct p11m_slot {
	char *uri; /* the token's URI: what identifies it */
	CK_UTF8CHAR label[32];
	CK_UTF8CHAR manufacturer[32];
	CK_UTF8CHAR model[16];
	CK_UTF8CHAR serial[16];
	uint32_t flags; /* P11A_TOKEN_* */
	int listed;	/* in the agent's latest STATUS */
};

/* An identity of the agent (LIST): one private key. */
struct p11m_key {
	char *id; /* the agent's identity id */
	CK_SLOT_ID slot;
	struct p11m_keyinfo info;
	int listed; /* in the agent's latest LIST (and passing the filter) */
};

struct p11m_object {
	CK_OBJECT_CLASS class;
	size_t key; /* index in keys[] */
	struct p11m_attrs attrs;
};

struct p11m_state {
	int initialized;
	int disabled; /* loaded into p11agentd itself: expose nothing */
	pid_t pid;    /* the process that called C_Initialize */
	struct p11m_options options;
	struct p11m_filter filter;

	struct p11m_slot *slots;
	size_t n_slots, cap_slots;
	struct p11m_key *keys;
	size_t n_keys, cap_keys;
	struct p11m_object *objects;
	size_t n_objects, cap_objects;

	struct p11m_session **sessions;
	size_t n_sessions, cap_sessions;
	CK_SESSION_HANDLE last_session;
};

extern struct p11m_state p11m;

void p11m_lock(void);
void p11m_unlock(void);

/*
 * p11m_enter - take the lock for an entry point; CKR_OK with the lock
 * held, or CKR_CRYPTOKI_NOT_INITIALIZED without it.  A child forked
 * after C_Initialize goes on with the parent's state (its sessions keep
 * working; the connection pool opens connections of the child's own),
 * or calls C_Initialize to start afresh.
 */
CK_RV p11m_enter(void);

/* p11m_leave - release the lock taken by p11m_enter; returns rv. */
CK_RV p11m_leave(CK_RV rv);

/*
 * p11m_state_clear - free every table, the options and the filter, and
 * mark the module not initialised.  Called with the lock held.
 */
void p11m_state_clear(void);

/* p11m_state_register_fork - install the fork handlers (once). */
void p11m_state_register_fork(void);

/* p11m_pad - copy src into a blank-padded, unterminated PKCS#11 field. */
void p11m_pad(CK_UTF8CHAR *dst, size_t size, const char *src);

/*
 * p11m_size_answered - PKCS#11's rule for an output of need bytes: 1
 * when the call ends here with *out_len = need, a size query (out NULL;
 * *rv = CKR_OK) or a buffer too short (*rv = CKR_BUFFER_TOO_SMALL); 0
 * when out has room.  Either way the operation goes on.
 */
int p11m_size_answered(const CK_BYTE *out, CK_ULONG *out_len, size_t need,
		       CK_RV *rv);

#endif
