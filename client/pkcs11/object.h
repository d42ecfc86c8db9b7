/*
 * The three PKCS#11 objects of one agent identity: the private key (it
 * signs through the agent; CKA_SENSITIVE true, CKA_EXTRACTABLE false,
 * secret parts answer CKR_ATTRIBUTE_SENSITIVE), its public key (from the
 * listed SPKI, else the certificate's) and its certificate (CKA_VALUE,
 * subject, issuer, serial).  All three carry the key's CKA_ID and
 * CKA_LABEL as on the real token, so consumers pair them as usual.
 */
#ifndef P11M_OBJECT_H
#define P11M_OBJECT_H

#include <stddef.h>

#include "p11agent/protocol.h"
#include "attrs.h"
#include "mech.h"

struct p11m_object_src {
	const struct p11a_identity *ident;
	const struct p11m_keyinfo *info;
	const void *id; /* CKA_ID */
	size_t id_len;
	const void *label; /* CKA_LABEL */
	size_t label_len;
};

struct p11m_objects {
	struct p11m_attrs priv;
	struct p11m_attrs pub;	/* when has_pub */
	struct p11m_attrs cert; /* when has_cert */
	int has_pub;
	int has_cert;
};

/*
 * p11m_objects_build - the attribute lists of src's objects.  A
 * certificate or SPKI that does not parse is left out (no such object);
 * CKR_HOST_MEMORY when memory runs out.
 */
CK_RV p11m_objects_build(const struct p11m_object_src *src,
			 struct p11m_objects *o);

/* p11m_objects_free - release; safe on a zeroed struct. */
void p11m_objects_free(struct p11m_objects *o);

#endif
