/*
 * common/wire.c: framing, a round trip of every message, and every kind
 * of malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "buf.h"
#include "wire.h"
#include "unit.h"

#define OUT_MAX (4u * P11A_MAX_FRAME)

/* Take exactly one frame off out and check its type and request id. */
static void
take_frame(struct p11a_buf *out, uint8_t type, uint32_t id,
	   struct p11a_frame *f)
{
	assert_int_equal(p11a_frame_next(out, P11A_MAX_FRAME, f), P11A_OK);
	assert_int_equal(f->type, type);
	assert_int_equal(f->id, id);
	assert_true(f->payload.readonly);
	assert_int_equal(p11a_buf_remaining(out), 0);
}

/* ---- frames ---- */

static void
frame_next_needs_the_four_length_bytes(void **state)
{
	static const uint8_t in[] = {0, 0, 0};
	struct p11a_frame f;
	struct p11a_buf b;
	size_t len;

	(void)state;
	for (len = 0; len <= sizeof(in); len++) {
		p11a_buf_view(&b, in, len);
		assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f),
				 P11A_ERR_INCOMPLETE);
		assert_int_equal(b.off, 0);
	}
}

static void
frame_next_waits_for_the_whole_body(void **state)
{
	struct p11a_buf out, b;
	struct p11a_frame f;
	size_t len;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_error(&out, 7, P11A_ERR_LOCKED, "x"),
			 P11A_OK);
	for (len = 0; len < out.len; len++) {
		p11a_buf_view(&b, out.data, len);
		assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f),
				 P11A_ERR_INCOMPLETE);
		assert_int_equal(b.off, 0);
	}
	p11a_buf_view(&b, out.data, out.len);
	assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f), P11A_OK);
	assert_int_equal(p11a_buf_remaining(&b), 0);
	p11a_buf_free(&out);
}

static void
frame_next_rejects_huge_length(void **state)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t over[] = {0x00, 0x04, 0x00, 0x01};
	static const uint8_t at_max[] = {0x00, 0x04, 0x00, 0x00};
	struct p11a_frame f;
	struct p11a_buf b;

	(void)state;
	/* judged from the length alone, before any body byte arrives */
	p11a_buf_view(&b, huge, sizeof(huge));
	assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f),
			 P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(b.off, 0);
	p11a_buf_view(&b, over, sizeof(over));
	assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f),
			 P11A_ERR_FRAME_TOO_LARGE);
	p11a_buf_view(&b, at_max, sizeof(at_max));
	assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f),
			 P11A_ERR_INCOMPLETE);
	/* the caller's limit is the one applied */
	p11a_buf_view(&b, at_max, sizeof(at_max));
	assert_int_equal(p11a_frame_next(&b, 1024, &f),
			 P11A_ERR_FRAME_TOO_LARGE);
}

static void
frame_next_rejects_body_shorter_than_type_and_id(void **state)
{
	uint8_t in[16] = {0};
	struct p11a_frame f;
	struct p11a_buf b;
	uint8_t len;

	(void)state;
	for (len = 0; len < P11A_FRAME_BODY_MIN; len++) {
		in[3] = len;
		p11a_buf_view(&b, in, sizeof(in));
		assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f),
				 P11A_ERR_PROTOCOL);
		assert_int_equal(b.off, 0);
	}
	in[3] = P11A_FRAME_BODY_MIN;
	p11a_buf_view(&b, in, sizeof(in));
	assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f), P11A_OK);
	assert_int_equal(p11a_buf_remaining(&f.payload), 0);
}

static void
frame_next_leaves_unknown_types_to_the_caller(void **state)
{
	static const uint8_t in[] = {0,	   0,	 0,    7,    0x42, 0xde,
				     0xad, 0xbe, 0xef, 0x99, 0x98};
	struct p11a_frame f;
	struct p11a_buf b;

	(void)state;
	p11a_buf_view(&b, in, sizeof(in));
	assert_int_equal(p11a_frame_next(&b, P11A_MAX_FRAME, &f), P11A_OK);
	assert_int_equal(f.type, 0x42);
	assert_int_equal(f.id, 0xdeadbeef);
	assert_bytes_hex(p11a_buf_ptr(&f.payload),
			 p11a_buf_remaining(&f.payload), "9998");
	assert_int_equal(p11a_buf_remaining(&b), 0);
}

static void
frame_next_takes_pipelined_frames_one_at_a_time(void **state)
{
	struct p11a_buf out;
	struct p11a_frame f;
	size_t full;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_empty(&out, P11A_MSG_STATUS, 1), P11A_OK);
	assert_int_equal(p11a_encode_error(&out, 2, 5, "m"), P11A_OK);
	assert_int_equal(p11a_encode_empty(&out, P11A_MSG_LOCK, 3), P11A_OK);
	full = out.len;
	out.len -= 1; /* the third one has not fully arrived */

	assert_int_equal(p11a_frame_next(&out, P11A_MAX_FRAME, &f), P11A_OK);
	assert_int_equal(f.type, P11A_MSG_STATUS);
	assert_int_equal(f.id, 1);
	assert_int_equal(p11a_frame_next(&out, P11A_MAX_FRAME, &f), P11A_OK);
	assert_int_equal(f.type, P11A_MSG_ERROR);
	assert_int_equal(f.id, 2);
	assert_int_equal(p11a_frame_next(&out, P11A_MAX_FRAME, &f),
			 P11A_ERR_INCOMPLETE);
	out.len = full;
	p11a_buf_compact(&out);
	assert_int_equal(p11a_frame_next(&out, P11A_MAX_FRAME, &f), P11A_OK);
	assert_int_equal(f.type, P11A_MSG_LOCK);
	assert_int_equal(f.id, 3);
	assert_int_equal(p11a_frame_next(&out, P11A_MAX_FRAME, &f),
			 P11A_ERR_INCOMPLETE);
	p11a_buf_free(&out);
}

/* ---- encoders ---- */

static void
encode_hello_writes_the_documented_bytes(void **state)
{
	struct p11a_hello h = {
		.min_version = 1, .version = 1, .name = (char *)"ab"};
	struct p11a_buf out;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_hello(&out, 0x01020304, &h), P11A_OK);
	assert_bytes_hex(out.data, out.len,
			 "0000000f 01 01020304 0001 0001 00000002 6162");
	p11a_buf_free(&out);
}

