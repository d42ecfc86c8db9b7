#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "config.h"
#include "log.h"
#include "p11agent/protocol.h"
#include "pin.h"

#define AGENT(field) offsetof(struct agent_options, field)
#define RULE(field) offsetof(struct identity_rule, field)

/* Order: --help lists and --check-config prints the settings in it. */
const struct setting settings[] = {
	{.option = "config",
	 .kind = SETTING_STRING,
	 .scope = SCOPE_COMMAND_LINE,
	 .offset = AGENT(config_path),
	 .arg = "FILE",
	 .help = "read this configuration file instead of\n"
		 "~/.config/p11agent/agent.conf or " CONFIG_SYSTEM_FILE},
	{.option = "no-config",
	 .kind = SETTING_SET,
	 .scope = SCOPE_COMMAND_LINE,
	 .offset = AGENT(no_config),
	 .min = 1,
	 .help = "read no configuration file"},
	{.option = "check-config",
	 .kind = SETTING_SET,
	 .scope = SCOPE_COMMAND_LINE,
	 .offset = AGENT(check_config),
	 .min = 1,
	 .help = "print the effective configuration and exit"},
	{.option = "foreground",
	 .short_opt = 'f',
	 .kind = SETTING_SET,
	 .scope = SCOPE_COMMAND_LINE,
	 .offset = AGENT(foreground),
	 .min = 1,
	 .help = "stay attached, log to stderr"},
	{.option = "socket",
	 .short_opt = 'a',
	 .key = "socket",
	 .kind = SETTING_STRING,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(socket_path),
	 .arg = "PATH",
	 .help = "listen here (default $XDG_RUNTIME_DIR/p11agent/agent.sock)",
	 .unset = "$XDG_RUNTIME_DIR/p11agent/agent.sock, or a socket "
		  "passed by systemd"},
	{.option = "module",
	 .short_opt = 'm',
	 .key = "module",
	 .kind = SETTING_STRINGS,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(modules),
	 .count_offset = AGENT(n_modules),
	 .cap = AGENT_MAX_LIST,
	 .arg = "PATH",
	 .help = "load this PKCS#11 module (repeatable; default: p11-kit's "
		 "modules)",
	 .unset = "every module registered with p11-kit"},
	{.option = "allow-module",
	 .key = "allow-module",
	 .kind = SETTING_STRINGS,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(allow_modules),
	 .count_offset = AGENT(n_allow_modules),
	 .cap = AGENT_MAX_LIST,
	 .arg = "GLOB",
	 .help = "module paths (after realpath) that may load\n"
		 "(repeatable; default /usr/lib*/* /usr/local/lib*/*)",
	 .unset = "/usr/lib*/* and /usr/local/lib*/*"},
	{.option = "unconfined-module",
	 .key = "unconfined-module",
	 .kind = SETTING_STRINGS,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(unconfined_modules),
	 .count_offset = AGENT(n_unconfined_modules),
	 .cap = AGENT_MAX_LIST,
	 .arg = "GLOB",
	 .help = "modules (after realpath) whose helper runs without\n"
		 "the system-call filter (repeatable)",
	 .unset = "none: every helper is filtered"},
	{.option = "identity",
	 .short_opt = 'i',
	 .kind = SETTING_IDENTITY,
	 .scope = SCOPE_AGENT,
	 .arg = "URI",
	 .help = "use keys matching this pkcs11: URI (repeatable;\n"
		 "[identity \"URI\"] in the file)"},
	{.option = "purpose",
	 .short_opt = 'P',
	 .key = "purpose",
	 .kind = SETTING_PURPOSE,
	 .scope = SCOPE_IDENTITY,
	 .offset = RULE(purpose),
	 .arg = "PURPOSE",
	 .help = "for the --identity before it: any (default)\n"
		 "or tls13-client (signs only TLS 1.3 CertificateVerify)"},
	{.option = "confirm",
	 .key = "confirm",
	 .kind = SETTING_BOOL,
	 .scope = SCOPE_IDENTITY,
	 .offset = RULE(confirm),
	 .help = "for the --identity before it: ask the\n"
		 "confirm program before each signature"},
	{.option = "always-auth",
	 .key = "always-auth",
	 .kind = SETTING_ALWAYS_AUTH,
	 .scope = SCOPE_IDENTITY,
	 .offset = RULE(always_auth_prompt),
	 .arg = "HOW",
	 .help = "for the --identity before it: the PIN of an\n"
		 "always-authenticate key's signatures: cached\n"
		 "(default) or prompt (pinentry, each signature)"},
	{.option = "identity-allow-uid",
	 .key = "allow-uid",
	 .kind = SETTING_UIDS,
	 .scope = SCOPE_IDENTITY,
	 .offset = RULE(uids),
	 .count_offset = RULE(n_uids),
	 .cap = RULE_MAX_IDS,
	 .arg = "UID",
	 .help = "for the --identity before it: only this uid\n"
		 "(or user name) may sign with it (repeatable)",
	 .unset = "every client the agent accepts"},
	{.option = "identity-allow-gid",
	 .key = "allow-gid",
	 .kind = SETTING_GIDS,
	 .scope = SCOPE_IDENTITY,
	 .offset = RULE(gids),
	 .count_offset = RULE(n_gids),
	 .cap = RULE_MAX_IDS,
	 .arg = "GID",
	 .help = "for the --identity before it: clients in\n"
		 "this group (effective or supplementary; number\n"
		 "or name) may sign with it (repeatable)"},
	{.option = "pin-source",
	 .short_opt = 'p',
	 .key = "pin-source",
	 .kind = SETTING_PIN_SOURCE,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(pin_source),
	 .arg = "SRC",
	 .help = "file:PATH, env:VAR, pinentry[:PROGRAM] or\n"
		 "systemd-ask-password",
	 .unset = "ask on the terminal when there is one, else start locked"},
	{.option = "workers",
	 .short_opt = 'w',
	 .key = "workers",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(workers),
	 .min = 1,
	 .max = 64,
	 .scale = 1,
	 .arg = "N",
	 .help = "worker threads (sessions) per token",
	 .unset = "one per CPU, at most 16"},
	{.option = "request-timeout",
	 .short_opt = 't',
	 .key = "request-timeout",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(request_timeout_ms),
	 .min = 1,
	 .max = 3600,
	 .scale = 1000,
	 .arg = "SEC",
	 .help = "a SIGN not answered by then gets TIMEOUT (30)"},
	{.option = "hang-timeout",
	 .key = "hang-timeout",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(hang_timeout_ms),
	 .min = 1,
	 .max = 3600,
	 .scale = 1000,
	 .arg = "SEC",
	 .help = "a module's helper that leaves a request unanswered\n"
		 "this long is killed and restarted (30)"},
	{.option = "poll-interval",
	 .short_opt = 'T',
	 .key = "poll-interval",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(poll_interval_ms),
	 .min = 10,
	 .max = 3600000,
	 .scale = 1,
	 .arg = "MS",
	 .help = "check token presence this often (1000)"},
	{.option = "max-frame",
	 .key = "max-frame",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(limits.max_frame),
	 .min = 64,
	 .max = P11A_MAX_FRAME,
	 .scale = 1,
	 .arg = "BYTES",
	 .help = "largest request accepted (262144)"},
	{.option = "max-inflight",
	 .key = "max-inflight",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(limits.max_inflight),
	 .min = 1,
	 .max = 65536,
	 .scale = 1,
	 .arg = "N",
	 .help = "requests in flight per connection (512)"},
	{.option = "max-connections",
	 .key = "max-connections",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(limits.max_connections),
	 .min = 1,
	 .max = 65536,
	 .scale = 1,
	 .arg = "N",
	 .help = "connections in total (512)"},
	{.option = "max-per-uid",
	 .key = "max-per-uid",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(limits.max_per_uid),
	 .min = 1,
	 .max = 65536,
	 .scale = 1,
	 .arg = "N",
	 .help = "connections per client uid; at the limit a new\n"
		 "one closes the uid's longest-idle (256)"},
	{.option = "max-memory",
	 .key = "max-memory",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(limits.max_memory),
	 .min = 1,
	 .max = 4095,
	 .scale = 1024 * 1024,
	 .arg = "MIB",
	 .help = "memory for clients' requests and unread replies\n"
		 "in total; past it clients are paused (64)"},
	{.option = "idle-timeout",
	 .key = "idle-timeout",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(limits.idle_timeout_s),
	 .min = 0,
	 .max = 86400 * 7,
	 .scale = 1,
	 .arg = "SEC",
	 .help = "close idle connections (300; 0: never)"},
	{.option = "frame-timeout",
	 .key = "frame-timeout",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(limits.frame_timeout_s),
	 .min = 1,
	 .max = 3600,
	 .scale = 1,
	 .arg = "SEC",
	 .help = "deadline for a partly sent frame (10)"},
	{.option = "allow-uid",
	 .short_opt = 'u',
	 .key = "allow-uid",
	 .kind = SETTING_UIDS,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(allow_uids),
	 .count_offset = AGENT(n_allow_uids),
	 .cap = AGENT_MAX_LIST,
	 .arg = "UID",
	 .help = "also accept clients of this uid or user name\n"
		 "(repeatable)",
	 .unset = "only our own uid and root"},
	{.option = "allow-gid",
	 .key = "allow-gid",
	 .kind = SETTING_GIDS,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(allow_gids),
	 .count_offset = AGENT(n_allow_gids),
	 .cap = AGENT_MAX_LIST,
	 .arg = "GID",
	 .help = "also accept clients in this group (effective\n"
		 "or supplementary; number or name; repeatable)",
	 .unset = "no group"},
	{.option = "confirm-program",
	 .key = "confirm-program",
	 .kind = SETTING_STRING,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(confirm_program),
	 .arg = "PATH",
	 .help = "the program asked for identities with confirm",
	 .unset = "not set: identities with confirm are refused"},
	{.option = "audit",
	 .key = "audit",
	 .kind = SETTING_STRING,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(audit),
	 .arg = "DEST",
	 .help = "audit log: syslog or a file",
	 .unset = "no audit log"},
	{.option = "lock-after",
	 .key = "lock-after",
	 .kind = SETTING_UINT,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(lock_after_s),
	 .min = 0,
	 .max = 86400 * 30,
	 .scale = 1,
	 .arg = "SEC",
	 .help = "lock after SEC seconds without a signature (0: never)"},
	{.option = "max-signs",
	 .key = "max-signs",
	 .kind = SETTING_ULONG,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(max_signs),
	 .arg = "N",
	 .help = "lock after N signatures per unlock (0: no limit)"},
	{.option = "log-level",
	 .short_opt = 'l',
	 .key = "log-level",
	 .kind = SETTING_LOG_LEVEL,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(log_level),
	 .arg = "LEVEL",
	 .help = "error, warn, info (default) or debug"},
	{.option = "debug",
	 .key = "debug",
	 .kind = SETTING_BOOL,
	 .scope = SCOPE_AGENT,
	 .offset = AGENT(debug),
	 .help = "allow core dumps and ptrace"},
	{.short_opt = 'c',
	 .kind = SETTING_SET,
	 .scope = SCOPE_COMMAND_LINE,
	 .offset = AGENT(csh),
	 .min = 1,
	 .help = "print csh-style commands"},
	{.short_opt = 's',
	 .kind = SETTING_SET,
	 .scope = SCOPE_COMMAND_LINE,
	 .offset = AGENT(csh),
	 .min = 0,
	 .help = "print Bourne shell commands (default)"},
	{.short_opt = 'k',
	 .kind = SETTING_SET,
	 .scope = SCOPE_COMMAND_LINE,
	 .offset = AGENT(kill_agent),
	 .min = 1,
	 .help = "kill the agent at $P11AGENT_SOCK"},
	{.option = "help",
	 .short_opt = 'h',
	 .kind = SETTING_HELP,
	 .scope = SCOPE_COMMAND_LINE,
	 .help = "print this help"},
	{.option = "version",
	 .short_opt = 'V',
	 .kind = SETTING_VERSION,
	 .scope = SCOPE_COMMAND_LINE,
	 .help = "print the version"},
};
const size_t n_settings = sizeof(settings) / sizeof(settings[0]);

