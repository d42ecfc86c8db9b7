/* The session table: see session.h. */
#include <stdlib.h>
#include <string.h>

#include "operation.h"
#include "session.h"
#include "state.h"

CK_RV
p11m_session_open(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE *handle)
{
	struct p11m_session *s, **p;
	size_t cap;

	if (p11m.n_sessions == p11m.cap_sessions) {
		cap = p11m.cap_sessions ? p11m.cap_sessions * 2 : 8;
		p = realloc(p11m.sessions, cap * sizeof(*p));
		if (p == NULL)
			return CKR_HOST_MEMORY;
		p11m.sessions = p;
		p11m.cap_sessions = cap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CKR_HOST_MEMORY;
	/* handles are never reused while the module is initialised */
	s->handle = ++p11m.last_session;
	s->slot = slot;
	s->flags = flags;
	p11m.sessions[p11m.n_sessions++] = s;
	*handle = s->handle;
	return CKR_OK;
}

static size_t
index_of(CK_SESSION_HANDLE handle)
{
	size_t i;

	for (i = 0; i < p11m.n_sessions; i++)
		if (p11m.sessions[i]->handle == handle)
			return i;
	return (size_t)-1;
}

struct p11m_session *
p11m_session_get(CK_SESSION_HANDLE handle)
{
	size_t i = index_of(handle);

	return i == (size_t)-1 ? NULL : p11m.sessions[i];
}

void
p11m_session_find_reset(struct p11m_session *s)
{
	free(s->found);
	s->found = NULL;
	s->n_found = 0;
	s->next_found = 0;
	s->finding = 0;
}

static void
close_at(size_t i)
{
	struct p11m_session *s = p11m.sessions[i];
	int kind;

	p11m_session_find_reset(s);
	for (kind = 0; kind < P11M_OP_KINDS; kind++)
		p11m_op_free(kind, s->ops[kind].op);
	free(s);
	p11m.sessions[i] = p11m.sessions[--p11m.n_sessions];
}

CK_RV
p11m_session_close(CK_SESSION_HANDLE handle)
{
	size_t i = index_of(handle);

	if (i == (size_t)-1)
		return CKR_SESSION_HANDLE_INVALID;
	close_at(i);
	return CKR_OK;
}

void
p11m_session_close_slot(CK_SLOT_ID slot)
{
	size_t i = 0;

	while (i < p11m.n_sessions) {
		if (p11m.sessions[i]->slot == slot)
			close_at(i);
		else
			i++;
	}
}

void
p11m_session_close_all(void)
{
	while (p11m.n_sessions > 0)
		close_at(p11m.n_sessions - 1);
}

CK_RV
p11m_session_op_enter(CK_SESSION_HANDLE h, enum p11m_op_kind kind,
		      const CK_MECHANISM *m, struct p11m_session **s)
{
	const struct p11m_session_op *o;
	CK_RV rv;

	*s = NULL;
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if (m == NULL)
		return p11m_leave(CKR_ARGUMENTS_BAD);
	if ((*s = p11m_session_get(h)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	o = &(*s)->ops[kind];
	if (o->op != NULL || o->busy) {
		*s = NULL;
		return p11m_leave(CKR_OPERATION_ACTIVE);
	}
	return CKR_OK;
}

CK_RV
p11m_session_op_take(CK_SESSION_HANDLE h, enum p11m_op_kind kind, void **op)
{
	struct p11m_session *s;
	struct p11m_session_op *o;
	CK_RV rv;

	*op = NULL;
	if ((rv = p11m_enter()) != CKR_OK)
		return rv;
	if ((s = p11m_session_get(h)) == NULL)
		return p11m_leave(CKR_SESSION_HANDLE_INVALID);
	o = &s->ops[kind];
	if (o->busy)
		return p11m_leave(CKR_OPERATION_ACTIVE);
	if (o->op == NULL)
		return p11m_leave(CKR_OPERATION_NOT_INITIALIZED);
	*op = o->op;
	o->op = NULL;
	o->busy = 1;
	return p11m_leave(CKR_OK);
}

void *
p11m_session_op_put(CK_SESSION_HANDLE h, enum p11m_op_kind kind, void *op,
		    int keep)
{
	struct p11m_session *s;

	p11m_lock();
	/* the session (or the whole module) may be gone by now */
	s = p11m.initialized ? p11m_session_get(h) : NULL;
	if (s != NULL) {
		s->ops[kind].busy = 0;
		if (keep) {
			s->ops[kind].op = op;
			op = NULL;
		}
	}
	p11m_unlock();
	return op;
}
