/*
 * The registry of identities: every usable private key on every token,
 * found after login, selected by the --identity URIs, and looked up by
 * SIGN.  Written by whichever thread logs in to a token, read by the
 * event loop; guarded by one rwlock.  Entries are never removed before
 * shutdown.
 */
#ifndef P11A_AGENT_IDENTITY_H
#define P11A_AGENT_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "token.h"

/*
 * Parse the identity rules' URIs (none: every key, no policy).  Keys
 * take the policy of the first rule that selects them.  The rules must
 * outlive the registry.  Returns a p11a_err.
 */
int registry_init(const struct identity_rule *rules, size_t n);
void registry_free(void);

/* Whether some --identity URI can match keys on this token. */
int registry_wants_token(const struct token *t);

/*
 * A PIN given by a matching --identity URI (pin-value=, or pin-source=
 * naming file:PATH, env:VAR or a path).  P11A_OK with out->value NULL
 * when no URI carries one.
 */
int registry_token_pin(const struct token *t, struct pin *out);

/*
 * Ask the token's helper for its private keys (a logged-in token) and
 * register identities; keys seen before get their handle refreshed.
 * gen is the helper generation the handles are valid in: the call is
 * refused if the helper was restarted since.
 */
int identities_discover(struct token *t, unsigned gen);

/*
 * Resolve SIGN's identity field, an identity id or a pkcs11: URI as
 * p11a_name_kind() tells them apart, to exactly one identity: several
 * give P11A_ERR_IDENTITY_AMBIGUOUS (an id too, when alike tokens share
 * it).
 */
int registry_lookup(const uint8_t *name, size_t len, struct identity **out);

/*
 * Whether an identity name that registry_lookup() did not find could be
 * a key on one of these tokens that was never unlocked (its keys are not
 * known yet): a URI matching such a token, or any id while one exists.
 */
int registry_maybe_locked(const struct token *const *tokens, size_t n,
			  const uint8_t *name, size_t len);

/*
 * Shallow copies of every identity's wire form with flags filled in, for
 * LIST.  Free *items with free() only.
 */
int registry_wire_list(struct p11a_identity **items, size_t *n);
/*
 * How each identity on one of tokens[n_tokens] signs its schemes, for
 * STATUS: a calloc'd array (free() it) whose ids borrow the registry.
 */
int registry_paths(struct token *const *tokens, size_t n_tokens,
		   struct p11a_identity_paths **items, size_t *n);

#endif
