/*
 * The audit log: one line per SIGN saying who asked (pid, uid,
 * executable), for which identity and scheme, the result and the time
 * the token took.  Never the data, never a PIN.  Fields that come from
 * outside are escaped, so a record is always exactly one line.
 * docs/RELIABILITY.md ("The audit log") explains how to read it.
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
/*
 * SIGHUP: open the file again by its name (logrotate moved it away);
 * if that fails the old file is kept.  Any thread.
 */
void audit_reopen(void);
void audit_close(void);

#endif
