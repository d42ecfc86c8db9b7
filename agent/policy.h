/*
 * Key-use policy of an identity rule: which peers may sign with the keys
 * it selects, and whether each signature must first be confirmed by an
 * external program (like ssh-add -c).
 */
#ifndef P11A_AGENT_POLICY_H
#define P11A_AGENT_POLICY_H

#include "conn.h"
#include "options.h"
#include "token.h"

/* Whether the peer of c may use the identity (uid/gid lists). */
int policy_peer_may_use(const struct identity *id, const struct conn *c);

/* Whether each use of the identity waits for the confirm program. */
int policy_needs_confirm(const struct identity *id);

/*
 * Ask the confirm program whether this use is allowed.  It runs as
 * `PROGRAM` with P11AGENT_CONFIRM_{IDENTITY,LABEL,URI,PID,UID,EXE} in its
 * environment and answers yes by exiting 0.  No program: refused.
 * Runs on a token worker; returns 1 to go on.
 */
int policy_confirm(const struct agent_options *opt, const struct identity *id,
		   const struct conn *c);

/* Whether an always-authenticate key's PIN is asked for every signature. */
int policy_prompts_pin(const struct identity *id);

/*
 * The PIN for one signature of an always-authenticate key, from pinentry
 * (the --pin-source pinentry:PROGRAM if that is set, else "pinentry" in
 * PATH).  A token that blocked its PIN or has one try left is not asked
 * for one: PIN_LOCKED, PIN_FINAL_TRY.  A cancelled dialog: DENIED.  Runs
 * on a token worker.
 */
int policy_prompt_pin(const struct agent_options *opt,
		      const struct identity *id, const struct conn *c,
		      struct pin *out);

#endif
