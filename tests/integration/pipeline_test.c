/*
 * pipeline_test - many SIGN requests in flight on one connection.
 *
 *   pipeline_test [--queue] [SOCKET]     (default: $P11AGENT_SOCK)
 *
 * Lists the identities, checks that each one's SubjectPublicKeyInfo is
 * the public key of its certificate, then sends N_REQUESTS SIGN requests
 * with p11a_client_send_sign() across every identity and every scheme it
 * lists (message and digest forms) without reading any reply, collects
 * the replies with p11a_client_recv(), checks that every request id comes
 * back exactly once, and verifies every signature with OpenSSL against
 * the identity's public key.  Exit status 0 only when all of that holds.
 *
 * With --queue the requests are queued with p11a_client_queue_sign()
 * instead: a quarter of them are written by p11a_client_flush(), the
 * next quarter by a STATUS call made in the middle (its own reply must
 * come back while the signatures are pending) and the rest by the first
 * p11a_client_recv(), which must write them before it waits.
 *
 *   pipeline_test --lost SOCKET   (the agent runs with --idle-timeout 1)
 *
 * A request queued on a connection the agent has since closed is lost
 * when the next call writes it: that call must fail with P11A_ERR_IO
 * instead of reconnecting behind the caller's back, p11a_client_recv()
 * must then report the loss once (P11A_ERR_IO), and only after that may
 * a call connect again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "p11agent/client.h"

#define N_REQUESTS 200
#define MSG_MAX 512
#define TIME_LIMIT 120 /* seconds before SIGALRM ends a hung test */

struct request {
	uint32_t id;
	size_t identity; /* index in the identity list */
	uint16_t scheme;
	int digest; /* sent in digest form */
	uint8_t msg[MSG_MAX];
	size_t msg_len;
	uint8_t data[MSG_MAX]; /* what was sent: msg or its digest */
	size_t data_len;
	int answered;
};

