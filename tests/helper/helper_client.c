/*
 * p11a-helper-client SCENARIO: drives a real p11agent-helper over a
 * socketpair on its fd 3, as p11agentd will, and checks every answer
 * (docs/HELPER.md).  Signatures are verified with OpenSSL against the
 * SPKI the helper listed, and that SPKI against the public key files
 * p11a-mktoken wrote.  Exit 0: all checks passed; 1: a check failed.
 *
 * Environment: P11A_HELPER (the binary), P11A_HELPER_MODULE (the module
 * it loads), P11A_MODULE (the real module, read directly to compare),
 * P11A_TMP (token files: $P11A_TMP/LABEL/NAME.pub.pem, NAME.pem),
 * FAULTY_PKCS11_CONTROL (faulty shim control file, for the fault
 * scenarios).  Tokens: A (PIN 1111; a-rsa, a-ec, a-ed), B (PIN 2222;
 * b-rsa, b-ec).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/p11-kit.h>

#include "buf.h"
#include "hproto.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "wire.h"

#define TIMEOUT_MS 60000 /* liveness only */
#define MAX_KEYS 16
#define PIPELINED 64

struct helper {
	pid_t pid;
	int fd;
	struct p11a_buf in;
};

struct reply {
	uint8_t type;
	uint32_t id;
	uint8_t body[P11A_MAX_FRAME];
	struct p11a_buf p; /* view of the payload in body */
	/* H_ERROR */
	uint32_t code;
	uint64_t rv;
};

struct key {
	uint64_t handle;
	char label[64];
	uint8_t type, flags;
	uint16_t bits;
	char curve[16];
	uint64_t mechs[64];
	uint32_t n_mechs;
	EVP_PKEY *pub;
};

struct token {
	uint64_t slot;
	char label[33];
	struct key keys[MAX_KEYS];
	size_t n_keys;
};

static struct token tokens[2]; /* A, B after hello() */
static size_t n_tokens;
static struct reply rep;

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
check(int ok, const char *what)
{
	if (!ok)
		fail("%s", what);
	printf("ok: %s\n", what);
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail("%s is not set", name);
	return v;
}

/* ---- the helper process ------------------------------------------------- */

/* extra: NULL-terminated arguments after the module; leak: an fd that
 * the helper must close itself (-1 for none) */
