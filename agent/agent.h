/*
 * State of the running agent shared by the event loop and the request
 * handlers.
 */
#ifndef P11A_AGENT_AGENT_H
#define P11A_AGENT_AGENT_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "modules.h"
#include "options.h"

struct agent {
	const struct agent_options *opt;
	struct module_set modules;
	time_t started;
	atomic_uint connections;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t last_use_ms; /* last SIGN, for --lock-after */
	atomic_uint_fast64_t signs_since_unlock; /* for --max-signs */
};

#endif
