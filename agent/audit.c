#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "p11agent/error.h"

static struct {
	int fd;
	int use_syslog;
	pthread_mutex_t lock;
} audit = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

int
audit_open(const char *dest)
{
	if (dest == NULL)
		return P11A_OK;
	if (strcmp(dest, "syslog") == 0) {
		audit.use_syslog = 1;
		return P11A_OK;
	}
	audit.fd = open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (audit.fd < 0) {
		log_error("cannot open audit log %s: %s", dest,
			  strerror(errno));
		return P11A_ERR_IO;
	}
	return P11A_OK;
}

void
audit_sign(const struct conn *c, const struct identity *id, const char *scheme,
	   int result, uint64_t usec)
{
	char when[32], body[640], line[704];
	struct tm tm;
	time_t now;
	int n;

	if (audit.fd < 0 && !audit.use_syslog)
		return;
	snprintf(body, sizeof(body),
		 "sign pid=%d uid=%u exe=%s identity=%s token=\"%s\" scheme=%s "
		 "result=%s usec=%llu",
		 (int)c->pid, (unsigned)c->uid, c->exe, id->id,
		 id->token->label, scheme, p11a_err_name(result),
		 (unsigned long long)usec);
	if (audit.use_syslog) {
		syslog(LOG_AUTHPRIV | LOG_INFO, "%s", body);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %s\n", when, body);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	/* one write per line: O_APPEND keeps lines whole */
	pthread_mutex_lock(&audit.lock);
	if (write(audit.fd, line, (size_t)n) != n)
		log_warn("audit log write failed");
	pthread_mutex_unlock(&audit.lock);
}

void
audit_close(void)
{
	if (audit.fd >= 0)
		close(audit.fd);
	audit.fd = -1;
}
