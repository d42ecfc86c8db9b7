#include "child.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "log.h"
#include "p11agent/error.h"

extern char **environ;

/* The child starts with no signal blocked or ignored, whatever we did. */
static int
child_attr(posix_spawnattr_t *attr)
{
	sigset_t none, all;

	sigemptyset(&none);
	sigfillset(&all);
	if (posix_spawnattr_init(attr) != 0)
		return -1;
	if (posix_spawnattr_setsigmask(attr, &none) != 0 ||
	    posix_spawnattr_setsigdefault(attr, &all) != 0 ||
	    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETSIGDEF) !=
		    0) {
		posix_spawnattr_destroy(attr);
		return -1;
	}
	return 0;
}

int
child_start(struct child *c, char *const argv[], int with_stdin,
	    unsigned timeout_ms)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int sv[2], r;

	memset(c, 0, sizeof(*c));
	c->name = argv[0];
	c->fd = -1;
	c->pid = -1;
	c->deadline_ms = p11a_clock_ms() + timeout_ms;
	/* a socket, not pipes: send() can refuse SIGPIPE per call */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_error("socketpair: %s", strerror(errno));
		return P11A_ERR_IO;
	}
	if (child_attr(&attr) != 0) {
		close(sv[0]);
		close(sv[1]);
		return P11A_ERR_NO_MEMORY;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO);
	if (with_stdin)
		posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
	r = posix_spawnp(&c->pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (r != 0) {
		log_error("cannot run %s: %s", argv[0], strerror(r));
		close(sv[0]);
		c->pid = -1;
		return P11A_ERR_IO;
	}
	c->fd = sv[0];
	return P11A_OK;
}

/* Wait for input until the deadline; 1 readable, 0 timeout, -1 error. */
static int
child_wait_input(struct child *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	uint64_t now;
	int r;

	for (;;) {
		now = p11a_clock_ms();
		if (now >= c->deadline_ms)
			return 0;
		r = poll(&pfd, 1, (int)(c->deadline_ms - now));
		if (r >= 0)
			return r > 0 ? 1 : 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Move the first n bytes (and the '\n' after them, if any) out. */
static ssize_t
child_take(struct child *c, size_t n, char *line)
{
	size_t used = n < c->have ? n + 1 : n;

	memcpy(line, c->buf, n);
	line[n] = '\0';
	memmove(c->buf, c->buf + used, c->have - used);
	OPENSSL_cleanse(c->buf + c->have - used, used);
	c->have -= used;
	return (ssize_t)n;
}

ssize_t
child_read_line(struct child *c, char *line, size_t size)
{
	unsigned char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(c->buf, '\n', c->have);
		if (nl != NULL) {
			if ((size_t)(nl - c->buf) >= size)
				return -1;
			return child_take(c, (size_t)(nl - c->buf), line);
		}
		if (c->have == sizeof(c->buf)) {
			log_error("helper program sent a line too long");
			return -1;
		}
		if (child_wait_input(c) != 1) {
			log_error("helper program did not answer in time");
			return -1;
		}
		n = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* a last line without '\n' still counts */
			if (c->have == 0 || c->have >= size)
				return -1;
			return child_take(c, c->have, line);
		}
		c->have += (size_t)n;
	}
}

int
child_write(struct child *c, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int
child_finish(struct child *c)
{
	int status = 0;
	pid_t r = 0;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	OPENSSL_cleanse(c->buf, sizeof(c->buf));
	c->have = 0;
	if (c->pid <= 0)
		return -1;
	/* with its input closed a well-behaved helper exits at once */
	for (int i = 0; i < 100; i++) {
		r = waitpid(c->pid, &status, WNOHANG);
		if (r != 0 && !(r < 0 && errno == EINTR))
			break;
		usleep(10000);
	}
	if (r == 0) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		status = -1;
	}
	c->pid = -1;
	if (r < 0 || status == -1 || !WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status) == 127)
		log_error("cannot run %s (exit status 127)", c->name);
	return WEXITSTATUS(status);
}