static void
encode_appends_after_existing_bytes(void **state)
{
	struct p11a_buf out;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_buf_put_raw(&out, "zz", 2), P11A_OK);
	assert_int_equal(p11a_encode_empty(&out, P11A_MSG_OK, 9), P11A_OK);
	assert_bytes_hex(out.data, out.len, "7a7a 00000005 85 00000009");
	p11a_buf_free(&out);
}

static void
encode_failure_leaves_output_as_it_was(void **state)
{
	static const uint8_t sig[64] = {1};
	struct p11a_buf out;
	size_t i;

	(void)state;
	p11a_buf_init(&out, 40);
	assert_int_equal(p11a_encode_empty(&out, P11A_MSG_OK, 1), P11A_OK);
	assert_int_equal(p11a_encode_signature(&out, 2, sig, sizeof(sig)),
			 P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(out.len, 9);
	assert_bytes_hex(out.data, out.len, "00000005 85 00000001");
	/* the half-written frame was wiped, not left behind */
	assert_int_equal(p11a_encode_error(&out, 3, 1, "0123456789abcdef"),
			 P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(out.len, 9);
	/* header (9) and code (4) had been written: type 0xff, id 3, code 1 */
	for (i = 9; i < 9 + 13; i++)
		assert_int_equal(out.data[i], 0);
	p11a_buf_free(&out);
}

static void
encode_rejects_body_larger_than_max_frame(void **state)
{
	/* body = type + id + u32 length + signature */
	const size_t fits = P11A_MAX_FRAME - P11A_FRAME_BODY_MIN - 4;
	uint8_t *sig = calloc(1, fits + 1);
	struct p11a_buf out;
	struct p11a_frame f;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_non_null(sig);
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_signature(&out, 1, sig, fits + 1),
			 P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(out.len, 0);
	assert_int_equal(p11a_encode_signature(&out, 1, sig, fits), P11A_OK);
	assert_int_equal(out.len, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
	take_frame(&out, P11A_MSG_SIGNATURE, 1, &f);
	assert_int_equal(p11a_decode_signature(&f.payload, &p, &n), P11A_OK);
	assert_int_equal(n, fits);
	p11a_buf_free(&out);
	free(sig);
}

static void
encode_sign_refuses_empty_identity(void **state)
{
	struct p11a_sign_request req = {.identity = "", .scheme = 0x0403};
	struct p11a_buf out;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_sign(&out, 1, &req),
			 P11A_ERR_INVALID_ARGUMENT);
	req.identity = NULL;
	assert_int_equal(p11a_encode_sign(&out, 1, &req),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(out.len, 0);
	p11a_buf_free(&out);
}

static void
encode_identities_refuses_too_many_schemes(void **state)
{
	struct p11a_identity it = {.n_schemes = P11A_MAX_SCHEMES + 1};
	struct p11a_buf out;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_identities(&out, 1, &it, 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(out.len, 0);
	assert_int_equal(p11a_encode_identities(&out, 1, NULL, 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_encode_identities(&out, 1, NULL, 0), P11A_OK);
	p11a_buf_free(&out);
}

static void
encode_into_a_view_is_refused(void **state)
{
	uint8_t mem[64] = {0};
	struct p11a_buf v;

	(void)state;
	p11a_buf_view(&v, mem, sizeof(mem));
	assert_int_equal(p11a_encode_empty(&v, P11A_MSG_OK, 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(v.len, sizeof(mem));
}

/* ---- round trips ---- */

static void
hello_round_trips(void **state)
{
	struct p11a_hello in = {.min_version = 1,
				.version = 3,
				.name = (char *)"tls-client/1.0"};
	struct p11a_hello h;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_hello(&out, 0xfffffffe, &in), P11A_OK);
	take_frame(&out, P11A_MSG_HELLO, 0xfffffffe, &f);
	assert_int_equal(p11a_decode_hello(&f.payload, &h), P11A_OK);
	assert_int_equal(h.min_version, 1);
	assert_int_equal(h.version, 3);
	assert_string_equal(h.name, "tls-client/1.0");
	assert_null(h.software);
	p11a_hello_clear(&h);
	p11a_buf_free(&out);
}

static void
hello_reply_round_trips(void **state)
{
	struct p11a_hello in = {.version = 1,
				.name = (char *)"p11agentd",
				.software = (char *)"p11agent 0.1.0",
				.capabilities =
					P11A_CAP_PIPELINING | P11A_CAP_LOCK,
				.max_frame = P11A_MAX_FRAME};
	struct p11a_hello h;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_hello_reply(&out, 0, &in), P11A_OK);
	take_frame(&out, P11A_MSG_HELLO_REPLY, 0, &f);
	assert_int_equal(p11a_decode_hello_reply(&f.payload, &h), P11A_OK);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.min_version, 0);
	assert_string_equal(h.name, "p11agentd");
	assert_string_equal(h.software, "p11agent 0.1.0");
	assert_int_equal(h.capabilities, 3);
	assert_int_equal(h.max_frame, P11A_MAX_FRAME);
	p11a_hello_clear(&h);
	p11a_buf_free(&out);
}

static void
empty_messages_round_trip(void **state)
{
	static const uint8_t types[] = {P11A_MSG_LIST_IDENTITIES,
					P11A_MSG_STATUS, P11A_MSG_LOCK,
					P11A_MSG_OK};
	struct p11a_buf out;
	struct p11a_frame f;
	size_t i;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	for (i = 0; i < sizeof(types); i++) {
		assert_int_equal(p11a_encode_empty(&out, types[i], (uint32_t)i),
				 P11A_OK);
		assert_int_equal(out.len, 9);
		take_frame(&out, types[i], (uint32_t)i, &f);
		assert_int_equal(p11a_decode_empty(&f.payload), P11A_OK);
		p11a_buf_reset(&out);
	}
	p11a_buf_free(&out);
}

static void
sign_round_trips_without_copies(void **state)
{
	static const uint8_t digest[32] = {0xde, 0xad, [31] = 0xff};
	struct p11a_sign_request req = {
		.identity = "0123456789abcdef0123456789abcdef",
		.scheme = P11A_SCHEME_ECDSA_SECP256R1_SHA256,
		.flags = P11A_SIGN_DIGEST,
		.data = digest,
		.data_len = sizeof(digest),
	};
	struct p11a_sign_view v;
	struct p11a_buf out;
	struct p11a_frame f;
	const uint8_t *lo, *hi;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_sign(&out, 42, &req), P11A_OK);
	take_frame(&out, P11A_MSG_SIGN, 42, &f);
	lo = f.payload.data;
	hi = lo + f.payload.len;
	assert_int_equal(p11a_decode_sign(&f.payload, &v), P11A_OK);
	assert_int_equal(v.identity_len, 32);
	assert_memory_equal(v.identity, req.identity, 32);
	assert_int_equal(v.scheme, 0x0403);
	assert_int_equal(v.flags, P11A_SIGN_DIGEST);
	assert_int_equal(v.data_len, 32);
	assert_memory_equal(v.data, digest, 32);
	assert_true(v.identity >= lo && v.identity + 32 <= hi);
	assert_true(v.data >= lo && v.data + 32 <= hi);
	p11a_buf_free(&out);
}

static void
sign_with_empty_data_round_trips(void **state)
{
	struct p11a_sign_request req = {.identity = "pkcs11:id=%01",
					.scheme = P11A_SCHEME_ED25519};
	struct p11a_sign_view v;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_sign(&out, 1, &req), P11A_OK);
	take_frame(&out, P11A_MSG_SIGN, 1, &f);
	assert_int_equal(p11a_decode_sign(&f.payload, &v), P11A_OK);
	assert_int_equal(v.identity_len, strlen(req.identity));
	assert_int_equal(v.data_len, 0);
	assert_int_equal(v.flags, 0);
	p11a_buf_free(&out);
}

static void
unlock_round_trips(void **state)
{
	static const uint8_t pin[] = "1234";
	struct p11a_buf out;
	struct p11a_frame f;
	const uint8_t *p;
	uint32_t fl;
	size_t n;
	char *uri;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(
		p11a_encode_unlock(&out, 5, "pkcs11:token=a", pin, 4, 0),
		P11A_OK);
	take_frame(&out, P11A_MSG_UNLOCK, 5, &f);
	assert_int_equal(p11a_decode_unlock(&f.payload, &uri, &p, &n, &fl),
			 P11A_OK);
	assert_string_equal(uri, "pkcs11:token=a");
	assert_int_equal(n, 4);
	assert_memory_equal(p, "1234", 4);
	free(uri);
	p11a_buf_free(&out);
}

static void
unlock_of_all_tokens_decodes_uri_as_null(void **state)
{
	struct p11a_buf out;
	struct p11a_frame f;
	const uint8_t *p;
	uint32_t fl = 99;
	size_t n;
	char *uri = (char *)"x";

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(
		p11a_encode_unlock(&out, 5, NULL, (const uint8_t *)"00", 2, 0),
		P11A_OK);
	assert_bytes_hex(out.data, out.len,
			 "0000000f 06 00000005 00000000 00000002 3030");
	take_frame(&out, P11A_MSG_UNLOCK, 5, &f);
	assert_int_equal(p11a_decode_unlock(&f.payload, &uri, &p, &n, &fl),
			 P11A_OK);
	assert_null(uri);
	assert_int_equal(n, 2);
	assert_int_equal(fl, 0);
	p11a_buf_free(&out);
}

/* the optional flags field: sent only when set, decoded when present */
static void
unlock_final_try_flag_trails_the_pin(void **state)
{
	struct p11a_buf out;
	struct p11a_frame f;
	const uint8_t *p;
	uint32_t fl = 0;
	size_t n;
	char *uri = (char *)"x";

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_unlock(&out, 5, NULL,
					    (const uint8_t *)"00", 2,
					    P11A_UNLOCK_FINAL_TRY),
			 P11A_OK);
	assert_bytes_hex(
		out.data, out.len,
		"00000013 06 00000005 00000000 00000002 3030 00000001");
	take_frame(&out, P11A_MSG_UNLOCK, 5, &f);
	assert_int_equal(p11a_decode_unlock(&f.payload, &uri, &p, &n, &fl),
			 P11A_OK);
	assert_null(uri);
	assert_int_equal(n, 2);
	assert_int_equal(fl, P11A_UNLOCK_FINAL_TRY);
	p11a_buf_free(&out);
}

/* two bytes after the PIN are no flags field: trailing data */
static void
unlock_with_a_short_flags_field_is_rejected(void **state)
{
	static const uint8_t unl[] = {0, 0, 0, 0, 0, 0, 0, 1, '0', 0, 1};
	struct p11a_buf p;
	const uint8_t *pin;
	uint32_t fl = 7;
	size_t n;
	char *s = (char *)"x";

	(void)state;
	p11a_buf_view(&p, unl, sizeof(unl));
	assert_int_equal(p11a_decode_unlock(&p, &s, &pin, &n, &fl),
			 P11A_ERR_TRAILING_DATA);
	assert_null(s);
	assert_int_equal(fl, 0);
}

static void
fill_identity(struct p11a_identity *it, int i)
{
	static const uint8_t cert[] = {0x30, 0x82, 0x01, 0x00, 0xaa};
	static const uint8_t spki[] = {0x30, 0x59, 0x30, 0x13};

	memset(it, 0, sizeof(*it));
	it->id = (char *)(i == 0 ? "00112233445566778899aabbccddeeff"
				 : "ffeeddccbbaa99887766554433221100");
	it->uri = (char *)"pkcs11:token=t;id=%01;type=private";
	it->label = (char *)(i == 0 ? "tls key" : "");
	it->key_type = i == 0 ? P11A_KEY_EC : P11A_KEY_RSA;
	it->bits = i == 0 ? 256 : 4096;
	it->curve = (char *)(i == 0 ? "P-256" : "");
	it->flags = P11A_IDENTITY_AVAILABLE;
	it->n_schemes = i == 0 ? 2 : P11A_MAX_SCHEMES;
	for (size_t k = 0; k < it->n_schemes; k++)
		it->schemes[k] = (uint16_t)(0x0400 + k);
	if (i == 0) {
		it->cert = (uint8_t *)cert;
		it->cert_len = sizeof(cert);
		it->spki = (uint8_t *)spki;
		it->spki_len = sizeof(spki);
	}
}

static void
assert_identity_equal(const struct p11a_identity *a,
		      const struct p11a_identity *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->uri, b->uri);
	assert_string_equal(a->label, b->label);
	assert_int_equal(a->key_type, b->key_type);
	assert_int_equal(a->bits, b->bits);
	assert_string_equal(a->curve, b->curve);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->n_schemes, b->n_schemes);
	assert_memory_equal(a->schemes, b->schemes,
			    a->n_schemes * sizeof(a->schemes[0]));
	assert_int_equal(a->cert_len, b->cert_len);
	assert_int_equal(a->spki_len, b->spki_len);
	if (a->cert_len > 0)
		assert_memory_equal(a->cert, b->cert, a->cert_len);
	else
		assert_null(b->cert);
	if (a->spki_len > 0)
		assert_memory_equal(a->spki, b->spki, a->spki_len);
	else
		assert_null(b->spki);
}