_Static_assert(sizeof(settings) / sizeof(settings[0]) <= SETTINGS_MAX,
	       "raise SETTINGS_MAX");
/* one parser for both id lists */
_Static_assert(sizeof(uid_t) == sizeof(unsigned) &&
		       sizeof(gid_t) == sizeof(unsigned),
	       "uid_t and gid_t are stored as unsigned");

const struct setting *
setting_by_key(enum setting_scope scope, const char *key)
{
	for (size_t i = 0; i < n_settings; i++)
		if (settings[i].scope == scope && settings[i].key != NULL &&
		    strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

int
setting_is_list(const struct setting *s)
{
	return s->kind == SETTING_STRINGS || s->kind == SETTING_UIDS ||
	       s->kind == SETTING_GIDS;
}

static void *
field(void *base, size_t offset)
{
	return (char *)base + offset;
}

static const void *
cfield(const void *base, size_t offset)
{
	return (const char *)base + offset;
}

/* Decimal only: strtoul alone would take "-1", " 7" and "0x10". */
static int
parse_number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *out > max)
		return -1;
	return 0;
}

static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

/* A uid or gid: a number, or a name looked up in the user database. */
static int
parse_id(const struct setting *s, const char *v, unsigned *out,
	 char err[SETTING_ERR_MAX])
{
	unsigned long n;
	struct passwd *pw;
	struct group *gr;

	if (parse_number(v, (unsigned)-2, &n) == 0) {
		*out = (unsigned)n;
		return 0;
	}
	if (s->kind == SETTING_UIDS && (pw = getpwnam(v)) != NULL) {
		*out = pw->pw_uid;
		return 0;
	}
	if (s->kind == SETTING_GIDS && (gr = getgrnam(v)) != NULL) {
		*out = gr->gr_gid;
		return 0;
	}
	snprintf(err, SETTING_ERR_MAX, "no %s '%s'",
		 s->kind == SETTING_UIDS ? "user" : "group", v);
	return -1;
}

