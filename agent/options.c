#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "p11agent/protocol.h"

static void
options_usage(FILE *f)
{
	fputs("usage: p11agentd [options]\n"
	      "  -f, --foreground          stay attached, log to stderr\n"
	      "  -a, --socket PATH         listen here (default "
	      "$XDG_RUNTIME_DIR/p11agent/agent.sock)\n"
	      "  -m, --module PATH         load this PKCS#11 module "
	      "(repeatable; default: p11-kit's modules)\n"
	      "  -i, --identity URI        use keys matching this pkcs11: URI "
	      "(repeatable)\n"
	      "  -P, --purpose PURPOSE     for the --identity before it: any "
	      "(default)\n"
	      "                            or tls13-client (signs only TLS 1.3 "
	      "CertificateVerify)\n"
	      "  -p, --pin-source SRC      file:PATH or env:VAR\n"
	      "  -w, --workers N           worker threads (sessions) per "
	      "token\n"
	      "  -t, --request-timeout SEC a SIGN not answered by then gets "
	      "TIMEOUT (30)\n"
	      "  -T, --poll-interval MS    check token presence this often "
	      "(1000)\n"
	      "      --max-frame BYTES     largest request accepted (262144)\n"
	      "      --max-inflight N      requests in flight per connection "
	      "(512)\n"
	      "      --max-connections N   connections in total (512)\n"
	      "      --max-per-uid N       connections per client uid (256)\n"
	      "      --idle-timeout SEC    close idle connections (0: never)\n"
	      "      --frame-timeout SEC   deadline for a partly sent frame "
	      "(10)\n"
	      "      --allow-module GLOB   module paths (after realpath) that "
	      "may load\n"
	      "                            (repeatable; default /usr/lib*/* "
	      "/usr/local/lib*/*)\n"
	      "      --audit DEST          audit log: syslog or a file\n"
	      "      --lock-after SEC      lock after SEC seconds without a "
	      "signature\n"
	      "      --max-signs N         lock after N signatures per "
	      "unlock\n"
	      "      --debug               allow core dumps and ptrace\n"
	      "      --confirm             for the --identity before it: ask "
	      "the\n"
	      "                            confirm program before each "
	      "signature\n"
	      "      --confirm-program P   the program asked (default "
	      "p11agent-askpass)\n"
	      "      --allow-gid GID       also accept clients of this primary "
	      "group\n"
	      "  -u, --allow-uid UID       also accept clients of this uid "
	      "(repeatable)\n"
	      "  -l, --log-level LEVEL     error, warn, info or debug\n"
	      "  -c                        print csh-style commands\n"
	      "  -s                        print Bourne shell commands "
	      "(default)\n"
	      "  -k                        kill the agent at $P11AGENT_SOCK\n"
	      "  -h, --help, -V, --version\n",
	      f);
}

static int
options_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *out > max)
		return -1;
	return 0;
}

