/* Diagnostics to stderr: see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define PREFIX "p11agent-pkcs11: "

static int
debug_enabled(void)
{
	const char *v = getenv("P11AGENT_PKCS11_DEBUG");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

static void vline(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

static void
vline(const char *fmt, va_list ap)
{
	char line[512];

	/* one write per line, so lines of several threads do not mix */
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, PREFIX "%s\n", line);
}

void
p11m_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug_enabled())
		return;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}

void
p11m_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}
