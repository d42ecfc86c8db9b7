/*
 * A helper program the agent talks to over its standard input and
 * output (pinentry, systemd-ask-password).  What it writes may be a PIN,
 * so the read buffer is wiped when the child is finished with.
 */
#ifndef P11A_AGENT_CHILD_H
#define P11A_AGENT_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHILD_LINE_MAX 1002 /* an Assuan line (1000) and its line end */

struct child {
	const char *name; /* argv[0], for logs */
	pid_t pid;
	int fd; /* our end: the child's stdout (and stdin) */
	unsigned char buf[CHILD_LINE_MAX];
	size_t have;
	uint64_t deadline_ms; /* CLOCK_MONOTONIC; reads fail after it */
};

/*
 * Start argv (argv[0] looked up in PATH when it has no '/') with its
 * stdout, and its stdin too when with_stdin (else it keeps ours, so it
 * can ask on our terminal), connected to c->fd.  Its signal mask and
 * dispositions are reset.  Everything must be done within timeout_ms.
 * Returns a p11a_err; errors are logged.
 */
int child_start(struct child *c, char *const argv[], int with_stdin,
		unsigned timeout_ms);
/*
 * Read one line into line (without its '\n', NUL-terminated).  Returns
 * its length, or -1 at end of file, on timeout, or when a line does not
 * fit in size.
 */
ssize_t child_read_line(struct child *c, char *line, size_t size);
/* Write all of s; returns 0 or -1.  Never raises SIGPIPE. */
int child_write(struct child *c, const char *s, size_t len);
/*
 * Close our end, wait for the child (killing it if it does not exit
 * within a second), wipe the buffer.  Returns its exit status, or -1
 * when it was killed or did not exit normally.  Exit status 127 (the
 * program could not be run, where posix_spawn cannot tell, e.g. under
 * valgrind) is logged.
 */
int child_finish(struct child *c);

#endif
