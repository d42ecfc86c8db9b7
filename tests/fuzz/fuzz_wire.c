/*
 * Fuzz target for the frame decoder and every message parser of
 * common/wire.c, as the agent and libp11agent meet them: the input is a
 * byte stream cut into frames by p11a_frame_next(), and each frame's
 * payload goes to the decoder of its type (or, for a type no side
 * knows, to every decoder, so each parser sees every shape of input).
 *
 * A payload that decodes is encoded again and must give back exactly
 * the bytes of its frame: the codec has one encoding per message, so a
 * difference is a bug in either direction.  Violations abort(), which
 * both libFuzzer and the corpus runner report as a crash.
 *
 * Built twice: with clang's -fsanitize=fuzzer (plus ASan and UBSan) as a
 * libFuzzer binary, and with run_corpus.c's main() as a plain program
 * that replays the corpus in any build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11agent/error.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encoded bytes must equal the frame they came from. */
static void
expect_same(const struct p11a_buf *out, const uint8_t *frame, size_t len,
	    const char *what)
{
	if (p11a_buf_remaining(out) == len &&
	    memcmp(p11a_buf_ptr(out), frame, len) == 0)
		return;
	fprintf(stderr, "fuzz_wire: %s does not re-encode to its frame\n",
		what);
	abort();
}

/* The decoder must leave its output empty when it fails. */
static void
check_failed_clean(int r, const void *obj, size_t len, const char *what)
{
	static const uint8_t zero[512];

	if (r == P11A_OK || len > sizeof(zero) || memcmp(obj, zero, len) == 0)
		return;
	fprintf(stderr, "fuzz_wire: failed %s left its output filled\n", what);
	abort();
}

static void
try_hello(struct p11a_buf *p, uint32_t id, const uint8_t *frame, size_t len,
	  struct p11a_buf *out)
{
	struct p11a_hello h;
	int r = p11a_decode_hello(p, &h);

	check_failed_clean(r, &h, sizeof(h), "HELLO");
	if (r != P11A_OK)
		return;
	if (frame != NULL && p11a_encode_hello(out, id, &h) == P11A_OK)
		expect_same(out, frame, len, "HELLO");
	p11a_hello_clear(&h);
}

static void
try_hello_reply(struct p11a_buf *p, uint32_t id, const uint8_t *frame,
		size_t len, struct p11a_buf *out)
{
	struct p11a_hello h;
	int r = p11a_decode_hello_reply(p, &h);

	check_failed_clean(r, &h, sizeof(h), "HELLO_REPLY");
	if (r != P11A_OK)
		return;
	if (frame != NULL && p11a_encode_hello_reply(out, id, &h) == P11A_OK)
		expect_same(out, frame, len, "HELLO_REPLY");
	p11a_hello_clear(&h);
}

static void
try_empty(struct p11a_buf *p, uint8_t type, uint32_t id, const uint8_t *frame,
	  size_t len, struct p11a_buf *out)
{
	if (p11a_decode_empty(p) != P11A_OK)
		return;
	if (frame != NULL && p11a_encode_empty(out, type, id) == P11A_OK)
		expect_same(out, frame, len, "empty message");
}

static void
try_sign(struct p11a_buf *p, uint32_t id, const uint8_t *frame, size_t len,
	 struct p11a_buf *out)
{
	struct p11a_sign_request req;
	struct p11a_sign_view v;
	char *ident;

	if (p11a_decode_sign(p, &v) != P11A_OK)
		return;
	/* the view's identity is not terminated; the encoder wants a string */
	if ((ident = malloc(v.identity_len + 1)) == NULL)
		return;
	memcpy(ident, v.identity, v.identity_len);
	ident[v.identity_len] = '\0';
	if (strlen(ident) != v.identity_len || v.identity_len == 0) {
		fprintf(stderr, "fuzz_wire: SIGN identity with NUL or empty\n");
		abort();
	}
	req.identity = ident;
	req.scheme = v.scheme;
	req.flags = v.flags;
	req.data = v.data;
	req.data_len = v.data_len;
	if (frame != NULL && p11a_encode_sign(out, id, &req) == P11A_OK)
		expect_same(out, frame, len, "SIGN");
	free(ident);
}

