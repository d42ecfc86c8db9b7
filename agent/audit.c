#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "p11agent/error.h"

/* an escaped field: each byte may become four ("\xHH") */
#define AUDIT_FIELD_MAX 1024

static struct {
	int fd;
	int use_syslog;
	char path[PATH_MAX];  /* absolute: reopened after chdir("/") */
	pthread_mutex_t lock; /* fd, while writing or swapping it */
} audit = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static int
audit_open_file(void)
{
	int fd = open(audit.path,
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		      0600);

	if (fd < 0)
		log_error("cannot open audit log %s: %s", audit.path,
			  strerror(errno));
	return fd;
}

/* A relative path is taken from the directory we start in. */
static int
audit_set_path(const char *dest)
{
	char cwd[PATH_MAX];
	int n;

	if (dest[0] == '/')
		n = snprintf(audit.path, sizeof(audit.path), "%s", dest);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		n = snprintf(audit.path, sizeof(audit.path), "%s/%s", cwd,
			     dest);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof(audit.path)) {
		log_error("audit log path too long: %s", dest);
		return P11A_ERR_INVALID_ARGUMENT;
	}
	return P11A_OK;
}

int
audit_open(const char *dest)
{
	int r;

	if (dest == NULL)
		return P11A_OK;
	if (strcmp(dest, "syslog") == 0) {
		audit.use_syslog = 1;
		return P11A_OK;
	}
	if ((r = audit_set_path(dest)) != P11A_OK)
		return r;
	if ((audit.fd = audit_open_file()) < 0)
		return P11A_ERR_IO;
	return P11A_OK;
}

void
audit_reopen(void)
{
	int fd, old;

	if (audit.path[0] == '\0')
		return;
	/* a failed reopen keeps the old file: no record is lost */
	if ((fd = audit_open_file()) < 0)
		return;
	pthread_mutex_lock(&audit.lock);
	old = audit.fd;
	audit.fd = fd;
	pthread_mutex_unlock(&audit.lock);
	if (old >= 0)
		close(old);
	log_info("reopened audit log %s", audit.path);
}

/*
 * A field from outside (a file name, a token label) must not make a
 * record of its own, a field of its own, or end a quoted one: control
 * bytes, bytes above 0x7e, '\\' and '"' become "\xHH", and so does a
 * space unless the field is quoted.  Truncation never splits an escape.
 */
static const char *
audit_escape(char *dst, size_t size, const char *src, int quoted)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *src != '\0'; src++) {
		unsigned char ch = (unsigned char)*src;
		int plain = ch > 0x20 && ch < 0x7f && ch != '\\' && ch != '"';

		if (plain || (quoted && ch == ' ')) {
			if (n + 1 >= size)
				break;
			dst[n++] = (char)ch;
			continue;
		}
		if (n + 4 >= size)
			break;
		dst[n++] = '\\';
		dst[n++] = 'x';
		dst[n++] = hex[ch >> 4];
		dst[n++] = hex[ch & 0xf];
	}
	dst[n] = '\0';
	return dst;
}

static void
audit_write_line(const char *body)
{
	char when[32], line[4 * AUDIT_FIELD_MAX + 256];
	struct tm tm;
	time_t now;
	int n;

	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %s\n", when, body);
	if (n < 0)
		return;
	/* too long: cut, but still one whole line */
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* one write per line: O_APPEND keeps lines whole */
	pthread_mutex_lock(&audit.lock);
	if (write(audit.fd, line, (size_t)n) != n)
		log_warn("audit log write failed");
	pthread_mutex_unlock(&audit.lock);
}

void
audit_sign(const struct conn *c, const struct identity *id, const char *scheme,
	   int result, uint64_t usec)
{
	char exe[AUDIT_FIELD_MAX], ident[AUDIT_FIELD_MAX],
		label[AUDIT_FIELD_MAX], sch[AUDIT_FIELD_MAX],
		body[4 * AUDIT_FIELD_MAX + 128];

	if (audit.fd < 0 && !audit.use_syslog)
		return;
	snprintf(body, sizeof(body),
		 "sign pid=%d uid=%u exe=%s identity=%s token=\"%s\" scheme=%s "
		 "result=%s usec=%llu",
		 (int)c->pid, (unsigned)c->uid,
		 audit_escape(exe, sizeof(exe), c->exe, 0),
		 audit_escape(ident, sizeof(ident), id->id, 0),
		 audit_escape(label, sizeof(label), id->token->label, 1),
		 audit_escape(sch, sizeof(sch), scheme, 0),
		 p11a_err_name(result), (unsigned long long)usec);
	if (audit.use_syslog) {
		syslog(LOG_AUTHPRIV | LOG_INFO, "%s", body);
		return;
	}
	audit_write_line(body);
}

void
audit_close(void)
{
	pthread_mutex_lock(&audit.lock);
	if (audit.fd >= 0)
		close(audit.fd);
	audit.fd = -1;
	pthread_mutex_unlock(&audit.lock);
}
