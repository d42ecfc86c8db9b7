/*
 * p11agent: command-line client of p11agentd.
 *
 *   p11agent [--socket PATH] list | sign | status | lock | unlock |
 *            export-key | export-cert | connect | tunnel
 *
 * Each subcommand is one handler in the table at the bottom; main() only
 * parses the global options and dispatches.  Exit codes are stable and
 * documented in usage(): scripts test them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "p11agent/client.h"
#include "cmd_tls.h"
#include "provider/keyfile.h"
#include "provider/prov.h"
#include "scheme.h"

#define PROG "p11agent"
#define PATH_MAX_LEN 108 /* sizeof(sun_path) */
#define PIN_MAX 256	 /* longest PIN accepted, in bytes */
/* a SIGN frame can carry no more than this anyway */
#define INPUT_MAX ((size_t)P11A_MAX_FRAME)

enum exit_code {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_NO_AGENT = 3,
	EXIT_IDENTITY = 4,
	EXIT_LOCKED = 5,
	EXIT_SCHEME = 6,
	EXIT_PIN = 7,
	/* 8 to 10 are connect's and tunnel's (cmd_tls.h) */
	EXIT_TOKEN = 11
};

struct ctx {
	const char *socket; /* --socket, or NULL for the default */
	char path[PATH_MAX_LEN];
	p11a_client *c;
};

