/*
 * p11agentd's command line, parsed into one configuration struct that
 * the rest of the agent reads and never modifies.
 */
#ifndef P11A_AGENT_OPTIONS_H
#define P11A_AGENT_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_MAX_LIST 32

struct agent_options {
	const char *modules[AGENT_MAX_LIST]; /* --module; none: p11-kit's */
	size_t n_modules;
	const char *identities[AGENT_MAX_LIST]; /* --identity URIs */
	uint32_t purposes[AGENT_MAX_LIST]; /* identity flags per URI */
	size_t n_identities;
	uid_t allow_uids[AGENT_MAX_LIST]; /* --allow-uid, beyond our own */
	size_t n_allow_uids;
	const char *allow_modules[AGENT_MAX_LIST]; /* --allow-module globs */
	size_t n_allow_modules;
	const char *pin_source; /* --pin-source */
	const char *audit;	/* --audit: "syslog" or a file */
	int debug;		/* --debug: keep ptrace and core dumps */
	unsigned lock_after_s;	/* --lock-after: idle seconds; 0: never */
	unsigned long max_signs; /* --max-signs per unlock; 0: no limit */
	const char *socket_path; /* --socket; NULL: default */
	int foreground;
	int csh;	  /* -c: print csh commands */
	int kill_agent;	  /* -k */
	unsigned workers; /* per token; 0: one per CPU */
	unsigned request_timeout_ms; /* --request-timeout */
	unsigned poll_interval_ms;   /* --poll-interval: token presence */
	struct agent_limits {
		unsigned max_frame;	  /* bytes, <= P11A_MAX_FRAME */
		unsigned max_inflight;	  /* requests per connection */
		unsigned max_connections; /* in total */
		unsigned max_per_uid;	  /* per peer uid */
		unsigned idle_timeout_s;  /* 0: never */
		unsigned frame_timeout_s; /* a partly received frame */
	} limits;
	int log_level;
};

/*
 * Parse argv.  Returns 0 to go on, 1 when it printed help or the
 * version (exit 0), -1 on a usage error (already reported; exit 2).
 */
int options_parse(int argc, char **argv, struct agent_options *opt);

#endif