static int
options_append(const char **list, size_t *n, const char *v, const char *what)
{
	if (*n >= AGENT_MAX_LIST) {
		fprintf(stderr, "p11agentd: too many %s options (max %d)\n",
			what, AGENT_MAX_LIST);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

struct identity_rule *
options_add_identity(struct agent_options *opt, const char *uri)
{
	struct identity_rule *rule;

	if (strncmp(uri, "pkcs11:", 7) != 0) {
		fprintf(stderr,
			"p11agentd: an identity needs a pkcs11: URI, "
			"not '%s'\n",
			uri);
		return NULL;
	}
	if (opt->n_identities >= AGENT_MAX_LIST) {
		fprintf(stderr, "p11agentd: too many identities (max %d)\n",
			AGENT_MAX_LIST);
		return NULL;
	}
	rule = &opt->identities[opt->n_identities++];
	memset(rule, 0, sizeof(*rule));
	rule->uri = uri;
	return rule;
}

/* --purpose qualifies the --identity given just before it */
static int
options_purpose(const char *arg, struct agent_options *opt)
{
	uint32_t flags;

	if (strcmp(arg, "any") == 0) {
		flags = 0;
	} else if (strcmp(arg, "tls13-client") == 0) {
		flags = P11A_IDENTITY_TLS13_CLIENT_ONLY;
	} else {
		fprintf(stderr,
			"p11agentd: unknown purpose '%s' (any, "
			"tls13-client)\n",
			arg);
		return -1;
	}
	if (opt->n_identities == 0) {
		fprintf(stderr, "p11agentd: --purpose must follow the "
				"--identity it applies to\n");
		return -1;
	}
	opt->identities[opt->n_identities - 1].purpose = flags;
	return 0;
}

enum {
	OPT_MAX_FRAME = 256,
	OPT_MAX_INFLIGHT,
	OPT_MAX_CONNECTIONS,
	OPT_MAX_PER_UID,
	OPT_IDLE_TIMEOUT,
	OPT_FRAME_TIMEOUT,
	OPT_ALLOW_MODULE,
	OPT_AUDIT,
	OPT_DEBUG,
	OPT_LOCK_AFTER,
	OPT_MAX_SIGNS,
	OPT_CONFIRM,
	OPT_CONFIRM_PROGRAM,
	OPT_ALLOW_GID
};

static const struct {
	int opt;
	const char *name;
	size_t offset;
	unsigned long min, max;
} limit_options[] = {
	{OPT_MAX_FRAME, "--max-frame", offsetof(struct agent_limits, max_frame),
	 64, P11A_MAX_FRAME},
	{OPT_MAX_INFLIGHT, "--max-inflight",
	 offsetof(struct agent_limits, max_inflight), 1, 65536},
	{OPT_MAX_CONNECTIONS, "--max-connections",
	 offsetof(struct agent_limits, max_connections), 1, 65536},
	{OPT_MAX_PER_UID, "--max-per-uid",
	 offsetof(struct agent_limits, max_per_uid), 1, 65536},
	{OPT_IDLE_TIMEOUT, "--idle-timeout",
	 offsetof(struct agent_limits, idle_timeout_s), 0, 86400 * 7},
	{OPT_FRAME_TIMEOUT, "--frame-timeout",
	 offsetof(struct agent_limits, frame_timeout_s), 1, 3600},
};

static int
options_limit(int c, const char *arg, struct agent_limits *limits)
{
	unsigned long v;

	for (size_t i = 0; i < sizeof(limit_options) / sizeof(limit_options[0]);
	     i++) {
		if (limit_options[i].opt != c)
			continue;
		if (options_parse_uint(arg, limit_options[i].max, &v) != 0 ||
		    v < limit_options[i].min) {
			fprintf(stderr, "p11agentd: %s wants %lu..%lu\n",
				limit_options[i].name, limit_options[i].min,
				limit_options[i].max);
			return -1;
		}
		*(unsigned *)((char *)limits + limit_options[i].offset) =
			(unsigned)v;
		return 0;
	}
	return 1;
}

static int
options_apply(int c, const char *arg, struct agent_options *opt)
{
	unsigned long v;
	int r;

	if ((r = options_limit(c, arg, &opt->limits)) <= 0)
		return r;
	switch (c) {
	case 'f':
		opt->foreground = 1;
		return 0;
	case 'a':
		opt->socket_path = arg;
		return 0;
	case 'm':
		return options_append(opt->modules, &opt->n_modules, arg,
				      "--module");
	case 'i':
		return options_add_identity(opt, arg) == NULL ? -1 : 0;
	case OPT_CONFIRM:
		if (opt->n_identities == 0) {
			fprintf(stderr, "p11agentd: --confirm must follow the "
					"--identity it applies to\n");
			return -1;
		}
		opt->identities[opt->n_identities - 1].confirm = 1;
		return 0;
	case OPT_CONFIRM_PROGRAM:
		opt->confirm_program = arg;
		return 0;
	case OPT_ALLOW_GID:
		if (opt->n_allow_gids >= AGENT_MAX_LIST ||
		    options_parse_uint(arg, (gid_t)-2, &v) != 0) {
			fprintf(stderr, "p11agentd: bad --allow-gid '%s'\n",
				arg);
			return -1;
		}
		opt->allow_gids[opt->n_allow_gids++] = (gid_t)v;
		return 0;
	case 'P':
		return options_purpose(arg, opt);
	case 'p':
		opt->pin_source = arg;
		return 0;
	case 'w':
		if (options_parse_uint(arg, 64, &v) != 0 || v == 0) {
			fprintf(stderr, "p11agentd: --workers wants 1..64\n");
			return -1;
		}
		opt->workers = (unsigned)v;
		return 0;
	case 't':
		if (options_parse_uint(arg, 3600, &v) != 0 || v == 0) {
			fprintf(stderr, "p11agentd: --request-timeout wants "
					"1..3600 seconds\n");
			return -1;
		}
		opt->request_timeout_ms = (unsigned)v * 1000u;
		return 0;
	case 'T':
		if (options_parse_uint(arg, 3600000, &v) != 0 || v < 10) {
			fprintf(stderr, "p11agentd: --poll-interval wants "
					"10..3600000 ms\n");
			return -1;
		}
		opt->poll_interval_ms = (unsigned)v;
		return 0;
	case 'u':
		if (opt->n_allow_uids >= AGENT_MAX_LIST ||
		    options_parse_uint(arg, (uid_t)-2, &v) != 0) {
			fprintf(stderr, "p11agentd: bad --allow-uid '%s'\n",
				arg);
			return -1;
		}
		opt->allow_uids[opt->n_allow_uids++] = (uid_t)v;
		return 0;
	case 'l':
		if ((opt->log_level = log_level_parse(arg)) < 0) {
			fprintf(stderr, "p11agentd: unknown log level '%s'\n",
				arg);
			return -1;
		}
		return 0;
	case OPT_ALLOW_MODULE:
		return options_append(opt->allow_modules, &opt->n_allow_modules,
				      arg, "--allow-module");
	case OPT_AUDIT:
		opt->audit = arg;
		return 0;
	case OPT_DEBUG:
		opt->debug = 1;
		return 0;
	case OPT_LOCK_AFTER:
		if (options_parse_uint(arg, 86400 * 30, &v) != 0) {
			fprintf(stderr, "p11agentd: bad --lock-after '%s'\n",
				arg);
			return -1;
		}
		opt->lock_after_s = (unsigned)v;
		return 0;
	case OPT_MAX_SIGNS:
		if (options_parse_uint(arg, ~0ul, &v) != 0) {
			fprintf(stderr, "p11agentd: bad --max-signs '%s'\n",
				arg);
			return -1;
		}
		opt->max_signs = v;
		return 0;
	case 'c':
		opt->csh = 1;
		return 0;
	case 's':
		opt->csh = 0;
		return 0;
	case 'k':
		opt->kill_agent = 1;
		return 0;
	default:
		options_usage(stderr);
		return -1;
	}
}

int
options_parse(int argc, char **argv, struct agent_options *opt)
{
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"socket", required_argument, NULL, 'a'},
		{"module", required_argument, NULL, 'm'},
		{"identity", required_argument, NULL, 'i'},
		{"pin-source", required_argument, NULL, 'p'},
		{"purpose", required_argument, NULL, 'P'},
		{"workers", required_argument, NULL, 'w'},
		{"allow-uid", required_argument, NULL, 'u'},
		{"request-timeout", required_argument, NULL, 't'},
		{"poll-interval", required_argument, NULL, 'T'},
		{"max-frame", required_argument, NULL, OPT_MAX_FRAME},
		{"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
		{"max-connections", required_argument, NULL,
		 OPT_MAX_CONNECTIONS},
		{"max-per-uid", required_argument, NULL, OPT_MAX_PER_UID},
		{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
		{"frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT},
		{"allow-module", required_argument, NULL, OPT_ALLOW_MODULE},
		{"audit", required_argument, NULL, OPT_AUDIT},
		{"debug", no_argument, NULL, OPT_DEBUG},
		{"lock-after", required_argument, NULL, OPT_LOCK_AFTER},
		{"max-signs", required_argument, NULL, OPT_MAX_SIGNS},
		{"confirm", no_argument, NULL, OPT_CONFIRM},
		{"confirm-program", required_argument, NULL,
		 OPT_CONFIRM_PROGRAM},
		{"allow-gid", required_argument, NULL, OPT_ALLOW_GID},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->log_level = LOG_LEVEL_INFO;
	opt->request_timeout_ms = 30000;
	opt->poll_interval_ms = 1000;
	opt->limits = (struct agent_limits){
		.max_frame = P11A_MAX_FRAME,
		.max_inflight = 512,
		.max_connections = 512,
		.max_per_uid = 256,
		.idle_timeout_s = 0,
		.frame_timeout_s = 10,
	};
	while ((c = getopt_long(argc, argv, "fa:m:i:p:P:w:t:T:u:l:cskhV",
				longopts, NULL)) != -1) {
		if (c == 'h') {
			options_usage(stdout);
			return 1;
		}
		if (c == 'V') {
			printf("p11agentd %s\n", P11A_VERSION);
			return 1;
		}
		if (options_apply(c, optarg, opt) != 0)
			return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "p11agentd: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	return 0;
}
