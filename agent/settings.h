/*
 * The one table of p11agentd's settings.  Each entry says what the
 * setting is called on the command line and in the configuration file,
 * where it is stored in struct agent_options (or struct identity_rule),
 * how its value is parsed and how it is printed back.  options.c builds
 * getopt's tables and --help from it, config.c reads and prints the file
 * with it, so a setting is added in one place.
 */
#ifndef P11A_AGENT_SETTINGS_H
#define P11A_AGENT_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

#include "options.h"

#define SETTINGS_MAX 64 /* table entries, for per-setting arrays */
#define SETTING_ERR_MAX 256

enum setting_kind {
	SETTING_STRING,	 /* const char *, not empty */
	SETTING_STRINGS, /* const char *[cap] and a size_t count */
	SETTING_UINT,	 /* unsigned, min..max, stored times scale */
	SETTING_ULONG,	 /* unsigned long */
	SETTING_UIDS,	 /* uid_t[cap] and a count: numbers or user names */
	SETTING_GIDS,	 /* gid_t[cap] and a count: numbers or group names */
	SETTING_BOOL, /* int; yes/no in the file, a flag on the command line */
	SETTING_LOG_LEVEL,   /* int: enum log_level */
	SETTING_PURPOSE,     /* uint32_t identity flags */
	SETTING_ALWAYS_AUTH, /* uint32_t: 0 cached, 1 prompt */
	SETTING_PIN_SOURCE,  /* const char *, checked by pin_source_check() */
	SETTING_IDENTITY,    /* --identity URI: starts an identity rule */
	SETTING_SET,	     /* command-line flag: stores min into an int */
	SETTING_HELP,
	SETTING_VERSION,
};

enum setting_scope {
	SCOPE_COMMAND_LINE, /* command line only */
	SCOPE_AGENT,	    /* command line and the [agent] section */
	SCOPE_IDENTITY,	    /* after an --identity, and [identity "URI"] */
};

struct setting {
	const char *option; /* long option without "--"; NULL: none */
	int short_opt;	    /* 0: none */
	const char *key;    /* key in the file; NULL: command line only */
	enum setting_kind kind;
	enum setting_scope scope;
	size_t offset; /* in agent_options, or identity_rule for SCOPE_IDENTITY
			*/
	size_t count_offset; /* lists: where the count is */
	size_t cap;	     /* lists: capacity */
	unsigned long min, max, scale;
	const char *arg;   /* argument name in --help; NULL: no argument */
	const char *help;  /* --help text; '\n' starts a continuation line */
	const char *unset; /* what applies when not set (printed as comment) */
};

extern const struct setting settings[];
extern const size_t n_settings;

/* The setting a file key names in a scope; NULL if none. */
const struct setting *setting_by_key(enum setting_scope scope, const char *key);
/* Whether the setting holds a list (values accumulate). */
int setting_is_list(const struct setting *s);
/*
 * Parse value and store it into base (an agent_options, or the
 * identity_rule for SCOPE_IDENTITY).  The value of a string setting is
 * stored as given, so it must live as long as the options.  from_file
 * says whether a boolean came with a value (the file) or is a flag.
 * Returns 0, or -1 with the reason (no setting name) in err.
 */
int setting_apply(const struct setting *s, void *base, const char *value,
		  int from_file, char err[SETTING_ERR_MAX]);
/* Empty a list setting (before the command line replaces it). */
void setting_clear(const struct setting *s, void *base);
/*
 * Print the setting's value in the file's format, "key = value" once per
 * list entry; a setting that is not set is printed as a comment saying
 * what applies instead.
 */
void setting_print(FILE *f, const struct setting *s, const void *base);

/*
 * Add an identity rule for uri (a pkcs11: URI that p11-kit can parse).
 * Returns the new rule, or NULL with the reason in err.
 */
struct identity_rule *settings_add_identity(struct agent_options *opt,
					    const char *uri,
					    char err[SETTING_ERR_MAX]);

#endif