static void
identities_round_trip(void **state)
{
	struct p11a_identity in[2];
	struct p11a_identity_list list;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	fill_identity(&in[0], 0);
	fill_identity(&in[1], 1);
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_identities(&out, 3, in, 2), P11A_OK);
	take_frame(&out, P11A_MSG_IDENTITIES, 3, &f);
	assert_int_equal(p11a_decode_identities(&f.payload, &list), P11A_OK);
	assert_int_equal(list.n, 2);
	assert_identity_equal(&in[0], &list.items[0]);
	assert_identity_equal(&in[1], &list.items[1]);
	p11a_identity_list_clear(&list);
	assert_int_equal(list.n, 0);
	assert_null(list.items);
	p11a_buf_free(&out);
}

static void
identities_empty_list_round_trips(void **state)
{
	struct p11a_identity_list list;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_identities(&out, 3, NULL, 0), P11A_OK);
	take_frame(&out, P11A_MSG_IDENTITIES, 3, &f);
	assert_int_equal(p11a_decode_identities(&f.payload, &list), P11A_OK);
	assert_int_equal(list.n, 0);
	assert_null(list.items);
	p11a_buf_free(&out);
}

static void
identity_null_strings_decode_as_empty_strings(void **state)
{
	struct p11a_identity in = {.key_type = P11A_KEY_ED25519};
	struct p11a_identity_list list;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_identities(&out, 3, &in, 1), P11A_OK);
	take_frame(&out, P11A_MSG_IDENTITIES, 3, &f);
	assert_int_equal(p11a_buf_remaining(&f.payload), 4 + 33);
	assert_int_equal(p11a_decode_identities(&f.payload, &list), P11A_OK);
	assert_int_equal(list.n, 1);
	assert_non_null(list.items[0].id);
	assert_string_equal(list.items[0].id, "");
	assert_string_equal(list.items[0].uri, "");
	assert_string_equal(list.items[0].label, "");
	assert_string_equal(list.items[0].curve, "");
	assert_null(list.items[0].cert);
	assert_null(list.items[0].spki);
	p11a_identity_list_clear(&list);
	p11a_buf_free(&out);
}

