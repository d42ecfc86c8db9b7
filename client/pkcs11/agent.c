/* Connection pool and error mapping: see agent.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

/* Idle connections kept; more are closed when returned. */
#define POOL_IDLE_MAX 8

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static p11a_client *idle[POOL_IDLE_MAX];
static size_t n_idle;
static char *socket_path;
static pid_t pool_pid; /* the process the idle connections belong to */

CK_RV
p11m_rv_from_agent(int err)
{
	switch (err) {
	case P11A_OK:
		return CKR_OK;
	case P11A_ERR_NO_MEMORY:
		return CKR_DEVICE_MEMORY;
	case P11A_ERR_IDENTITY_NOT_FOUND:
	case P11A_ERR_IDENTITY_AMBIGUOUS:
		return CKR_KEY_HANDLE_INVALID;
	case P11A_ERR_SCHEME_UNSUPPORTED:
	case P11A_ERR_UNKNOWN_SCHEME:
		return CKR_MECHANISM_INVALID;
	case P11A_ERR_BAD_INPUT:
		return CKR_DATA_LEN_RANGE;
	case P11A_ERR_LOCKED:
		/* the agent is locked: `p11agent unlock`, not C_Login */
		return CKR_USER_NOT_LOGGED_IN;
	case P11A_ERR_PIN_LOCKED:
		return CKR_PIN_LOCKED;
	case P11A_ERR_TOKEN_NOT_PRESENT:
		return CKR_TOKEN_NOT_PRESENT;
	case P11A_ERR_DENIED:
		return CKR_FUNCTION_REJECTED;
	case P11A_ERR_CONNECT:
	case P11A_ERR_IO:
	case P11A_ERR_SHUTTING_DOWN:
		return CKR_DEVICE_REMOVED;
	case P11A_ERR_INVALID_ARGUMENT:
		return CKR_ARGUMENTS_BAD;
	default:
		/* TOKEN, TIMEOUT, BUSY, protocol errors, codes not known */
		return CKR_DEVICE_ERROR;
	}
}

CK_RV
p11m_agent_start(const char *socket)
{
	pthread_mutex_lock(&pool_lock);
	/* a connection returned after the last stop may be to another path */
	while (n_idle > 0)
		p11a_client_close(idle[--n_idle]);
	free(socket_path);
	socket_path = socket != NULL ? strdup(socket) : NULL;
	pool_pid = getpid();
	pthread_mutex_unlock(&pool_lock);
	return socket != NULL && socket_path == NULL ? CKR_HOST_MEMORY : CKR_OK;
}

void
p11m_agent_stop(void)
{
	pthread_mutex_lock(&pool_lock);
	while (n_idle > 0)
		p11a_client_close(idle[--n_idle]);
	free(socket_path);
	socket_path = NULL;
	pthread_mutex_unlock(&pool_lock);
}

/* Forget connections inherited from a parent; called with the lock. */
static void
drop_inherited(void)
{
	size_t i;

	/*
	 * Their sockets are the parent's too: close only our descriptors
	 * (no shutdown(), nothing written), so the parent's connections
	 * are untouched.
	 */
	for (i = 0; i < n_idle; i++)
		p11a_client_close(idle[i]);
	n_idle = 0;
	pool_pid = getpid();
}

/* An idle connection, or a new one. */
static int
take(p11a_client **c)
{
	char path[4096] = "", msg[256];
	int r, have_path;

	pthread_mutex_lock(&pool_lock);
	/* fork() without our atfork handler (e.g. a raw clone) */
	if (pool_pid != getpid())
		drop_inherited();
	*c = n_idle > 0 ? idle[--n_idle] : NULL;
	have_path = socket_path != NULL;
	if (have_path)
		snprintf(path, sizeof(path), "%s", socket_path);
	pthread_mutex_unlock(&pool_lock);
	if (*c != NULL)
		return P11A_OK;
	/* connect outside the lock: other threads go on meanwhile */
	r = p11a_client_connect_msg(have_path ? path : NULL, c, msg,
				    sizeof(msg));
	if (r != P11A_OK)
		p11m_debug("cannot connect to the agent: %s", msg);
	return r;
}

/* Return c to the pool after a call that ended with r. */
static void
give_back(p11a_client *c, int r)
{
	/* after an I/O error libp11agent could not repair, start afresh */
	if (r == P11A_ERR_IO || r == P11A_ERR_CONNECT) {
		p11a_client_close(c);
		return;
	}
	pthread_mutex_lock(&pool_lock);
	if (n_idle < POOL_IDLE_MAX) {
		idle[n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	p11a_client_close(c);
}

CK_RV
p11m_agent_fetch(struct p11a_status *st, struct p11a_identity_list *list)
{
	p11a_client *c;
	int r;

	memset(st, 0, sizeof(*st));
	memset(list, 0, sizeof(*list));
	if ((r = take(&c)) != P11A_OK)
		return p11m_rv_from_agent(r);
	if ((r = p11a_client_status(c, st)) != P11A_OK) {
		p11m_debug("STATUS: %s", p11a_client_last_message(c));
		goto out;
	}
	if ((r = p11a_client_list(c, list)) != P11A_OK) {
		p11m_debug("LIST: %s", p11a_client_last_message(c));
		p11a_status_free(st);
	}
out:
	give_back(c, r);
	return p11m_rv_from_agent(r);
}

CK_RV
p11m_agent_sign(const struct p11a_sign_request *req, uint8_t **sig,
		size_t *sig_len)
{
	p11a_client *c;
	int r;

	*sig = NULL;
	*sig_len = 0;
	if ((r = take(&c)) != P11A_OK)
		return p11m_rv_from_agent(r);
	r = p11a_client_sign(c, req, sig, sig_len);
	if (r != P11A_OK)
		p11m_debug("SIGN %s scheme 0x%04x: %s", req->identity,
			   req->scheme, p11a_client_last_message(c));
	give_back(c, r);
	return p11m_rv_from_agent(r);
}

void
p11m_agent_fork_prepare(void)
{
	pthread_mutex_lock(&pool_lock);
}

void
p11m_agent_fork_parent(void)
{
	pthread_mutex_unlock(&pool_lock);
}

void
p11m_agent_fork_child(void)
{
	drop_inherited();
	pthread_mutex_unlock(&pool_lock);
}
