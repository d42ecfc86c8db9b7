/*
 * p11agentd's settings: the configuration file (config.c) and then the
 * command line fill one struct that the rest of the agent reads and never
 * modifies.  Both go through the one table of settings in settings.c.
 */
#ifndef P11A_AGENT_OPTIONS_H
#define P11A_AGENT_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_MAX_LIST 32
#define RULE_MAX_IDS 16

/*
 * Which keys to serve (an --identity URI or an [identity] section of the
 * configuration file) and the policy for the keys it selects.  The first
 * rule that matches a key decides.
 */
struct identity_rule {
	const char *uri;
	uint32_t purpose; /* identity flags: P11A_IDENTITY_TLS13_CLIENT_ONLY */
	uid_t uids[RULE_MAX_IDS]; /* who may sign; none: every allowed peer */
	size_t n_uids;
	gid_t gids[RULE_MAX_IDS]; /* or any peer in one of these groups */
	size_t n_gids;
	int confirm; /* run the confirm program before each signature */
	/* CKA_ALWAYS_AUTHENTICATE keys: 1 asks pinentry for every signature's
	 * PIN, 0 uses the token's cached PIN */
	uint32_t always_auth_prompt;
};

struct agent_options {
	const char *modules[AGENT_MAX_LIST]; /* --module; none: p11-kit's */
	size_t n_modules;
	struct identity_rule identities[AGENT_MAX_LIST]; /* --identity */
	size_t n_identities;
	uid_t allow_uids[AGENT_MAX_LIST]; /* --allow-uid, beyond our own */
	size_t n_allow_uids;
	gid_t allow_gids[AGENT_MAX_LIST]; /* --allow-gid: peers of a group */
	size_t n_allow_gids;
	const char *confirm_program;		   /* --confirm-program */
	const char *allow_modules[AGENT_MAX_LIST]; /* --allow-module globs */
	size_t n_allow_modules;
	/* --unconfined-module globs: helpers without the seccomp filter */
	const char *unconfined_modules[AGENT_MAX_LIST];
	size_t n_unconfined_modules;
	const char *pin_source;	 /* --pin-source */
	const char *audit;	 /* --audit: "syslog" or a file */
	int debug;		 /* --debug: keep ptrace and core dumps */
	unsigned lock_after_s;	 /* --lock-after: idle seconds; 0: never */
	unsigned long max_signs; /* --max-signs per unlock; 0: no limit */
	const char *socket_path; /* --socket; NULL: default */
	int foreground;
	int csh;		     /* -c: print csh commands */
	int kill_agent;		     /* -k */
	unsigned workers;	     /* per token; 0: one per CPU */
	unsigned request_timeout_ms; /* --request-timeout */
	unsigned hang_timeout_ms;    /* --hang-timeout: helper killed */
	unsigned poll_interval_ms;   /* --poll-interval: token presence */
	struct agent_limits {
		unsigned max_frame;	  /* bytes, <= P11A_MAX_FRAME */
		unsigned max_inflight;	  /* requests per connection */
		unsigned max_connections; /* in total */
		unsigned max_per_uid;	  /* per peer uid */
		unsigned max_memory;	  /* bytes for clients in total */
		unsigned idle_timeout_s;  /* 0: never */
		unsigned frame_timeout_s; /* a partly received frame */
	} limits;
	int log_level;
	/* how this run was configured (command line only) */
	const char *config_path;     /* --config; NULL: the default search */
	int no_config;		     /* --no-config */
	int check_config;	     /* --check-config */
	int pin_value_in_argv;	     /* an --identity had a pin-value */
	const char *config_file;     /* the file actually read; NULL: none */
	struct options_owned *owned; /* strings copied from the file */
};

/* What options_parse found wrong; the message is already printed. */
enum options_result {
	OPTIONS_OK = 0,	     /* go on */
	OPTIONS_DONE = 1,    /* printed help or the version: exit 0 */
	OPTIONS_USAGE = -1,  /* bad command line: exit 2 */
	OPTIONS_CONFIG = -2, /* bad configuration file: exit 1 */
};

/*
 * Fill opt: defaults, then the configuration file (--config FILE, else
 * $XDG_CONFIG_HOME/p11agent/agent.conf, else SYSCONFDIR/p11agent/
 * agent.conf; none with --no-config or -k), then argv over it.  A list
 * given on the command line replaces the file's list.  Free with
 * options_free().
 */
enum options_result options_parse(int argc, char **argv,
				  struct agent_options *opt);
/* Free what options_parse copied; opt must not be used afterwards. */
void options_free(struct agent_options *opt);
/* A copy of s that lives until options_free(); NULL if out of memory. */
const char *options_strdup(struct agent_options *opt, const char *s);

/* Append an identity rule for uri (a pkcs11: URI); NULL if refused. */
struct identity_rule *options_add_identity(struct agent_options *opt,
					   const char *uri);

#endif