static void
signature_round_trips(void **state)
{
	static const uint8_t sig[] = {0x30, 0x06, 0x02, 0x01,
				      0x01, 0x02, 0x01, 0x02};
	struct p11a_buf out;
	struct p11a_frame f;
	const uint8_t *p;
	size_t n;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_signature(&out, 8, sig, sizeof(sig)),
			 P11A_OK);
	take_frame(&out, P11A_MSG_SIGNATURE, 8, &f);
	assert_int_equal(p11a_decode_signature(&f.payload, &p, &n), P11A_OK);
	assert_int_equal(n, sizeof(sig));
	assert_memory_equal(p, sig, sizeof(sig));
	p11a_buf_free(&out);
}

static void
fill_status(struct p11a_status *st, struct p11a_token_status *tok)
{
	memset(tok, 0, 2 * sizeof(*tok));
	tok[0] = (struct p11a_token_status){
		.label = (char *)"token one",
		.uri = (char *)"pkcs11:token=token%20one",
		.module = (char *)"/usr/lib/softhsm/libsofthsm2.so",
		.flags = P11A_TOKEN_PRESENT | P11A_TOKEN_LOGGED_IN,
		.identities = 3,
		.workers = 2,
		.signs = 0x0123456789ULL,
		.errors = 1,
		.sign_usec_total = 0xfedcba9876543210ULL,
	};
	tok[1] = (struct p11a_token_status){.flags = P11A_TOKEN_NEEDS_UNLOCK};
	*st = (struct p11a_status){
		.software = (char *)"p11agent 0.1.0",
		.uptime_sec = 86400,
		.connections = 4,
		.requests = 0x100000000ULL,
		.n_tokens = 2,
		.tokens = tok,
	};
}

static void
status_reply_round_trips(void **state)
{
	struct p11a_token_status tok[2];
	struct p11a_status in, st;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	fill_status(&in, tok);
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_status_reply(&out, 11, &in), P11A_OK);
	take_frame(&out, P11A_MSG_STATUS_REPLY, 11, &f);
	assert_int_equal(p11a_decode_status_reply(&f.payload, &st), P11A_OK);
	assert_string_equal(st.software, "p11agent 0.1.0");
	assert_true(st.uptime_sec == 86400);
	assert_int_equal(st.connections, 4);
	assert_true(st.requests == 0x100000000ULL);
	assert_int_equal(st.n_tokens, 2);
	assert_string_equal(st.tokens[0].label, "token one");
	assert_string_equal(st.tokens[0].uri, "pkcs11:token=token%20one");
	assert_string_equal(st.tokens[0].module,
			    "/usr/lib/softhsm/libsofthsm2.so");
	assert_int_equal(st.tokens[0].flags, 3);
	assert_int_equal(st.tokens[0].identities, 3);
	assert_int_equal(st.tokens[0].workers, 2);
	assert_true(st.tokens[0].signs == 0x0123456789ULL);
	assert_true(st.tokens[0].errors == 1);
	assert_true(st.tokens[0].sign_usec_total == 0xfedcba9876543210ULL);
	assert_string_equal(st.tokens[1].label, "");
	assert_int_equal(st.tokens[1].flags, P11A_TOKEN_NEEDS_UNLOCK);
	p11a_status_clear(&st);
	assert_null(st.tokens);
	p11a_buf_free(&out);
}