static int
apply_list(const struct setting *s, void *base, const char *v,
	   char err[SETTING_ERR_MAX])
{
	size_t *n = field(base, s->count_offset);
	unsigned id;

	if (*n >= s->cap) {
		snprintf(err, SETTING_ERR_MAX, "at most %zu values", s->cap);
		return -1;
	}
	if (s->kind == SETTING_STRINGS) {
		((const char **)field(base, s->offset))[(*n)++] = v;
		return 0;
	}
	if (parse_id(s, v, &id, err) != 0)
		return -1;
	((unsigned *)field(base, s->offset))[(*n)++] = id;
	return 0;
}

static int
apply_uint(const struct setting *s, void *base, const char *v,
	   char err[SETTING_ERR_MAX])
{
	unsigned long n;

	if (parse_number(v, s->max, &n) != 0 || n < s->min) {
		snprintf(err, SETTING_ERR_MAX,
			 "'%s' is not a number in %lu..%lu", v, s->min, s->max);
		return -1;
	}
	*(unsigned *)field(base, s->offset) = (unsigned)(n * s->scale);
	return 0;
}

/* A setting that is one word of a few, each standing for a u32. */
struct choice {
	const char *word;
	uint32_t value;
};

static const struct choice purposes[] = {
	{"any", 0},
	{"tls13-client", P11A_IDENTITY_TLS13_CLIENT_ONLY},
};
static const struct choice always_auths[] = {{"cached", 0}, {"prompt", 1}};

