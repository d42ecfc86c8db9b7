#include "askpass.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "child.h"
#include "log.h"
#include "p11agent/error.h"

/* a credential of the service answers without asking anyone */
static char credential_opt[] = "--credential=" ASKPASS_CREDENTIAL;

int
askpass_get_pin(const char *message, struct pin *out)
{
	char *argv[] = {ASKPASS_PROGRAM,	  "--id=p11agentd",
			"--icon=dialog-password", credential_opt,
			(char *)message,	  NULL};
	char line[CHILD_LINE_MAX];
	struct child c;
	ssize_t n;
	int r, status;

	/* stdin stays ours: on a terminal it asks there */
	if ((r = child_start(&c, argv, 0, ASKPASS_TIMEOUT_S * 1000u)) !=
	    P11A_OK)
		return r;
	n = child_read_line(&c, line, sizeof(line));
	status = child_finish(&c);
	if (status != 0) {
		log_error("%s failed (%s)", ASKPASS_PROGRAM,
			  status < 0 ? "killed or timed out" : "no PIN given");
		r = status < 0 ? P11A_ERR_TIMEOUT : P11A_ERR_DENIED;
	} else if (n <= 0) {
		log_error("%s gave no PIN", ASKPASS_PROGRAM);
		r = P11A_ERR_INVALID_ARGUMENT;
	} else {
		r = pin_set(out, line, (size_t)n);
	}
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}
