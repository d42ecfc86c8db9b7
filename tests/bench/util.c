/* Small things every part of the benchmark uses. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "drivers.h"

static const char *const mode_names[MODE_COUNT] = {
	[MODE_DIRECT] = "direct",	[MODE_AGENT] = "agent",
	[MODE_PIPELINED] = "pipelined", [MODE_P11KIT] = "p11kit",
	[MODE_SSH] = "ssh-agent",
};

const char *
bench_mode_name(enum bench_mode m)
{
	return (unsigned)m < MODE_COUNT ? mode_names[m] : "?";
}

int
bench_mode_from_name(const char *name)
{
	int m;

	for (m = 0; m < MODE_COUNT; m++) {
		if (strcmp(name, mode_names[m]) == 0)
			return m;
	}
	return -1;
}

const struct bench_driver *
bench_driver_for(enum bench_mode m)
{
	switch (m) {
	case MODE_DIRECT:
		return &bench_driver_direct;
	case MODE_AGENT:
		return &bench_driver_agent;
	case MODE_PIPELINED:
		return &bench_driver_pipelined;
	case MODE_P11KIT:
		return &bench_driver_p11kit;
	case MODE_SSH:
		return &bench_driver_ssh;
	default:
		return NULL;
	}
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
bench_why(char why[BENCH_WHY], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, BENCH_WHY, fmt, ap);
	va_end(ap);
	return -1;
}

pid_t
bench_socket_peer_pid(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ucred cred = {0};
	socklen_t len = sizeof(cred);
	pid_t pid = 0;
	size_t n;
	int fd;

	if (path == NULL || (n = strlen(path)) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, n + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	/* the listener's credentials, recorded when it called listen() */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	return pid;
}
