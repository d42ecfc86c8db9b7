/*
 * The module calls behind each request that a token's worker runs on its
 * own session.  Each returns the CK_RV of the call that decided the
 * outcome and names that call in *call; on CKR_OK the reply payload is
 * in out.
 */
#ifndef P11A_HELPER_OPS_H
#define P11A_HELPER_OPS_H

#include "helper.h"

CK_RV ops_run(struct hworker *w, const struct hreq *r, struct p11a_buf *out,
	      const char **call);

#endif
