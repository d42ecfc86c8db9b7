/*
 * Writing a whole frame to a blocking socket: the agent's link to its
 * helpers and the helper's replies both need it.
 */
#ifndef P11A_SENDALL_H
#define P11A_SENDALL_H

#include <stddef.h>

/* Send all n bytes (retrying short writes and EINTR, never SIGPIPE). */
int p11a_send_all(int fd, const void *p, size_t n);

#endif
