/*
 * A bounded pool of libp11agent connections to one agent socket, shared
 * by the threads of a process (the OpenSSL provider's and the PKCS#11
 * module's way of letting threads sign at once).
 *
 * A libp11agent connection serves one call at a time, so each call takes
 * a connection of its own: an idle one, or a new one while fewer than
 * the bound are open (2 per CPU, at least 8, at most P11A_POOL_MAX);
 * past the bound it sleeps until a connection comes back.  A connection
 * given back after it broke (p11a_client_broken()), or opened for a
 * socket path changed since, is closed instead of kept, so one thread's
 * failure never reaches another thread's request.
 *
 * Fork: the connections a parent opened share their sockets with it, so
 * a child never uses them.  The owner calls p11a_pool_fork_prepare(),
 * _parent() and _child() from its pthread_atfork handlers (the lock is
 * never held across I/O, so fork() waits at most for a pointer swap); in
 * the child the idle ones are closed without a byte written (the
 * parent's requests and replies stay the parent's) and those in use by
 * the parent's other threads are forgotten.  p11a_pool_take() also checks
 * getpid(), for a child made without those handlers (a raw clone).
 *
 * This file is compiled into libp11agent (for the provider) and into
 * p11agent-pkcs11.so, hidden in both: it uses only the public API.
 */
#ifndef P11A_POOL_H
#define P11A_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "p11agent/client.h"

#define P11A_POOL_MAX 64

struct p11a_pool {
	pthread_mutex_t lock;
	pthread_cond_t returned; /* a connection came back, or a slot freed */
	p11a_client *idle[P11A_POOL_MAX];
	size_t n_idle;
	size_t n_out; /* taken (or being opened), not yet given back */
	size_t max;   /* bound on n_idle + n_out; 0 before first use */
	unsigned gen; /* moves on when the socket path changes */
	pid_t pid;    /* the process the connections belong to */
	char *path;   /* NULL: libp11agent's default path */
};

#define P11A_POOL_INITIALIZER                                                  \
	{                                                                      \
		.lock = PTHREAD_MUTEX_INITIALIZER,                             \
		.returned = PTHREAD_COND_INITIALIZER                           \
	}

/* A connection taken from a pool, to give back to it. */
struct p11a_pool_conn {
	p11a_client *c;
	unsigned gen;
};

/*
 * p11a_pool_set_path - connect to path from now on (NULL: the default
 * path).  When it changes, the idle connections are closed and those in
 * use are closed when given back.  P11A_ERR_NO_MEMORY if path cannot be
 * copied (the pool then has no path: the default).
 */
int p11a_pool_set_path(struct p11a_pool *p, const char *path);

/*
 * p11a_pool_take - a connection for one call; pc->c stays NULL on
 * failure, when the explanation is copied into msg (len bytes; msg may
 * be NULL when len is 0).  Returns a p11a_err.
 */
int p11a_pool_take(struct p11a_pool *p, struct p11a_pool_conn *pc, char *msg,
		   size_t len);

/*
 * p11a_pool_give - give back what p11a_pool_take() gave (NULL is fine);
 * a broken connection is closed.  pc->c is NULL afterwards.
 */
void p11a_pool_give(struct p11a_pool *p, struct p11a_pool_conn *pc);

/*
 * p11a_pool_close_idle - close every idle connection (connections in use
 * are closed when given back); with forget_path, go back to the default
 * path too.
 */
void p11a_pool_close_idle(struct p11a_pool *p, int forget_path);

void p11a_pool_fork_prepare(struct p11a_pool *p);
void p11a_pool_fork_parent(struct p11a_pool *p);
void p11a_pool_fork_child(struct p11a_pool *p);

#endif
