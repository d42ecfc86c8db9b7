#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#ifndef P11A_BENCH_P11KIT_CLIENT
#define P11A_BENCH_P11KIT_CLIENT                                               \
	"/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
#endif

#define DEFAULT_SCHEMES                                                        \
	"rsa_pkcs1_sha256,rsa_pss_rsae_sha256,ecdsa_secp256r1_sha256,ed25519"

static const char *const usage_lines[] = {
	"usage: p11agent-bench [options]",
	"Signatures per second and latency of one key: direct PKCS#11,",
	"through p11agentd, and through peers.",
	"  --modes LIST       direct,agent,pipelined,p11kit,ssh-agent",
	"                     (default direct,agent,pipelined)",
	"  --schemes LIST     SCHEME[@LABEL],... (default rsa_pkcs1_sha256,",
	"                     rsa_pss_rsae_sha256,ecdsa_secp256r1_sha256,",
	"                     ed25519); LABEL is the key's CKA_LABEL, by",
	"                     default rsa2048, p256, p384, p521 or ed25519",
	"  --threads LIST     client threads per cell (default 1,2,8)",
	"  --depth N          pipelined requests per connection (8)",
	"  --seconds S        run each cell S seconds (default 3)",
	"  --count N          N signatures per cell (all threads) instead",
	"  --repeat R         run the matrix R times, report medians (1)",
	"  --form F           digest (default) or message: what is sent",
	"  --msg-len N        bytes of the signed message (130)",
	"  --module PATH      module for direct (default SoftHSM)",
	"  --token LABEL      token for direct and p11kit; also picks",
	"                     the agent's keys",
	"  --pin-env VAR      PIN in this variable (default P11A_PIN)",
	"  --pin-file PATH    PIN in the first line of this file",
	"  --socket PATH      p11agentd socket (default $P11AGENT_SOCK)",
	"  --agent-pid PID    the agent, for its CPU time (default: the",
	"                     socket's owner)",
	"  --workers N        the agent's --workers, for the JSON only",
	"  --p11kit-module P  p11-kit-client.so (needs",
	"                     P11_KIT_SERVER_ADDRESS)",
	"  --ssh-socket PATH  ssh-agent socket (default $SSH_AUTH_SOCK)",
	"  --pubkey-dir DIR   public keys as DIR/LABEL.pub.pem (default:",
	"                     from the agent)",
	"  --json FILE        also write the results as JSON",
};

static void
usage(FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof(usage_lines) / sizeof(usage_lines[0]); i++)
		fprintf(f, "%s\n", usage_lines[i]);
}

static int
bad(const char *what, const char *value)
{
	fprintf(stderr, "p11agent-bench: bad %s '%s'\n", what, value);
	return -1;
}

static int
parse_ulong(const char *s, unsigned long min, unsigned long max,
	    unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out >= min &&
			       *out <= max
		       ? 0
		       : -1;
}

static int
parse_modes(const char *arg, struct bench_opts *o)
{
	char buf[256], *tok, *save = NULL;
	int m;

	snprintf(buf, sizeof(buf), "%s", arg);
	o->modes = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if ((m = bench_mode_from_name(tok)) < 0)
			return bad("mode", tok);
		o->modes |= 1u << m;
	}
	return o->modes ? 0 : bad("mode list", arg);
}

static int
parse_threads(const char *arg, struct bench_opts *o)
{
	char buf[256], *tok, *save = NULL;
	unsigned long v;

	snprintf(buf, sizeof(buf), "%s", arg);
	o->n_threads = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->n_threads == BENCH_MAX_THREAD_COUNTS ||
		    parse_ulong(tok, 1, BENCH_MAX_THREADS, &v) != 0)
			return bad("thread count", tok);
		o->threads[o->n_threads++] = (unsigned)v;
	}
	return o->n_threads ? 0 : bad("thread list", arg);
}

