#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "clock.h"

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

static void __attribute__((format(printf, 3, 0)))
log_vmsg(enum log_level level, const char *func, const char *fmt, va_list ap)
{
	static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
					  LOG_DEBUG};
	char line[1024];

	if (!log_enabled(level))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_to_syslog) {
		syslog(syslog_prio[level], "%s: %s", func, line);
		return;
	}
	/* one write per line so lines from worker threads do not interleave */
	fprintf(stderr, "%s[%s] %s: %s\n", log_ident, level_names[level], func,
		line);
}

void
log_msg(enum log_level level, const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, func, fmt, ap);
	va_end(ap);
}

/* The window of the lines clients can cause (log_msg_limited). */
static struct {
	pthread_mutex_t lock;
	uint64_t start_ms;
	unsigned logged, left_out;
} limit = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Close the window if it is over; returns what it left out.  Locked. */
static unsigned
log_limit_roll_locked(uint64_t now_ms)
{
	unsigned left_out = 0;

	if (now_ms - limit.start_ms >= LOG_LIMIT_WINDOW_MS) {
		left_out = limit.left_out;
		limit.start_ms = now_ms;
		limit.logged = limit.left_out = 0;
	}
	return left_out;
}

static void
log_limit_report(unsigned left_out)
{
	if (left_out > 0)
		log_msg(LOG_LEVEL_WARN, "log_limited",
			"%u more lines about clients were not logged in the "
			"last %u s",
			left_out, LOG_LIMIT_WINDOW_MS / 1000);
}

void
log_vmsg_limited(enum log_level level, const char *func, const char *fmt,
		 va_list ap)
{
	unsigned left_out;
	int allowed;

	if (!log_enabled(level))
		return;
	pthread_mutex_lock(&limit.lock);
	left_out = log_limit_roll_locked(p11a_clock_ms());
	allowed = limit.logged < LOG_LIMIT_BURST;
	if (allowed)
		limit.logged++;
	else
		limit.left_out++;
	pthread_mutex_unlock(&limit.lock);
	log_limit_report(left_out);
	if (allowed)
		log_vmsg(level, func, fmt, ap);
}

void
log_msg_limited(enum log_level level, const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg_limited(level, func, fmt, ap);
	va_end(ap);
}

uint64_t
log_limited_flush(uint64_t now_ms)
{
	unsigned left_out;
	uint64_t due;

	pthread_mutex_lock(&limit.lock);
	left_out = log_limit_roll_locked(now_ms);
	/* lines left out now are reported when this window ends */
	due = limit.left_out > 0 ? limit.start_ms + LOG_LIMIT_WINDOW_MS
				 : UINT64_MAX;
	pthread_mutex_unlock(&limit.lock);
	log_limit_report(left_out);
	return due;
}
