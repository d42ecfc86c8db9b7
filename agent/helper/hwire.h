/*
 * The helper's side of the framing in docs/HELPER.md: decoding requests
 * and writing whole reply frames to the agent.
 */
#ifndef P11A_HELPER_HWIRE_H
#define P11A_HELPER_HWIRE_H

#include <p11-kit/pkcs11.h>

#include "helper.h"

/*
 * Decode the payload of a request of type r->type into r; pointers in r
 * borrow p's bytes.  P11A_ERR_UNKNOWN_MESSAGE, _TRUNCATED,
 * _TRAILING_DATA: the frame is malformed.
 */
int hwire_decode(struct p11a_buf *p, struct hreq *r);

/* Write one frame: type, id, the payload's unread bytes.  0 or -1. */
int hwire_send(struct helper *h, uint8_t type, uint32_t id,
	       const struct p11a_buf *payload);
/* An H_ERROR for rv; "call: what p11-kit says of rv" is its message. */
int hwire_send_rv(struct helper *h, uint32_t id, int code, CK_RV rv,
		  const char *call);
int hwire_send_empty(struct helper *h, uint8_t type, uint32_t id);

/* The payload of H_HELLO_REPLY. */
int hwire_hello_reply(const struct helper *h, uint32_t version,
		      struct p11a_buf *out);

#endif