/* STATUS's flags are optional, as UNLOCK's: absent is 0 (§6.3). */
static void
status_request_flags_are_optional(void **state)
{
	static const uint8_t three[] = {0, 0, 0};
	static const uint8_t five[] = {0, 0, 0, 1, 0};
	struct p11a_buf out, p;
	struct p11a_frame f;
	uint32_t flags = 99;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_status(&out, 4, 0), P11A_OK);
	take_frame(&out, P11A_MSG_STATUS, 4, &f);
	assert_int_equal(p11a_buf_remaining(&f.payload), 0);
	assert_int_equal(p11a_decode_status(&f.payload, &flags), P11A_OK);
	assert_int_equal(flags, 0);
	p11a_buf_reset(&out);
	assert_int_equal(p11a_encode_status(&out, 5, P11A_STATUS_DETAIL),
			 P11A_OK);
	take_frame(&out, P11A_MSG_STATUS, 5, &f);
	assert_int_equal(p11a_buf_remaining(&f.payload), 4);
	assert_int_equal(p11a_decode_status(&f.payload, &flags), P11A_OK);
	assert_int_equal(flags, P11A_STATUS_DETAIL);
	p11a_buf_view(&p, three, sizeof(three));
	assert_int_equal(p11a_decode_status(&p, &flags),
			 P11A_ERR_TRAILING_DATA);
	assert_int_equal(flags, 0);
	assert_int_equal(p.off, 0);
	p11a_buf_view(&p, five, sizeof(five));
	assert_int_equal(p11a_decode_status(&p, &flags),
			 P11A_ERR_TRAILING_DATA);
	p11a_buf_free(&out);
}

static void
fill_detail(struct p11a_status_detail *d, struct p11a_token_status *tok,
	    struct p11a_token_detail *td, struct p11a_identity_paths *ip)
{
	memset(d, 0, sizeof(*d));
	fill_status(&d->status, tok);
	td[0] = (struct p11a_token_detail){2, 7, 2};
	td[1] = (struct p11a_token_detail){1, 0, 0};
	memset(ip, 0, 2 * sizeof(*ip));
	ip[0].id = (char *)"0123456789abcdef0123456789abcdef";
	ip[0].token = 1;
	ip[0].n_paths = 2;
	ip[0].paths[0] = (struct p11a_scheme_path){
		0x0403, P11A_SIGN_PATH_HASHED, 0x1044};
	ip[0].paths[1] =
		(struct p11a_scheme_path){0x0804, P11A_SIGN_PATH_RAW, 0x3};
	ip[1].id = (char *)"fedcba9876543210fedcba9876543210";
	d->tokens = td;
	d->identities = ip;
	d->n_identities = 2;
}

static void
status_detail_reply_round_trips(void **state)
{
	struct p11a_token_status tok[2];
	struct p11a_token_detail td[2];
	struct p11a_identity_paths ip[2];
	struct p11a_status_detail in, d;
	struct p11a_status plain;
	struct p11a_buf out;
	struct p11a_frame f;

	(void)state;
	fill_detail(&in, tok, td, ip);
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_status_detail_reply(&out, 12, &in),
			 P11A_OK);
	take_frame(&out, P11A_MSG_STATUS_REPLY, 12, &f);
	/* a client that did not ask for the detail would not take it */
	assert_int_equal(p11a_decode_status_reply(&f.payload, &plain),
			 P11A_ERR_TRAILING_DATA);
	assert_int_equal(p11a_decode_status_detail_reply(&f.payload, &d),
			 P11A_OK);
	assert_true(d.detailed);
	assert_int_equal(d.status.n_tokens, 2);
	assert_string_equal(d.status.tokens[0].label, "token one");
	assert_int_equal(d.status.tokens[0].workers, 2);
	assert_int_equal(d.tokens[0].sessions, 2);
	assert_int_equal(d.tokens[0].queued, 7);
	assert_int_equal(d.tokens[0].running, 2);
	assert_int_equal(d.tokens[1].sessions, 1);
	assert_int_equal(d.n_identities, 2);
	assert_string_equal(d.identities[0].id,
			    "0123456789abcdef0123456789abcdef");
	assert_int_equal(d.identities[0].token, 1);
	assert_int_equal(d.identities[0].n_paths, 2);
	assert_int_equal(d.identities[0].paths[0].scheme, 0x0403);
	assert_int_equal(d.identities[0].paths[0].path, P11A_SIGN_PATH_HASHED);
	assert_int_equal(d.identities[0].paths[0].mechanism, 0x1044);
	assert_int_equal(d.identities[0].paths[1].path, P11A_SIGN_PATH_RAW);
	assert_int_equal(d.identities[1].n_paths, 0);
	p11a_status_detail_clear(&d);
	assert_null(d.tokens);
	assert_null(d.identities);
	p11a_buf_free(&out);
}

/* A path naming a token the reply does not have, or 17 paths. */
static void
decode_status_detail_rejects_bad_paths(void **state)
{
	struct p11a_token_status tok[2];
	struct p11a_token_detail td[2];
	struct p11a_identity_paths ip[2];
	struct p11a_status_detail in, d;
	struct p11a_buf out;
	struct p11a_frame f;
	uint8_t *p;

	(void)state;
	fill_detail(&in, tok, td, ip);
	p11a_buf_init(&out, OUT_MAX);
	in.identities[0].token = 2;
	assert_int_equal(p11a_encode_status_detail_reply(&out, 1, &in),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(out.len, 0);
	in.identities[0].token = 1;
	in.n_identities = 1;
	assert_int_equal(p11a_encode_status_detail_reply(&out, 1, &in),
			 P11A_OK);
	/* the last identity: ... token u32, n_paths u16, 2 x 7 bytes */
	p = out.data + out.len - 2 * 7 - 2 - 4;
	p[3] = 2; /* token 2 of 0..1 */
	take_frame(&out, P11A_MSG_STATUS_REPLY, 1, &f);
	assert_int_equal(p11a_decode_status_detail_reply(&f.payload, &d),
			 P11A_ERR_PROTOCOL);
	assert_null(d.tokens);
	assert_int_equal(f.payload.off, 0);
	p11a_buf_reset(&out);
	assert_int_equal(p11a_encode_status_detail_reply(&out, 1, &in),
			 P11A_OK);
	p = out.data + out.len - 2 * 7 - 2;
	p[1] = 17;
	take_frame(&out, P11A_MSG_STATUS_REPLY, 1, &f);
	assert_int_equal(p11a_decode_status_detail_reply(&f.payload, &d),
			 P11A_ERR_PROTOCOL);
	p11a_buf_free(&out);
}

static void
error_round_trips(void **state)
{
	struct p11a_buf out;
	struct p11a_frame f;
	uint32_t code;
	char *msg;

	(void)state;
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_encode_error(&out, 77, P11A_ERR_LOCKED,
					   "locked: unlock first"),
			 P11A_OK);
	take_frame(&out, P11A_MSG_ERROR, 77, &f);
	assert_int_equal(p11a_decode_error(&f.payload, &code, &msg), P11A_OK);
	assert_int_equal(code, P11A_ERR_LOCKED);
	assert_string_equal(msg, "locked: unlock first");
	free(msg);
	p11a_buf_reset(&out);
	assert_int_equal(p11a_encode_error(&out, 0, P11A_ERR_PROTOCOL, NULL),
			 P11A_OK);
	take_frame(&out, P11A_MSG_ERROR, 0, &f);
	assert_int_equal(p11a_decode_error(&f.payload, &code, &msg), P11A_OK);
	assert_string_equal(msg, "");
	free(msg);
	p11a_buf_free(&out);
}