struct scheme_params {
	const char *md; /* OpenSSL digest name, NULL for Ed25519 */
	int pss;
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("pipeline_test: FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* How to verify a scheme, from its RFC 8446 name. */
static int
scheme_params(uint16_t code, struct scheme_params *p)
{
	const char *name = p11a_scheme_to_name(code);
	const char *tail;

	memset(p, 0, sizeof(*p));
	if (name == NULL)
		return -1;
	if (strcmp(name, "ed25519") == 0)
		return 0;
	if (strcmp(name, "rsa_pkcs1_md5_sha1") == 0) {
		p->md = "MD5-SHA1";
		return 0;
	}
	p->pss = strncmp(name, "rsa_pss_rsae_", 13) == 0;
	tail = strrchr(name, '_');
	if (tail == NULL)
		return -1;
	if (strcmp(tail, "_sha1") == 0)
		p->md = "SHA1";
	else if (strcmp(tail, "_sha256") == 0)
		p->md = "SHA256";
	else if (strcmp(tail, "_sha384") == 0)
		p->md = "SHA384";
	else if (strcmp(tail, "_sha512") == 0)
		p->md = "SHA512";
	else
		return -1;
	return 0;
}

/* The identity's SPKI as a key; it must be its certificate's key. */
static EVP_PKEY *
identity_key(const struct p11a_identity *id)
{
	const unsigned char *p;
	unsigned char *cert_spki = NULL;
	EVP_PKEY *pk = NULL, *cert_pk = NULL;
	X509 *x = NULL;
	int len;

	if (id->spki == NULL || id->spki_len == 0) {
		fail("identity %s has no SPKI", id->uri);
		goto out;
	}
	p = id->spki;
	pk = d2i_PUBKEY(NULL, &p, (long)id->spki_len);
	if (pk == NULL || p != id->spki + id->spki_len) {
		fail("identity %s: SPKI does not parse", id->uri);
		goto fail;
	}
	if (id->cert == NULL || id->cert_len == 0) {
		fail("identity %s has no certificate", id->uri);
		goto fail;
	}
	p = id->cert;
	if ((x = d2i_X509(NULL, &p, (long)id->cert_len)) == NULL ||
	    (cert_pk = X509_get_pubkey(x)) == NULL ||
	    (len = i2d_PUBKEY(cert_pk, &cert_spki)) <= 0) {
		fail("identity %s: certificate does not parse", id->uri);
		goto fail;
	}
	if ((size_t)len != id->spki_len ||
	    memcmp(cert_spki, id->spki, id->spki_len) != 0) {
		fail("identity %s: SPKI differs from the certificate's key",
		     id->uri);
		goto fail;
	}
	goto out;
fail:
	EVP_PKEY_free(pk);
	pk = NULL;
out:
	OPENSSL_free(cert_spki);
	EVP_PKEY_free(cert_pk);
	X509_free(x);
	return pk;
}

/* Fill r with a random message and, in digest form, its hash. */
static int
request_make(struct request *r, size_t identity, uint16_t scheme, int digest)
{
	struct scheme_params sp;
	unsigned int md_len = 0;
	EVP_MD *md = NULL;
	unsigned char n;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->identity = identity;
	r->scheme = scheme;
	if (scheme_params(scheme, &sp) != 0) {
		fail("identity %zu lists unknown scheme 0x%04x", identity,
		     (unsigned)scheme);
		goto out;
	}
	r->digest = digest && sp.md != NULL;
	if (RAND_bytes(&n, 1) != 1)
		goto out;
	r->msg_len = 1 + (size_t)n * 2; /* 1..511 bytes */
	if (RAND_bytes(r->msg, (int)r->msg_len) != 1)
		goto out;
	if (!r->digest) {
		memcpy(r->data, r->msg, r->msg_len);
		r->data_len = r->msg_len;
		rc = 0;
		goto out;
	}
	if ((md = EVP_MD_fetch(NULL, sp.md, NULL)) == NULL ||
	    !EVP_Digest(r->msg, r->msg_len, r->data, &md_len, md, NULL)) {
		fail("cannot compute %s", sp.md);
		goto out;
	}
	r->data_len = md_len;
	rc = 0;
out:
	EVP_MD_free(md);
	return rc;
}

/* Verify sig over r's message (never over the digest: the real thing). */
static int
verify(EVP_PKEY *pk, const struct request *r, const uint8_t *sig,
       size_t sig_len)
{
	struct scheme_params sp;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (ctx == NULL || scheme_params(r->scheme, &sp) != 0)
		goto out;
	if (EVP_DigestVerifyInit_ex(ctx, &pctx, sp.md, NULL, NULL, pk, NULL) !=
	    1)
		goto out;
	if (sp.pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
		     1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, sp.md, NULL) != 1))
		goto out;
	ok = EVP_DigestVerify(ctx, sig, sig_len, r->msg, r->msg_len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ok;
}

static struct request *
find_request(struct request *reqs, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (reqs[i].id == id)
			return &reqs[i];
	}
	return NULL;
}

/* --queue: queue requests, written at the points described above */
static int queue_mode;

/* One SIGN request, sent or queued. */
static int
send_one(p11a_client *c, const struct p11a_sign_request *sr, uint32_t *id)
{
	return queue_mode ? p11a_client_queue_sign(c, sr, id)
			  : p11a_client_send_sign(c, sr, id);
}

/*
 * --queue: after request i, what writes the queued requests (see the
 * top of the file); 0 when it worked.
 */
static int
write_queued(p11a_client *c, size_t i)
{
	struct p11a_status st = {0};
	int r = 0;

	if (!queue_mode)
		return 0;
	if (i + 1 == N_REQUESTS / 4 && (r = p11a_client_flush(c)) != 0)
		fail("flush: %s: %s", p11a_strerror(r),
		     p11a_client_last_message(c));
	if (i + 1 == N_REQUESTS / 2 && (r = p11a_client_status(c, &st)) != 0)
		fail("status between queued requests: %s: %s", p11a_strerror(r),
		     p11a_client_last_message(c));
	p11a_status_free(&st);
	return r;
}