/* The label p11a-mktoken-made tokens use for a scheme's key type. */
static const char *
default_label(const struct p11a_scheme_info *sc)
{
	switch (sc->code) {
	case P11A_SCHEME_ECDSA_SECP384R1_SHA384:
		return "p384";
	case P11A_SCHEME_ECDSA_SECP521R1_SHA512:
		return "p521";
	case P11A_SCHEME_ED25519:
		return "ed25519";
	default:
		return sc->key_type == P11A_KEY_EC ? "p256" : "rsa2048";
	}
}

static int
parse_schemes(const char *arg, struct bench_opts *o)
{
	char buf[1024], *tok, *save = NULL, *at;
	struct bench_scheme *s;

	snprintf(buf, sizeof(buf), "%s", arg);
	o->n_schemes = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->n_schemes == BENCH_MAX_SCHEMES)
			return bad("scheme list (too long)", arg);
		s = &o->schemes[o->n_schemes++];
		if ((at = strchr(tok, '@')) != NULL)
			*at++ = '\0';
		if ((s->sc = p11a_scheme_by_name(tok)) == NULL)
			return bad("scheme", tok);
		if (at != NULL &&
		    (*at == '\0' || strlen(at) >= BENCH_LABEL_MAX))
			return bad("key label", at);
		snprintf(s->label, sizeof(s->label), "%s",
			 at ? at : default_label(s->sc));
	}
	return o->n_schemes ? 0 : bad("scheme list", arg);
}

static int
pin_from_env(const char *var, struct bench_opts *o)
{
	const char *v = getenv(var);

	if (v == NULL)
		return 0; /* direct and p11kit will say so if they need it */
	return (o->pin = strdup(v)) ? 0 : -1;
}

