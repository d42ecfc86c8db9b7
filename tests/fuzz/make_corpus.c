/*
 * Writes the seed corpus of fuzz_wire: one file per message, made with
 * the real encoders of common/wire.c (so the seeds are valid frames the
 * fuzzer mutates from), plus the malformed shapes the agent must reject
 * and a pipelined stream of several frames.  The output is checked in
 * under tests/fuzz/corpus/; run again after a protocol change:
 *
 *   make_corpus DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11agent/error.h"
#include "wire.h"

static const char *out_dir;
static int failed;

static void
save(const char *name, const struct p11a_buf *b)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(p11a_buf_ptr(b), 1, p11a_buf_remaining(b), f) !=
		    p11a_buf_remaining(b) ||
	    fclose(f) != 0) {
		perror(path);
		failed = 1;
	}
}

static void
save_raw(const char *name, const void *p, size_t n)
{
	struct p11a_buf b;

	p11a_buf_view(&b, p, n);
	save(name, &b);
}

/* Encode with fn into a fresh buffer and save it; check the encoder. */
#define SEED(name, call)                                                       \
	do {                                                                   \
		struct p11a_buf b_;                                            \
		p11a_buf_init(&b_, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);    \
		if ((call) != P11A_OK) {                                       \
			fprintf(stderr, "encoding %s failed\n", name);         \
			failed = 1;                                            \
		} else {                                                       \
			save(name, &b_);                                       \
		}                                                              \
		p11a_buf_free(&b_);                                            \
	} while (0)

