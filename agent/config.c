#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "settings.h"

/*
 * Longest line we accept.  Debian's libinih lets the line buffer be set
 * at run time (ini_max_line); elsewhere it is the compile-time
 * INI_MAX_LINE (200), and the reader reports longer lines either way.
 */
#define CONFIG_MAX_LINE 1024

struct config_parse {
	struct agent_options *opt;
	const char *path;
	FILE *f;
	int line; /* lines read so far: the one being parsed */
	int err_line;
	char err[SETTING_ERR_MAX + 128];
	enum setting_scope scope;	 /* SCOPE_AGENT or SCOPE_IDENTITY */
	int agent_seen[SETTINGS_MAX];	 /* line a setting was set on */
	int identity_seen[SETTINGS_MAX]; /* the same, this [identity] */
	int identity_line[AGENT_MAX_LIST];
};

static void config_error(struct config_parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keep the first error (and its line): reading stops there. */
static void
config_error(struct config_parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err_line != 0)
		return;
	p->err_line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

/*
 * The first of chars in s, or where an inline comment starts (';' after
 * a blank), or the end: the rule inih applies to the same line.
 */
static char *
config_find(char *s, const char *chars)
{
	int blank = 0;

	for (; *s != '\0'; s++) {
		if (strchr(chars, *s) != NULL || (blank && *s == ';'))
			return s;
		blank = isspace((unsigned char)*s);
	}
	return s;
}

static int
config_identity_section(struct config_parse *p, const char *name)
{
	struct agent_options *opt = p->opt;
	char err[SETTING_ERR_MAX], copy[CONFIG_MAX_LINE];
	size_t n = strlen(name);
	const char *uri;

	if (n < 2 || name[0] != '"' || name[n - 1] != '"') {
		config_error(p, "an identity section is [identity \"URI\"]");
		return -1;
	}
	if (n - 2 >= sizeof(copy)) {
		config_error(p, "identity URI too long");
		return -1;
	}
	memcpy(copy, name + 1, n - 2);
	copy[n - 2] = '\0';
	if ((uri = options_strdup(opt, copy)) == NULL) {
		config_error(p, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < opt->n_identities; i++)
		if (strcmp(opt->identities[i].uri, uri) == 0) {
			config_error(p,
				     "identity %s already has a section on "
				     "line %d",
				     uri, p->identity_line[i]);
			return -1;
		}
	if (settings_add_identity(opt, uri, err) == NULL) {
		config_error(p, "%s", err);
		return -1;
	}
	p->identity_line[opt->n_identities - 1] = p->line;
	p->scope = SCOPE_IDENTITY;
	memset(p->identity_seen, 0, sizeof(p->identity_seen));
	return 0;
}

/*
 * A "[name]" line.  inih passes at most 49 bytes of a section name to the
 * handler, too few for a URI, so sections are tracked here, on the raw
 * line, and the handler only uses p->scope.
 */
static int
config_section(struct config_parse *p, char *line)
{
	char *end = config_find(line + 1, "]"), *rest;

	if (*end != ']') {
		config_error(p, "'[' without a closing ']'");
		return -1;
	}
	for (rest = end + 1; isspace((unsigned char)*rest); rest++)
		;
	while (end > line + 1 && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		config_error(p, "text after the section header: '%s'", rest);
		return -1;
	}
	if (strcmp(line + 1, "agent") == 0) {
		p->scope = SCOPE_AGENT;
		return 0;
	}
	if (strncmp(line + 1, "identity", 8) == 0 &&
	    isspace((unsigned char)line[9]))
		return config_identity_section(
			p, line + 10 + strspn(line + 10, " \t"));
	config_error(p,
		     "unknown section [%s] (use [agent] or "
		     "[identity \"pkcs11:...\"])",
		     line + 1);
	return -1;
}

/* What a line that inih will parse must look like; sections handled. */
static int
config_check_line(struct config_parse *p, char *line)
{
	char copy[CONFIG_MAX_LINE + 1];

	if (strchr("\r\n;#", line[0]) != NULL) /* also the final NUL */
		return 0;
	if (line[0] == '[') {
		/* on a copy: inih parses the line itself afterwards */
		snprintf(copy, sizeof(copy), "%s", line);
		copy[strcspn(copy, "\r\n")] = '\0';
		return config_section(p, copy);
	}
	if (*config_find(line, "=:") == '\0') {
		config_error(p, "expected 'key = value'");
		return -1;
	}
	return 0;
}

/*
 * inih's line reader.  Counting lines here gives the handler its line
 * number; removing leading blanks keeps inih from taking an indented
 * line as the continuation of the previous value.  NULL stops inih.
 */
static char *
config_reader(char *buf, int size, void *stream)
{
	struct config_parse *p = stream;
	char *s = buf;
	size_t n;

	if (p->err_line != 0 || fgets(buf, size, p->f) == NULL)
		return NULL;
	p->line++;
	n = strlen(buf);
	if (n + 1 == (size_t)size && buf[n - 1] != '\n' && getc(p->f) != EOF) {
		config_error(p, "line longer than %d characters", size - 3);
		return NULL;
	}
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (isspace((unsigned char)*s) && *s != '\n')
		s++;
	memmove(buf, s, strlen(s) + 1);
	return config_check_line(p, buf) == 0 ? buf : NULL;
}

/* A key in the wrong section gets told where it belongs. */
static void
config_unknown_key(struct config_parse *p, const char *name)
{
	int in_agent = p->scope == SCOPE_AGENT;
	const char *where = in_agent ? "[agent]" : "an [identity] section";

	if (setting_by_key(in_agent ? SCOPE_IDENTITY : SCOPE_AGENT, name))
		config_error(p, "'%s' does not belong in %s (it goes in %s)",
			     name, where,
			     in_agent ? "an [identity \"URI\"] section"
				      : "[agent]");
	else if (in_agent && strcmp(name, "identity") == 0)
		config_error(p, "identities are sections: [identity \"URI\"]");
	else
		config_error(p, "unknown key '%s' in %s", name, where);
}

static int
config_handler(void *user, const char *section, const char *name,
	       const char *value)
{
	struct config_parse *p = user;
	struct agent_options *opt = p->opt;
	char err[SETTING_ERR_MAX];
	const struct setting *s = setting_by_key(p->scope, name);
	int *seen = p->scope == SCOPE_AGENT ? p->agent_seen : p->identity_seen;
	void *base = opt;
	const char *v;
	size_t idx;

	(void)section; /* truncated by inih: see config_section() */
	if (s == NULL) {
		config_unknown_key(p, name);
		return 0;
	}
	idx = (size_t)(s - settings);
	if (!setting_is_list(s) && seen[idx] != 0) {
		config_error(p, "'%s' is already set on line %d", name,
			     seen[idx]);
		return 0;
	}
	if ((v = options_strdup(opt, value)) == NULL) {
		config_error(p, "out of memory");
		return 0;
	}
	if (p->scope == SCOPE_IDENTITY)
		base = &opt->identities[opt->n_identities - 1];
	if (setting_apply(s, base, v, 1, err) != 0) {
		config_error(p, "%s: %s", name, err);
		return 0;
	}
	seen[idx] = p->line;
	return 1;
}

static int
config_parse_file(struct agent_options *opt, const char *path, FILE *f)
{
	struct config_parse p = {
		.opt = opt, .path = path, .f = f, .scope = SCOPE_AGENT};
	int r;

#ifdef P11A_INIH_RUNTIME_MAX_LINE
	ini_max_line = CONFIG_MAX_LINE;
#endif
	r = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (p.err_line != 0) {
		fprintf(stderr, "p11agentd: %s:%d: %s\n", path, p.err_line,
			p.err);
		return -1;
	}
	if (ferror(f)) {
		fprintf(stderr, "p11agentd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (r != 0) {
		/* inih found what the reader let through; should not happen */
		fprintf(stderr, "p11agentd: %s:%d: syntax error\n", path, r);
		return -1;
	}
	return 0;
}

/* $XDG_CONFIG_HOME/p11agent/agent.conf, or under ~/.config. */
static int
config_user_path(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;

	/* the XDG spec: a relative XDG_CONFIG_HOME is ignored */
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, size, "%s/p11agent/agent.conf", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, size, "%s/.config/p11agent/agent.conf", home);
	else
		return -1;
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/*
 * Open path.  In the default search a file we cannot even see (missing,
 * or in a directory we may not enter, as ~root for a service account
 * that kept HOME) is no error; one we see but cannot read is.
 */
static FILE *
config_open(const char *path, int required, int *failed)
{
	struct stat st;
	FILE *f;

	*failed = 0;
	if (!required && stat(path, &st) != 0)
		return NULL;
	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "p11agentd: cannot read %s: %s\n", path,
			strerror(errno));
		*failed = 1;
	}
	return f;
}

int
config_load(struct agent_options *opt)
{
	char user[PATH_MAX];
	const char *path = opt->config_path;
	FILE *f = NULL;
	int failed = 0, r;

	if (path != NULL) {
		f = config_open(path, 1, &failed);
	} else {
		if (config_user_path(user, sizeof(user)) == 0 &&
		    (f = config_open(user, 0, &failed)) != NULL)
			path = options_strdup(opt, user);
		if (f == NULL && !failed &&
		    (f = config_open(CONFIG_SYSTEM_FILE, 0, &failed)) != NULL)
			path = CONFIG_SYSTEM_FILE;
	}
	if (failed || (f != NULL && path == NULL)) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (f == NULL)
		return 0;
	opt->config_file = path;
	r = config_parse_file(opt, path, f);
	fclose(f);
	return r;
}

/* The URI with any pin-value replaced: --check-config shows no PIN. */
static void
config_print_uri(FILE *f, const char *uri)
{
	const char *pv = strstr(uri, "pin-value=");
	const char *q = strchr(uri, '?');

	if (pv == NULL || q == NULL || pv < q) {
		fprintf(f, "[identity \"%s\"]\n", uri);
		return;
	}
	pv += strlen("pin-value=");
	fprintf(f, "[identity \"%.*s***%s\"]\n", (int)(pv - uri), uri,
		pv + strcspn(pv, "&"));
}

void
config_print(FILE *f, const struct agent_options *opt)
{
	if (opt->config_file != NULL)
		fprintf(f, "# p11agentd: %s with the command line over it\n",
			opt->config_file);
	else
		fprintf(f, "# p11agentd: no configuration file; defaults "
			   "and the command line\n");
	fprintf(f, "[agent]\n");
	for (size_t i = 0; i < n_settings; i++)
		if (settings[i].scope == SCOPE_AGENT && settings[i].key != NULL)
			setting_print(f, &settings[i], opt);
	if (opt->n_identities == 0)
		fprintf(f, "\n# no [identity] section: every key of every "
			   "token is served\n");
	for (size_t r = 0; r < opt->n_identities; r++) {
		fprintf(f, "\n");
		config_print_uri(f, opt->identities[r].uri);
		for (size_t i = 0; i < n_settings; i++)
			if (settings[i].scope == SCOPE_IDENTITY)
				setting_print(f, &settings[i],
					      &opt->identities[r]);
	}
}
