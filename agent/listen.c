#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "activate.h"
#include "log.h"
#include "p11agent/error.h"

#define LISTEN_BACKLOG 128

static int
listener_default_path(struct listener *l)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char tmpl[] = "/tmp/p11agent-XXXXXX";
	int n;

	if (rt != NULL && rt[0] == '/') {
		n = snprintf(l->path, sizeof(l->path), "%s/p11agent/agent.sock",
			     rt);
		return n > 0 && (size_t)n < sizeof(l->path)
			       ? P11A_OK
			       : P11A_ERR_INVALID_ARGUMENT;
	}
	/* like ssh-agent: a fresh private directory under /tmp */
	if (mkdtemp(tmpl) == NULL) {
		log_error("mkdtemp: %s", strerror(errno));
		return P11A_ERR_IO;
	}
	snprintf(l->dir, sizeof(l->dir), "%s", tmpl);
	snprintf(l->path, sizeof(l->path), "%s/agent.sock", tmpl);
	return P11A_OK;
}

/* What lstat(2) sees: a symlink, or no directory at all, is refused. */
static int
listener_dir_is_real(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		log_error("socket directory %s: %s", dir, strerror(errno));
		return 0;
	}
	if (S_ISLNK(st.st_mode))
		log_error("socket directory %s: is a symbolic link; give the "
			  "directory itself",
			  dir);
	else if (!S_ISDIR(st.st_mode))
		log_error("socket directory %s: is not a directory", dir);
	return S_ISDIR(st.st_mode);
}

/*
 * The directory must be the one it names (no symlink: whoever owns the
 * parent could point it anywhere), ours, and closed to other writers,
 * who could replace the socket.  Owner and mode are those of the
 * directory opened without following a symlink, so what is checked is
 * what is there; its mode is never changed.
 */
static int
listener_check_dir(const char *dir)
{
	struct stat st;
	int fd, r = P11A_ERR_INVALID_ARGUMENT;

	if (!listener_dir_is_real(dir))
		return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		log_error("socket directory %s: %s", dir, strerror(errno));
		r = P11A_ERR_IO;
	} else if (st.st_uid != geteuid()) {
		log_error("socket directory %s: is owned by uid %u, not by us "
			  "(uid %u)",
			  dir, (unsigned)st.st_uid, (unsigned)geteuid());
	} else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_error("socket directory %s: is writable by group or "
			  "others (mode %04o); use a private one",
			  dir, (unsigned)(st.st_mode & 07777));
	} else {
		r = P11A_OK;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* Create the socket's directory (0700) if absent; check it either way. */
static int
listener_prepare_dir(struct listener *l)
{
	char copy[sizeof(l->path)];
	char *dir;

	snprintf(copy, sizeof(copy), "%s", l->path);
	dir = dirname(copy);
	if (mkdir(dir, 0700) == 0) {
		if (l->dir[0] == '\0')
			snprintf(l->dir, sizeof(l->dir), "%s", dir);
	} else if (errno != EEXIST) {
		log_error("cannot create socket directory %s: %s", dir,
			  strerror(errno));
		return P11A_ERR_IO;
	}
	return listener_check_dir(dir);
}

/* A socket file already at the path: replace it only if nobody answers. */
static int
listener_clear_stale(const struct listener *l)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, live;

	if (lstat(l->path, &st) != 0)
		return errno == ENOENT ? P11A_OK : P11A_ERR_IO;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket", l->path);
		return P11A_ERR_INVALID_ARGUMENT;
	}
	memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return P11A_ERR_IO;
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	if (live) {
		log_error("an agent is already running at %s", l->path);
		return P11A_ERR_BUSY;
	}
	log_info("replacing stale socket %s", l->path);
	unlink(l->path);
	return P11A_OK;
}

static int
listener_bind(struct listener *l)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int r;

	if ((l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    0)) < 0)
		return P11A_ERR_IO;
	memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
	/* no window in which the socket exists with a wider mode */
	old = umask(0177);
	r = bind(l->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || listen(l->fd, LISTEN_BACKLOG) != 0) {
		log_error("cannot listen on %s: %s", l->path, strerror(errno));
		close(l->fd);
		l->fd = -1;
		return P11A_ERR_IO;
	}
	return P11A_OK;
}

int
listener_open(const char *path, struct listener *l)
{
	int r;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if ((r = activation_take(&l->fd, l->path, sizeof(l->path))) != 0) {
		if (r < 0)
			return P11A_ERR_INVALID_ARGUMENT;
		l->activated = 1;
		if (path != NULL && strcmp(path, l->path) != 0)
			log_warn("serving the socket passed by the service "
				 "manager (%s), not %s",
				 l->path, path);
		return P11A_OK;
	}
	if (path != NULL) {
		if (strlen(path) >= sizeof(l->path)) {
			log_error("socket path too long: %s", path);
			return P11A_ERR_INVALID_ARGUMENT;
		}
		snprintf(l->path, sizeof(l->path), "%s", path);
	} else if ((r = listener_default_path(l)) != P11A_OK) {
		return r;
	}
	if ((r = listener_prepare_dir(l)) != P11A_OK ||
	    (r = listener_clear_stale(l)) != P11A_OK)
		return r;
	return listener_bind(l);
}

int
listener_claim(struct listener *l)
{
	if (l->activated || l->fd < 0)
		return P11A_OK;
	if (listen(l->fd, LISTEN_BACKLOG) != 0) {
		log_error("listen on %s: %s", l->path, strerror(errno));
		return P11A_ERR_IO;
	}
	return P11A_OK;
}

void
listener_close(struct listener *l)
{
	if (l->fd >= 0) {
		close(l->fd);
		if (!l->activated)
			unlink(l->path);
	}
	if (l->dir[0] != '\0')
		rmdir(l->dir);
	l->fd = -1;
}
