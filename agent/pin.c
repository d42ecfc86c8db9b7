#include "pin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "askpass.h"
#include "log.h"
#include "p11agent/error.h"
#include "pinentry.h"

#define PIN_MAX 256
#define PIN_PAGE 4096

extern char **environ;

/*
 * A PIN gets a page of its own: locked in RAM (never swapped) and left
 * out of core dumps.  Both are best effort: an unprivileged process may
 * hit RLIMIT_MEMLOCK, and the PIN is still wiped on release.
 */
static char *
pin_page_alloc(void)
{
	void *p = mmap(NULL, PIN_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)mlock(p, PIN_PAGE);
	(void)madvise(p, PIN_PAGE, MADV_DONTDUMP);
	return p;
}

int
pin_set(struct pin *dst, const void *value, size_t len)
{
	pin_clear(dst);
	if (len > PIN_MAX || memchr(value, '\0', len) != NULL)
		return P11A_ERR_BAD_INPUT;
	if ((dst->value = pin_page_alloc()) == NULL)
		return P11A_ERR_NO_MEMORY;
	memcpy(dst->value, value, len);
	dst->value[len] = '\0';
	dst->len = len;
	return P11A_OK;
}

void
pin_clear(struct pin *p)
{
	if (p->value != NULL) {
		OPENSSL_cleanse(p->value, PIN_PAGE);
		munlock(p->value, PIN_PAGE);
		munmap(p->value, PIN_PAGE);
	}
	p->value = NULL;
	p->len = 0;
}

/* Keep the first line of a buffer, without its line ending. */
static size_t
pin_first_line(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && s[n] != '\n' && s[n] != '\r')
		n++;
	return n;
}

static int
pin_from_file(const char *path, struct pin *out)
{
	char line[PIN_MAX + 2];
	size_t n;
	FILE *f;
	int r;

	if ((f = fopen(path, "re")) == NULL) {
		log_error("cannot open PIN file %s: %s", path, strerror(errno));
		return P11A_ERR_INVALID_ARGUMENT;
	}
	/* no stdio buffer: it would be freed with the PIN still in it */
	setvbuf(f, NULL, _IONBF, 0);
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	r = pin_set(out, line, pin_first_line(line, n));
	OPENSSL_cleanse(line, sizeof(line));
	if (r != P11A_OK)
		log_error("PIN file %s holds no usable PIN", path);
	return r;
}

/*
 * Take VAR out of the environment: unsetenv() only drops the pointers,
 * and /proc/PID/environ shows the bytes the kernel put on our stack, so
 * every VAR=value string is wiped first (all of them: execve allows
 * duplicates).  Helpers we run later inherit no trace of it either.
 */
static void
pin_env_wipe(const char *var)
{
	size_t n = strlen(var);

	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, var, n) == 0 && (*e)[n] == '=')
			OPENSSL_cleanse(*e + n + 1, strlen(*e + n + 1));
	unsetenv(var);
}

/*
 * Variables already taken out of the environment, with their PINs: the
 * URIs of several tokens may name the same one.  Kept until start-up is
 * over (pin_env_forget); start-up runs on one thread.
 */
#define PIN_ENV_MAX 32
static struct {
	char *var;
	struct pin pin;
} pin_env_taken[PIN_ENV_MAX];

static int
pin_env_remember(const char *var, const struct pin *p)
{
	for (size_t i = 0; i < PIN_ENV_MAX; i++) {
		if (pin_env_taken[i].var != NULL)
			continue;
		if ((pin_env_taken[i].var = strdup(var)) == NULL)
			return P11A_ERR_NO_MEMORY;
		return pin_set(&pin_env_taken[i].pin, p->value, p->len);
	}
	log_error("PIN source: more than %d environment variables",
		  PIN_ENV_MAX);
	return P11A_ERR_INVALID_ARGUMENT;
}

static const struct pin *
pin_env_recall(const char *var)
{
	for (size_t i = 0; i < PIN_ENV_MAX; i++)
		if (pin_env_taken[i].var != NULL &&
		    strcmp(pin_env_taken[i].var, var) == 0)
			return &pin_env_taken[i].pin;
	return NULL;
}

void
pin_env_forget(void)
{
	for (size_t i = 0; i < PIN_ENV_MAX; i++) {
		pin_clear(&pin_env_taken[i].pin);
		free(pin_env_taken[i].var);
		pin_env_taken[i].var = NULL;
	}
}

static int
pin_from_env(const char *var, struct pin *out)
{
	const struct pin *taken = pin_env_recall(var);
	const char *v;
	int r;

	if (taken != NULL)
		return pin_set(out, taken->value, taken->len);
	if ((v = getenv(var)) == NULL) {
		log_error("PIN source: environment variable %s is not set",
			  var);
		return P11A_ERR_INVALID_ARGUMENT;
	}
	if ((r = pin_set(out, v, strlen(v))) == P11A_OK)
		r = pin_env_remember(var, out);
	pin_env_wipe(var);
	return r;
}

#define PIN_DESCRIPTION "PIN for the PKCS#11 tokens of p11agent"

int
pin_source_check(const char *source)
{
	static const char *const prefixes[] = {"file:", "env:", "pinentry:"};

	if (strcmp(source, "pinentry") == 0 ||
	    strcmp(source, ASKPASS_PROGRAM) == 0 || source[0] == '/')
		return 0;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (strncmp(source, prefixes[i], n) == 0 && source[n] != '\0')
			return 0;
	}
	return -1;
}

int
pin_from_source_for(const char *source, const char *description,
		    struct pin *out)
{
	if (strncmp(source, "file:", 5) == 0)
		return pin_from_file(source + 5, out);
	if (strncmp(source, "env:", 4) == 0)
		return pin_from_env(source + 4, out);
	if (source[0] == '/')
		return pin_from_file(source, out);
	if (strcmp(source, "pinentry") == 0)
		return pinentry_get_pin("pinentry", description, out);
	if (strncmp(source, "pinentry:", 9) == 0)
		return pinentry_get_pin(source + 9, description, out);
	if (strcmp(source, ASKPASS_PROGRAM) == 0)
		return askpass_get_pin(description, out);
	log_error("unknown PIN source '%s' (use file:PATH, env:VAR, "
		  "pinentry[:PROGRAM] or systemd-ask-password)",
		  source);
	return P11A_ERR_INVALID_ARGUMENT;
}

int
pin_from_source(const char *source, struct pin *out)
{
	return pin_from_source_for(source, PIN_DESCRIPTION, out);
}

int
pin_from_tty(const char *prompt, struct pin *out)
{
	struct termios saved, quiet;
	char line[PIN_MAX + 2];
	int r = P11A_ERR_IO;
	FILE *tty;

	if ((tty = fopen("/dev/tty", "r+e")) == NULL)
		return P11A_ERR_IO;
	if (tcgetattr(fileno(tty), &saved) != 0)
		goto out;
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	fputs(prompt, tty);
	fflush(tty);
	if (tcsetattr(fileno(tty), TCSAFLUSH, &quiet) != 0)
		goto out;
	if (fgets(line, sizeof(line), tty) != NULL)
		r = pin_set(out, line, pin_first_line(line, strlen(line)));
	tcsetattr(fileno(tty), TCSAFLUSH, &saved);
	fputc('\n', tty);
out:
	OPENSSL_cleanse(line, sizeof(line));
	fclose(tty);
	return r;
}