/* ---- malformed payloads ---- */

enum msg_kind {
	K_HELLO,
	K_HELLO_REPLY,
	K_SIGN,
	K_UNLOCK,
	K_IDENTITIES,
	K_SIGNATURE,
	K_STATUS_REPLY,
	K_ERROR,
	K_KINDS_
};

static const char *const kind_names[K_KINDS_] = {
	"HELLO",      "HELLO_REPLY", "SIGN",	     "UNLOCK",
	"IDENTITIES", "SIGNATURE",   "STATUS_REPLY", "ERROR",
};

/* A valid frame of this kind in out; returns its payload offset. */
static size_t
encode_kind(struct p11a_buf *out, enum msg_kind k)
{
	static const uint8_t data[] = {1, 2, 3, 4, 5};
	struct p11a_hello h = {.min_version = 1,
			       .version = 1,
			       .name = (char *)"n",
			       .software = (char *)"s",
			       .capabilities = 1,
			       .max_frame = 2};
	struct p11a_sign_request req = {.identity = "id",
					.scheme = 1,
					.flags = 1,
					.data = data,
					.data_len = sizeof(data)};
	struct p11a_identity ids[2];
	struct p11a_token_status tok[2];
	struct p11a_status st;
	int r = P11A_ERR_INTERNAL;

	switch (k) {
	case K_HELLO:
		r = p11a_encode_hello(out, 1, &h);
		break;
	case K_HELLO_REPLY:
		r = p11a_encode_hello_reply(out, 1, &h);
		break;
	case K_SIGN:
		r = p11a_encode_sign(out, 1, &req);
		break;
	case K_UNLOCK:
		r = p11a_encode_unlock(out, 1, "u", data, sizeof(data), 0);
		break;
	case K_IDENTITIES:
		fill_identity(&ids[0], 0);
		fill_identity(&ids[1], 1);
		r = p11a_encode_identities(out, 1, ids, 2);
		break;
	case K_SIGNATURE:
		r = p11a_encode_signature(out, 1, data, sizeof(data));
		break;
	case K_STATUS_REPLY:
		fill_status(&st, tok);
		r = p11a_encode_status_reply(out, 1, &st);
		break;
	case K_ERROR:
		r = p11a_encode_error(out, 1, 3, "e");
		break;
	case K_KINDS_:
		break;
	}
	assert_int_equal(r, P11A_OK);
	return P11A_FRAME_HEADER_LEN + P11A_FRAME_BODY_MIN;
}

/*
 * Decode p as kind k; check that on failure every output is zeroed and
 * the read position is back where it started.
 */
static int
decode_kind(struct p11a_buf *p, enum msg_kind k)
{
	static const uint8_t zero[sizeof(struct p11a_status) +
				  sizeof(struct p11a_hello) +
				  sizeof(struct p11a_sign_view) +
				  sizeof(struct p11a_identity_list)];
	struct p11a_hello h;
	struct p11a_sign_view v;
	struct p11a_identity_list list;
	struct p11a_status st;
	const uint8_t *bytes = (const uint8_t *)"x";
	size_t n = 99;
	uint32_t code = 99, u32 = 99;
	char *str = (char *)"x";
	size_t off = p->off;
	int r = P11A_ERR_INTERNAL;

	switch (k) {
	case K_HELLO:
		r = p11a_decode_hello(p, &h);
		if (r != P11A_OK)
			assert_memory_equal(&h, zero, sizeof(h));
		p11a_hello_clear(&h);
		break;
	case K_HELLO_REPLY:
		r = p11a_decode_hello_reply(p, &h);
		if (r != P11A_OK)
			assert_memory_equal(&h, zero, sizeof(h));
		p11a_hello_clear(&h);
		break;
	case K_SIGN:
		r = p11a_decode_sign(p, &v);
		if (r != P11A_OK)
			assert_memory_equal(&v, zero, sizeof(v));
		break;
	case K_UNLOCK:
		r = p11a_decode_unlock(p, &str, &bytes, &n, &u32);
		if (r != P11A_OK) {
			assert_null(str);
			assert_null(bytes);
			assert_int_equal(n, 0);
		}
		free(str);
		break;
	case K_IDENTITIES:
		r = p11a_decode_identities(p, &list);
		if (r != P11A_OK)
			assert_memory_equal(&list, zero, sizeof(list));
		p11a_identity_list_clear(&list);
		break;
	case K_SIGNATURE:
		r = p11a_decode_signature(p, &bytes, &n);
		if (r != P11A_OK) {
			assert_null(bytes);
			assert_int_equal(n, 0);
		}
		break;
	case K_STATUS_REPLY:
		r = p11a_decode_status_reply(p, &st);
		if (r != P11A_OK)
			assert_memory_equal(&st, zero, sizeof(st));
		p11a_status_clear(&st);
		break;
	case K_ERROR:
		r = p11a_decode_error(p, &code, &str);
		if (r != P11A_OK) {
			assert_null(str);
			assert_int_equal(code, 0);
		}
		free(str);
		break;
	case K_KINDS_:
		break;
	}
	if (r != P11A_OK)
		assert_int_equal(p->off, off);
	return r;
}