static void
spawn(struct helper *h, const char *const *extra, int leak)
{
	const char *argv[8] = {env("P11A_HELPER"), env("P11A_HELPER_MODULE")};
	int sv[2], i = 2;

	for (; extra != NULL && *extra != NULL && i < 7; extra++)
		argv[i++] = *extra;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		fail("socketpair: %s", strerror(errno));
	if ((h->pid = fork()) < 0)
		fail("fork: %s", strerror(errno));
	if (h->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(sv[1], 3);
		if (leak >= 0 && leak != 3)
			fcntl(leak, F_SETFD, 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	h->fd = sv[0];
	p11a_buf_init(&h->in, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
}

/* The helper's exit status as a shell would give it (128+N: signal N). */
static int
reap(struct helper *h)
{
	int st;

	close(h->fd);
	h->fd = -1;
	p11a_buf_free(&h->in);
	if (waitpid(h->pid, &st, 0) != h->pid)
		fail("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
send_raw(struct helper *h, const void *p, size_t n)
{
	if (write(h->fd, p, n) != (ssize_t)n)
		fail("write to the helper: %s", strerror(errno));
}

/* Append one frame to out. */
static void
frame(struct p11a_buf *out, uint8_t type, uint32_t id,
      const struct p11a_buf *payload)
{
	size_t n = payload != NULL ? p11a_buf_remaining(payload) : 0;

	if (p11a_buf_put_u32(out, (uint32_t)(5 + n)) != P11A_OK ||
	    p11a_buf_put_u8(out, type) != P11A_OK ||
	    p11a_buf_put_u32(out, id) != P11A_OK ||
	    (n > 0 &&
	     p11a_buf_put_raw(out, p11a_buf_ptr(payload), n) != P11A_OK))
		fail("cannot encode a frame");
}

static void
request(struct helper *h, uint8_t type, uint32_t id,
	const struct p11a_buf *payload)
{
	struct p11a_buf out;

	p11a_buf_init(&out, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
	frame(&out, type, id, payload);
	send_raw(h, p11a_buf_ptr(&out), p11a_buf_remaining(&out));
	p11a_buf_free(&out);
}

/* 1 when bytes arrive within ms, 0 on timeout */
static int
wait_readable(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	int r;

	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return r > 0;
}

/* Next reply into rep; 0 on EOF. */
static int
next_reply(struct helper *h)
{
	struct p11a_frame f;
	uint8_t *p;
	ssize_t n;
	int r;

	while ((r = p11a_frame_next(&h->in, P11A_MAX_FRAME, &f)) ==
	       P11A_ERR_INCOMPLETE) {
		p11a_buf_compact(&h->in);
		if (!wait_readable(h->fd, TIMEOUT_MS))
			fail("no reply within %d ms", TIMEOUT_MS);
		if (p11a_buf_reserve(&h->in, 65536, &p) != P11A_OK)
			fail("reply buffer full");
		if ((n = read(h->fd, p, 65536)) <= 0)
			return 0;
		p11a_buf_commit(&h->in, (size_t)n);
	}
	if (r != P11A_OK)
		fail("malformed frame from the helper: %s", p11a_strerror(r));
	rep.type = f.type;
	rep.id = f.id;
	memcpy(rep.body, p11a_buf_ptr(&f.payload),
	       p11a_buf_remaining(&f.payload));
	p11a_buf_view(&rep.p, rep.body, p11a_buf_remaining(&f.payload));
	if (rep.type == H_ERROR) {
		char *msg = NULL;

		if (p11a_buf_get_u32(&rep.p, &rep.code) != P11A_OK ||
		    p11a_buf_get_u64(&rep.p, &rep.rv) != P11A_OK ||
		    p11a_buf_get_cstring(&rep.p, &msg) != P11A_OK ||
		    p11a_buf_remaining(&rep.p) != 0)
			fail("malformed H_ERROR");
		printf("  (H_ERROR %u %s rv 0x%lx: %s)\n", rep.code,
		       p11a_err_name((int)rep.code), (unsigned long)rep.rv,
		       msg);
		free(msg);
	}
	return 1;
}

static void
expect(struct helper *h, uint8_t type, uint32_t id)
{
	if (!next_reply(h))
		fail("EOF instead of the reply to %u", id);
	if (rep.id != id || rep.type != type)
		fail("reply id %u type 0x%02x, expected id %u type 0x%02x",
		     rep.id, rep.type, id, type);
}

static void
expect_error(struct helper *h, uint32_t id, uint32_t code, CK_RV rv,
	     const char *what)
{
	expect(h, H_ERROR, id);
	if (rep.code != code || rep.rv != rv)
		fail("%s: H_ERROR %u rv 0x%lx, expected %u rv 0x%lx", what,
		     rep.code, (unsigned long)rep.rv, code, rv);
	printf("ok: %s\n", what);
}

static void
expect_end(void)
{
	if (p11a_buf_remaining(&rep.p) != 0)
		fail("reply 0x%02x has %zu trailing bytes", rep.type,
		     p11a_buf_remaining(&rep.p));
}

static uint8_t
get_u8(void)
{
	uint8_t v;

	if (p11a_buf_get_u8(&rep.p, &v) != P11A_OK)
		fail("reply 0x%02x truncated", rep.type);
	return v;
}

static uint16_t
get_u16(void)
{
	uint16_t v;

	if (p11a_buf_get_u16(&rep.p, &v) != P11A_OK)
		fail("reply 0x%02x truncated", rep.type);
	return v;
}

static uint32_t
get_u32(void)
{
	uint32_t v;

	if (p11a_buf_get_u32(&rep.p, &v) != P11A_OK)
		fail("reply 0x%02x truncated", rep.type);
	return v;
}

static uint64_t
get_u64(void)
{
	uint64_t v;

	if (p11a_buf_get_u64(&rep.p, &v) != P11A_OK)
		fail("reply 0x%02x truncated", rep.type);
	return v;
}

static const uint8_t *
get_raw(size_t n)
{
	const uint8_t *p = p11a_buf_ptr(&rep.p);

	if (p11a_buf_consume(&rep.p, n) != P11A_OK)
		fail("reply 0x%02x truncated", rep.type);
	return p;
}

static const uint8_t *
get_bytes(size_t *n)
{
	const uint8_t *p;

	if (p11a_buf_get_bytes_view(&rep.p, &p, n) != P11A_OK)
		fail("reply 0x%02x truncated", rep.type);
	return p;
}

/* ---- requests ------------------------------------------------------------ */

static void
put_u64s(struct p11a_buf *b, size_t n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		if (p11a_buf_put_u64(b, va_arg(ap, uint64_t)) != P11A_OK)
			fail("cannot encode");
	va_end(ap);
}

/* A request whose payload is one u64 slot. */
static void
slot_request(struct helper *h, uint8_t type, uint32_t id, uint64_t slot)
{
	struct p11a_buf p;

	p11a_buf_init(&p, 64);
	put_u64s(&p, 1, slot);
	request(h, type, id, &p);
	p11a_buf_free(&p);
}

static void
login(struct helper *h, uint32_t id, uint64_t slot, const char *pin)
{
	struct p11a_buf p;

	p11a_buf_init(&p, 256);
	put_u64s(&p, 2, slot, (uint64_t)CKU_USER);
	if (p11a_buf_put_bytes(&p, pin, strlen(pin)) != P11A_OK)
		fail("cannot encode");
	request(h, H_LOGIN, id, &p);
	p11a_buf_free(&p);
}

static void
sign_request(struct p11a_buf *out, uint32_t id, uint64_t slot,
	     const struct key *k, CK_MECHANISM_TYPE mech, int pss,
	     const uint8_t *data, size_t len)
{
	struct p11a_buf p;

	p11a_buf_init(&p, 4096);
	put_u64s(&p, 3, slot, k->handle, (uint64_t)mech);
	if (p11a_buf_put_u8(&p, pss ? 1 : 0) != P11A_OK)
		fail("cannot encode");
	if (pss)
		put_u64s(&p, 3, (uint64_t)CKM_SHA256, (uint64_t)CKG_MGF1_SHA256,
			 (uint64_t)32);
	/* no CKU_CONTEXT_SPECIFIC login */
	if (p11a_buf_put_bytes(&p, data, len) != P11A_OK ||
	    p11a_buf_put_u8(&p, 0) != P11A_OK)
		fail("cannot encode");
	frame(out, H_SIGN, id, &p);
	p11a_buf_free(&p);
}

/* ---- HELLO --------------------------------------------------------------- */

static CK_FUNCTION_LIST *
reference_module(void)
{
	static CK_FUNCTION_LIST *fn;

	if (fn != NULL)
		return fn;
	if ((fn = p11_kit_module_load(env("P11A_MODULE"), 0)) == NULL ||
	    p11_kit_module_initialize(fn) != CKR_OK)
		fail("cannot load %s", env("P11A_MODULE"));
	return fn;
}

static void
check_raw(const void *got, const void *want, size_t n, const char *what)
{
	if (memcmp(got, want, n) != 0)
		fail("%s differs from what the module says", what);
}

/* The token fields in rep against the module's own C_GetTokenInfo. */
static void
hello_token(struct token *t, unsigned sessions)
{
	CK_TOKEN_INFO ti;

	t->slot = get_u64();
	if (reference_module()->C_GetTokenInfo(t->slot, &ti) != CKR_OK)
		fail("slot %lu: no token", (unsigned long)t->slot);
	check_raw(get_raw(32), ti.label, 32, "label");
	check_raw(get_raw(32), ti.manufacturerID, 32, "manufacturerID");
	check_raw(get_raw(16), ti.model, 16, "model");
	check_raw(get_raw(16), ti.serialNumber, 16, "serialNumber");
	if (get_u64() != ti.flags || get_u64() != ti.ulMaxSessionCount)
		fail("token flags or ulMaxSessionCount differ");
	(void)get_u64(); /* ulSessionCount: the helper's own sessions */
	if (get_u64() != ti.ulMaxPinLen || get_u64() != ti.ulMinPinLen)
		fail("PIN lengths differ");
	check_raw(get_raw(2), &ti.hardwareVersion, 2, "hardwareVersion");
	check_raw(get_raw(2), &ti.firmwareVersion, 2, "firmwareVersion");
	if (get_u32() != sessions)
		fail("slot %lu: not %u sessions", (unsigned long)t->slot,
		     sessions);
	memcpy(t->label, ti.label, 32);
	for (int i = 31; i >= 0 && t->label[i] == ' '; i--)
		t->label[i] = '\0';
}

static void
hello(struct helper *h, unsigned sessions)
{
	struct p11a_buf p;
	CK_INFO mi;

	p11a_buf_init(&p, 8);
	p11a_buf_put_u32(&p, HELPER_VERSION);
	request(h, H_HELLO, 1, &p);
	p11a_buf_free(&p);
	expect(h, H_HELLO_REPLY, 1);
	if (get_u32() != HELPER_VERSION)
		fail("HELLO_REPLY version is not %u", HELPER_VERSION);
	if (reference_module()->C_GetInfo(&mi) != CKR_OK)
		fail("C_GetInfo");
	check_raw(get_raw(2), &mi.cryptokiVersion, 2, "cryptokiVersion");
	check_raw(get_raw(32), mi.manufacturerID, 32, "module manufacturer");
	if (get_u64() != mi.flags)
		fail("module flags differ");
	check_raw(get_raw(32), mi.libraryDescription, 32, "description");
	check_raw(get_raw(2), &mi.libraryVersion, 2, "libraryVersion");
	if ((n_tokens = get_u32()) != 2)
		fail("HELLO_REPLY lists %zu tokens, expected A and B",
		     n_tokens);
	for (size_t i = 0; i < n_tokens; i++)
		hello_token(&tokens[i], sessions);
	/* SoftHSM has no C_WaitForSlotEvent: no slot events */
	if (get_u8() > 1)
		fail("HELLO_REPLY's slot-events byte is not 0 or 1");
	expect_end();
	/* A first: the order of the slots is the module's */
	if (strcmp(tokens[0].label, "A") != 0) {
		struct token t = tokens[0];

		tokens[0] = tokens[1];
		tokens[1] = t;
	}
	if (strcmp(tokens[0].label, "A") != 0 ||
	    strcmp(tokens[1].label, "B") != 0)
		fail("tokens are not A and B");
}

/* ---- KEYS ---------------------------------------------------------------- */

/* Whether n bytes at p are the DER i2d() made (and frees here). */
static int
same_der(const uint8_t *p, size_t n, unsigned char *der, int der_len)
{
	int same =
		der_len > 0 && (size_t)der_len == n && memcmp(p, der, n) == 0;

	OPENSSL_free(der);
	return same;
}

static FILE *
open_key_file(const struct token *t, const char *label, const char *ext)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s%s", env("P11A_TMP"), t->label,
		 label, ext);
	if ((f = fopen(path, "r")) == NULL)
		fail("%s: %s", path, strerror(errno));
	return f;
}

/* The SPKI and certificate of k against the files p11a-mktoken wrote. */
static void
key_check_files(const struct token *t, struct key *k, const uint8_t *spki,
		size_t spki_len, const uint8_t *cert, size_t cert_len)
{
	FILE *f = open_key_file(t, k->label, ".pub.pem");
	unsigned char *der = NULL;
	const uint8_t *q = spki;
	int der_len;
	X509 *x;

	k->pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (k->pub == NULL)
		fail("%s: cannot read the public key file", k->label);
	der_len = i2d_PUBKEY(k->pub, &der);
	if (!same_der(spki, spki_len, der, der_len))
		fail("%s: the SPKI is not the key's public key", k->label);
	EVP_PKEY_free(k->pub);
	/* verify against what the helper sent, now known to be right */
	if ((k->pub = d2i_PUBKEY(NULL, &q, (long)spki_len)) == NULL)
		fail("%s: SPKI does not parse", k->label);
	f = open_key_file(t, k->label, ".pem");
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	der = NULL;
	der_len = x != NULL ? i2d_X509(x, &der) : -1;
	if (!same_der(cert, cert_len, der, der_len))
		fail("%s: the certificate is not the one on the token",
		     k->label);
	X509_free(x);
}

static void
keys(struct helper *h, struct token *t, uint32_t id)
{
	const uint8_t *p, *spki, *cert;
	size_t n, spki_len, cert_len;

	/* listed again: handles may have changed, keys are read afresh */
	for (size_t i = 0; i < t->n_keys; i++)
		EVP_PKEY_free(t->keys[i].pub);
	slot_request(h, H_KEYS, id, t->slot);
	expect(h, H_KEYS_REPLY, id);
	t->n_keys = get_u32();
	if (t->n_keys > MAX_KEYS)
		fail("too many keys");
	for (size_t i = 0; i < t->n_keys; i++) {
		struct key *k = &t->keys[i];

		k->handle = get_u64();
		(void)get_bytes(&n); /* CKA_ID */
		p = get_bytes(&n);
		if (n >= sizeof(k->label))
			fail("label too long");
		memcpy(k->label, p, n);
		k->label[n] = '\0';
		k->type = get_u8();
		k->bits = get_u16();
		p = get_bytes(&n);
		snprintf(k->curve, sizeof(k->curve), "%.*s", (int)n, p);
		spki = get_bytes(&spki_len);
		cert = get_bytes(&cert_len);
		k->flags = get_u8();
		if ((k->n_mechs = get_u32()) > 64)
			fail("too many mechanisms");
		for (uint32_t m = 0; m < k->n_mechs; m++)
			k->mechs[m] = get_u64();
		key_check_files(t, k, spki, spki_len, cert, cert_len);
	}
	expect_end();
}

static int
key_has_mech(const struct key *k, uint64_t m)
{
	for (uint32_t i = 0; i < k->n_mechs; i++)
		if (k->mechs[i] == m)
			return 1;
	return 0;
}

static struct key *
key_named(struct token *t, const char *label)
{
	for (size_t i = 0; i < t->n_keys; i++)
		if (strcmp(t->keys[i].label, label) == 0)
			return &t->keys[i];
	fail("token %s has no key %s", t->label, label);
}

/* ---- signatures ---------------------------------------------------------- */

enum form { FORM_PKCS1, FORM_PSS, FORM_ECDSA, FORM_EDDSA };

static const struct {
	CK_MECHANISM_TYPE mech;
	int pss;
} forms[] = {
	[FORM_PKCS1] = {CKM_RSA_PKCS, 0},
	[FORM_PSS] = {CKM_RSA_PKCS_PSS, 1},
	[FORM_ECDSA] = {CKM_ECDSA, 0},
	[FORM_EDDSA] = {CKM_EDDSA, 0},
};

/* What the agent hands the helper for msg: a DigestInfo, a hash, msg. */
static size_t
sign_input(enum form form, const uint8_t *msg, size_t len, uint8_t *out)
{
	static const uint8_t sha256_prefix[] = {
		0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
	size_t pre = form == FORM_PKCS1 ? sizeof(sha256_prefix) : 0;

	if (form == FORM_EDDSA) {
		memcpy(out, msg, len);
		return len;
	}
	memcpy(out, sha256_prefix, pre);
	if (!EVP_Digest(msg, len, out + pre, NULL, EVP_sha256(), NULL))
		fail("EVP_Digest");
	return pre + 32;
}

/* ECDSA from PKCS#11 is r || s; OpenSSL verifies DER. */
static int
ecdsa_to_der(const uint8_t *sig, size_t len, unsigned char **der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *ss = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	int n;

	if (s == NULL || r == NULL || ss == NULL || !ECDSA_SIG_set0(s, r, ss))
		fail("ECDSA_SIG");
	*der = NULL;
	n = i2d_ECDSA_SIG(s, der);
	ECDSA_SIG_free(s);
	return n;
}

static int
verify_digest(EVP_PKEY *pub, enum form form, const uint8_t *sig, size_t len,
	      const uint8_t *msg, size_t msg_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	int ok;

	if (md == NULL ||
	    EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pub) != 1)
		fail("EVP_DigestVerifyInit");
	if (form == FORM_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
		fail("PSS parameters");
	if (form == FORM_ECDSA) {
		int n = ecdsa_to_der(sig, len, &der);

		sig = der;
		len = n > 0 ? (size_t)n : 0;
	}
	ok = EVP_DigestVerify(md, sig, len, msg, msg_len) == 1;
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

static int
verify(EVP_PKEY *pub, enum form form, const uint8_t *sig, size_t len,
       const uint8_t *msg, size_t msg_len)
{
	EVP_MD_CTX *md;
	int ok;

	if (form != FORM_EDDSA)
		return verify_digest(pub, form, sig, len, msg, msg_len);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) != 1)
		fail("EVP_DigestVerifyInit");
	ok = EVP_DigestVerify(md, sig, len, msg, msg_len) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* A pending SIGN: what was signed, for checking the reply. */
struct pending {
	struct key *key;
	enum form form;
	uint8_t msg[64];
	int answered;
};

static void
queue_sign(struct p11a_buf *out, uint32_t id, struct token *t, struct key *k,
	   enum form form, struct pending *pd)
{
	uint8_t in[128];
	size_t n;

	pd->key = k;
	pd->form = form;
	pd->answered = 0;
	if (RAND_bytes(pd->msg, sizeof(pd->msg)) != 1)
		fail("RAND_bytes");
	n = sign_input(form, pd->msg, sizeof(pd->msg), in);
	sign_request(out, id, t->slot, k, forms[form].mech, forms[form].pss, in,
		     n);
}

/* The H_SIGNATURE in rep against the pending request it answers. */
static void
check_signature(struct pending *pd)
{
	const uint8_t *sig;
	size_t len;

	if (rep.type != H_SIGNATURE)
		fail("reply %u is type 0x%02x, not a signature", rep.id,
		     rep.type);
	if (pd->answered++)
		fail("request %u answered twice", rep.id);
	sig = get_bytes(&len);
	(void)get_u64(); /* the time C_SignInit + C_Sign took */
	if (p11a_buf_remaining(&rep.p) != 0)
		fail("signature reply has trailing bytes");
	if (!verify(pd->key->pub, pd->form, sig, len, pd->msg, sizeof(pd->msg)))
		fail("signature %u by %s does not verify", rep.id,
		     pd->key->label);
}

static void
send_sign(struct helper *h, uint32_t id, struct token *t, const char *label,
	  enum form form, struct pending *pd)
{
	struct p11a_buf out;

	p11a_buf_init(&out, 65536);
	queue_sign(&out, id, t, key_named(t, label), form, pd);
	send_raw(h, p11a_buf_ptr(&out), p11a_buf_remaining(&out));
	p11a_buf_free(&out);
}

static void
sign_verify(struct helper *h, struct token *t, const char *label,
	    enum form form, uint32_t id)
{
	struct pending pd;
	char what[128];

	send_sign(h, id, t, label, form, &pd);
	expect(h, H_SIGNATURE, id);
	check_signature(&pd);
	snprintf(what, sizeof(what), "%s signs with mechanism 0x%lx", label,
		 (unsigned long)forms[form].mech);
	check(1, what);
}

/* A started helper, HELLO done, both tokens logged in, keys listed. */
static void
start_ready(struct helper *h, const char *const *extra, unsigned sessions)
{
	spawn(h, extra, -1);
	hello(h, sessions);
	login(h, 2, tokens[0].slot, "1111");
	expect(h, H_OK, 2);
	login(h, 3, tokens[1].slot, "2222");
	expect(h, H_OK, 3);
	keys(h, &tokens[0], 4);
	keys(h, &tokens[1], 5);
}

static void
control(const char *text)
{
	const char *path = env("FAULTY_PKCS11_CONTROL");
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fail("cannot write %s", path);
}

/* Lines of the faulty shim's call log that are exactly line. */
static size_t
log_count(const char *line)
{
	FILE *f = fopen(env("FAULTY_PKCS11_LOG"), "r");
	char buf[256];
	size_t n = 0;

	while (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		n += strcmp(buf, line) == 0;
	}
	if (f != NULL)
		fclose(f);
	return n;
}

/* ---- scenarios ----------------------------------------------------------- */

static int
sc_hello(void)
{
	static const char *const one[] = {"--sessions", "1", NULL};
	struct helper h;

	spawn(&h, NULL, -1);
	hello(&h, 2);
	check(1,
	      "HELLO lists A and B with the module's raw fields, 2 sessions");
	check(log_count("C_Finalize token=? rv=0x0") == 0, "not finalised yet");
	check(reap(&h) == 0, "EOF on fd 3: the helper exits 0");
	check(log_count("C_Finalize token=? rv=0x0") == 1,
	      "after EOF the helper called C_Finalize");
	spawn(&h, one, -1);
	hello(&h, 1);
	check(1, "--sessions 1 opens one session per token");
	check(reap(&h) == 0, "exits 0");
	return 0;
}

static int
sc_login(void)
{
	struct pending pd;
	struct helper h;
	uint64_t a;

	spawn(&h, NULL, -1);
	hello(&h, 2);
	a = tokens[0].slot;
	login(&h, 10, a, "9999");
	expect_error(&h, 10, P11A_ERR_PIN_INCORRECT, CKR_PIN_INCORRECT,
		     "a wrong PIN gives PIN_INCORRECT, rv CKR_PIN_INCORRECT");
	keys(&h, &tokens[0], 11);
	check(tokens[0].n_keys == 0, "no private key is visible before login");
	login(&h, 12, a, "1111");
	expect(&h, H_OK, 12);
	check(1, "the right PIN gives H_OK");
	login(&h, 13, a, "1111");
	expect_error(&h, 13, P11A_ERR_TOKEN, CKR_USER_ALREADY_LOGGED_IN,
		     "a second login reports CKR_USER_ALREADY_LOGGED_IN");
	keys(&h, &tokens[0], 14);
	check(tokens[0].n_keys == 3, "after login KEYS lists 3 keys");
	slot_request(&h, H_PROBE, 15, a);
	expect(&h, H_PROBE_REPLY, 15);
	check(get_u8() == 1 && (get_u64() & CKF_TOKEN_INITIALIZED) != 0,
	      "PROBE: present, with the token's flags");
	expect_end();
	slot_request(&h, H_LOGOUT, 16, a);
	expect(&h, H_OK, 16);
	slot_request(&h, H_LOGOUT, 17, a);
	expect(&h, H_OK, 17);
	check(1, "LOGOUT twice: H_OK both times");
	send_sign(&h, 19, &tokens[0], "a-ec", FORM_ECDSA, &pd);
	/* SoftHSM hides private keys from a session without a login */
	expect_error(&h, 19, P11A_ERR_TOKEN, CKR_OBJECT_HANDLE_INVALID,
		     "SIGN after LOGOUT: the module's rv, passed on");
	slot_request(&h, H_PROBE, 18, 0x7fff0000u);
	expect_error(&h, 18, P11A_ERR_TOKEN_NOT_PRESENT, CKR_SLOT_ID_INVALID,
		     "a slot without a token: TOKEN_NOT_PRESENT");
	check(reap(&h) == 0, "exits 0");
	return 0;
}

static int
sc_sign(void)
{
	struct helper h;

	start_ready(&h, NULL, 2);
	check(tokens[0].n_keys == 3 && tokens[1].n_keys == 2,
	      "KEYS: 3 keys on A, 2 on B; SPKI and certificates match");
	check(key_named(&tokens[0], "a-rsa")->type == P11A_KEY_RSA &&
		      key_named(&tokens[0], "a-rsa")->bits == 2048 &&
		      strcmp(key_named(&tokens[0], "a-ec")->curve, "P-256") ==
			      0 &&
		      key_named(&tokens[0], "a-ed")->type == P11A_KEY_ED25519 &&
		      key_named(&tokens[0], "a-ed")->flags == H_KEY_MECHS_KNOWN,
	      "KEYS: key types, sizes, curves and flags");
	check(key_has_mech(key_named(&tokens[0], "a-rsa"), CKM_RSA_PKCS_PSS) &&
		      key_has_mech(key_named(&tokens[0], "a-rsa"),
				   CKM_RSA_X_509) &&
		      key_has_mech(key_named(&tokens[0], "a-ec"), CKM_ECDSA) &&
		      key_has_mech(key_named(&tokens[0], "a-ed"), CKM_EDDSA),
	      "KEYS: the signing mechanisms of each key");
	sign_verify(&h, &tokens[0], "a-rsa", FORM_PKCS1, 20);
	sign_verify(&h, &tokens[0], "a-rsa", FORM_PSS, 21);
	sign_verify(&h, &tokens[0], "a-ec", FORM_ECDSA, 22);
	sign_verify(&h, &tokens[0], "a-ed", FORM_EDDSA, 23);
	sign_verify(&h, &tokens[1], "b-ec", FORM_ECDSA, 24);
	check(reap(&h) == 0, "exits 0");
	return 0;
}

static int
sc_pipeline(void)
{
	static struct pending pd[PIPELINED + 1];
	static const char *const labels[] = {"a-rsa", "b-ec", "a-ec", "b-rsa"};
	static const enum form how[] = {FORM_PSS, FORM_ECDSA, FORM_ECDSA,
					FORM_PKCS1};
	struct helper h;
	struct p11a_buf out;

	start_ready(&h, NULL, 2);
	p11a_buf_init(&out, 1u << 20);
	for (uint32_t id = 1; id <= PIPELINED; id++) {
		struct token *t = &tokens[labels[id % 4][0] == 'b'];

		queue_sign(&out, 1000 + id, t, key_named(t, labels[id % 4]),
			   how[id % 4], &pd[id]);
	}
	send_raw(&h, p11a_buf_ptr(&out), p11a_buf_remaining(&out));
	p11a_buf_free(&out);
	for (int i = 0; i < PIPELINED; i++) {
		if (!next_reply(&h))
			fail("EOF after %d replies", i);
		if (rep.id <= 1000 || rep.id > 1000 + PIPELINED)
			fail("reply with unknown id %u", rep.id);
		check_signature(&pd[rep.id - 1000]);
	}
	check(1, "64 pipelined SIGNs on A and B: each id answered once, "
		 "every signature verifies");
	check(reap(&h) == 0, "exits 0");
	return 0;
}

/* One worker per token: A's is stuck in C_Sign. */
static int
sc_hang(void)
{
	static const char *const one[] = {"--sessions", "1", NULL};
	struct pending pd;
	struct helper h;
	struct p11a_buf out;

	start_ready(&h, one, 1);
	control("token A\nhang 1\n");
	send_sign(&h, 30, &tokens[0], "a-ec", FORM_ECDSA, &pd);
	p11a_buf_init(&out, 65536);
	slot_request(&h, H_PROBE, 31, tokens[0].slot);
	frame(&out, H_PING, 32, NULL);
	send_raw(&h, p11a_buf_ptr(&out), p11a_buf_remaining(&out));
	p11a_buf_free(&out);
	expect(&h, H_PONG, 32);
	check(1, "PING is answered while a SIGN hangs in the module");
	sign_verify(&h, &tokens[1], "b-ec", FORM_ECDSA, 33);
	check(1, "token B signs while token A hangs");
	/* the hung SIGN and the PROBE queued behind it are still waiting */
	check(!wait_readable(h.fd, 200), "nothing else is answered meanwhile");
	control("token A\nhang 0\n");
	expect(&h, H_SIGNATURE, 30);
	check_signature(&pd);
	check(1, "the SIGN is answered once the module returns");
	expect(&h, H_PROBE_REPLY, 31);
	check(1, "then the PROBE that waited in A's FIFO");
	check(reap(&h) == 0, "exits 0");
	return 0;
}

static int
sc_crash(void)
{
	struct helper h;
	struct p11a_buf out;
	struct pending pd;
	int st;

	/* under ASan the helper must die of the signal, not report it */
	setenv("ASAN_OPTIONS", "handle_segv=0:detect_leaks=0", 1);
	start_ready(&h, NULL, 2);
	control("token A\ncrash 1\n");
	p11a_buf_init(&out, 65536);
	queue_sign(&out, 40, &tokens[0], key_named(&tokens[0], "a-ec"),
		   FORM_ECDSA, &pd);
	send_raw(&h, p11a_buf_ptr(&out), p11a_buf_remaining(&out));
	p11a_buf_free(&out);
	check(!next_reply(&h), "a crashing module: EOF on the socket");
	st = reap(&h);
	check(st == 128 + SIGSEGV, "the helper died of SIGSEGV");
	return 0;
}

static int
sc_malformed(void)
{
	static const uint8_t unknown[] = {0, 0, 0, 5, 0x42, 0, 0, 0, 9};
	static const uint8_t trailing[] = {0, 0, 0, 6, H_PING, 0, 0, 0, 9, 0};
	static const uint8_t short_slot[] = {0, 0, 0, 9, H_KEYS, 0, 0,
					     0, 9, 0, 0, 0,	 1};
	static const uint8_t huge[] = {0, 4, 0, 1, H_PING, 0, 0, 0, 9};
	static const struct {
		const uint8_t *p;
		size_t n;
		const char *what;
	} bad[] = {
		{unknown, sizeof(unknown), "an unknown type"},
		{trailing, sizeof(trailing), "trailing bytes"},
		{short_slot, sizeof(short_slot), "a truncated field"},
		{huge, sizeof(huge), "a length above 256 KiB"},
	};
	char what[128];
	struct helper h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spawn(&h, NULL, -1);
		request(&h, H_PING, 1, NULL);
		expect(&h, H_PONG, 1);
		send_raw(&h, bad[i].p, bad[i].n);
		snprintf(what, sizeof(what),
			 "%s: EOF, no reply, and exit status 2", bad[i].what);
		check(!next_reply(&h) && reap(&h) == 2, what);
	}
	return 0;
}

/* SHUTDOWN: H_OK, then the queued SIGNs are still answered. */
static int
sc_shutdown(void)
{
	struct pending pd[5];
	struct helper h;
	struct p11a_buf out;
	int ok = 0;

	start_ready(&h, NULL, 2);
	p11a_buf_init(&out, 65536);
	for (uint32_t id = 1; id <= 4; id++)
		queue_sign(&out, 50 + id, &tokens[0],
			   key_named(&tokens[0], "a-rsa"), FORM_PKCS1, &pd[id]);
	frame(&out, H_SHUTDOWN, 60, NULL);
	send_raw(&h, p11a_buf_ptr(&out), p11a_buf_remaining(&out));
	p11a_buf_free(&out);
	while (next_reply(&h)) {
		if (rep.id == 60 && rep.type == H_OK)
			ok++;
		else if (rep.id > 50 && rep.id <= 54)
			check_signature(&pd[rep.id - 50]);
		else
			fail("unexpected reply %u", rep.id);
	}
	for (int id = 1; id <= 4; id++)
		ok += pd[id].answered;
	check(ok == 5, "SHUTDOWN: H_OK and the 4 queued SIGNs answered");
	check(reap(&h) == 0, "after SHUTDOWN the helper exits 0");
	return 0;
}

static int
sc_lost_session(void)
{
	struct pending pd;
	struct helper h;
	size_t opens;

	start_ready(&h, NULL, 2);
	opens = log_count("C_OpenSession token=A rv=0x0");
	control("token A\nsession_invalid 1\n");
	sign_verify(&h, &tokens[0], "a-ec", FORM_ECDSA, 70);
	check(1, "a lost session is reopened and the SIGN retried");
	control("token A\nsession_closed 2\n");
	send_sign(&h, 71, &tokens[0], "a-ec", FORM_ECDSA, &pd);
	expect_error(&h, 71, P11A_ERR_TOKEN, CKR_SESSION_CLOSED,
		     "lost again on the retry: one retry only, then H_ERROR");
	check(log_count("C_SignInit token=A rv=0xb3") == 1 &&
		      log_count("C_SignInit token=A rv=0xb0") == 2,
	      "the module saw each injected loss once");
	check(log_count("C_OpenSession token=A rv=0x0") == opens + 2,
	      "one new session per loss");
	control("token A\nlogged_out 1\n");
	send_sign(&h, 72, &tokens[0], "a-ec", FORM_ECDSA, &pd);
	expect_error(&h, 72, P11A_ERR_LOCKED, CKR_USER_NOT_LOGGED_IN,
		     "a forgotten login is the agent's: LOCKED, not retried");
	login(&h, 73, tokens[0].slot, "1111");
	expect(&h, H_OK, 73);
	/* SoftHSM hands out new handles for private keys after a logout */
	keys(&h, &tokens[0], 75);
	sign_verify(&h, &tokens[0], "a-ec", FORM_ECDSA, 74);
	check(1, "after a new LOGIN it signs again");
	check(reap(&h) == 0, "exits 0");
	return 0;
}

/* The open fds of a process as a bit set (bit 63: any fd above 62). */
static uint64_t
open_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	uint64_t set = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		fail("%s: %s", path, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end == '\0' && end != e->d_name)
			set |= (uint64_t)1 << (fd < 63 ? fd : 63);
	}
	closedir(d);
	return set;
}

/* What another process of our uid can see of the helper in /proc. */
static int
sc_procfs(void)
{
	static const char pin[] = "1111";
	char path[64], buf[65536];
	struct helper h;
	int leak = open("/dev/null", O_RDONLY | O_CLOEXEC), fd;
	ssize_t n;

	spawn(&h, NULL, leak);
	hello(&h, 2);
	login(&h, 2, tokens[0].slot, pin);
	expect(&h, H_OK, 2);
	check(open_fds(h.pid) == 0xf, "only fds 0-3 are open");
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)h.pid,
			 i == 0 ? "environ" : "cmdline");
		if ((fd = open(path, O_RDONLY)) < 0)
			fail("%s: %s", path, strerror(errno));
		n = read(fd, buf, sizeof(buf));
		close(fd);
		check(n >= 0 &&
			      memmem(buf, (size_t)n, pin, strlen(pin)) == NULL,
		      i == 0 ? "the PIN is not in the environment"
			     : "the PIN is not on the command line");
	}
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)h.pid);
	{
		FILE *f = fopen(path, "r");
		int core0 = 0;

		while (f != NULL && fgets(buf, sizeof(buf), f) != NULL)
			core0 |= strncmp(buf, "Max core file size", 18) == 0 &&
				 strstr(buf, " 0 ") != NULL;
		if (f != NULL)
			fclose(f);
		check(core0, "RLIMIT_CORE is 0");
	}
	check(reap(&h) == 0, "exits 0");
	close(leak);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(void);
	} scenarios[] = {
		{"hello", sc_hello},
		{"login", sc_login},
		{"sign", sc_sign},
		{"pipeline", sc_pipeline},
		{"hang", sc_hang},
		{"crash", sc_crash},
		{"malformed", sc_malformed},
		{"shutdown", sc_shutdown},
		{"lost-session", sc_lost_session},
		{"procfs", sc_procfs},
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0;
	     argc == 2 && i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(argv[1], scenarios[i].name) == 0)
			return scenarios[i].run();
	fprintf(stderr, "usage: p11a-helper-client SCENARIO\n");
	return 2;
}