/*
 * An UNLOCK or a STATUS may carry flags 0 explicitly, which encodes
 * without them (PROTOCOL.md §6.9, §6.3): the frame is then the
 * re-encoding plus four zero bytes, with a length four higher.
 */
static void
expect_flags_same(const struct p11a_buf *out, const uint8_t *frame, size_t len,
		  uint32_t flags, const char *what)
{
	static const uint8_t zero[4];
	const uint8_t *o = p11a_buf_ptr(out);
	size_t n = p11a_buf_remaining(out);
	uint32_t body;

	if (flags != 0 || n + 4 != len) {
		expect_same(out, frame, len, what);
		return;
	}
	body = ((uint32_t)frame[0] << 24) | ((uint32_t)frame[1] << 16) |
	       ((uint32_t)frame[2] << 8) | frame[3];
	if (n < 4 || body != len - 4 || memcmp(o + 4, frame + 4, n - 4) != 0 ||
	    memcmp(frame + n, zero, 4) != 0) {
		fprintf(stderr,
			"fuzz_wire: %s with explicit flags 0 does "
			"not re-encode to its frame\n",
			what);
		abort();
	}
}

static void
try_unlock(struct p11a_buf *p, uint32_t id, const uint8_t *frame, size_t len,
	   struct p11a_buf *out)
{
	const uint8_t *pin;
	char *uri = NULL;
	uint32_t flags;
	size_t pin_len;

	if (p11a_decode_unlock(p, &uri, &pin, &pin_len, &flags) != P11A_OK)
		return;
	if (frame != NULL &&
	    p11a_encode_unlock(out, id, uri, pin, pin_len, flags) == P11A_OK)
		expect_flags_same(out, frame, len, flags, "UNLOCK");
	free(uri);
}

static void
try_status(struct p11a_buf *p, uint32_t id, const uint8_t *frame, size_t len,
	   struct p11a_buf *out)
{
	uint32_t flags;

	if (p11a_decode_status(p, &flags) != P11A_OK)
		return;
	if (frame != NULL && p11a_encode_status(out, id, flags) == P11A_OK)
		expect_flags_same(out, frame, len, flags, "STATUS");
}

static void
try_identities(struct p11a_buf *p, uint32_t id, const uint8_t *frame,
	       size_t len, struct p11a_buf *out)
{
	struct p11a_identity_list l;
	int r = p11a_decode_identities(p, &l);

	check_failed_clean(r, &l, sizeof(l), "IDENTITIES");
	if (r != P11A_OK)
		return;
	if (frame != NULL &&
	    p11a_encode_identities(out, id, l.items, l.n) == P11A_OK)
		expect_same(out, frame, len, "IDENTITIES");
	p11a_identity_list_clear(&l);
}

static void
try_signature(struct p11a_buf *p, uint32_t id, const uint8_t *frame, size_t len,
	      struct p11a_buf *out)
{
	const uint8_t *sig;
	size_t sig_len;

	if (p11a_decode_signature(p, &sig, &sig_len) != P11A_OK)
		return;
	if (frame != NULL &&
	    p11a_encode_signature(out, id, sig, sig_len) == P11A_OK)
		expect_same(out, frame, len, "SIGNATURE");
}

/*
 * Only the client knows whether it asked for the detail: a payload is
 * tried as both forms, and at most one of them can decode (the detail
 * has at least four bytes after the tokens).
 */
