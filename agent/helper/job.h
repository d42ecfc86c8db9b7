/*
 * A request waiting for or running on a token's worker.  The job owns
 * the one copy of the frame's payload; a LOGIN's copy (it holds the PIN)
 * is a locked page, left out of core dumps and wiped when freed.
 */
#ifndef P11A_HELPER_JOB_H
#define P11A_HELPER_JOB_H

#include "helper.h"

/*
 * A job of this type and id with a copy of payload's unread bytes,
 * decoded into job->req.  *err is P11A_OK, P11A_ERR_NO_MEMORY, or the
 * decoding error of a malformed frame (then NULL is returned).
 */
struct hjob *job_new(uint8_t type, uint32_t id, const struct p11a_buf *payload,
		     int *err);
void job_free(struct hjob *j);

#endif
