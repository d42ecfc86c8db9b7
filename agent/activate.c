#include "activate.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int
activation_number(const char *s, unsigned long *out)
{
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

static int
activation_sockopt(int fd, int opt)
{
	socklen_t len = sizeof(int);
	int v;

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0)
		return -1;
	return v;
}

/* The socket's name, for logs and P11AGENT_SOCK. */
static void
activation_name(int fd, char *path, size_t size)
{
	struct sockaddr_un sa = {0};
	socklen_t len = sizeof(sa);
	size_t n;

	if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path)) {
		snprintf(path, size, "(unnamed socket)");
		return;
	}
	n = len - offsetof(struct sockaddr_un, sun_path);
	if (sa.sun_path[0] == '\0')
		snprintf(path, size, "@%.*s", (int)(n - 1), sa.sun_path + 1);
	else
		snprintf(path, size, "%.*s", (int)strnlen(sa.sun_path, n),
			 sa.sun_path);
}

static int
activation_check(int fd, char *path, size_t size)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		log_error("fd %d passed by the service manager is not a socket",
			  fd);
		return -1;
	}
	if (activation_sockopt(fd, SO_DOMAIN) != AF_UNIX ||
	    activation_sockopt(fd, SO_TYPE) != SOCK_STREAM ||
	    activation_sockopt(fd, SO_ACCEPTCONN) != 1) {
		log_error("fd %d passed by the service manager is not a "
			  "listening AF_UNIX stream socket",
			  fd);
		return -1;
	}
	/* the loop accepts until EAGAIN; helpers we run must not get it */
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		log_error("fcntl on the passed socket: %s", strerror(errno));
		return -1;
	}
	activation_name(fd, path, size);
	return 0;
}

int
activation_take(int *fd, char *path, size_t size)
{
	unsigned long pid, n;
	int r = 0;

	if (activation_number(getenv("LISTEN_PID"), &pid) != 0 ||
	    pid != (unsigned long)getpid())
		goto out; /* none, or meant for the process that started us */
	if (activation_number(getenv("LISTEN_FDS"), &n) != 0) {
		log_error("LISTEN_FDS is not a number");
		r = -1;
		goto out;
	}
	if (n == 0)
		goto out;
	if (n > 1)
		log_warn("%lu sockets passed; serving only the first (fd %d)",
			 n, ACTIVATION_FD);
	if (activation_check(ACTIVATION_FD, path, size) != 0) {
		r = -1;
		goto out;
	}
	*fd = ACTIVATION_FD;
	r = 1;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}
