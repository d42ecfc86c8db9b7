/*
 * Socket activation without libsystemd: the listening socket a service
 * manager (systemd, or anything following sd_listen_fds(3)) passes as
 * fd 3 with LISTEN_PID and LISTEN_FDS in the environment.
 */
#ifndef P11A_AGENT_ACTIVATE_H
#define P11A_AGENT_ACTIVATE_H

#include <stddef.h>

#define ACTIVATION_FD 3 /* SD_LISTEN_FDS_START */

/*
 * Take the passed socket.  Returns 1 with *fd (made non-blocking and
 * close-on-exec) and its path in path ("@name" for an abstract socket);
 * 0 when none was passed to this process; -1 when one was but it is not
 * a listening AF_UNIX stream socket (logged).  LISTEN_PID, LISTEN_FDS
 * and LISTEN_FDNAMES are unset in every case.
 */
int activation_take(int *fd, char *path, size_t size);

#endif
