/* A bounded pool of agent connections: see pool.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

/* connections per CPU, and the fewest the bound may be */
#define PER_CPU 2
#define MIN_BOUND 8

static size_t
bound(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cpus > 0 ? (size_t)cpus * PER_CPU : MIN_BOUND;

	if (n < MIN_BOUND)
		n = MIN_BOUND;
	return n > P11A_POOL_MAX ? P11A_POOL_MAX : n;
}

/* Close the idle connections; the lock is held. */
static void
close_idle_locked(struct p11a_pool *p)
{
	/*
	 * p11a_client_close() only closes our descriptor (no shutdown(),
	 * nothing written): after a fork the parent's connection is intact.
	 */
	while (p->n_idle > 0)
		p11a_client_close(p->idle[--p->n_idle]);
}

/*
 * In a child of the process the connections belong to: close our copies
 * of the idle ones and forget those the parent's threads were using
 * (they are theirs, and those threads do not exist here).  The lock is
 * held.
 */
static void
adopt_locked(struct p11a_pool *p)
{
	close_idle_locked(p);
	p->n_out = 0;
	p->gen++;
	p->pid = getpid();
	/* waiters in the parent do not exist here: start with a fresh one */
	pthread_cond_init(&p->returned, NULL);
}

static int
set_path_locked(struct p11a_pool *p, const char *path)
{
	char *copy = NULL;

	if (path == NULL ? p->path == NULL
			 : p->path != NULL && strcmp(p->path, path) == 0)
		return P11A_OK;
	if (path != NULL && (copy = strdup(path)) == NULL) {
		free(p->path);
		p->path = NULL;
		return P11A_ERR_NO_MEMORY;
	}
	free(p->path);
	p->path = copy;
	close_idle_locked(p);
	p->gen++;
	return P11A_OK;
}

int
p11a_pool_set_path(struct p11a_pool *p, const char *path)
{
	int r;

	pthread_mutex_lock(&p->lock);
	r = set_path_locked(p, path);
	pthread_mutex_unlock(&p->lock);
	return r;
}

void
p11a_pool_close_idle(struct p11a_pool *p, int forget_path)
{
	pthread_mutex_lock(&p->lock);
	close_idle_locked(p);
	if (forget_path)
		set_path_locked(p, NULL);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Reserve a connection: an idle one in *c, or (*c NULL) the right to open
 * one, of the path copied into *path.  Sleeps while the bound is reached.
 */
static int
reserve(struct p11a_pool *p, struct p11a_pool_conn *pc, char **path)
{
	int r = P11A_OK;

	pthread_mutex_lock(&p->lock);
	if (p->pid != getpid())
		adopt_locked(p);
	if (p->max == 0)
		p->max = bound();
	while (p->n_idle == 0 && p->n_out >= p->max)
		pthread_cond_wait(&p->returned, &p->lock);
	pc->gen = p->gen;
	if (p->n_idle > 0)
		pc->c = p->idle[--p->n_idle];
	else if (p->path != NULL && (*path = strdup(p->path)) == NULL)
		r = P11A_ERR_NO_MEMORY;
	if (r == P11A_OK)
		p->n_out++;
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Give back a reservation whose connection could not be opened. */
static void
unreserve(struct p11a_pool *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->n_out > 0)
		p->n_out--;
	pthread_cond_signal(&p->returned);
	pthread_mutex_unlock(&p->lock);
}

int
p11a_pool_take(struct p11a_pool *p, struct p11a_pool_conn *pc, char *msg,
	       size_t len)
{
	char *path = NULL;
	int r;

	pc->c = NULL;
	if (msg != NULL && len > 0)
		msg[0] = '\0';
	if ((r = reserve(p, pc, &path)) != P11A_OK) {
		if (msg != NULL && len > 0)
			snprintf(msg, len, "%s", p11a_strerror(r));
		return r;
	}
	if (pc->c != NULL)
		return P11A_OK;
	/* connect outside the lock: other threads go on meanwhile */
	r = p11a_client_connect_msg(path, &pc->c, msg, len);
	free(path);
	if (r != P11A_OK)
		unreserve(p);
	return r;
}

void
p11a_pool_give(struct p11a_pool *p, struct p11a_pool_conn *pc)
{
	p11a_client *c = pc->c;

	if (c == NULL)
		return;
	pc->c = NULL;
	pthread_mutex_lock(&p->lock);
	/* one taken before a fork, given back in the child, is not ours */
	if (p->pid == getpid() && p->n_out > 0) {
		p->n_out--;
		if (p11a_client_broken(c) == 0 && pc->gen == p->gen &&
		    p->n_idle < p->max) {
			p->idle[p->n_idle++] = c;
			c = NULL;
		}
	}
	pthread_cond_signal(&p->returned);
	pthread_mutex_unlock(&p->lock);
	p11a_client_close(c);
}

void
p11a_pool_fork_prepare(struct p11a_pool *p)
{
	pthread_mutex_lock(&p->lock);
}

void
p11a_pool_fork_parent(struct p11a_pool *p)
{
	pthread_mutex_unlock(&p->lock);
}

void
p11a_pool_fork_child(struct p11a_pool *p)
{
	adopt_locked(p);
	pthread_mutex_unlock(&p->lock);
}