#define CHOICES(a) (a), sizeof(a) / sizeof((a)[0])

static int
apply_choice(const struct setting *s, void *base, const char *v,
	     char err[SETTING_ERR_MAX], const struct choice *c, size_t n)
{
	size_t used;

	for (size_t i = 0; i < n; i++)
		if (strcmp(v, c[i].word) == 0) {
			*(uint32_t *)field(base, s->offset) = c[i].value;
			return 0;
		}
	used = (size_t)snprintf(err, SETTING_ERR_MAX, "unknown %s '%s' (",
				s->key, v);
	for (size_t i = 0; i < n && used < SETTING_ERR_MAX; i++)
		used += (size_t)snprintf(err + used, SETTING_ERR_MAX - used,
					 "%s%s", c[i].word,
					 i + 1 < n ? ", " : ")");
	return -1;
}

static void
print_choice(FILE *f, const struct setting *s, uint32_t v,
	     const struct choice *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].value == v) {
			fprintf(f, "%s = %s\n", s->key, c[i].word);
			return;
		}
}

static int
apply_scalar(const struct setting *s, void *base, const char *v, int from_file,
	     char err[SETTING_ERR_MAX])
{
	unsigned long n;
	int b;

	switch (s->kind) {
	case SETTING_ULONG:
		if (parse_number(v, ~0ul, &n) != 0) {
			snprintf(err, SETTING_ERR_MAX, "'%s' is not a number",
				 v);
			return -1;
		}
		*(unsigned long *)field(base, s->offset) = n;
		return 0;
	case SETTING_BOOL:
		if (!from_file)
			b = 1;
		else if (parse_bool(v, &b) != 0) {
			snprintf(err, SETTING_ERR_MAX, "'%s' is not yes or no",
				 v);
			return -1;
		}
		*(int *)field(base, s->offset) = b;
		return 0;
	case SETTING_LOG_LEVEL:
		if ((b = log_level_parse(v)) < 0) {
			snprintf(err, SETTING_ERR_MAX,
				 "unknown log level '%s' (error, warn, info, "
				 "debug)",
				 v);
			return -1;
		}
		*(int *)field(base, s->offset) = b;
		return 0;
	case SETTING_SET:
		*(int *)field(base, s->offset) = (int)s->min;
		return 0;
	default:
		snprintf(err, SETTING_ERR_MAX, "cannot be set here");
		return -1;
	}
}

