/*
 * Slots, keys and objects from what the agent reports.  STATUS gives the
 * tokens (one slot each); LIST gives the identities, each with the URI
 * of its private key, whose token part (token, manufacturer, model,
 * serial) names its slot, whose id= is CKA_ID and object= CKA_LABEL.
 */
#ifndef P11M_REGISTRY_H
#define P11M_REGISTRY_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "digest.h"
#include "state.h"

/*
 * p11m_registry_refresh - ask the agent (without the lock held) and
 * merge the answer into the tables (with it).  New tokens and
 * identities are added; ones no longer reported are hidden.  Returns
 * the agent's error as CK_RV; the tables are left as they were then.
 */
CK_RV p11m_registry_refresh(void);

/* The following are called with the lock held. */

/* p11m_slot_get - a slot the agent reports, or NULL. */
struct p11m_slot *p11m_slot_get(CK_SLOT_ID id);

/*
 * p11m_object_get - the object with this handle if it is visible on
 * slot (its identity reported and passing the filter), or NULL.
 */
struct p11m_object *p11m_object_get(CK_OBJECT_HANDLE handle, CK_SLOT_ID slot);

/* p11m_object_key - the key (identity) an object belongs to. */
struct p11m_key *p11m_object_key(const struct p11m_object *o);

/* Upper bound of p11m_slot_mechanisms()'s count. */
#define P11M_SLOT_MECH_MAX (P11M_DIGEST_MAX + P11M_MECH_MAX)

/*
 * p11m_slot_mechanisms - the digests, then the union of the mechanisms
 * of the keys on slot, into out (room for P11M_SLOT_MECH_MAX); returns
 * the count.
 */
size_t p11m_slot_mechanisms(CK_SLOT_ID slot, CK_MECHANISM_TYPE *out);

/*
 * p11m_slot_mechanism_info - C_GetMechanismInfo for type on slot;
 * CKR_MECHANISM_INVALID when it is no digest and no key there can do it.
 */
CK_RV p11m_slot_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
			       CK_MECHANISM_INFO *info);

#endif
