#include "pinentry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "child.h"
#include "log.h"
#include "p11agent/error.h"

#define GPG_ERR_TIMEOUT 62
#define GPG_ERR_CANCELED 99
#define PINENTRY_PIN_MAX 256

/* What the user typed, decoded from D lines; wiped when done. */
struct pinentry_data {
	char pin[PINENTRY_PIN_MAX + 1];
	size_t len;
	int bad;
};

/* Assuan escapes '%', CR, LF and other control bytes in a command. */
static void
pinentry_escape(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 4 < size; src++) {
		unsigned char ch = (unsigned char)*src;

		if (ch == '%' || ch < 0x20)
			n += (size_t)snprintf(dst + n, size - n, "%%%02X", ch);
		else
			dst[n++] = (char)ch;
	}
	dst[n] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append a "D " line's %-escaped data; several D lines concatenate. */
static void
pinentry_data_line(struct pinentry_data *d, const char *s)
{
	int hi, lo;

	for (; *s != '\0' && !d->bad; s++) {
		char ch = *s;

		if (ch == '%') {
			if ((hi = hex_value(s[1])) < 0 ||
			    (lo = hex_value(s[2])) < 0) {
				d->bad = 1;
				return;
			}
			ch = (char)(hi << 4 | lo);
			s += 2;
		}
		if (ch == '\0' || d->len >= PINENTRY_PIN_MAX) {
			d->bad = 1;
			return;
		}
		d->pin[d->len++] = ch;
	}
}

/* Log an "ERR code text" reply; it never holds the PIN. */
static int
pinentry_err(const char *line)
{
	unsigned long code = strtoul(line + 3, NULL, 10) & 0xffff;

	if (code == GPG_ERR_CANCELED) {
		log_error("PIN entry cancelled");
		return P11A_ERR_DENIED;
	}
	if (code == GPG_ERR_TIMEOUT) {
		log_error("PIN entry timed out");
		return P11A_ERR_TIMEOUT;
	}
	log_error("pinentry: %.200s", line);
	return P11A_ERR_IO;
}

/*
 * Read the answer to one command: status ("S") and comment ("#") lines
 * are skipped, data lines go to d (when given).  Returns P11A_OK on OK.
 */
static int
pinentry_reply(struct child *c, struct pinentry_data *d)
{
	char line[CHILD_LINE_MAX];
	int r = P11A_ERR_PROTOCOL;

	for (;;) {
		if (child_read_line(c, line, sizeof(line)) < 0) {
			log_error("pinentry closed the dialogue");
			r = P11A_ERR_IO;
			break;
		}
		if (strcmp(line, "OK") == 0 || strncmp(line, "OK ", 3) == 0) {
			r = P11A_OK;
			break;
		}
		if (strncmp(line, "ERR", 3) == 0) {
			r = pinentry_err(line);
			break;
		}
		if (d != NULL && strncmp(line, "D ", 2) == 0) {
			pinentry_data_line(d, line + 2);
			continue;
		}
		if (line[0] == '#' || strncmp(line, "S ", 2) == 0)
			continue;
		log_error("pinentry: unexpected line '%.40s'", line);
		break;
	}
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

static int
pinentry_command(struct child *c, const char *cmd, struct pinentry_data *d)
{
	if (child_write(c, cmd, strlen(cmd)) != 0 ||
	    child_write(c, "\n", 1) != 0) {
		log_error("pinentry closed the dialogue");
		return P11A_ERR_IO;
	}
	return pinentry_reply(c, d);
}

/*
 * Tell a terminal pinentry where to draw (its stdin is our socket).  A
 * pinentry that does not know an option answers ERR: not fatal.
 */
static int
pinentry_options(struct child *c)
{
	char cmd[CHILD_LINE_MAX];
	const char *tty = NULL, *term = getenv("TERM");
	int r;

	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO && tty == NULL; fd++)
		if (isatty(fd))
			tty = ttyname(fd);
	if (tty == NULL)
		return P11A_OK;
	snprintf(cmd, sizeof(cmd), "OPTION ttyname=%s", tty);
	if ((r = pinentry_command(c, cmd, NULL)) == P11A_ERR_IO)
		return r;
	if (term == NULL)
		return P11A_OK;
	snprintf(cmd, sizeof(cmd), "OPTION ttytype=%s", term);
	r = pinentry_command(c, cmd, NULL);
	return r == P11A_ERR_IO ? r : P11A_OK;
}

static int
pinentry_dialogue(struct child *c, const char *description,
		  struct pinentry_data *d)
{
	char cmd[CHILD_LINE_MAX], desc[CHILD_LINE_MAX - 16];
	int r;

	pinentry_escape(desc, sizeof(desc), description);
	snprintf(cmd, sizeof(cmd), "SETDESC %s", desc);
	if ((r = pinentry_reply(c, NULL)) != P11A_OK ||
	    (r = pinentry_options(c)) != P11A_OK ||
	    (r = pinentry_command(c, cmd, NULL)) != P11A_OK ||
	    (r = pinentry_command(c, "SETPROMPT PIN:", NULL)) != P11A_OK)
		return r;
	snprintf(cmd, sizeof(cmd), "SETTIMEOUT %d", PINENTRY_TIMEOUT_S - 10);
	if ((r = pinentry_command(c, cmd, NULL)) == P11A_ERR_IO ||
	    (r = pinentry_command(c, "GETPIN", d)) != P11A_OK)
		return r;
	/* the dialog is over; a missing answer to BYE does not matter */
	(void)pinentry_command(c, "BYE", NULL);
	return P11A_OK;
}

int
pinentry_get_pin(const char *program, const char *description, struct pin *out)
{
	char *argv[] = {(char *)program, NULL};
	struct pinentry_data d = {0};
	struct child c;
	int r;

	if ((r = child_start(&c, argv, 1, PINENTRY_TIMEOUT_S * 1000u)) !=
	    P11A_OK)
		return r;
	r = pinentry_dialogue(&c, description, &d);
	child_finish(&c);
	if (r == P11A_OK && d.bad) {
		log_error("pinentry sent a malformed or too long PIN");
		r = P11A_ERR_PROTOCOL;
	} else if (r == P11A_OK && d.len == 0) {
		log_error("no PIN entered");
		r = P11A_ERR_INVALID_ARGUMENT;
	}
	if (r == P11A_OK)
		r = pin_set(out, d.pin, d.len);
	OPENSSL_cleanse(&d, sizeof(d));
	return r;
}