int
setting_apply(const struct setting *s, void *base, const char *value,
	      int from_file, char err[SETTING_ERR_MAX])
{
	int needs_value = s->arg != NULL || from_file;

	err[0] = '\0';
	if (needs_value && (value == NULL || value[0] == '\0')) {
		snprintf(err, SETTING_ERR_MAX, "needs a value");
		return -1;
	}
	switch (s->kind) {
	case SETTING_STRINGS:
	case SETTING_UIDS:
	case SETTING_GIDS:
		return apply_list(s, base, value, err);
	case SETTING_UINT:
		return apply_uint(s, base, value, err);
	case SETTING_PURPOSE:
		return apply_choice(s, base, value, err, CHOICES(purposes));
	case SETTING_ALWAYS_AUTH:
		return apply_choice(s, base, value, err, CHOICES(always_auths));
	case SETTING_PIN_SOURCE:
		if (pin_source_check(value) != 0) {
			snprintf(err, SETTING_ERR_MAX,
				 "unknown PIN source '%s' (file:PATH, env:VAR, "
				 "pinentry[:PROGRAM], systemd-ask-password)",
				 value);
			return -1;
		}
		/* fall through */
	case SETTING_STRING:
		*(const char **)field(base, s->offset) = value;
		return 0;
	default:
		return apply_scalar(s, base, value, from_file, err);
	}
}

void
setting_clear(const struct setting *s, void *base)
{
	if (setting_is_list(s))
		*(size_t *)field(base, s->count_offset) = 0;
}

/*
 * What the file parser would give back unchanged: inih strips blanks
 * around a value and ends it at a ';' after a blank.
 */
static int
value_writable(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || isspace((unsigned char)v[0]) ||
	    isspace((unsigned char)v[n - 1]) || strpbrk(v, "\r\n") != NULL)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (v[i] == ';' && isspace((unsigned char)v[i - 1]))
			return 0;
	return 1;
}

