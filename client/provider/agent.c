/*
 * The provider's one connection to the agent per process.
 *
 * Every provider instance (and every library context) of a process
 * shares it; requests are serialised by a mutex.  No PKCS#11 module is
 * loaded here, so a fork is easy to survive: the child notices that its
 * pid is not the one that opened the connection, drops its copy of the
 * socket without writing to it (the parent's requests and replies stay
 * the parent's) and opens its own.  pthread_atfork() takes the mutex
 * around fork() so that the child never inherits it locked by a thread
 * that does not exist there.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "prov.h"

#define SOCKET_MAX 108 /* sizeof(sun_path) */

static pthread_mutex_t agent_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static p11a_client *agent_conn;	      /* guarded by agent_lock */
static pid_t agent_pid;		      /* the pid that opened agent_conn */
static char agent_socket[SOCKET_MAX]; /* empty: the default path */
static int agent_socket_configured;   /* set by openssl.cnf: keep it */

static pthread_mutex_t observer_lock = PTHREAD_MUTEX_INITIALIZER;
static p11a_sign_observer_fn observer_fn;
static void *observer_arg;

/* ---- fork ---------------------------------------------------------------- */

static void
before_fork(void)
{
	pthread_mutex_lock(&agent_lock);
}

static void
after_fork(void)
{
	pthread_mutex_unlock(&agent_lock);
}

static void
register_atfork(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

/* Lock; in a forked child, forget the parent's connection first. */
static void
agent_enter(void)
{
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&agent_lock);
	if (agent_conn != NULL && agent_pid != getpid()) {
		/*
		 * Closing our copy of the descriptor sends nothing: the
		 * parent's connection is unaffected.
		 */
		p11a_client_close(agent_conn);
		agent_conn = NULL;
	}
}

static void
agent_leave(void)
{
	pthread_mutex_unlock(&agent_lock);
}

/* ---- connection ---------------------------------------------------------- */

void
p11a_agent_set_socket(const char *path, int from_config)
{
	agent_enter();
	if (agent_socket_configured && !from_config) {
		agent_leave();
		return;
	}
	agent_socket_configured |= from_config;
	if (strcmp(agent_socket, path != NULL ? path : "") != 0) {
		snprintf(agent_socket, sizeof(agent_socket), "%s",
			 path != NULL ? path : "");
		p11a_client_close(agent_conn);
		agent_conn = NULL;
	}
	agent_leave();
}

/* Connect if not connected; called with the lock held. */
static int
agent_connect(char *msg, size_t len)
{
	int r;

	if (agent_conn != NULL)
		return P11A_OK;
	r = p11a_client_connect_msg(agent_socket[0] != '\0' ? agent_socket
							    : NULL,
				    &agent_conn, msg, len);
	if (r == P11A_OK)
		agent_pid = getpid();
	return r;
}

/* After a broken connection (e.g. the agent restarted), start over. */
static void
agent_drop(void)
{
	p11a_client_close(agent_conn);
	agent_conn = NULL;
}

static void
copy_message(char *msg, size_t len, const char *text)
{
	if (msg != NULL && len > 0)
		snprintf(msg, len, "%s", text);
}

/* Whether a request that failed with r may be retried on a new socket. */
static int
connection_lost(int r)
{
	return r == P11A_ERR_IO || r == P11A_ERR_PROTOCOL ||
	       r == P11A_ERR_TRUNCATED || r == P11A_ERR_FRAME_TOO_LARGE;
}

int
p11a_agent_list(struct p11a_identity_list *list, char *msg, size_t len)
{
	int r, attempt;

	memset(list, 0, sizeof(*list));
	agent_enter();
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = agent_connect(msg, len)) != P11A_OK)
			break;
		if ((r = p11a_client_list(agent_conn, list)) == P11A_OK)
			break;
		copy_message(msg, len, p11a_client_last_message(agent_conn));
		if (!connection_lost(r))
			break;
		agent_drop();
	}
	agent_leave();
	return r;
}

int
p11a_agent_needs_unlock(void)
{
	struct p11a_status st;
	int locked = 0;
	size_t i;

	memset(&st, 0, sizeof(st));
	agent_enter();
	if (agent_connect(NULL, 0) == P11A_OK &&
	    p11a_client_status(agent_conn, &st) == P11A_OK) {
		for (i = 0; i < st.n_tokens; i++)
			if (st.tokens[i].flags & P11A_TOKEN_NEEDS_UNLOCK)
				locked = 1;
		p11a_status_free(&st);
	}
	agent_leave();
	return locked;
}

/* ---- signing ------------------------------------------------------------- */

void
p11a_agent_set_observer(p11a_sign_observer_fn fn, void *arg)
{
	pthread_mutex_lock(&observer_lock);
	observer_fn = fn;
	observer_arg = arg;
	pthread_mutex_unlock(&observer_lock);
}

static void
notify(const struct p11a_sign_request *req, const char *label, uint64_t usec,
       int r)
{
	struct p11a_sign_event ev;
	p11a_sign_observer_fn fn;
	void *arg;

	pthread_mutex_lock(&observer_lock);
	fn = observer_fn;
	arg = observer_arg;
	pthread_mutex_unlock(&observer_lock);
	if (fn == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.identity = req->identity;
	ev.label = label != NULL ? label : "";
	ev.scheme = req->scheme;
	ev.flags = req->flags;
	ev.data_len = req->data_len;
	ev.usec = usec;
	ev.error = r;
	fn(&ev, arg);
}

int
p11a_agent_sign(const struct p11a_sign_request *req, const char *label,
		uint8_t **sig, size_t *sig_len, char *msg, size_t len)
{
	uint64_t start = p11a_clock_us();
	int r, attempt;

	*sig = NULL;
	*sig_len = 0;
	agent_enter();
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = agent_connect(msg, len)) != P11A_OK)
			break;
		r = p11a_client_sign(agent_conn, req, sig, sig_len);
		if (r == P11A_OK)
			break;
		copy_message(msg, len, p11a_client_last_message(agent_conn));
		if (!connection_lost(r))
			break;
		agent_drop();
	}
	agent_leave();
	notify(req, label, p11a_clock_us() - start, r);
	return r;
}
