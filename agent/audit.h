/*
 * The audit log: one line per SIGN saying who asked (pid, uid,
 * executable), for which identity and scheme, the result and the time
 * the token took.  Never the data, never a PIN.  docs/AUDIT.md explains
 * how to read it.
 */
#ifndef P11A_AGENT_AUDIT_H
#define P11A_AGENT_AUDIT_H

#include <stdint.h>

#include "conn.h"
#include "token.h"

/* dest: "syslog", or a file appended to; NULL leaves auditing off. */
int audit_open(const char *dest);
void audit_sign(const struct conn *c, const struct identity *id,
		const char *scheme, int result, uint64_t usec);
void audit_close(void);

#endif
