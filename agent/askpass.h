/*
 * PIN entry for boot-time services through systemd-ask-password: on our
 * terminal when we have one, else through systemd's password agents
 * (console, wall, plymouth).  A systemd credential named p11agent.pin
 * (LoadCredential=, SetCredentialEncrypted= in the unit) answers without
 * asking anyone.
 */
#ifndef P11A_AGENT_ASKPASS_H
#define P11A_AGENT_ASKPASS_H

#include "pin.h"

#define ASKPASS_PROGRAM "systemd-ask-password"
#define ASKPASS_CREDENTIAL "p11agent.pin"
/* systemd-ask-password gives up after its default 90 s; we a bit later */
#define ASKPASS_TIMEOUT_S 120

/*
 * Ask for a PIN showing message; the first line of the program's output
 * is the PIN.  A failed or empty answer is a failure.  Returns a
 * p11a_err; the reason (never the PIN) is logged.
 */
int askpass_get_pin(const char *message, struct pin *out);

#endif
