/*
 * The PKCS#11 modules, each run in its own helper process (hlink.h), and
 * their tokens.
 */
#ifndef P11A_AGENT_MODULES_H
#define P11A_AGENT_MODULES_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "options.h"
#include "token.h"

struct hlink;

struct module_set {
	struct hlink **links; /* one helper per module */
	size_t n_links;
	struct token **tokens;
	size_t n_tokens;
};

/*
 * Start a helper for each module named by --module (under an allowed
 * path), or for every module registered with p11-kit, then make a token
 * for every present token that an --identity URI can match, with up to
 * `sessions` sessions each.  Runs after daemonising.
 */
int modules_load(const struct agent_options *opt, unsigned sessions,
		 struct module_set *ms);

/* Called on a link's thread whenever one of the helpers was restarted. */
void modules_set_restart_hook(struct module_set *ms, void (*fn)(void *ctx),
			      void *ctx);

/*
 * Called (on a link's thread, must not wait) for a slot event of a token
 * whose module reports them (C_WaitForSlotEvent in its helper).
 */
void modules_set_event_hook(struct module_set *ms, void (*fn)(struct token *t));

/*
 * Stop the helpers: they finalise their modules; one that does not stop
 * within timeout_ms is killed.  Requests still waiting for one fail.
 */
void modules_stop(struct module_set *ms, int timeout_ms);
/* Then free the tokens. */
void modules_free(struct module_set *ms);

#endif
