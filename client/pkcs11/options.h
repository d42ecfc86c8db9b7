/*
 * Options of the module, from the environment and from the pReserved
 * string of C_Initialize's CK_C_INITIALIZE_ARGS (p11-kit passes a module
 * file's "x-init-reserved:" value there):
 *
 *   pReserved:    "socket=PATH filter=SPEC"  (whitespace-separated)
 *   environment:  P11AGENT_SOCK=PATH  P11AGENT_PKCS11_FILTER=SPEC
 *
 * The environment wins, so one user or one run can override what a
 * system-wide module file says.  Without a socket, libp11agent's default
 * ($XDG_RUNTIME_DIR/p11agent/agent.sock) is used.  SPEC: see filter.h.
 */
#ifndef P11M_OPTIONS_H
#define P11M_OPTIONS_H

#include <p11-kit/pkcs11.h>

struct p11m_options {
	char *socket; /* NULL: libp11agent's default */
	char *filter; /* NULL: every identity */
};

/*
 * p11m_options_load - read reserved (may be NULL) and then the
 * environment.  Unknown keys in reserved are ignored (other programs
 * may pass other things there).  CKR_HOST_MEMORY on allocation failure.
 */
CK_RV p11m_options_load(struct p11m_options *o, const char *reserved);

/* p11m_options_free - release; safe on a zeroed struct. */
void p11m_options_free(struct p11m_options *o);

#endif
