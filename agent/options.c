#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "p11agent/protocol.h"
#include "settings.h"

/* Strings copied from the configuration file, freed by options_free(). */
struct options_owned {
	struct options_owned *next;
	char s[];
};

const char *
options_strdup(struct agent_options *opt, const char *s)
{
	size_t n = strlen(s) + 1;
	struct options_owned *o = malloc(sizeof(*o) + n);

	if (o == NULL)
		return NULL;
	memcpy(o->s, s, n);
	o->next = opt->owned;
	opt->owned = o;
	return o->s;
}

void
options_free(struct agent_options *opt)
{
	struct options_owned *o, *next;

	for (o = opt->owned; o != NULL; o = next) {
		next = o->next;
		free(o);
	}
	opt->owned = NULL;
}

struct identity_rule *
options_add_identity(struct agent_options *opt, const char *uri)
{
	char err[SETTING_ERR_MAX];
	struct identity_rule *rule = settings_add_identity(opt, uri, err);

	if (rule == NULL)
		fprintf(stderr, "p11agentd: %s\n", err);
	return rule;
}

static void
options_usage(FILE *f)
{
	fputs("usage: p11agentd [options]\n", f);
	for (size_t i = 0; i < n_settings; i++) {
		const struct setting *s = &settings[i];
		char head[64];
		const char *h = s->help, *nl;
		int n;

		n = snprintf(head, sizeof(head), "  %c%c%s%s%s%s%s",
			     s->short_opt ? '-' : ' ',
			     s->short_opt ? s->short_opt : ' ',
			     s->short_opt && s->option ? ", " : "  ",
			     s->option ? "--" : "", s->option ? s->option : "",
			     s->arg ? " " : "", s->arg ? s->arg : "");
		if (n < 28)
			fprintf(f, "%s%*s", head, 28 - n, "");
		else
			fprintf(f, "%s\n%28s", head, "");
		while ((nl = strchr(h, '\n')) != NULL) {
			fprintf(f, "%.*s\n%28s", (int)(nl - h), h, "");
			h = nl + 1;
		}
		fprintf(f, "%s\n", h);
	}
	fputs("Most settings can also be given in the configuration file\n"
	      "(p11agent.conf(5); --check-config prints them in its format);\n"
	      "the command line overrides the file.\n",
	      f);
}

/* getopt's tables from the settings: val is the short option or 256+i. */
static void
options_tables(struct option *longopts, char *shortopts)
{
	size_t n = 0;

	for (size_t i = 0; i < n_settings; i++) {
		const struct setting *s = &settings[i];

		if (s->short_opt) {
			*shortopts++ = (char)s->short_opt;
			if (s->arg != NULL)
				*shortopts++ = ':';
		}
		if (s->option == NULL)
			continue;
		longopts[n++] = (struct option){
			s->option, s->arg ? required_argument : no_argument,
			NULL, s->short_opt ? s->short_opt : 256 + (int)i};
	}
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	*shortopts = '\0';
}

static const struct setting *
options_setting(int c)
{
	if (c >= 256 && (size_t)(c - 256) < n_settings)
		return &settings[c - 256];
	for (size_t i = 0; i < n_settings; i++)
		if (settings[i].short_opt == c)
			return &settings[i];
	return NULL;
}

static void
options_defaults(struct agent_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->log_level = LOG_LEVEL_INFO;
	opt->request_timeout_ms = 30000;
	opt->hang_timeout_ms = 30000;
	opt->poll_interval_ms = 1000;
	opt->limits = (struct agent_limits){
		.max_frame = P11A_MAX_FRAME,
		.max_inflight = 512,
		.max_connections = 512,
		.max_per_uid = 256,
		.max_memory = 64u * 1024u * 1024u,
		.idle_timeout_s = 300,
		.frame_timeout_s = 10,
	};
}

struct cli_state {
	struct option longopts[SETTINGS_MAX + 1];
	char shortopts[SETTINGS_MAX * 2 + 2];
	int seen[SETTINGS_MAX]; /* given on the command line already */
	int identity_given;	/* an --identity was on the command line */
};

/*
 * First pass: only what decides how to read the rest (--config,
 * --no-config, --check-config, -k) and --help/--version, which must work
 * whatever the configuration file holds.  Errors wait for the second pass.
 */