/* Send N_REQUESTS without reading; 0 when all were written. */
static int
send_all(p11a_client *c, const struct p11a_identity_list *list,
	 struct request *reqs)
{
	struct p11a_sign_request sr;
	size_t i, j, k;
	int r;

	for (i = 0; i < N_REQUESTS; i++) {
		const struct p11a_identity *id = &list->items[i % list->n];

		j = i / list->n;
		if (id->n_schemes == 0) {
			fail("identity %s lists no scheme", id->uri);
			return -1;
		}
		if (request_make(&reqs[i], i % list->n,
				 id->schemes[j % id->n_schemes],
				 (int)(j / id->n_schemes) % 2) != 0)
			return -1;
		memset(&sr, 0, sizeof(sr));
		sr.identity = id->id;
		sr.scheme = reqs[i].scheme;
		sr.flags = reqs[i].digest ? P11A_SIGN_DIGEST : 0;
		sr.data = reqs[i].data;
		sr.data_len = reqs[i].data_len;
		if ((r = send_one(c, &sr, &reqs[i].id)) != 0) {
			fail("%s #%zu: %s: %s",
			     queue_mode ? "queue_sign" : "send_sign", i,
			     p11a_strerror(r), p11a_client_last_message(c));
			return -1;
		}
		if (write_queued(c, i) != 0)
			return -1;
		for (k = 0; k < i; k++) {
			if (reqs[k].id == reqs[i].id) {
				fail("request id %u used twice",
				     (unsigned)reqs[i].id);
				return -1;
			}
		}
	}
	return 0;
}

/* Collect N_REQUESTS replies and verify each; returns the failures. */
static int
recv_all(p11a_client *c, EVP_PKEY **keys, struct request *reqs,
	 size_t *verified)
{
	struct p11a_reply rep;
	struct request *q;
	size_t i;
	int r, failures = 0;

	for (i = 0; i < N_REQUESTS; i++) {
		memset(&rep, 0, sizeof(rep));
		if ((r = p11a_client_recv(c, &rep)) != 0) {
			fail("recv after %zu replies: %s: %s", i,
			     p11a_strerror(r), p11a_client_last_message(c));
			return failures + 1;
		}
		q = find_request(reqs, N_REQUESTS, rep.id);
		if (q == NULL) {
			fail("reply to unknown request id %u",
			     (unsigned)rep.id);
			failures++;
		} else if (q->answered++) {
			fail("request id %u answered twice", (unsigned)rep.id);
			failures++;
		} else if (rep.error != 0 || rep.sig == NULL) {
			fail("request %u (%s, %s form) failed: %s: %s",
			     (unsigned)rep.id, p11a_scheme_to_name(q->scheme),
			     q->digest ? "digest" : "message",
			     p11a_err_name((int)rep.error),
			     rep.message ? rep.message : "");
			failures++;
		} else if (!verify(keys[q->identity], q, rep.sig,
				   rep.sig_len)) {
			fail("request %u: %s signature (%s form) does not "
			     "verify",
			     (unsigned)rep.id, p11a_scheme_to_name(q->scheme),
			     q->digest ? "digest" : "message");
			failures++;
		} else {
			(*verified)++;
		}
		p11a_reply_free(&rep);
	}
	for (i = 0; i < N_REQUESTS; i++) {
		if (!reqs[i].answered) {
			fail("request id %u never answered",
			     (unsigned)reqs[i].id);
			failures++;
		}
	}
	return failures;
}

/* Expect r == want from what; 0 when it is. */
static int
expect_result(p11a_client *c, int r, int want, const char *what)
{
	if (r == want)
		return 0;
	fail("%s returned %s (%s), expected %s", what, p11a_err_name(r),
	     p11a_client_last_message(c), p11a_err_name(want));
	return -1;
}