static void
try_status_reply(struct p11a_buf *p, uint32_t id, const uint8_t *frame,
		 size_t len, struct p11a_buf *out)
{
	struct p11a_status_detail d;
	struct p11a_status st;
	int r = p11a_decode_status_reply(p, &st);
	int rd = p11a_decode_status_detail_reply(p, &d);

	check_failed_clean(r, &st, sizeof(st), "STATUS_REPLY");
	check_failed_clean(rd, &d, sizeof(d), "STATUS_REPLY with detail");
	if (r == P11A_OK && rd == P11A_OK) {
		fprintf(stderr,
			"fuzz_wire: STATUS_REPLY decodes in both forms\n");
		abort();
	}
	if (r == P11A_OK && frame != NULL &&
	    p11a_encode_status_reply(out, id, &st) == P11A_OK)
		expect_same(out, frame, len, "STATUS_REPLY");
	if (rd == P11A_OK && frame != NULL &&
	    p11a_encode_status_detail_reply(out, id, &d) == P11A_OK)
		expect_same(out, frame, len, "STATUS_REPLY with detail");
	p11a_status_clear(&st);
	p11a_status_detail_clear(&d);
}

static void
try_error(struct p11a_buf *p, uint32_t id, const uint8_t *frame, size_t len,
	  struct p11a_buf *out)
{
	uint32_t code;
	char *msg = NULL;

	if (p11a_decode_error(p, &code, &msg) != P11A_OK)
		return;
	if (frame != NULL && p11a_encode_error(out, id, code, msg) == P11A_OK)
		expect_same(out, frame, len, "ERROR");
	free(msg);
}

/*
 * Decode one frame's payload as type says.  frame/len are the whole
 * frame for the round trip, or NULL when the payload is decoded as a
 * type other than its own (no round trip then).
 */
static void
decode_as(uint8_t type, const struct p11a_frame *f, const uint8_t *frame,
	  size_t len)
{
	struct p11a_buf p = f->payload, out;

	p11a_buf_init(&out, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
	switch (type) {
	case P11A_MSG_HELLO:
		try_hello(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_HELLO_REPLY:
		try_hello_reply(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_STATUS:
		try_status(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_LIST_IDENTITIES:
	case P11A_MSG_LOCK:
	case P11A_MSG_OK:
		try_empty(&p, type, f->id, frame, len, &out);
		break;
	case P11A_MSG_SIGN:
		try_sign(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_UNLOCK:
		try_unlock(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_IDENTITIES:
		try_identities(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_SIGNATURE:
		try_signature(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_STATUS_REPLY:
		try_status_reply(&p, f->id, frame, len, &out);
		break;
	case P11A_MSG_ERROR:
		try_error(&p, f->id, frame, len, &out);
		break;
	default:
		break;
	}
	p11a_buf_free(&out);
}

static const uint8_t all_types[] = {
	P11A_MSG_HELLO,	      P11A_MSG_LIST_IDENTITIES,
	P11A_MSG_SIGN,	      P11A_MSG_STATUS,
	P11A_MSG_LOCK,	      P11A_MSG_UNLOCK,
	P11A_MSG_HELLO_REPLY, P11A_MSG_IDENTITIES,
	P11A_MSG_SIGNATURE,   P11A_MSG_STATUS_REPLY,
	P11A_MSG_OK,	      P11A_MSG_ERROR};

static int
known_type(uint8_t type)
{
	for (size_t i = 0; i < sizeof(all_types); i++)
		if (all_types[i] == type)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct p11a_buf in;
	struct p11a_frame f;
	const uint8_t *start;
	size_t len;
	int r;

	p11a_buf_view(&in, data, size);
	for (;;) {
		start = p11a_buf_ptr(&in);
		if ((r = p11a_frame_next(&in, P11A_MAX_FRAME, &f)) != P11A_OK)
			break;
		len = (size_t)(p11a_buf_ptr(&in) - start);
		if (known_type(f.type)) {
			decode_as(f.type, &f, start, len);
			continue;
		}
		for (size_t i = 0; i < sizeof(all_types); i++)
			decode_as(all_types[i], &f, NULL, 0);
	}
	/* the decoder's verdicts on what is left are the only ones */
	if (r != P11A_ERR_INCOMPLETE && r != P11A_ERR_PROTOCOL &&
	    r != P11A_ERR_FRAME_TOO_LARGE) {
		fprintf(stderr, "fuzz_wire: p11a_frame_next returned %d\n", r);
		abort();
	}
	return 0;
}