static const uint8_t digest32[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const char id_hex[] = "0123456789abcdef0123456789abcdef";

static void
requests(void)
{
	struct p11a_hello h = {.version = 1, .min_version = 1, .name = "seed"};
	struct p11a_sign_request s = {
		.identity = id_hex,
		.scheme = P11A_SCHEME_ECDSA_SECP256R1_SHA256,
		.flags = P11A_SIGN_DIGEST,
		.data = digest32,
		.data_len = sizeof(digest32)};
	static uint8_t msg[1000];

	SEED("hello", p11a_encode_hello(&b_, 1, &h));
	SEED("list", p11a_encode_empty(&b_, P11A_MSG_LIST_IDENTITIES, 2));
	SEED("status", p11a_encode_empty(&b_, P11A_MSG_STATUS, 3));
	SEED("status-detail", p11a_encode_status(&b_, 3, P11A_STATUS_DETAIL));
	SEED("lock", p11a_encode_empty(&b_, P11A_MSG_LOCK, 4));
	SEED("sign-digest", p11a_encode_sign(&b_, 5, &s));
	s.flags = P11A_SIGN_TLS13_CLIENT_CV;
	s.scheme = P11A_SCHEME_RSA_PSS_RSAE_SHA256;
	SEED("sign-tls13", p11a_encode_sign(&b_, 6, &s));
	memset(msg, 0x5a, sizeof(msg));
	s.identity = "pkcs11:token=A;object=a-ed;type=private";
	s.scheme = P11A_SCHEME_ED25519;
	s.flags = 0;
	s.data = msg;
	s.data_len = sizeof(msg);
	SEED("sign-uri-message", p11a_encode_sign(&b_, 7, &s));
	SEED("unlock-all",
	     p11a_encode_unlock(&b_, 8, NULL, (const uint8_t *)"1234", 4, 0));
	SEED("unlock-token", p11a_encode_unlock(&b_, 9, "pkcs11:token=A",
						(const uint8_t *)"1234", 4, 0));
	SEED("unlock-final-try",
	     p11a_encode_unlock(&b_, 10, NULL, (const uint8_t *)"1234", 4,
				P11A_UNLOCK_FINAL_TRY));
}

static void
replies(void)
{
	struct p11a_hello h = {.version = 1,
			       .name = "p11agentd",
			       .software = "p11agent 0.1.0",
			       .capabilities = 3,
			       .max_frame = P11A_MAX_FRAME};
	static uint8_t cert[300], spki[91];
	struct p11a_identity ids[2] = {
		{.id = (char *)id_hex,
		 .uri = "pkcs11:token=A;object=a-ec;type=private",
		 .label = "a-ec",
		 .key_type = P11A_KEY_EC,
		 .bits = 256,
		 .curve = "P-256",
		 .flags = P11A_IDENTITY_AVAILABLE,
		 .n_schemes = 2,
		 .schemes = {0x0403, 0x0503},
		 .cert = cert,
		 .cert_len = sizeof(cert),
		 .spki = spki,
		 .spki_len = sizeof(spki)},
		{.id = "fedcba9876543210fedcba9876543210",
		 .uri = "pkcs11:token=B;object=b-rsa;type=private",
		 .label = "",
		 .key_type = P11A_KEY_RSA,
		 .bits = 2048,
		 .curve = "",
		 .flags = P11A_IDENTITY_TLS13_CLIENT_ONLY,
		 .n_schemes = 3,
		 .schemes = {0x0804, 0x0805, 0x0806}}};
	struct p11a_token_status toks[2] = {
		{.label = "A",
		 .uri = "pkcs11:token=A",
		 .module = "/usr/lib/softhsm/libsofthsm2.so",
		 .flags = 3,
		 .identities = 1,
		 .workers = 2,
		 .signs = 1000,
		 .errors = 1,
		 .sign_usec_total = 123456},
		{.label = "B", .uri = "pkcs11:token=B", .module = "m"}};
	struct p11a_status st = {.software = "p11agent 0.1.0",
				 .uptime_sec = 60,
				 .connections = 2,
				 .requests = 99,
				 .n_tokens = 2,
				 .tokens = toks};
	struct p11a_token_detail tdetail[2] = {{2, 5, 2}, {1, 0, 0}};
	struct p11a_identity_paths paths[2] = {
		{.id = (char *)id_hex,
		 .token = 0,
		 .n_paths = 2,
		 .paths = {{0x0403, P11A_SIGN_PATH_HASHED, 0x1044},
			   {0x0503, P11A_SIGN_PATH_HASHED, 0x1045}}},
		{.id = "fedcba9876543210fedcba9876543210",
		 .token = 1,
		 .n_paths = 3,
		 .paths = {{0x0804, P11A_SIGN_PATH_RAW, 0x3},
			   {0x0805, P11A_SIGN_PATH_RAW, 0x3},
			   {0x0401, P11A_SIGN_PATH_NATIVE, 0x1}}}};
	struct p11a_status_detail detail = {.status = st,
					    .tokens = tdetail,
					    .n_identities = 2,
					    .identities = paths};
	static uint8_t sig[71];

	memset(cert, 0x30, sizeof(cert));
	memset(spki, 0x04, sizeof(spki));
	memset(sig, 0x02, sizeof(sig));
	SEED("hello-reply", p11a_encode_hello_reply(&b_, 1, &h));
	SEED("identities", p11a_encode_identities(&b_, 2, ids, 2));
	SEED("identities-empty", p11a_encode_identities(&b_, 2, NULL, 0));
	SEED("signature", p11a_encode_signature(&b_, 5, sig, sizeof(sig)));
	SEED("status-reply", p11a_encode_status_reply(&b_, 3, &st));
	SEED("status-detail-reply",
	     p11a_encode_status_detail_reply(&b_, 3, &detail));
	SEED("ok", p11a_encode_empty(&b_, P11A_MSG_OK, 4));
	SEED("error", p11a_encode_error(&b_, 5, P11A_ERR_IDENTITY_NOT_FOUND,
					"no identity matches"));
}

static void
malformed(void)
{
	static const uint8_t short_len[] = {0, 0, 0, 3, 1, 0, 0};
	static const uint8_t huge_len[] = {0xff, 0xff, 0xff, 0xf0, 3,
					   0,	 0,    0,    1};
	static const uint8_t truncated[] = {0, 0, 0, 100, 3, 0, 0, 0, 1, 0, 0};
	static const uint8_t unknown[] = {0, 0, 0, 9, 0x42, 0, 0,
					  0, 7, 1, 2, 3,    4};
	static const uint8_t trailing[] = {0, 0, 0, 6, 2, 0, 0, 0, 2, 0};
	static const uint8_t nul_string[] = {0, 0, 0, 16, 1, 0, 0, 0,	1, 0,
					     1, 0, 1, 0,  0, 0, 3, 'a', 0, 'b'};
	static const uint8_t many_ids[] = {0, 0, 0,    9,    0x82, 0,	0,
					   0, 2, 0x7f, 0xff, 0xff, 0xff};

	save_raw("bad-short-length", short_len, sizeof(short_len));
	save_raw("bad-huge-length", huge_len, sizeof(huge_len));
	save_raw("bad-truncated", truncated, sizeof(truncated));
	save_raw("bad-unknown-type", unknown, sizeof(unknown));
	save_raw("bad-trailing", trailing, sizeof(trailing));
	save_raw("bad-nul-in-string", nul_string, sizeof(nul_string));
	save_raw("bad-identity-count", many_ids, sizeof(many_ids));
}

/* HELLO, LIST and two SIGNs in one stream, as a pipelining client sends. */
static void
pipeline(void)
{
	struct p11a_hello h = {.version = 1, .min_version = 1, .name = ""};
	struct p11a_sign_request s = {.identity = id_hex,
				      .scheme = P11A_SCHEME_ED25519,
				      .data = digest32,
				      .data_len = 16};

	SEED("pipeline",
	     p11a_encode_hello(&b_, 1, &h) ||
		     p11a_encode_empty(&b_, P11A_MSG_LIST_IDENTITIES, 2) ||
		     p11a_encode_sign(&b_, 3, &s) ||
		     p11a_encode_sign(&b_, 4, &s));
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	out_dir = argv[1];
	requests();
	replies();
	malformed();
	pipeline();
	return failed;
}
