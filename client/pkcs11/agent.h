/*
 * The module's side of the agent: a bounded pool of libp11agent
 * connections (client/pool.h), so that many threads sign at once (a
 * libp11agent connection serves one call at a time; each call here takes
 * a connection of its own: an idle one, a new one up to the bound, else
 * it waits for one), and the mapping of agent errors to CK_RV.
 *
 * Fork: connections opened by a parent share their socket with it, so a
 * child must never use them.  p11m_agent_fork_child() (run in the child)
 * forgets them without a word on the socket; the child then opens its
 * own.
 */
#ifndef P11M_AGENT_H
#define P11M_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "p11agent/client.h"

/*
 * p11m_agent_start - use this socket (NULL: libp11agent's default).
 * CKR_HOST_MEMORY if the path cannot be copied.
 */
CK_RV p11m_agent_start(const char *socket);

/*
 * p11m_agent_stop - close every idle connection (those in use are closed
 * when given back) and forget the path.
 */
void p11m_agent_stop(void);

/* p11m_agent_fetch - the agent's STATUS and LIST (free both on success). */
CK_RV p11m_agent_fetch(struct p11a_status *st, struct p11a_identity_list *list);

/*
 * p11m_agent_sign - one SIGN; *sig is malloc'd (free()).  Agent errors
 * come back as CK_RV (p11m_rv_from_agent()).
 */
CK_RV p11m_agent_sign(const struct p11a_sign_request *req, uint8_t **sig,
		      size_t *sig_len);

/* p11m_rv_from_agent - the CK_RV for a p11a_err code. */
CK_RV p11m_rv_from_agent(int err);

/* Fork handlers (pthread_atfork): the pool's lock around fork(). */
void p11m_agent_fork_prepare(void);
void p11m_agent_fork_parent(void);
void p11m_agent_fork_child(void);

#endif
