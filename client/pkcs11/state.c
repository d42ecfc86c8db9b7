/* Module state, its lock and fork handling: see state.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "session.h"
#include "state.h"

struct p11m_state p11m;

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

void
p11m_lock(void)
{
	pthread_mutex_lock(&state_lock);
}

void
p11m_unlock(void)
{
	pthread_mutex_unlock(&state_lock);
}

CK_RV
p11m_enter(void)
{
	p11m_lock();
	if (!p11m.initialized) {
		p11m_unlock();
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

CK_RV
p11m_leave(CK_RV rv)
{
	p11m_unlock();
	return rv;
}

static void
free_tables(void)
{
	size_t i;

	for (i = 0; i < p11m.n_objects; i++)
		p11m_attrs_free(&p11m.objects[i].attrs);
	for (i = 0; i < p11m.n_keys; i++)
		free(p11m.keys[i].id);
	for (i = 0; i < p11m.n_slots; i++)
		free(p11m.slots[i].uri);
	free(p11m.objects);
	free(p11m.keys);
	free(p11m.slots);
}

void
p11m_state_clear(void)
{
	p11m_session_close_all();
	free(p11m.sessions);
	free_tables();
	p11m_options_free(&p11m.options);
	p11m_filter_free(&p11m.filter);
	memset(&p11m, 0, sizeof(p11m));
}

/*
 * Around fork() both locks are taken, so the child never inherits one
 * held by a thread that does not exist there.  Neither lock is held
 * across a call to the agent, so fork() waits only for a table update.
 */
static void
fork_prepare(void)
{
	pthread_mutex_lock(&state_lock);
	p11m_agent_fork_prepare();
}

static void
fork_parent(void)
{
	p11m_agent_fork_parent();
	pthread_mutex_unlock(&state_lock);
}

static void
fork_child(void)
{
	p11m_agent_fork_child();
	pthread_mutex_unlock(&state_lock);
}

static void
register_fork(void)
{
	/* glibc drops the handlers again if the module is dlclose()d */
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void
p11m_state_register_fork(void)
{
	pthread_once(&fork_once, register_fork);
}

void
p11m_pad(CK_UTF8CHAR *dst, size_t size, const char *src)
{
	size_t n = src != NULL ? strnlen(src, size) : 0;

	memset(dst, ' ', size);
	if (n > 0)
		memcpy(dst, src, n);
}

int
p11m_size_answered(const CK_BYTE *out, CK_ULONG *out_len, size_t need,
		   CK_RV *rv)
{
	if (out != NULL && *out_len >= need)
		return 0;
	*rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
	*out_len = need;
	return 1;
}
