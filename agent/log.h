/*
 * Agent logging: stderr in the foreground, syslog when detached.  Each
 * line carries the function that logged it.  PINs and signed data are
 * never passed to these functions.
 */
#ifndef P11A_AGENT_LOG_H
#define P11A_AGENT_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

void log_init(const char *ident, int use_syslog, enum log_level level);
/* "error", "warn", "info", "debug"; -1 when unknown */
int log_level_parse(const char *name);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * For lines that clients can cause at will, one per connection or per
 * request: at most LOG_LIMIT_BURST of them per LOG_LIMIT_WINDOW_MS, all
 * kinds together; the rest are counted, and the count is logged once the
 * window is over (by the next such line or log_limited_flush()).
 */
#define LOG_LIMIT_BURST 20
#define LOG_LIMIT_WINDOW_MS 10000
void log_msg_limited(enum log_level level, const char *func, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
void log_vmsg_limited(enum log_level level, const char *func, const char *fmt,
		      va_list ap) __attribute__((format(printf, 3, 0)));
/*
 * Log how many lines were left out, if the window is over (monitor);
 * returns when to call again (UINT64_MAX: nothing left out so far).
 */
uint64_t log_limited_flush(uint64_t now_ms);

#define log_warn_limited(...)                                                  \
	log_msg_limited(LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define log_info_limited(...)                                                  \
	log_msg_limited(LOG_LEVEL_INFO, __func__, __VA_ARGS__)

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __func__, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_enabled(LOG_LEVEL_DEBUG))                              \
			log_msg(LOG_LEVEL_DEBUG, __func__, __VA_ARGS__);       \
	} while (0)

#endif
