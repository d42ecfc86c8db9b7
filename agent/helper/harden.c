#include "harden.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"
#include "log.h"

/* Without close_range (Linux < 5.9) walk /proc/self/fd instead. */
static int
close_fds_from_proc(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int me;

	if (d == NULL)
		return -1;
	me = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		/* "." and ".." are not fds */
		if (*end == '\0' && end != e->d_name && fd > HELPER_FD &&
		    fd != me)
			close((int)fd);
	}
	closedir(d);
	return 0;
}

static int
close_other_fds(void)
{
	if (close_range(HELPER_FD + 1, ~0u, 0) == 0)
		return 0;
	return close_fds_from_proc();
}

/* A module opening a file must not get fd 0 or 1 and write there. */
static int
fill_std_fds(void)
{
	for (int fd = 0; fd <= 1; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if ((n = open("/dev/null", O_RDWR)) < 0)
			return -1;
		if (n != fd) {
			close(n);
			return -1;
		}
	}
	return 0;
}

int
harden_process(void)
{
	struct rlimit none = {0, 0};
	struct stat st;

	if (fstat(HELPER_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		log_error("fd %d is not the agent's socket", HELPER_FD);
		return -1;
	}
	if (close_other_fds() != 0 || fill_std_fds() != 0) {
		log_error("cannot set up file descriptors: %s",
			  strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    setrlimit(RLIMIT_CORE, &none) != 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
		log_error("cannot harden the process: %s", strerror(errno));
		return -1;
	}
	return 0;
}
