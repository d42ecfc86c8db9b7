/*
 * Finding the identity a key URI names, for the store (p11agent: URIs)
 * and the key file decoders: one LIST, the one identity that matches,
 * and its key object, or an OpenSSL error that says what to do.
 */
#include <stdio.h>

#include "prov.h"

/* Explain an identity that cannot be had; returns r. */
static int
lookup_failed(const struct p11a_prov *prov, const char *what, int r,
	      const char *msg)
{
	if (r == P11A_ERR_IDENTITY_NOT_FOUND && p11a_agent_needs_unlock())
		r = P11A_ERR_LOCKED;
	switch (r) {
	case P11A_ERR_LOCKED:
		p11a_prov_raise(prov, r,
				"%s: the agent is locked (run 'p11agent "
				"unlock')",
				what);
		break;
	case P11A_ERR_IDENTITY_NOT_FOUND:
		p11a_prov_raise(prov, r,
				"%s: no such identity in the agent (see "
				"'p11agent list')",
				what);
		break;
	case P11A_ERR_IDENTITY_AMBIGUOUS:
		p11a_prov_raise(prov, r,
				"%s: several identities match; name one by "
				"its id",
				what);
		break;
	default:
		p11a_prov_raise_agent(prov, r, "cannot reach p11agentd", msg);
	}
	return r;
}

int
p11a_key_lookup(const struct p11a_prov *prov, const struct p11a_key_uri *uri,
		const char *what, struct p11a_key **out)
{
	struct p11a_identity_list list;
	char msg[256];
	size_t i = 0;
	int r;

	*out = NULL;
	msg[0] = '\0';
	if ((r = p11a_agent_list(&list, msg, sizeof(msg))) != P11A_OK)
		return lookup_failed(prov, what, r, msg);
	if ((r = p11a_key_uri_find(uri, &list, &i)) != P11A_OK)
		goto out;
	/*
	 * A locked identity would only fail at the first signature, in the
	 * middle of a handshake: refuse it now, before any connection.
	 */
	if (!(list.items[i].flags & P11A_IDENTITY_AVAILABLE)) {
		r = P11A_ERR_LOCKED;
		goto out;
	}
	if ((r = p11a_key_from_identity(prov, &list.items[i], out)) != P11A_OK)
		snprintf(msg, sizeof(msg),
			 "identity %s has no usable public key",
			 list.items[i].id);
out:
	p11a_identity_list_free(&list);
	return r == P11A_OK ? P11A_OK : lookup_failed(prov, what, r, msg);
}
