/*
 * PIN entry through a pinentry program, as gpg-agent does: the Assuan
 * protocol over the program's stdin and stdout (OK greeting, OPTION,
 * SETDESC, SETPROMPT, GETPIN answered by D lines with %-escapes, BYE).
 */
#ifndef P11A_AGENT_PINENTRY_H
#define P11A_AGENT_PINENTRY_H

#include "pin.h"

/* Seconds the user has to answer; pinentry closes its dialog then. */
#define PINENTRY_TIMEOUT_S 300

/*
 * Run program ("pinentry" is looked up in PATH) and ask it for a PIN,
 * showing description.  A cancelled dialog, an empty PIN or a protocol
 * error is a failure.  Everything read is wiped.  Returns a p11a_err;
 * the reason (never the PIN) is logged.
 */
int pinentry_get_pin(const char *program, const char *description,
		     struct pin *out);

#endif