static void
print_value(FILE *f, const char *key, const char *v)
{
	if (value_writable(v))
		fprintf(f, "%s = %s\n", key, v);
	else
		fprintf(f, "# %s: a value that this file format cannot hold\n",
			key);
}

static void
print_list(FILE *f, const struct setting *s, const void *base)
{
	size_t n = *(const size_t *)cfield(base, s->count_offset);

	for (size_t i = 0; i < n; i++) {
		if (s->kind == SETTING_STRINGS)
			print_value(f, s->key,
				    ((const char *const *)cfield(
					    base, s->offset))[i]);
		else
			fprintf(f, "%s = %u\n", s->key,
				((const unsigned *)cfield(base, s->offset))[i]);
	}
	if (n == 0 && s->unset != NULL)
		fprintf(f, "# %s: %s\n", s->key, s->unset);
}

void
setting_print(FILE *f, const struct setting *s, const void *base)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	const void *p = cfield(base, s->offset);
	unsigned u;
	int i;

	switch (s->kind) {
	case SETTING_STRINGS:
	case SETTING_UIDS:
	case SETTING_GIDS:
		print_list(f, s, base);
		return;
	case SETTING_STRING:
	case SETTING_PIN_SOURCE:
		if (*(const char *const *)p != NULL)
			print_value(f, s->key, *(const char *const *)p);
		else if (s->unset != NULL)
			fprintf(f, "# %s: %s\n", s->key, s->unset);
		return;
	case SETTING_UINT:
		u = *(const unsigned *)p / (unsigned)s->scale;
		/* 0 below the minimum means "not set": a default applies */
		if (u < s->min && s->unset != NULL)
			fprintf(f, "# %s: %s\n", s->key, s->unset);
		else
			fprintf(f, "%s = %u\n", s->key, u);
		return;
	case SETTING_ULONG:
		fprintf(f, "%s = %lu\n", s->key, *(const unsigned long *)p);
		return;
	case SETTING_BOOL:
		fprintf(f, "%s = %s\n", s->key, *(const int *)p ? "yes" : "no");
		return;
	case SETTING_LOG_LEVEL:
		i = *(const int *)p;
		if (i >= 0 && i < 4)
			fprintf(f, "%s = %s\n", s->key, levels[i]);
		return;
	case SETTING_PURPOSE:
		print_choice(f, s, *(const uint32_t *)p, CHOICES(purposes));
		return;
	case SETTING_ALWAYS_AUTH:
		print_choice(f, s, *(const uint32_t *)p, CHOICES(always_auths));
		return;
	default:
		return;
	}
}

struct identity_rule *
settings_add_identity(struct agent_options *opt, const char *uri,
		      char err[SETTING_ERR_MAX])
{
	struct identity_rule *rule;
	P11KitUri *parsed;
	int r;

	if (strncmp(uri, "pkcs11:", 7) != 0) {
		snprintf(err, SETTING_ERR_MAX,
			 "an identity needs a pkcs11: URI, not '%s'", uri);
		return NULL;
	}
	/* the same parser the registry uses, so errors show up here first */
	if ((parsed = p11_kit_uri_new()) == NULL) {
		snprintf(err, SETTING_ERR_MAX, "out of memory");
		return NULL;
	}
	r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, parsed);
	p11_kit_uri_free(parsed);
	if (r != P11_KIT_URI_OK) {
		snprintf(err, SETTING_ERR_MAX, "bad pkcs11: URI: %s",
			 p11_kit_uri_message(r));
		return NULL;
	}
	if (opt->n_identities >= AGENT_MAX_LIST) {
		snprintf(err, SETTING_ERR_MAX, "too many identities (max %d)",
			 AGENT_MAX_LIST);
		return NULL;
	}
	rule = &opt->identities[opt->n_identities++];
	memset(rule, 0, sizeof(*rule));
	rule->uri = uri;
	return rule;
}
