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
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	r = pin_set(out, line, pin_first_line(line, n));
	OPENSSL_cleanse(line, sizeof(line));
	if (r != P11A_OK)
		log_error("PIN file %s holds no usable PIN", path);
	return r;
}

static int
pin_from_env(const char *var, struct pin *out)
{
	const char *v = getenv(var);

	if (v == NULL) {
		log_error("PIN source: environment variable %s is not set",
			  var);
		return P11A_ERR_INVALID_ARGUMENT;
	}
	return pin_set(out, v, strlen(v));
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