/* --lost: see the top of the file.  Exit status. */
static int
lost_request_test(const char *path)
{
	struct p11a_identity_list list = {0};
	struct p11a_status st = {0};
	struct p11a_sign_request sr;
	struct p11a_reply rep = {0};
	uint8_t data[32] = {1};
	p11a_client *c = NULL;
	uint32_t id;
	int rc = 1;

	if (expect_result(c, p11a_client_connect(path, &c), 0, "connect") ||
	    expect_result(c, p11a_client_list(c, &list), 0, "list"))
		goto out;
	if (list.n == 0 || list.items[0].n_schemes == 0) {
		fail("the agent lists no identity with a scheme");
		goto out;
	}
	memset(&sr, 0, sizeof(sr));
	sr.identity = list.items[0].id;
	sr.scheme = list.items[0].schemes[0];
	sr.data = data;
	sr.data_len = sizeof(data);
	if (expect_result(c, p11a_client_queue_sign(c, &sr, &id), 0,
			  "queue_sign"))
		goto out;
	/* the agent closes the idle connection meanwhile */
	sleep(3);
	if (expect_result(c, p11a_client_status(c, &st), P11A_ERR_IO,
			  "status with a queued request on a closed "
			  "connection") ||
	    expect_result(c, p11a_client_recv(c, &rep), P11A_ERR_IO,
			  "recv of the lost request"))
		goto out;
	p11a_status_free(&st);
	if (expect_result(c, p11a_client_status(c, &st), 0,
			  "status after the loss was reported"))
		goto out;
	printf("pipeline_test: the lost request was reported, then the "
	       "connection replaced\n");
	rc = 0;
out:
	p11a_reply_free(&rep);
	p11a_status_free(&st);
	p11a_identity_list_free(&list);
	p11a_client_close(c);
	return rc;
}

int
main(int argc, char **argv)
{
	struct p11a_identity_list list = {0};
	struct p11a_status st = {0};
	struct request *reqs = NULL;
	EVP_PKEY **keys = NULL;
	p11a_client *c = NULL;
	size_t i, verified = 0;
	int r, rc = 1;

	alarm(TIME_LIMIT);
	if (argc > 2 && strcmp(argv[1], "--lost") == 0)
		return lost_request_test(argv[2]);
	if (argc > 1 && strcmp(argv[1], "--queue") == 0) {
		queue_mode = 1;
		argv++;
		argc--;
	}
	if ((r = p11a_client_connect(argc > 1 ? argv[1] : NULL, &c)) != 0) {
		fail("connect: %s", p11a_strerror(r));
		goto out;
	}
	if ((r = p11a_client_list(c, &list)) != 0) {
		fail("list: %s: %s", p11a_strerror(r),
		     p11a_client_last_message(c));
		goto out;
	}
	if (list.n == 0) {
		fail("the agent lists no identity");
		goto out;
	}
	reqs = calloc(N_REQUESTS, sizeof(*reqs));
	keys = calloc(list.n, sizeof(*keys));
	if (reqs == NULL || keys == NULL) {
		fail("out of memory");
		goto out;
	}
	for (i = 0; i < list.n; i++) {
		if ((keys[i] = identity_key(&list.items[i])) == NULL)
			goto out;
	}
	if (send_all(c, &list, reqs) != 0 ||
	    recv_all(c, keys, reqs, &verified) != 0)
		goto out;
	/* the connection is still in step: a plain request works */
	if ((r = p11a_client_status(c, &st)) != 0) {
		fail("status after the pipeline: %s: %s", p11a_strerror(r),
		     p11a_client_last_message(c));
		goto out;
	}
	if (verified != N_REQUESTS) {
		fail("%zu signatures verified, expected %d", verified,
		     N_REQUESTS);
		goto out;
	}
	printf("pipeline_test: %zu identities, %zu signatures verified%s\n",
	       list.n, verified, queue_mode ? " (queued)" : "");
	rc = 0;
out:
	if (keys != NULL) {
		for (i = 0; i < list.n; i++)
			EVP_PKEY_free(keys[i]);
	}
	free(keys);
	free(reqs);
	p11a_status_free(&st);
	p11a_identity_list_free(&list);
	p11a_client_close(c);
	return rc;
}