static void
decode_rejects_every_truncation_of_every_message(void **state)
{
	struct p11a_buf out, p;
	enum msg_kind k;
	size_t start, len, full;

	(void)state;
	for (k = 0; k < K_KINDS_; k++) {
		p11a_buf_init(&out, OUT_MAX);
		start = encode_kind(&out, k);
		full = out.len - start;
		for (len = 0; len < full; len++) {
			p11a_buf_view(&p, out.data + start, len);
			if (decode_kind(&p, k) != P11A_ERR_TRUNCATED)
				fail_msg("%s cut to %zu of %zu bytes: not "
					 "TRUNCATED",
					 kind_names[k], len, full);
		}
		p11a_buf_view(&p, out.data + start, full);
		assert_int_equal(decode_kind(&p, k), P11A_OK);
		p11a_buf_free(&out);
	}
}

static void
decode_rejects_trailing_bytes_everywhere(void **state)
{
	struct p11a_buf out, p;
	enum msg_kind k;
	size_t start;

	(void)state;
	for (k = 0; k < K_KINDS_; k++) {
		p11a_buf_init(&out, OUT_MAX);
		start = encode_kind(&out, k);
		assert_int_equal(p11a_buf_put_u8(&out, 0), P11A_OK);
		p11a_buf_view(&p, out.data + start, out.len - start);
		if (decode_kind(&p, k) != P11A_ERR_TRAILING_DATA)
			fail_msg("%s with a trailing byte: not TRAILING_DATA",
				 kind_names[k]);
		p11a_buf_free(&out);
	}
	p11a_buf_view(&p, "x", 1);
	assert_int_equal(p11a_decode_empty(&p), P11A_ERR_TRAILING_DATA);
	p11a_buf_view(&p, NULL, 0);
	assert_int_equal(p11a_decode_empty(&p), P11A_OK);
}

/* One identity's bytes with a chosen n_schemes. */
static void
put_raw_identity(struct p11a_buf *b, uint16_t n_schemes)
{
	uint16_t i;

	assert_int_equal(p11a_buf_put_cstring(b, "id"), P11A_OK);
	assert_int_equal(p11a_buf_put_cstring(b, "uri"), P11A_OK);
	assert_int_equal(p11a_buf_put_cstring(b, "label"), P11A_OK);
	assert_int_equal(p11a_buf_put_u8(b, P11A_KEY_EC), P11A_OK);
	assert_int_equal(p11a_buf_put_u16(b, 256), P11A_OK);
	assert_int_equal(p11a_buf_put_cstring(b, "P-256"), P11A_OK);
	assert_int_equal(p11a_buf_put_u32(b, 1), P11A_OK);
	assert_int_equal(p11a_buf_put_u16(b, n_schemes), P11A_OK);
	for (i = 0; i < n_schemes; i++)
		assert_int_equal(p11a_buf_put_u16(b, 0x0403), P11A_OK);
	assert_int_equal(p11a_buf_put_bytes(b, NULL, 0), P11A_OK);
	assert_int_equal(p11a_buf_put_bytes(b, NULL, 0), P11A_OK);
}

static void
decode_identities_rejects_too_many_schemes(void **state)
{
	struct p11a_identity_list list;
	struct p11a_buf b, p;

	(void)state;
	p11a_buf_init(&b, OUT_MAX);
	assert_int_equal(p11a_buf_put_u32(&b, 2), P11A_OK);
	put_raw_identity(&b, P11A_MAX_SCHEMES);
	put_raw_identity(&b, P11A_MAX_SCHEMES + 1);
	p11a_buf_view(&p, b.data, b.len);
	assert_int_equal(p11a_decode_identities(&p, &list), P11A_ERR_PROTOCOL);
	assert_int_equal(list.n, 0);
	assert_null(list.items);
	p11a_buf_free(&b);
}

static void
decode_identities_rejects_absurd_count(void **state)
{
	struct p11a_identity_list list;
	struct p11a_buf b, p;

	(void)state;
	p11a_buf_init(&b, OUT_MAX);
	assert_int_equal(p11a_buf_put_u32(&b, 0xffffffff), P11A_OK);
	put_raw_identity(&b, 0);
	p11a_buf_view(&p, b.data, b.len);
	assert_int_equal(p11a_decode_identities(&p, &list), P11A_ERR_TRUNCATED);
	/* one more than the identities there */
	assert_int_equal(p11a_buf_poke_u32(&b, 0, 2), P11A_OK);
	p11a_buf_view(&p, b.data, b.len);
	assert_int_equal(p11a_decode_identities(&p, &list), P11A_ERR_TRUNCATED);
	assert_int_equal(p11a_buf_poke_u32(&b, 0, 1), P11A_OK);
	p11a_buf_view(&p, b.data, b.len);
	assert_int_equal(p11a_decode_identities(&p, &list), P11A_OK);
	p11a_identity_list_clear(&list);
	p11a_buf_free(&b);
}

static void
decode_status_rejects_absurd_token_count(void **state)
{
	struct p11a_status st;
	struct p11a_buf b, p;

	(void)state;
	p11a_buf_init(&b, OUT_MAX);
	assert_int_equal(p11a_buf_put_cstring(&b, "sw"), P11A_OK);
	assert_int_equal(p11a_buf_put_u64(&b, 1), P11A_OK);
	assert_int_equal(p11a_buf_put_u32(&b, 1), P11A_OK);
	assert_int_equal(p11a_buf_put_u64(&b, 1), P11A_OK);
	assert_int_equal(p11a_buf_put_u32(&b, 0x40000000), P11A_OK);
	assert_int_equal(p11a_buf_put_raw(&b, "\0\0\0\0\0\0\0\0", 8), P11A_OK);
	p11a_buf_view(&p, b.data, b.len);
	assert_int_equal(p11a_decode_status_reply(&p, &st), P11A_ERR_TRUNCATED);
	assert_null(st.tokens);
	assert_null(st.software);
	p11a_buf_free(&b);
}