static int
pin_from_file(const char *path, struct bench_opts *o)
{
	char line[256];
	FILE *f = fopen(path, "r");
	int r = -1;

	if (f == NULL)
		return bad("PIN file", path);
	if (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		r = (o->pin = strdup(line)) ? 0 : -1;
	}
	fclose(f);
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

static void
set_defaults(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->module = "/usr/lib/softhsm/libsofthsm2.so";
	o->p11kit_module = P11A_BENCH_P11KIT_CLIENT;
	o->ssh_socket = getenv("SSH_AUTH_SOCK");
	o->modes = 1u << MODE_DIRECT | 1u << MODE_AGENT | 1u << MODE_PIPELINED;
	o->threads[0] = 1;
	o->threads[1] = 2;
	o->threads[2] = 8;
	o->n_threads = 3;
	o->depth = 8;
	o->seconds = 3;
	o->repeat = 1;
	o->msg_len = 130; /* a TLS 1.3 CertificateVerify content */
}

enum {
	OPT_MODES = 256,
	OPT_SCHEMES,
	OPT_THREADS,
	OPT_DEPTH,
	OPT_SECONDS,
	OPT_COUNT,
	OPT_REPEAT,
	OPT_FORM,
	OPT_MSG_LEN,
	OPT_MODULE,
	OPT_TOKEN,
	OPT_PIN_ENV,
	OPT_PIN_FILE,
	OPT_SOCKET,
	OPT_AGENT_PID,
	OPT_WORKERS,
	OPT_P11KIT,
	OPT_SSH,
	OPT_PUBKEY_DIR,
	OPT_JSON,
	OPT_HELP
};

static const struct option long_opts[] = {
	{"modes", required_argument, NULL, OPT_MODES},
	{"schemes", required_argument, NULL, OPT_SCHEMES},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"depth", required_argument, NULL, OPT_DEPTH},
	{"seconds", required_argument, NULL, OPT_SECONDS},
	{"count", required_argument, NULL, OPT_COUNT},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"form", required_argument, NULL, OPT_FORM},
	{"msg-len", required_argument, NULL, OPT_MSG_LEN},
	{"module", required_argument, NULL, OPT_MODULE},
	{"token", required_argument, NULL, OPT_TOKEN},
	{"pin-env", required_argument, NULL, OPT_PIN_ENV},
	{"pin-file", required_argument, NULL, OPT_PIN_FILE},
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"agent-pid", required_argument, NULL, OPT_AGENT_PID},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"p11kit-module", required_argument, NULL, OPT_P11KIT},
	{"ssh-socket", required_argument, NULL, OPT_SSH},
	{"pubkey-dir", required_argument, NULL, OPT_PUBKEY_DIR},
	{"json", required_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static int
parse_number_opt(int opt, const char *arg, struct bench_opts *o)
{
	unsigned long v;
	char *end;

	switch (opt) {
	case OPT_DEPTH:
		if (parse_ulong(arg, 1, BENCH_MAX_DEPTH, &v) != 0)
			return bad("depth", arg);
		o->depth = (unsigned)v;
		return 0;
	case OPT_SECONDS:
		o->seconds = strtod(arg, &end);
		return *end == '\0' && o->seconds > 0 && o->seconds < 86400
			       ? 0
			       : bad("seconds", arg);
	case OPT_COUNT:
		if (parse_ulong(arg, 1, 1000000000ul, &v) != 0)
			return bad("count", arg);
		o->count = v;
		return 0;
	case OPT_REPEAT:
		if (parse_ulong(arg, 1, 100, &v) != 0)
			return bad("repeat", arg);
		o->repeat = (unsigned)v;
		return 0;
	case OPT_MSG_LEN:
		if (parse_ulong(arg, 1, BENCH_MSG_MAX, &v) != 0)
			return bad("message length", arg);
		o->msg_len = v;
		return 0;
	case OPT_AGENT_PID:
		if (parse_ulong(arg, 1, 1u << 30, &v) != 0)
			return bad("pid", arg);
		o->agent_pid = (pid_t)v;
		return 0;
	case OPT_WORKERS:
		if (parse_ulong(arg, 1, 1024, &v) != 0)
			return bad("workers", arg);
		o->workers = (unsigned)v;
		return 0;
	default:
		return -1;
	}
}

static int
parse_one(int opt, const char *arg, struct bench_opts *o, const char **pin_env,
	  const char **pin_file)
{
	switch (opt) {
	case OPT_MODES:
		return parse_modes(arg, o);
	case OPT_SCHEMES:
		return parse_schemes(arg, o);
	case OPT_THREADS:
		return parse_threads(arg, o);
	case OPT_FORM:
		if (strcmp(arg, "digest") != 0 && strcmp(arg, "message") != 0)
			return bad("form", arg);
		o->message_form = strcmp(arg, "message") == 0;
		return 0;
	case OPT_MODULE:
		o->module = arg;
		return 0;
	case OPT_TOKEN:
		o->token = arg;
		return 0;
	case OPT_PIN_ENV:
		*pin_env = arg;
		return 0;
	case OPT_PIN_FILE:
		*pin_file = arg;
		return 0;
	case OPT_SOCKET:
		o->socket = arg;
		return 0;
	case OPT_P11KIT:
		o->p11kit_module = arg;
		return 0;
	case OPT_SSH:
		o->ssh_socket = arg;
		return 0;
	case OPT_PUBKEY_DIR:
		o->pubkey_dir = arg;
		return 0;
	case OPT_JSON:
		o->json = arg;
		return 0;
	default:
		return parse_number_opt(opt, arg, o);
	}
}

int
bench_opts_parse(int argc, char **argv, struct bench_opts *o)
{
	const char *pin_env = "P11A_PIN", *pin_file = NULL;
	int opt;

	set_defaults(o);
	if (parse_schemes(DEFAULT_SCHEMES, o) != 0)
		return -1;
	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (opt == 'h' || opt == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (opt == '?' ||
		    parse_one(opt, optarg, o, &pin_env, &pin_file) != 0) {
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	if (pin_file ? pin_from_file(pin_file, o) : pin_from_env(pin_env, o))
		return -1;
	return 0;
}

void
bench_opts_free(struct bench_opts *o)
{
	if (o->pin != NULL) {
		OPENSSL_cleanse(o->pin, strlen(o->pin));
		free(o->pin);
		o->pin = NULL;
	}
}
