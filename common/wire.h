/*
 * Frame and message codec shared by the agent and libp11agent.
 *
 * A frame is: u32 body length, then the body: u8 message type, u32
 * request id, payload.  The layouts of each payload are in
 * docs/PROTOCOL.md.  Encoders append one whole frame to an output buffer;
 * on error the buffer is left as it was.  Decoders take the payload of
 * one frame and reject missing fields (P11A_ERR_TRUNCATED) and bytes left
 * over (P11A_ERR_TRAILING_DATA).
 */
#ifndef P11A_WIRE_H
#define P11A_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "p11agent/protocol.h"
#include "buf.h"

struct p11a_frame {
	uint8_t type;
	uint32_t id;
	struct p11a_buf payload; /* read-only view into the input buffer */
};

/*
 * Take the next complete frame off the front of in.  Returns P11A_OK
 * with *f filled (its payload borrows in's storage until in is next
 * written or compacted), P11A_ERR_INCOMPLETE if more bytes are needed,
 * P11A_ERR_FRAME_TOO_LARGE if the length exceeds max_frame, or
 * P11A_ERR_PROTOCOL if the body is shorter than type + request id.
 */
int p11a_frame_next(struct p11a_buf *in, size_t max_frame,
		    struct p11a_frame *f);

/* A SIGN request as decoded: every pointer borrows the payload. */
struct p11a_sign_view {
	const uint8_t *identity;
	size_t identity_len;
	uint16_t scheme;
	uint32_t flags;
	const uint8_t *data;
	size_t data_len;
};

/* Encoders: each appends one frame. */
int p11a_encode_hello(struct p11a_buf *out, uint32_t id,
		      const struct p11a_hello *h);
int p11a_encode_hello_reply(struct p11a_buf *out, uint32_t id,
			    const struct p11a_hello *h);
/* A frame with no payload: LIST_IDENTITIES, STATUS, LOCK, OK. */
int p11a_encode_empty(struct p11a_buf *out, uint8_t type, uint32_t id);
int p11a_encode_sign(struct p11a_buf *out, uint32_t id,
		     const struct p11a_sign_request *req);
/*
 * token_uri may be NULL (all tokens); the PIN is not copied anywhere else.
 * flags (P11A_UNLOCK_*) go out only when not 0, so an older agent still
 * takes an UNLOCK without them.
 */
int p11a_encode_unlock(struct p11a_buf *out, uint32_t id, const char *token_uri,
		       const uint8_t *pin, size_t pin_len, uint32_t flags);
int p11a_encode_identities(struct p11a_buf *out, uint32_t id,
			   const struct p11a_identity *items, size_t n);
int p11a_encode_signature(struct p11a_buf *out, uint32_t id, const uint8_t *sig,
			  size_t sig_len);
/* STATUS; flags (P11A_STATUS_*) go out only when not 0, as UNLOCK's */
int p11a_encode_status(struct p11a_buf *out, uint32_t id, uint32_t flags);
int p11a_encode_status_reply(struct p11a_buf *out, uint32_t id,
			     const struct p11a_status *st);
/* The reply to STATUS with P11A_STATUS_DETAIL; d->detailed is ignored. */
int p11a_encode_status_detail_reply(struct p11a_buf *out, uint32_t id,
				    const struct p11a_status_detail *d);
int p11a_encode_error(struct p11a_buf *out, uint32_t id, uint32_t code,
		      const char *message);

/* Decoders of payloads. */
int p11a_decode_hello(struct p11a_buf *p, struct p11a_hello *h);
int p11a_decode_hello_reply(struct p11a_buf *p, struct p11a_hello *h);
int p11a_decode_empty(struct p11a_buf *p);
int p11a_decode_sign(struct p11a_buf *p, struct p11a_sign_view *v);
/*
 * *token_uri is allocated (NULL when absent); *pin borrows the payload;
 * *flags is 0 when the optional trailing flags field is absent.
 */
int p11a_decode_unlock(struct p11a_buf *p, char **token_uri,
		       const uint8_t **pin, size_t *pin_len, uint32_t *flags);
int p11a_decode_identities(struct p11a_buf *p, struct p11a_identity_list *list);
int p11a_decode_signature(struct p11a_buf *p, const uint8_t **sig,
			  size_t *sig_len);
/* *flags is 0 when the optional flags field is absent */
int p11a_decode_status(struct p11a_buf *p, uint32_t *flags);
int p11a_decode_status_reply(struct p11a_buf *p, struct p11a_status *st);
/* A reply to STATUS with P11A_STATUS_DETAIL; sets d->detailed. */
int p11a_decode_status_detail_reply(struct p11a_buf *p,
				    struct p11a_status_detail *d);
/* *message is allocated */
int p11a_decode_error(struct p11a_buf *p, uint32_t *code, char **message);

void p11a_hello_clear(struct p11a_hello *h);
void p11a_identity_clear(struct p11a_identity *id);
void p11a_identity_list_clear(struct p11a_identity_list *list);
void p11a_status_clear(struct p11a_status *st);
void p11a_status_detail_clear(struct p11a_status_detail *d);

#endif