static void
decode_sign_rejects_empty_identity(void **state)
{
	static const uint8_t in[] = {0, 0, 0, 0, 0x04, 0x03, 0,	  0,
				     0, 1, 0, 0, 0,    1,    0xaa};
	struct p11a_sign_view v;
	struct p11a_buf p;

	(void)state;
	p11a_buf_view(&p, in, sizeof(in));
	assert_int_equal(p11a_decode_sign(&p, &v), P11A_ERR_PROTOCOL);
	assert_null(v.identity);
	assert_int_equal(p.off, 0);
}

static void
decode_sign_rejects_identity_with_nul(void **state)
{
	static const uint8_t in[] = {0, 0, 0, 3, 'a', 0, 'b', 0x04, 0x03,
				     0, 0, 0, 1, 0,   0, 0,   1,    0xaa};
	struct p11a_sign_view v;
	struct p11a_buf p;

	(void)state;
	p11a_buf_view(&p, in, sizeof(in));
	assert_int_equal(p11a_decode_sign(&p, &v), P11A_ERR_PROTOCOL);
	assert_null(v.identity);
}

static void
decode_rejects_strings_with_nul(void **state)
{
	/* HELLO with name "a\0b" */
	static const uint8_t hello[] = {0, 1, 0, 1, 0, 0, 0, 3, 'a', 0, 'b'};
	/* ERROR with message "\0" */
	static const uint8_t err[] = {0, 0, 0, 3, 0, 0, 0, 1, 0};
	/* UNLOCK with token uri "\0" */
	static const uint8_t unl[] = {0, 0, 0, 1, 0, 0, 0, 0, 0};
	struct p11a_buf out, p;
	struct p11a_identity_list list;
	struct p11a_hello h;
	const uint8_t *pin;
	uint32_t code, fl;
	size_t n;
	char *s;

	(void)state;
	p11a_buf_view(&p, hello, sizeof(hello));
	assert_int_equal(p11a_decode_hello(&p, &h), P11A_ERR_PROTOCOL);
	p11a_buf_view(&p, err, sizeof(err));
	assert_int_equal(p11a_decode_error(&p, &code, &s), P11A_ERR_PROTOCOL);
	p11a_buf_view(&p, unl, sizeof(unl));
	assert_int_equal(p11a_decode_unlock(&p, &s, &pin, &n, &fl),
			 P11A_ERR_PROTOCOL);
	/* an identity whose curve holds a NUL, after a good identity */
	p11a_buf_init(&out, OUT_MAX);
	assert_int_equal(p11a_buf_put_u32(&out, 2), P11A_OK);
	put_raw_identity(&out, 1);
	put_raw_identity(&out, 1);
	memcpy(out.data + out.len - 21, "\0", 1); /* inside "P-256" */
	p11a_buf_view(&p, out.data, out.len);
	assert_int_equal(p11a_decode_identities(&p, &list), P11A_ERR_PROTOCOL);
	assert_null(list.items);
	p11a_buf_free(&out);
}

static void
clear_functions_are_safe_on_zeroed_structs(void **state)
{
	struct p11a_hello h = {0};
	struct p11a_identity id = {0};
	struct p11a_identity_list list = {0};
	struct p11a_status st = {0};
	struct p11a_status_detail d = {0};

	(void)state;
	p11a_status_detail_clear(&d);
	p11a_status_detail_clear(&d);
	p11a_status_detail_clear(NULL);
	p11a_hello_clear(&h);
	p11a_identity_clear(&id);
	p11a_identity_list_clear(&list);
	p11a_status_clear(&st);
	p11a_hello_clear(&h);
	p11a_identity_list_clear(&list);
	p11a_status_clear(&st);
	p11a_hello_clear(NULL);
	p11a_identity_clear(NULL);
	p11a_identity_list_clear(NULL);
	p11a_status_clear(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_next_needs_the_four_length_bytes),
		cmocka_unit_test(frame_next_waits_for_the_whole_body),
		cmocka_unit_test(frame_next_rejects_huge_length),
		cmocka_unit_test(
			frame_next_rejects_body_shorter_than_type_and_id),
		cmocka_unit_test(frame_next_leaves_unknown_types_to_the_caller),
		cmocka_unit_test(
			frame_next_takes_pipelined_frames_one_at_a_time),
		cmocka_unit_test(encode_hello_writes_the_documented_bytes),
		cmocka_unit_test(encode_appends_after_existing_bytes),
		cmocka_unit_test(encode_failure_leaves_output_as_it_was),
		cmocka_unit_test(encode_rejects_body_larger_than_max_frame),
		cmocka_unit_test(encode_sign_refuses_empty_identity),
		cmocka_unit_test(encode_identities_refuses_too_many_schemes),
		cmocka_unit_test(encode_into_a_view_is_refused),
		cmocka_unit_test(hello_round_trips),
		cmocka_unit_test(hello_reply_round_trips),
		cmocka_unit_test(empty_messages_round_trip),
		cmocka_unit_test(sign_round_trips_without_copies),
		cmocka_unit_test(sign_with_empty_data_round_trips),
		cmocka_unit_test(unlock_round_trips),
		cmocka_unit_test(unlock_of_all_tokens_decodes_uri_as_null),
		cmocka_unit_test(unlock_final_try_flag_trails_the_pin),
		cmocka_unit_test(unlock_with_a_short_flags_field_is_rejected),
		cmocka_unit_test(identities_round_trip),
		cmocka_unit_test(identities_empty_list_round_trips),
		cmocka_unit_test(identity_null_strings_decode_as_empty_strings),
		cmocka_unit_test(signature_round_trips),
		cmocka_unit_test(status_reply_round_trips),
		cmocka_unit_test(error_round_trips),
		cmocka_unit_test(
			decode_rejects_every_truncation_of_every_message),
		cmocka_unit_test(decode_rejects_trailing_bytes_everywhere),
		cmocka_unit_test(decode_identities_rejects_too_many_schemes),
		cmocka_unit_test(decode_identities_rejects_absurd_count),
		cmocka_unit_test(decode_status_rejects_absurd_token_count),
		cmocka_unit_test(status_request_flags_are_optional),
		cmocka_unit_test(status_detail_reply_round_trips),
		cmocka_unit_test(decode_status_detail_rejects_bad_paths),
		cmocka_unit_test(decode_sign_rejects_empty_identity),
		cmocka_unit_test(decode_sign_rejects_identity_with_nul),
		cmocka_unit_test(decode_rejects_strings_with_nul),
		cmocka_unit_test(clear_functions_are_safe_on_zeroed_structs),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
