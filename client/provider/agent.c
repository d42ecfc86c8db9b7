/*
 * The provider's connections to the agent: one pool per process
 * (client/pool.h), shared by every provider instance and library context,
 * so that threads sign at once, each call on a connection of its own.
 *
 * No PKCS#11 module is loaded here, so a fork is easy to survive: the
 * pool's fork handlers (registered at first use) make a child close its
 * copies of the parent's sockets without writing to them (the parent's
 * requests and replies stay the parent's) and open its own.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pool.h"
#include "prov.h"

static struct p11a_pool pool = P11A_POOL_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/* orders p11a_agent_set_socket() calls; guards agent_socket_configured */
static pthread_mutex_t socket_lock = PTHREAD_MUTEX_INITIALIZER;
static int agent_socket_configured; /* set by openssl.cnf: keep it */

static pthread_mutex_t observer_lock = PTHREAD_MUTEX_INITIALIZER;
static p11a_sign_observer_fn observer_fn;
static void *observer_arg;

/* ---- fork ---------------------------------------------------------------- */

static void
before_fork(void)
{
	pthread_mutex_lock(&socket_lock);
	p11a_pool_fork_prepare(&pool);
}

static void
after_fork_parent(void)
{
	p11a_pool_fork_parent(&pool);
	pthread_mutex_unlock(&socket_lock);
}

static void
after_fork_child(void)
{
	p11a_pool_fork_child(&pool);
	pthread_mutex_unlock(&socket_lock);
}

static void
register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- connection ---------------------------------------------------------- */

void
p11a_agent_set_socket(const char *path, int from_config)
{
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&socket_lock);
	if (!agent_socket_configured || from_config) {
		agent_socket_configured |= from_config;
		/* out of memory leaves the default path, which connect reports
		 */
		(void)p11a_pool_set_path(
			&pool, path != NULL && *path != '\0' ? path : NULL);
	}
	pthread_mutex_unlock(&socket_lock);
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

/* One request on connection c; arg is the request's own. */
typedef int (*agent_call_fn)(p11a_client *c, void *arg);

/*
 * Make a call on a connection of the pool; after a failure that broke
 * the connection (say the agent restarted), once more on another.  On
 * failure msg (room for len; may be NULL) explains.
 */
static int
agent_call(agent_call_fn fn, void *arg, char *msg, size_t len)
{
	struct p11a_pool_conn pc;
	int r = P11A_OK, attempt;

	pthread_once(&atfork_once, register_atfork);
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = p11a_pool_take(&pool, &pc, msg, len)) != P11A_OK)
			break;
		if ((r = fn(pc.c, arg)) != P11A_OK)
			copy_message(msg, len, p11a_client_last_message(pc.c));
		/* a broken connection is closed, not handed to another call */
		p11a_pool_give(&pool, &pc);
		if (r == P11A_OK || !connection_lost(r))
			break;
	}
	return r;
}

static int
list_call(p11a_client *c, void *arg)
{
	return p11a_client_list(c, arg);
}

int
p11a_agent_list(struct p11a_identity_list *list, char *msg, size_t len)
{
	return agent_call(list_call, list, msg, len);
}

static int
status_call(p11a_client *c, void *arg)
{
	return p11a_client_status(c, arg);
}

int
p11a_agent_needs_unlock(void)
{
	struct p11a_status st;
	int locked = 0;
	size_t i;

	if (agent_call(status_call, &st, NULL, 0) != P11A_OK)
		return 0;
	for (i = 0; i < st.n_tokens; i++)
		if (st.tokens[i].flags & P11A_TOKEN_NEEDS_UNLOCK)
			locked = 1;
	p11a_status_free(&st);
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

struct sign_call {
	const struct p11a_sign_request *req;
	uint8_t **sig;
	size_t *sig_len;
};

static int
sign_call(p11a_client *c, void *arg)
{
	struct sign_call *sc = arg;

	return p11a_client_sign(c, sc->req, sc->sig, sc->sig_len);
}

int
p11a_agent_sign(const struct p11a_sign_request *req, const char *label,
		uint8_t **sig, size_t *sig_len, char *msg, size_t len)
{
	struct sign_call sc = {.req = req, .sig = sig, .sig_len = sig_len};
	uint64_t start = p11a_clock_us();
	int r;

	*sig = NULL;
	*sig_len = 0;
	r = agent_call(sign_call, &sc, msg, len);
	notify(req, label, p11a_clock_us() - start, r);
	return r;
}
