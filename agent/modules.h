/*
 * Loading PKCS#11 modules through p11-kit and finding their tokens.
 */
#ifndef P11A_AGENT_MODULES_H
#define P11A_AGENT_MODULES_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "options.h"
#include "token.h"

struct module_set {
	CK_FUNCTION_LIST **registered; /* p11-kit's configured modules */
	CK_FUNCTION_LIST **loaded;     /* --module paths */
	size_t n_loaded;
	struct token **tokens;
	size_t n_tokens;
};

/*
 * Load and initialise the modules named by --module, or every module
 * registered with p11-kit, then make a token for every present token
 * that an --identity URI can match.  Runs after daemonising (fork
 * before C_Initialize).
 */
int modules_load(const struct agent_options *opt, struct module_set *ms);

/* Free the tokens and finalise the modules (C_Finalize). */
void modules_unload(struct module_set *ms);

#endif