struct command {
	const char *name;
	const char *prog; /* "p11agent NAME", for getopt's messages */
	int (*run)(struct ctx *ctx, int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static const struct command *find_command(const char *name);

/* ---- messages ------------------------------------------------------------ */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line to stderr, prefixed with the program name. */
static void
say(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
usage_error(const struct command *cmd)
{
	fprintf(stderr, "usage: %s %s\n", cmd->prog, cmd->synopsis);
	fprintf(stderr, "Try '%s --help' for more information.\n", cmd->prog);
	return EXIT_USAGE;
}

static int
command_help(const struct command *cmd)
{
	printf("usage: %s %s\n\n%s", cmd->prog, cmd->synopsis, cmd->help);
	return EXIT_OK;
}

/* The exit code for a p11a_err. */
static int
exit_for(int r)
{
	switch (r) {
	case P11A_OK:
		return EXIT_OK;
	case P11A_ERR_CONNECT:
		return EXIT_NO_AGENT;
	case P11A_ERR_IDENTITY_NOT_FOUND:
	case P11A_ERR_IDENTITY_AMBIGUOUS:
		return EXIT_IDENTITY;
	case P11A_ERR_LOCKED:
		return EXIT_LOCKED;
	case P11A_ERR_SCHEME_UNSUPPORTED:
	case P11A_ERR_UNKNOWN_SCHEME:
		return EXIT_SCHEME;
	case P11A_ERR_PIN_INCORRECT:
	case P11A_ERR_PIN_LOCKED:
	case P11A_ERR_PIN_FINAL_TRY:
		return EXIT_PIN;
	case P11A_ERR_TOKEN_NOT_FOUND:
		return EXIT_TOKEN;
	default:
		return EXIT_ERROR;
	}
}

/*
 * Explain a failed request: the generic text of r, then the agent's (or
 * the library's) message when it adds anything.  Returns the exit code.
 */
static int
report(const struct ctx *ctx, int r, const char *what)
{
	const char *msg = p11a_client_last_message(ctx->c);
	const char *text = p11a_strerror(r);

	if (r == P11A_ERR_LOCKED) {
		say("agent is locked (run " PROG " unlock)");
	} else if (*msg == '\0' || strcmp(msg, text) == 0) {
		say("%s: %s", what, text);
	} else if (strstr(msg, text) != NULL) {
		say("%s: %s", what, msg);
	} else {
		say("%s: %s: %s", what, text, msg);
	}
	return exit_for(r);
}

/* ---- connection -------------------------------------------------------- */

static int
connect_agent(struct ctx *ctx)
{
	char msg[512];
	int r;

	if (ctx->socket != NULL) {
		if (strlen(ctx->socket) >= sizeof(ctx->path)) {
			say("socket path too long: %s", ctx->socket);
			return EXIT_USAGE;
		}
		snprintf(ctx->path, sizeof(ctx->path), "%s", ctx->socket);
	} else if ((r = p11a_default_socket_path(ctx->path,
						 sizeof(ctx->path))) != 0) {
		say(r == P11A_ERR_CONNECT
			    ? "no agent socket: set P11AGENT_SOCK or "
			      "XDG_RUNTIME_DIR, or use --socket"
			    : "default socket path too long");
		return r == P11A_ERR_CONNECT ? EXIT_NO_AGENT : EXIT_ERROR;
	}
	r = p11a_client_connect_msg(ctx->path, &ctx->c, msg, sizeof(msg));
	if (r == P11A_OK)
		return EXIT_OK;
	if (r == P11A_ERR_CONNECT || r == P11A_ERR_UNTRUSTED_AGENT)
		say("%s", msg);
	else if (r == P11A_ERR_VERSION)
		say("the agent at %s speaks no protocol version in common "
		    "with this client: %s",
		    ctx->path, msg);
	else
		say("cannot talk to the agent at %s: %s", ctx->path, msg);
	return exit_for(r);
}

/* ---- small I/O helpers ------------------------------------------------- */

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read fd to its end into a malloc'd buffer of at most max bytes. */
static int
read_all(int fd, size_t max, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL, *grown;
	size_t len = 0, cap = 0;
	ssize_t k;

	*out = NULL;
	*out_len = 0;
	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			if ((grown = realloc(buf, cap)) == NULL)
				goto fail;
			buf = grown;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			goto fail;
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	*out = buf;
	*out_len = len;
	return 0;
fail:
	free(buf);
	return -1;
}

/* Print s as one word: blanks and control characters become '?'. */
static void
put_word(const char *s)
{
	if (s == NULL || *s == '\0') {
		fputc('-', stdout);
		return;
	}
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		fputc(ch <= 0x20 || ch == 0x7f ? '?' : ch, stdout);
	}
}

/* ---- list -------------------------------------------------------------- */

static void
put_key_type(const struct p11a_identity *id)
{
	switch (id->key_type) {
	case P11A_KEY_RSA:
		fputs("rsa", stdout);
		break;
	case P11A_KEY_EC:
		fputs("ec", stdout);
		if (id->curve != NULL && *id->curve != '\0') {
			fputc(':', stdout);
			put_word(id->curve);
		}
		break;
	case P11A_KEY_ED25519:
		fputs("ed25519", stdout);
		break;
	default:
		printf("unknown(%u)", (unsigned)id->key_type);
	}
}

static void
put_schemes(const struct p11a_identity *id)
{
	const char *name;
	size_t i;

	if (id->n_schemes == 0)
		fputc('-', stdout);
	for (i = 0; i < id->n_schemes && i < P11A_MAX_SCHEMES; i++) {
		if (i > 0)
			fputc(',', stdout);
		if ((name = p11a_scheme_to_name(id->schemes[i])) != NULL)
			fputs(name, stdout);
		else
			printf("0x%04x", (unsigned)id->schemes[i]);
	}
}

/* The certificate's subject on one line; "-" without a certificate. */
static void
put_subject(const struct p11a_identity *id)
{
	const unsigned long flags = (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) |
				    ASN1_STRFLGS_UTF8_CONVERT;
	const unsigned char *p = id->cert;
	X509 *x = NULL;
	BIO *bio = NULL;
	BUF_MEM *mem = NULL;

	if (id->cert == NULL || id->cert_len == 0) {
		fputc('-', stdout);
		return;
	}
	if (id->cert_len > INPUT_MAX ||
	    (x = d2i_X509(NULL, &p, (long)id->cert_len)) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, flags) < 0) {
		fputs("(unreadable-certificate)", stdout);
		goto out;
	}
	BIO_get_mem_ptr(bio, &mem);
	if (mem != NULL && mem->length > 0)
		fwrite(mem->data, 1, mem->length, stdout);
	else
		fputs("(empty-subject)", stdout);
out:
	BIO_free(bio);
	X509_free(x);
}

/*
 * --verbose: how the agent signs with the key, from its identity flags
 * (docs/PROTOCOL.md 8.2), one indented line.
 */
static void
print_identity_detail(const struct p11a_identity *id)
{
	fputs("    signs:", stdout);
	if (id->n_schemes == 0) {
		/* the agent lists such a key rather than hide it: say why */
		fputs(" none (the token has no mechanism for this key; "
		      "docs/TOKENS.md)\n",
		      stdout);
		return;
	}
	if (id->flags & P11A_IDENTITY_AGENT_PADS)
		fputs(" raw-rsa (CKM_RSA_X_509, padded by the agent)", stdout);
	if (id->flags & P11A_IDENTITY_MESSAGE_ONLY)
		fputs(" hash-and-sign (message only, no --digest)", stdout);
	if (!(id->flags &
	      (P11A_IDENTITY_AGENT_PADS | P11A_IDENTITY_MESSAGE_ONLY)))
		fputs(" native", stdout);
	if (id->flags & P11A_IDENTITY_ALWAYS_AUTH)
		fputs("; always-authenticate (a PIN for every signature)",
		      stdout);
	if (id->flags & P11A_IDENTITY_TLS13_CLIENT_ONLY)
		fputs("; tls13-client only", stdout);
	fputc('\n', stdout);
}

static void
print_identity(const struct p11a_identity *id)
{
	put_word(id->id);
	fputc(' ', stdout);
	put_word(id->uri);
	fputc(' ', stdout);
	put_key_type(id);
	printf(" %u ", (unsigned)id->bits);
	put_schemes(id);
	fputc(' ', stdout);
	put_subject(id);
	if (!(id->flags & P11A_IDENTITY_AVAILABLE))
		fputs(" (unavailable)", stdout);
	fputc('\n', stdout);
}

/* Parse a subcommand that takes only --help; returns -1 to go on. */
static int
parse_no_options(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			return command_help(cmd);
		return usage_error(cmd);
	}
	if (optind != argc)
		return usage_error(cmd);
	return -1;
}

/* A subcommand that takes --verbose and --help; returns -1 to go on. */
static int
parse_verbose_options(const char *name, int argc, char **argv, int *verbose)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	const struct command *cmd = find_command(name);
	int ch;

	*verbose = 0;
	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		if (ch == 'h')
			return command_help(cmd);
		if (ch != 'v')
			return usage_error(cmd);
		*verbose = 1;
	}
	return optind != argc ? usage_error(cmd) : -1;
}

