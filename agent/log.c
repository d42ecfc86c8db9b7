#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static int log_to_syslog;
static enum log_level log_threshold = LOG_LEVEL_INFO;
static const char *log_ident = "p11agentd";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_init(const char *ident, int use_syslog, enum log_level level)
{
	log_ident = ident;
	log_to_syslog = use_syslog;
	log_threshold = level;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

int
log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

void
log_msg(enum log_level level, const char *func, const char *fmt, ...)
{
	static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
					  LOG_DEBUG};
	char line[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_to_syslog) {
		syslog(syslog_prio[level], "%s: %s", func, line);
		return;
	}
	/* one write per line so lines from worker threads do not interleave */
	fprintf(stderr, "%s[%s] %s: %s\n", log_ident, level_names[level], func,
		line);
}
