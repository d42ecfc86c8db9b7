/* Connection pool and error mapping: see agent.h. */
#include <string.h>

#include "agent.h"
#include "log.h"
#include "pool.h"

static struct p11a_pool pool = P11A_POOL_INITIALIZER;

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
	/* a connection returned after the last stop may be to another path */
	p11a_pool_close_idle(&pool, 1);
	return p11a_pool_set_path(&pool, socket) == P11A_OK ? CKR_OK
							    : CKR_HOST_MEMORY;
}

void
p11m_agent_stop(void)
{
	p11a_pool_close_idle(&pool, 1);
}

/* A connection for one call; the failure is logged. */
static int
take(struct p11a_pool_conn *pc)
{
	char msg[256];
	int r;

	if ((r = p11a_pool_take(&pool, pc, msg, sizeof(msg))) != P11A_OK)
		p11m_debug("cannot connect to the agent: %s", msg);
	return r;
}

CK_RV
p11m_agent_fetch(struct p11a_status *st, struct p11a_identity_list *list)
{
	struct p11a_pool_conn pc;
	int r;

	memset(st, 0, sizeof(*st));
	memset(list, 0, sizeof(*list));
	if ((r = take(&pc)) != P11A_OK)
		return p11m_rv_from_agent(r);
	if ((r = p11a_client_status(pc.c, st)) != P11A_OK) {
		p11m_debug("STATUS: %s", p11a_client_last_message(pc.c));
		goto out;
	}
	if ((r = p11a_client_list(pc.c, list)) != P11A_OK) {
		p11m_debug("LIST: %s", p11a_client_last_message(pc.c));
		p11a_status_free(st);
	}
out:
	p11a_pool_give(&pool, &pc);
	return p11m_rv_from_agent(r);
}

CK_RV
p11m_agent_sign(const struct p11a_sign_request *req, uint8_t **sig,
		size_t *sig_len)
{
	struct p11a_pool_conn pc;
	int r;

	*sig = NULL;
	*sig_len = 0;
	if ((r = take(&pc)) != P11A_OK)
		return p11m_rv_from_agent(r);
	r = p11a_client_sign(pc.c, req, sig, sig_len);
	if (r != P11A_OK)
		p11m_debug("SIGN %s scheme 0x%04x: %s", req->identity,
			   req->scheme, p11a_client_last_message(pc.c));
	/* a broken connection is closed, not handed to another call */
	p11a_pool_give(&pool, &pc);
	return p11m_rv_from_agent(r);
}

void
p11m_agent_fork_prepare(void)
{
	p11a_pool_fork_prepare(&pool);
}

void
p11m_agent_fork_parent(void)
{
	p11a_pool_fork_parent(&pool);
}

void
p11m_agent_fork_child(void)
{
	p11a_pool_fork_child(&pool);
}