static int
cmd_list(struct ctx *ctx, int argc, char **argv)
{
	struct p11a_identity_list list = {0};
	size_t i;
	int r, rc, verbose;

	if ((rc = parse_verbose_options("list", argc, argv, &verbose)) >= 0)
		return rc;
	if ((rc = connect_agent(ctx)) != EXIT_OK)
		return rc;
	if ((r = p11a_client_list(ctx->c, &list)) != P11A_OK)
		return report(ctx, r, "list");
	for (i = 0; i < list.n; i++) {
		print_identity(&list.items[i]);
		if (verbose)
			print_identity_detail(&list.items[i]);
	}
	p11a_identity_list_free(&list);
	return EXIT_OK;
}

/* ---- sign -------------------------------------------------------------- */

struct sign_args {
	const char *identity;
	const char *scheme;
	const char *in;
	const char *out;
	int digest;
};

/* Returns -1 when the arguments are good, else an exit code. */
static int
parse_sign(int argc, char **argv, struct sign_args *a)
{
	static const struct option opts[] = {
		{"identity", required_argument, NULL, 'i'},
		{"scheme", required_argument, NULL, 's'},
		{"digest", no_argument, NULL, 'd'},
		{"in", required_argument, NULL, 'I'},
		{"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct command *cmd = find_command("sign");
	int ch;

	memset(a, 0, sizeof(*a));
	while ((ch = getopt_long(argc, argv, "i:s:dI:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			a->identity = optarg;
			break;
		case 's':
			a->scheme = optarg;
			break;
		case 'd':
			a->digest = 1;
			break;
		case 'I':
			a->in = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'h':
			return command_help(cmd);
		default:
			return usage_error(cmd);
		}
	}
	if (optind != argc || a->identity == NULL || a->scheme == NULL)
		return usage_error(cmd);
	return -1;
}

/* The data to sign, from --in FILE or stdin. */
static int
read_input(const char *path, uint8_t **data, size_t *len)
{
	int fd = STDIN_FILENO;
	int rc = EXIT_OK;

	if (path != NULL && strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		say("sign: cannot open %s: %s", path, strerror(errno));
		return EXIT_ERROR;
	}
	if (read_all(fd, INPUT_MAX, data, len) != 0) {
		say("sign: cannot read %s: %s", path ? path : "stdin",
		    errno == EFBIG ? "input larger than a request can carry"
				   : strerror(errno));
		rc = EXIT_ERROR;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* Write the signature to --out FILE or stdout. */
static int
write_output(const char *path, const uint8_t *sig, size_t len)
{
	int fd = STDOUT_FILENO;
	int rc = EXIT_OK;

	if (path != NULL && strcmp(path, "-") != 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) <
		    0) {
		say("sign: cannot create %s: %s", path, strerror(errno));
		return EXIT_ERROR;
	}
	if (write_all(fd, sig, len) != 0) {
		say("sign: cannot write %s: %s", path ? path : "stdout",
		    strerror(errno));
		rc = EXIT_ERROR;
	}
	if (fd != STDOUT_FILENO && close(fd) != 0 && rc == EXIT_OK) {
		say("sign: cannot write %s: %s", path, strerror(errno));
		rc = EXIT_ERROR;
	}
	return rc;
}

static int
sign_failed(const struct ctx *ctx, int r, const struct sign_args *a)
{
	switch (r) {
	case P11A_ERR_IDENTITY_NOT_FOUND:
		say("identity not found: %s", a->identity);
		break;
	case P11A_ERR_IDENTITY_AMBIGUOUS:
		say("identity is ambiguous: %s (several keys match; name one "
		    "by a URI or id from '" PROG " list' that only it has: "
		    "the agent's log says when alike tokens share an id)",
		    a->identity);
		break;
	case P11A_ERR_SCHEME_UNSUPPORTED:
		say("scheme %s not supported by this key", a->scheme);
		break;
	case P11A_ERR_UNKNOWN_SCHEME:
		say("scheme %s not known to the agent", a->scheme);
		break;
	default:
		return report(ctx, r, "sign");
	}
	return exit_for(r);
}

static int
cmd_sign(struct ctx *ctx, int argc, char **argv)
{
	struct p11a_sign_request req = {0};
	struct sign_args a;
	uint8_t *data = NULL, *sig = NULL;
	size_t data_len = 0, sig_len = 0;
	int r, rc;

	if ((rc = parse_sign(argc, argv, &a)) >= 0)
		return rc;
	if (p11a_scheme_from_name(a.scheme, &req.scheme) != P11A_OK) {
		say("unknown scheme: %s", a.scheme);
		return EXIT_SCHEME;
	}
	if ((rc = read_input(a.in, &data, &data_len)) != EXIT_OK ||
	    (rc = connect_agent(ctx)) != EXIT_OK)
		goto out;
	req.identity = a.identity;
	req.flags = a.digest ? P11A_SIGN_DIGEST : 0;
	req.data = data;
	req.data_len = data_len;
	if ((r = p11a_client_sign(ctx->c, &req, &sig, &sig_len)) != P11A_OK) {
		rc = sign_failed(ctx, r, &a);
		goto out;
	}
	rc = write_output(a.out, sig, sig_len);
out:
	free(data);
	free(sig);
	return rc;
}

/* ---- status ------------------------------------------------------------ */

static void
print_uptime(uint64_t s)
{
	unsigned long long days = s / 86400;

	printf("uptime:      ");
	if (days > 0)
		printf("%llud ", days);
	printf("%02u:%02u:%02u\n", (unsigned)(s % 86400 / 3600),
	       (unsigned)(s % 3600 / 60), (unsigned)(s % 60));
}

/* Token flags as words, e.g. "present,logged-in"; "-" for none. */
static void
format_flags(uint32_t flags, char *buf, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *word;
	} words[] = {
		{P11A_TOKEN_PRESENT, "present"},
		{P11A_TOKEN_LOGGED_IN, "logged-in"},
		{P11A_TOKEN_NEEDS_UNLOCK, "needs-unlock"},
		{P11A_TOKEN_PROTECTED_AUTH, "protected-auth"},
		{P11A_TOKEN_RECOVERING, "recovering"},
		{P11A_TOKEN_FAILED, "failed"},
		{P11A_TOKEN_PIN_COUNT_LOW, "pin-count-low"},
		{P11A_TOKEN_PIN_FINAL_TRY, "pin-final-try"},
		{P11A_TOKEN_PIN_LOCKED, "pin-locked"},
	};
	size_t i, used = 0;
	uint32_t known = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		known |= words[i].bit;
		if ((flags & words[i].bit) && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 used ? "," : "",
						 words[i].word);
	}
	if ((flags & ~known) && used < len)
		used += (size_t)snprintf(buf + used, len - used, "%s0x%x",
					 used ? "," : "",
					 (unsigned)(flags & ~known));
	if (used == 0)
		snprintf(buf, len, "-");
}

#define FLAGS_LEN 96

/* One token's line; the columns of detail are "-" when d is NULL. */
static void
print_token(const struct p11a_token_status *t,
	    const struct p11a_token_detail *d, int label_width, int flags_width)
{
	char flags[FLAGS_LEN], avg[32], queue[48];
	const char *label =
		t->label != NULL && *t->label != '\0' ? t->label : "-";

	format_flags(t->flags, flags, sizeof(flags));
	if (t->signs > 0)
		snprintf(avg, sizeof(avg), "%llu",
			 (unsigned long long)(t->sign_usec_total / t->signs));
	else
		snprintf(avg, sizeof(avg), "-");
	if (d != NULL)
		snprintf(queue, sizeof(queue), "%8u %6u %7u",
			 (unsigned)d->sessions, (unsigned)d->queued,
			 (unsigned)d->running);
	else
		snprintf(queue, sizeof(queue), "%8s %6s %7s", "-", "-", "-");
	printf("%-*s  %-*s %10u %7u %s %10llu %7llu %8s\n", label_width, label,
	       flags_width, flags, (unsigned)t->identities,
	       (unsigned)t->workers, queue, (unsigned long long)t->signs,
	       (unsigned long long)t->errors, avg);
}

static void
print_status(const struct p11a_status_detail *d)
{
	const struct p11a_status *st = &d->status;
	int width = (int)strlen("TOKEN"), flags_width = (int)strlen("FLAGS");
	char flags[FLAGS_LEN];
	size_t i, n;

	printf("version:     %s\n", st->software ? st->software : "-");
	print_uptime(st->uptime_sec);
	printf("connections: %u\n", (unsigned)st->connections);
	printf("requests:    %llu\n\n", (unsigned long long)st->requests);
	for (i = 0; i < st->n_tokens; i++) {
		n = st->tokens[i].label ? strlen(st->tokens[i].label) : 1;
		if (n > (size_t)width && n <= 64)
			width = (int)n;
		format_flags(st->tokens[i].flags, flags, sizeof(flags));
		if (strlen(flags) > (size_t)flags_width)
			flags_width = (int)strlen(flags);
	}
	printf("%-*s  %-*s %10s %7s %8s %6s %7s %10s %7s %8s\n", width, "TOKEN",
	       flags_width, "FLAGS", "IDENTITIES", "WORKERS", "SESSIONS",
	       "QUEUED", "RUNNING", "SIGNS", "ERRORS", "AVG_USEC");
	for (i = 0; i < st->n_tokens; i++)
		print_token(&st->tokens[i], d->detailed ? &d->tokens[i] : NULL,
			    width, flags_width);
}

/* The CKM_ name of the mechanisms a signing path uses; NULL: other. */
static const char *
mechanism_name(uint32_t m)
{
	static const struct {
		uint32_t m;
		const char *name;
	} names[] = {
		{CKM_RSA_PKCS, "CKM_RSA_PKCS"},
		{CKM_RSA_X_509, "CKM_RSA_X_509"},
		{CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS"},
		{CKM_SHA1_RSA_PKCS, "CKM_SHA1_RSA_PKCS"},
		{CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"},
		{CKM_SHA384_RSA_PKCS, "CKM_SHA384_RSA_PKCS"},
		{CKM_SHA512_RSA_PKCS, "CKM_SHA512_RSA_PKCS"},
		{CKM_SHA1_RSA_PKCS_PSS, "CKM_SHA1_RSA_PKCS_PSS"},
		{CKM_SHA256_RSA_PKCS_PSS, "CKM_SHA256_RSA_PKCS_PSS"},
		{CKM_SHA384_RSA_PKCS_PSS, "CKM_SHA384_RSA_PKCS_PSS"},
		{CKM_SHA512_RSA_PKCS_PSS, "CKM_SHA512_RSA_PKCS_PSS"},
		{CKM_ECDSA, "CKM_ECDSA"},
		{CKM_ECDSA_SHA1, "CKM_ECDSA_SHA1"},
		{CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256"},
		{CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384"},
		{CKM_ECDSA_SHA512, "CKM_ECDSA_SHA512"},
		{CKM_EDDSA, "CKM_EDDSA"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].m == m)
			return names[i].name;
	return NULL;
}

static const char *
path_name(uint8_t path)
{
	switch (path) {
	case P11A_SIGN_PATH_NATIVE:
		return "native";
	case P11A_SIGN_PATH_RAW:
		return "raw";
	case P11A_SIGN_PATH_HASHED:
		return "hashed";
	default:
		return "unknown";
	}
}

/* --verbose: one line per scheme of each identity, how it is signed. */
static void
print_paths(const struct p11a_status_detail *d)
{
	const char *name, *token;

	if (!d->detailed) {
		puts("\n(the agent does not report signing paths)");
		return;
	}
	printf("\n%-32s  %-16s %-24s %-7s %s\n", "IDENTITY", "TOKEN", "SCHEME",
	       "PATH", "MECHANISM");
	for (size_t i = 0; i < d->n_identities; i++) {
		const struct p11a_identity_paths *ip = &d->identities[i];

		token = d->status.tokens[ip->token].label;
		for (size_t k = 0; k < ip->n_paths; k++) {
			const struct p11a_scheme_path *sp = &ip->paths[k];

			name = p11a_scheme_to_name(sp->scheme);
			printf("%-32s  %-16s ", ip->id,
			       token != NULL && *token ? token : "-");
			if (name != NULL)
				printf("%-24s ", name);
			else
				printf("0x%04x%18s ", (unsigned)sp->scheme, "");
			printf("%-7s ", path_name(sp->path));
			if ((name = mechanism_name(sp->mechanism)) != NULL)
				puts(name);
			else
				printf("0x%lx\n", (unsigned long)sp->mechanism);
		}
	}
}

static int
cmd_status(struct ctx *ctx, int argc, char **argv)
{
	struct p11a_status_detail d = {0};
	int r, rc, verbose;

	if ((rc = parse_verbose_options("status", argc, argv, &verbose)) >= 0)
		return rc;
	if ((rc = connect_agent(ctx)) != EXIT_OK)
		return rc;
	if ((r = p11a_client_status_detail(ctx->c, &d)) != P11A_OK)
		return report(ctx, r, "status");
	print_status(&d);
	if (verbose)
		print_paths(&d);
	p11a_status_detail_free(&d);
	return EXIT_OK;
}

/* ---- lock / unlock ----------------------------------------------------- */

static int
cmd_lock(struct ctx *ctx, int argc, char **argv)
{
	int r, rc;

	if ((rc = parse_no_options(find_command("lock"), argc, argv)) >= 0)
		return rc;
	if ((rc = connect_agent(ctx)) != EXIT_OK)
		return rc;
	if ((r = p11a_client_lock(ctx->c)) != P11A_OK)
		return report(ctx, r, "lock");
	return EXIT_OK;
}

/* Signal caught while the terminal had echo off; 0 when none. */
static volatile sig_atomic_t pin_signal;

static void
pin_signal_handler(int sig)
{
	pin_signal = sig;
}

static const int pin_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_PIN_SIGNALS (sizeof(pin_signals) / sizeof(pin_signals[0]))

/*
 * Read the first line of fd into pin (room for PIN_MAX + 1), without the
 * line end.  Stops early when a signal was caught.  -1 on error (errno,
 * EMSGSIZE when the line is too long).
 */
static int
read_pin_line(int fd, char *pin)
{
	char buf[PIN_MAX + 2];
	char *nl = NULL;
	size_t n = 0;
	ssize_t k;
	int rc = -1;

	while (n < sizeof(buf) && nl == NULL) {
		k = read(fd, buf + n, sizeof(buf) - n);
		if (k < 0 && errno == EINTR && pin_signal == 0)
			continue;
		if (k < 0)
			goto out;
		if (k == 0)
			break;
		nl = memchr(buf + n, '\n', (size_t)k);
		n += (size_t)k;
	}
	if (nl != NULL)
		n = (size_t)(nl - buf);
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > PIN_MAX) {
		errno = EMSGSIZE;
		goto out;
	}
	memcpy(pin, buf, n);
	pin[n] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* Catch the signals that would leave the terminal without echo. */
static void
catch_pin_signals(struct sigaction *saved)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pin_signal_handler; /* no SA_RESTART: read stops */
	sigemptyset(&sa.sa_mask);
	pin_signal = 0;
	for (i = 0; i < N_PIN_SIGNALS; i++)
		sigaction(pin_signals[i], &sa, &saved[i]);
}

static void
restore_pin_signals(const struct sigaction *saved)
{
	size_t i;

	for (i = 0; i < N_PIN_SIGNALS; i++)
		sigaction(pin_signals[i], &saved[i], NULL);
}

/* Prompt on the terminal fd and read one line with echo off. */
static int
prompt_quietly(int fd, const struct termios *old, char *pin)
{
	struct termios quiet = *old;

	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	(void)write_all(fd, (const uint8_t *)"PIN: ", 5);
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		say("unlock: cannot turn echo off: %s", strerror(errno));
		return EXIT_ERROR;
	}
	if (read_pin_line(fd, pin) == 0 && pin_signal == 0)
		return EXIT_OK;
	if (pin_signal == 0)
		say("unlock: cannot read the PIN: %s",
		    errno == EMSGSIZE ? "PIN too long" : strerror(errno));
	return EXIT_ERROR;
}

/*
 * Read the PIN from /dev/tty with echo off.  A signal that arrives
 * meanwhile is delivered again once the terminal is restored.
 */
static int
pin_from_tty(char *pin)
{
	struct sigaction saved[N_PIN_SIGNALS];
	struct termios old;
	int fd, rc;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		say("unlock: cannot open /dev/tty: %s", strerror(errno));
		return EXIT_ERROR;
	}
	if (tcgetattr(fd, &old) != 0) {
		say("unlock: cannot read terminal modes: %s", strerror(errno));
		close(fd);
		return EXIT_ERROR;
	}
	catch_pin_signals(saved);
	rc = prompt_quietly(fd, &old, pin);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (pin_signal != 0)
		(void)write_all(fd, (const uint8_t *)"\n", 1);
	close(fd);
	restore_pin_signals(saved);
	if (pin_signal != 0) {
		OPENSSL_cleanse(pin, PIN_MAX + 1);
		raise(pin_signal);
	}
	return rc;
}

static int
pin_from_file(const char *path, char *pin)
{
	int fd, rc = EXIT_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		say("unlock: cannot open PIN file %s: %s", path,
		    strerror(errno));
		return EXIT_ERROR;
	}
	if (read_pin_line(fd, pin) != 0) {
		say("unlock: cannot read PIN file %s: %s", path,
		    errno == EMSGSIZE ? "PIN too long" : strerror(errno));
		rc = EXIT_ERROR;
	}
	close(fd);
	return rc;
}

/* Take the PIN from the environment and wipe it there. */
static int
pin_from_env(const char *var, char *pin)
{
	char *value = getenv(var);
	size_t n;

	if (value == NULL) {
		say("unlock: environment variable %s is not set", var);
		return EXIT_ERROR;
	}
	if ((n = strlen(value)) > PIN_MAX) {
		say("unlock: PIN in %s too long", var);
		return EXIT_ERROR;
	}
	memcpy(pin, value, n + 1);
	OPENSSL_cleanse(value, n);
	unsetenv(var);
	return EXIT_OK;
}

/* Check --pin-source before connecting; -1 when it is usable. */
static int
check_pin_source(const char *source)
{
	const struct command *cmd = find_command("unlock");

	if (source == NULL) {
		if (isatty(STDIN_FILENO))
			return -1;
		say("unlock: stdin is not a terminal: use --pin-source "
		    "file:PATH or env:VAR");
		return usage_error(cmd);
	}
	if ((strncmp(source, "file:", 5) == 0 && source[5] != '\0') ||
	    (strncmp(source, "env:", 4) == 0 && source[4] != '\0'))
		return -1;
	say("unlock: bad --pin-source '%s': want file:PATH or env:VAR", source);
	return usage_error(cmd);
}

static int
get_pin(const char *source, char *pin)
{
	if (source == NULL)
		return pin_from_tty(pin);
	if (strncmp(source, "file:", 5) == 0)
		return pin_from_file(source + 5, pin);
	return pin_from_env(source + 4, pin);
}

static int
unlock_failed(const struct ctx *ctx, int r)
{
	const char *msg = p11a_client_last_message(ctx->c);

	if (r != P11A_ERR_PIN_INCORRECT && r != P11A_ERR_PIN_LOCKED &&
	    r != P11A_ERR_PIN_FINAL_TRY)
		return report(ctx, r, "unlock");
	if (*msg != '\0' && strcmp(msg, p11a_strerror(r)) != 0)
		say("%s: %s", p11a_strerror(r), msg);
	else
		say("%s", p11a_strerror(r));
	return exit_for(r);
}

/*
 * The agent backs off after wrong PINs (BUSY with retry-after-ms=N):
 * wait that long (nanosleep, no polling) and send the UNLOCK once more.
 * Anything else, or a wait over a minute, is the answer.
 */
static int
unlock_send(struct ctx *ctx, const char *token, const char *pin, uint32_t flags)
{
	const char *msg, *p;
	unsigned long ms;
	int r;

	for (int tries = 0; tries < 8; tries++) {
		if ((r = p11a_client_unlock_flags(ctx->c, token, pin, flags)) !=
		    P11A_ERR_BUSY)
			return r;
		msg = p11a_client_last_message(ctx->c);
		if ((p = strstr(msg, "retry-after-ms=")) == NULL ||
		    (ms = strtoul(p + 15, NULL, 10)) > 60000)
			return r;
		say("unlock: %s; waiting", msg);
		struct timespec ts = {(time_t)(ms / 1000),
				      (long)(ms % 1000) * 1000000L + 1000000L};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	return r;
}

static int
cmd_unlock(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"token", required_argument, NULL, 't'},
		{"pin-source", required_argument, NULL, 'p'},
		{"final-try", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct command *cmd = find_command("unlock");
	const char *token = NULL, *source = NULL;
	char pin[PIN_MAX + 1];
	uint32_t flags = 0;
	int ch, r, rc;

	while ((ch = getopt_long(argc, argv, "t:p:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			flags |= P11A_UNLOCK_FINAL_TRY;
			break;
		case 't':
			token = optarg;
			break;
		case 'p':
			source = optarg;
			break;
		case 'h':
			return command_help(cmd);
		default:
			return usage_error(cmd);
		}
	}
	if (optind != argc)
		return usage_error(cmd);
	if ((rc = check_pin_source(source)) >= 0 ||
	    (rc = connect_agent(ctx)) != EXIT_OK)
		return rc;
	pin[0] = '\0';
	if ((rc = get_pin(source, pin)) != EXIT_OK)
		goto out;
	if ((r = unlock_send(ctx, token, pin, flags)) != P11A_OK)
		rc = unlock_failed(ctx, r);
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	return rc;
}

/* ---- export-key / export-cert ------------------------------------------ */

/* Returns -1 when the arguments are good, else an exit code. */
static int
parse_export(const struct command *cmd, int argc, char **argv,
	     const char **identity)
{
	static const struct option opts[] = {
		{"identity", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	*identity = NULL;
	while ((ch = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		if (ch == 'i')
			*identity = optarg;
		else if (ch == 'h')
			return command_help(cmd);
		else
			return usage_error(cmd);
	}
	if (optind != argc || *identity == NULL)
		return usage_error(cmd);
	return -1;
}

/*
 * The identity that name (an id, a pkcs11: URI or a p11agent: key URI)
 * names, matched as the provider matches key URIs; *index into list,
 * which the caller frees.  Returns an exit code.
 */
static int
find_identity(struct ctx *ctx, const char *name,
	      struct p11a_identity_list *list, size_t *index)
{
	struct p11a_key_uri uri;
	char *text = NULL;
	int r, rc;

	if ((rc = connect_agent(ctx)) != EXIT_OK)
		return rc;
	if ((r = p11a_client_list(ctx->c, list)) != P11A_OK)
		return report(ctx, r, "list");
	if (strncmp(name, P11A_URI_PREFIX, strlen(P11A_URI_PREFIX)) == 0)
		r = p11a_key_uri_parse(name, &uri);
	else if ((text = malloc(strlen(P11A_URI_PREFIX) + strlen(name) + 1)) ==
		 NULL)
		r = P11A_ERR_NO_MEMORY;
	else {
		sprintf(text, "%s%s", P11A_URI_PREFIX, name);
		r = p11a_key_uri_parse(text, &uri);
	}
	free(text);
	if (r == P11A_ERR_INVALID_ARGUMENT) {
		say("not an identity id or pkcs11: URI: %s", name);
		return EXIT_USAGE;
	}
	if (r == P11A_OK) {
		r = p11a_key_uri_find(&uri, list, index);
		p11a_key_uri_clear(&uri);
	}
	if (r == P11A_ERR_IDENTITY_NOT_FOUND)
		say("identity not found: %s", name);
	else if (r == P11A_ERR_IDENTITY_AMBIGUOUS)
		say("identity is ambiguous: %s (name it by its id)", name);
	else if (r != P11A_OK)
		say("%s", p11a_strerror(r));
	return exit_for(r);
}

/* Write the key file of identity id to stdout; an exit code. */
static int
write_key_file(const struct p11a_identity *id)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int rc = EXIT_ERROR;

	if (p11a_keyfile_encode(id->id, id->uri, &der, &len) != P11A_OK)
		say("export-key: cannot write a key file for identity %s",
		    id->id);
	else if (PEM_write(stdout, P11A_KEYFILE_PEM_LABEL, "", der,
			   (long)len) <= 0)
		say("export-key: cannot write to stdout");
	else
		rc = EXIT_OK;
	OPENSSL_free(der);
	return rc;
}

/* Write the certificate of identity id to stdout (PEM); an exit code. */
static int
write_cert(const struct p11a_identity *id)
{
	const unsigned char *p = id->cert;
	X509 *x = NULL;
	int rc = EXIT_ERROR;

	if (id->cert == NULL || id->cert_len == 0)
		say("export-cert: identity %s has no certificate on its token",
		    id->id);
	else if (id->cert_len > INPUT_MAX ||
		 (x = d2i_X509(NULL, &p, (long)id->cert_len)) == NULL)
		say("export-cert: the certificate of identity %s is unreadable",
		    id->id);
	else if (PEM_write_X509(stdout, x) <= 0)
		say("export-cert: cannot write to stdout");
	else
		rc = EXIT_OK;
	X509_free(x);
	return rc;
}

/* export-key and export-cert: find the identity, write what it has. */
static int
run_export(struct ctx *ctx, const char *name, int argc, char **argv,
	   int (*write)(const struct p11a_identity *))
{
	struct p11a_identity_list list = {0};
	const char *identity;
	size_t i = 0;
	int rc;

	if ((rc = parse_export(find_command(name), argc, argv, &identity)) >= 0)
		return rc;
	if ((rc = find_identity(ctx, identity, &list, &i)) == EXIT_OK)
		rc = write(&list.items[i]);
	p11a_identity_list_free(&list);
	return rc;
}

static int
cmd_export_key(struct ctx *ctx, int argc, char **argv)
{
	return run_export(ctx, "export-key", argc, argv, write_key_file);
}

static int
cmd_export_cert(struct ctx *ctx, int argc, char **argv)
{
	return run_export(ctx, "export-cert", argc, argv, write_cert);
}

/* ---- dispatch ---------------------------------------------------------- */

/* connect and tunnel live in cmd_connect.c and cmd_tunnel.c */
static int
cmd_connect(struct ctx *ctx, int argc, char **argv)
{
	return p11a_cmd_connect(ctx->socket, argc, argv);
}

static int
cmd_tunnel(struct ctx *ctx, int argc, char **argv)
{
	return p11a_cmd_tunnel(ctx->socket, argc, argv);
}

static const struct command commands[] = {
	{"list", PROG " list", cmd_list, "[--verbose] [--help]",
	 "List the identities (keys) the agent holds, one per line:\n"
	 "  ID URI KEYTYPE BITS SCHEMES SUBJECT [(unavailable)]\n"
	 "  --verbose  then how each is signed with: native mechanisms,\n"
	 "             raw RSA padded by the agent, hash-and-sign, and\n"
	 "             whether the key wants a PIN for every signature\n"},
	{"sign", PROG " sign", cmd_sign,
	 "--identity ID|URI --scheme NAME [--digest] [--in FILE] "
	 "[--out FILE]",
	 "Sign the data read from FILE (default: stdin) with an identity and\n"
	 "a TLS SignatureScheme (RFC 8446 name, e.g. rsa_pss_rsae_sha256);\n"
	 "write the raw signature to FILE (default: stdout).\n"
	 "  --digest   the input is already a digest of the scheme's hash\n"},
	{"status", PROG " status", cmd_status, "[--verbose] [--help]",
	 "Show the agent's version, uptime and counters, and its tokens:\n"
	 "their workers and sessions, the jobs queued and running.\n"
	 "--verbose also shows how each identity signs each scheme\n"
	 "(native, raw RSA padded by the agent, or hashed).\n"},
	{"lock", PROG " lock", cmd_lock, "[--help]",
	 "Log out of every token and forget cached PINs.\n"},
	{"unlock", PROG " unlock", cmd_unlock,
	 "[--token URI] [--pin-source file:PATH|env:VAR] [--final-try]",
	 "Log in again.  The PIN is read from the terminal unless\n"
	 "--pin-source names a file (its first line) or an environment\n"
	 "variable.  The tokens are tried one after the other; the first\n"
	 "that refuses the PIN ends it.\n"
	 "  --token URI   only the tokens matching this pkcs11: URI\n"
	 "  --final-try   use a token's last PIN try (else refused: the\n"
	 "                token would block its PIN if this one is wrong)\n"},
	{"export-key", PROG " export-key", cmd_export_key, "--identity ID|URI",
	 "Write a key file for an identity to stdout: a PEM file that names\n"
	 "the identity (no secret in it).  With the provider active\n"
	 "(openssl.cnf), programs that load private key files with OpenSSL\n"
	 "(curl --key, Python's ssl, stunnel, nginx) use the agent's key.\n"},
	{"export-cert", PROG " export-cert", cmd_export_cert,
	 "--identity ID|URI",
	 "Write the identity's certificate (from its token) to stdout, as "
	 "PEM.\n"},
	{"connect", PROG " connect", cmd_connect, P11A_CONNECT_SYNOPSIS,
	 p11a_connect_help},
	{"tunnel", PROG " tunnel", cmd_tunnel, P11A_TUNNEL_SYNOPSIS,
	 p11a_tunnel_help},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: " PROG " [--socket PATH] COMMAND [ARGS]\n\n"
		   "Commands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name,
			commands[i].synopsis);
	fprintf(f, "\nThe socket defaults to $P11AGENT_SOCK, else "
		   "$XDG_RUNTIME_DIR/p11agent/agent.sock.\n"
		   "'" PROG " COMMAND --help' describes a command.\n\n"
		   "Exit status: 0 ok, 1 error, 2 usage, 3 no agent, "
		   "4 identity not found,\n"
		   "5 agent locked, 6 scheme not supported, "
		   "7 PIN incorrect or locked,\n"
		   "11 no token matches unlock's --token URI; "
		   "connect and tunnel also: 8 the\n"
		   "server rejected our certificate, 9 the server's "
		   "certificate not trusted,\n"
		   "10 server unreachable or TLS failed.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct ctx ctx = {0};
	const struct command *cmd;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			ctx.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf(PROG " " P11A_VERSION "\n");
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc || (cmd = find_command(argv[optind])) == NULL) {
		if (optind < argc)
			say("unknown command: %s", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	argv[optind] = (char *)cmd->prog;
	argv += optind;
	argc -= optind;
	optind = 0; /* glibc: start a fresh scan of the new vector */
	rc = cmd->run(&ctx, argc, argv);
	p11a_client_close(ctx.c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		say("error writing to stdout: %s", strerror(errno));
		if (rc == EXIT_OK)
			rc = EXIT_ERROR;
	}
	return rc;
}