static enum options_result
options_prescan(int argc, char **argv, struct cli_state *st,
		struct agent_options *opt)
{
	const struct setting *s;
	char err[SETTING_ERR_MAX];
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, st->shortopts, st->longopts,
				NULL)) != -1) {
		if ((s = options_setting(c)) == NULL)
			continue;
		if (s->kind == SETTING_HELP) {
			options_usage(stdout);
			return OPTIONS_DONE;
		}
		if (s->kind == SETTING_VERSION) {
			printf("p11agentd %s\n", P11A_VERSION);
			return OPTIONS_DONE;
		}
		if (s->scope == SCOPE_COMMAND_LINE)
			setting_apply(s, opt, optarg, 0, err);
	}
	if (opt->config_path != NULL && opt->no_config) {
		fprintf(stderr, "p11agentd: --config and --no-config exclude "
				"each other\n");
		return OPTIONS_USAGE;
	}
	return OPTIONS_OK;
}

/* The base a setting is stored in: the options, or the last identity. */
static void *
options_base(const struct setting *s, struct agent_options *opt,
	     const struct cli_state *st)
{
	if (s->scope != SCOPE_IDENTITY)
		return opt;
	if (!st->identity_given || opt->n_identities == 0)
		return NULL;
	return &opt->identities[opt->n_identities - 1];
}

static int
options_apply(const struct setting *s, const char *arg,
	      struct agent_options *opt, struct cli_state *st)
{
	char err[SETTING_ERR_MAX];
	size_t idx = (size_t)(s - settings);
	void *base;

	if (s->kind == SETTING_IDENTITY) {
		/* the command line's identities replace the file's */
		if (!st->identity_given)
			opt->n_identities = 0;
		st->identity_given = 1;
		return options_add_identity(opt, arg) == NULL ? -1 : 0;
	}
	if ((base = options_base(s, opt, st)) == NULL) {
		fprintf(stderr,
			"p11agentd: --%s must follow the --identity it "
			"applies to\n",
			s->option);
		return -1;
	}
	if (s->scope == SCOPE_AGENT && setting_is_list(s) && !st->seen[idx])
		setting_clear(s, base);
	st->seen[idx] = 1;
	if (setting_apply(s, base, arg, 0, err) != 0) {
		if (s->option != NULL)
			fprintf(stderr, "p11agentd: --%s: %s\n", s->option,
				err);
		else
			fprintf(stderr, "p11agentd: -%c: %s\n", s->short_opt,
				err);
		return -1;
	}
	return 0;
}

/*
 * A pin-value on the command line is in /proc/PID/cmdline, which every
 * user may read.  The agent keeps a copy of the URI, and the value in
 * argv is overwritten with stars: `ps` shows no PIN from then on, but
 * it could be read until now, so main() warns.  NULL: out of memory.
 */
static char *
options_hide_pin_value(struct agent_options *opt, char *arg)
{
	static const char attr[] = "pin-value=";
	char *copy = NULL, *v;

	for (v = strstr(arg, attr); v != NULL; v = strstr(v, attr)) {
		if (v == arg || (v[-1] != '?' && v[-1] != '&')) {
			v++;
			continue;
		}
		if (copy == NULL &&
		    (copy = (char *)options_strdup(opt, arg)) == NULL)
			return NULL;
		opt->pin_value_in_argv = 1;
		for (v += sizeof(attr) - 1; *v != '\0' && *v != '&'; v++)
			*v = '*';
	}
	return copy != NULL ? copy : arg;
}

static enum options_result
options_scan(int argc, char **argv, struct cli_state *st,
	     struct agent_options *opt)
{
	const struct setting *s;
	const char *arg;
	int c;

	opterr = 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, st->shortopts, st->longopts,
				NULL)) != -1) {
		if ((s = options_setting(c)) == NULL) {
			options_usage(stderr);
			return OPTIONS_USAGE;
		}
		arg = optarg;
		if (s->kind == SETTING_IDENTITY &&
		    (arg = options_hide_pin_value(opt, optarg)) == NULL) {
			fprintf(stderr, "p11agentd: out of memory\n");
			return OPTIONS_USAGE;
		}
		if (options_apply(s, arg, opt, st) != 0)
			return OPTIONS_USAGE;
	}
	if (optind != argc) {
		fprintf(stderr, "p11agentd: unexpected argument '%s'\n",
			argv[optind]);
		return OPTIONS_USAGE;
	}
	return OPTIONS_OK;
}

enum options_result
options_parse(int argc, char **argv, struct agent_options *opt)
{
	struct cli_state st = {0};
	enum options_result r;

	options_defaults(opt);
	options_tables(st.longopts, st.shortopts);
	if ((r = options_prescan(argc, argv, &st, opt)) != OPTIONS_OK)
		return r;
	/* -k needs only $P11AGENT_SOCK: a broken file must not stop it */
	if (!opt->kill_agent && !opt->no_config && config_load(opt) != 0)
		return OPTIONS_CONFIG;
	return options_scan(argc, argv, &st, opt);
}
