#include "kill.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define AGENT_COMM "p11agentd"

/* The pid that listens on path, from the connection's peer credentials. */
static pid_t
kill_peer_pid(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(struct ucred);
	struct ucred cr;
	pid_t pid = -1;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		pid = cr.pid;
	close(fd);
	return pid;
}

/* The process name (comm) of pid; "" if unknown. */
static void
kill_comm(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * A pidfd pins the process: the checks and the signal then reach the
 * same one even if it exits and its pid is reused meanwhile.  -1 where
 * the kernel has no pidfds (before 5.3); we fall back to the pid.
 */
static int
kill_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static int
kill_send(pid_t pid, int pidfd)
{
#ifdef SYS_pidfd_send_signal
	if (pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL,
				    0);
#endif
	(void)pidfd;
	return kill(pid, SIGTERM);
}

/* Wait until the process is gone; 0 when it is, -1 on timeout. */
static int
kill_wait(pid_t pid, int pidfd)
{
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

	if (pidfd >= 0)
		return poll(&pfd, 1, KILL_WAIT_S * 1000) == 1 ? 0 : -1;
	for (int i = 0; i < KILL_WAIT_S * 20; i++) {
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return 0;
		usleep(50000);
	}
	return -1;
}

static int
kill_checked(const char *path, pid_t pid, int pidfd)
{
	char comm[32];

	kill_comm(pid, comm, sizeof(comm));
	if (strcmp(comm, AGENT_COMM) != 0) {
		fprintf(stderr,
			"p11agentd: %s was created by pid %d (%s), not by a "
			"p11agentd; a socket-activated agent is stopped by its "
			"service manager (systemctl --user stop p11agent)\n",
			path, (int)pid, comm[0] ? comm : "unknown");
		return 1;
	}
	if (kill_send(pid, pidfd) != 0) {
		fprintf(stderr, "p11agentd: kill %d: %s\n", (int)pid,
			strerror(errno));
		return 1;
	}
	if (kill_wait(pid, pidfd) != 0) {
		fprintf(stderr,
			"p11agentd: agent pid %d did not exit within "
			"%d s\n",
			(int)pid, KILL_WAIT_S);
		return 1;
	}
	return 0;
}

int
kill_agent(int csh)
{
	const char *path = getenv("P11AGENT_SOCK");
	pid_t pid;
	int pidfd, r;

	if (path == NULL || path[0] == '\0') {
		fprintf(stderr, "p11agentd: P11AGENT_SOCK is not set\n");
		return 1;
	}
	if ((pid = kill_peer_pid(path)) <= 0) {
		fprintf(stderr, "p11agentd: no agent at %s\n", path);
		return 1;
	}
	pidfd = kill_pidfd(pid);
	r = kill_checked(path, pid, pidfd);
	if (pidfd >= 0)
		close(pidfd);
	if (r != 0)
		return r;
	if (csh)
		printf("unsetenv P11AGENT_SOCK;\nunsetenv P11AGENT_PID;\n");
	else
		printf("unset P11AGENT_SOCK;\nunset P11AGENT_PID;\n");
	printf("echo Agent pid %d killed;\n", (int)pid);
	return 0;
}
