/*
 * The reading turn: an idle worker reads what the agent sent and queues
 * each request on its token's FIFO (htoken.c); HELLO, PING and SHUTDOWN
 * are answered at once.  Only the worker holding the turn touches
 * h->in, so a frame split across reads waits there for the next turn.
 */
#include "intake.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "htoken.h"
#include "hwire.h"
#include "job.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "wire.h"

#define READ_CHUNK 65536u

static void
reply_hello(struct helper *h, const struct hreq *r)
{
	struct p11a_buf out;

	if (r->version == 0) {
		hwire_send_rv(h, r->id, P11A_ERR_VERSION, CKR_OK, "HELLO");
		return;
	}
	p11a_buf_init(&out, P11A_MAX_FRAME - P11A_FRAME_BODY_MIN);
	if (hwire_hello_reply(h, HELPER_VERSION, &out) == P11A_OK)
		hwire_send(h, H_HELLO_REPLY, r->id, &out);
	else
		hwire_send_rv(h, r->id, P11A_ERR_NO_MEMORY, CKR_HOST_MEMORY,
			      "HELLO");
	p11a_buf_free(&out);
}

/* The agent is trusted, but a malformed frame means it is confused. */
static void __attribute__((noreturn))
malformed(const struct p11a_frame *f, int err)
{
	log_error("malformed frame (type 0x%02x, id %u) from the agent: %s",
		  f != NULL ? f->type : 0, f != NULL ? f->id : 0,
		  p11a_strerror(err));
	_exit(2);
}

/* One frame; returns 1 after SHUTDOWN. */
static int
handle_frame(struct helper *h, const struct p11a_frame *f)
{
	struct htoken *t;
	struct hjob *j;
	int err;

	if ((j = job_new(f->type, f->id, &f->payload, &err)) == NULL) {
		if (err != P11A_ERR_NO_MEMORY)
			malformed(f, err);
		hwire_send_rv(h, f->id, err, CKR_HOST_MEMORY, "helper");
		return 0;
	}
	switch (f->type) {
	case H_PING:
		hwire_send_empty(h, H_PONG, f->id);
		break;
	case H_HELLO:
		reply_hello(h, &j->req);
		break;
	case H_SHUTDOWN:
		hwire_send_empty(h, H_OK, f->id);
		job_free(j);
		return 1;
	default:
		if ((t = htoken_find(h, j->req.slot)) != NULL) {
			htoken_push(t, j);
			return 0;
		}
		hwire_send_rv(h, f->id, P11A_ERR_TOKEN_NOT_PRESENT,
			      CKR_SLOT_ID_INVALID, "helper");
	}
	job_free(j);
	return 0;
}

int
intake_read(struct helper *h)
{
	struct p11a_buf *in = &h->in;
	size_t room = p11a_buf_room(in);
	struct p11a_frame f;
	ssize_t n;
	uint8_t *p;
	int r = 0, e;

	if (room > READ_CHUNK)
		room = READ_CHUNK;
	if (p11a_buf_reserve(in, room, &p) != P11A_OK)
		return -1;
	while ((n = read(HELPER_FD, p, room)) < 0 && errno == EINTR)
		;
	if (n <= 0) {
		if (n < 0)
			log_error("reading from the agent: %s",
				  strerror(errno));
		return -1;
	}
	p11a_buf_commit(in, (size_t)n);
	while (r == 0 &&
	       (e = p11a_frame_next(in, P11A_MAX_FRAME, &f)) == P11A_OK) {
		r = handle_frame(h, &f);
		/* the job has its copy; a PIN stays in one place */
		OPENSSL_cleanse((void *)(uintptr_t)p11a_buf_ptr(&f.payload),
				p11a_buf_remaining(&f.payload));
	}
	if (r == 0 && e != P11A_ERR_INCOMPLETE)
		malformed(NULL, e);
	p11a_buf_compact(in);
	return r;
}
