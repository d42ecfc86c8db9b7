/*
 * p11agent-tls-hs: full TLS 1.3 handshakes per second with client
 * authentication, the client's key held by a token (docs/PERFORMANCE.md,
 * "What users feel").
 *
 *   p11agent-tls-hs provider PROVIDER-DIR p11agent:ID PUB.pem THREADS SECONDS
 *   p11agent-tls-hs engine MODULE pkcs11:URI PUB.pem THREADS SECONDS
 *
 * "provider" loads the key through the p11agent provider (OSSL_STORE),
 * "engine" through libp11's pkcs11 engine loading MODULE in this process
 * (the PIN from $P11A_PIN).  Each thread runs handshakes back to back,
 * client and server in the same thread over a BIO pair: a fresh SSL
 * each time, no session tickets, no resumption.  The server is OpenSSL's
 * default provider with a P-256 key made at start; it demands the
 * client's certificate (made at start for PUB.pem, signed by a CA made at
 * start) and verifies its CertificateVerify, so every handshake counted
 * is a verified signature.  CPU is this process's (client and server);
 * an agent's is not in it.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "provtest.h"

#define HS_MAX_THREADS 64
#define HS_MAX_SAMPLES 200000

struct hs_ctx {
	SSL_CTX *client, *server;
	double seconds;
	pthread_barrier_t start;
};

struct hs_thread {
	struct hs_ctx *ctx;
	pthread_t tid;
	unsigned long n;
	double *lat_us;
	int failed;
};

static double
now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static EVP_PKEY *
new_p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int
add_ca_constraint(X509 *x)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(
		NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
	int ok = ext != NULL && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for PUB, named CN, signed by SIGNER (issuer ISSUER); CA
 * says it may sign others. */
static X509 *
make_cert(EVP_PKEY *pub, const char *cn, EVP_PKEY *signer, X509 *issuer, int ca)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (x == NULL)
		return NULL;
	name = X509_get_subject_name(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	if (ca && !add_ca_constraint(x)) {
		X509_free(x);
		return NULL;
	}
	if (!X509_set_pubkey(x, pub) || !X509_sign(x, signer, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static EVP_PKEY *
load_engine_key(const char *module, const char *uri)
{
	const char *pin = getenv("P11A_PIN");
	EVP_PKEY *key = NULL;
	ENGINE *e;

	ENGINE_load_builtin_engines();
	e = ENGINE_by_id("pkcs11");
	if (e == NULL || pin == NULL)
		return NULL;
	if (ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) &&
	    ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) && ENGINE_init(e)) {
		key = ENGINE_load_private_key(e, uri, NULL, NULL);
		ENGINE_finish(e);
	}
	ENGINE_free(e);
	return key;
}

static SSL_CTX *
new_ctx(const SSL_METHOD *m)
{
	SSL_CTX *c = SSL_CTX_new(m);

	if (c == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(c, 0);
	return c;
}

/*
 * Both contexts: the server with its key and the client CA, demanding a
 * client certificate; the client with KEY and its certificate, trusting
 * the server's.
 */
static int
setup_ctx(struct hs_ctx *h, EVP_PKEY *key, EVP_PKEY *pub)
{
	EVP_PKEY *ca_key = new_p256(), *srv_key = new_p256();
	X509 *ca = NULL, *srv = NULL, *cli = NULL;
	int ok = 0;

	h->server = new_ctx(TLS_server_method());
	h->client = new_ctx(TLS_client_method());
	if (ca_key == NULL || srv_key == NULL || !h->server || !h->client)
		goto out;
	ca = make_cert(ca_key, "bench CA", ca_key, NULL, 1);
	srv = make_cert(srv_key, "localhost", srv_key, NULL, 0);
	cli = ca ? make_cert(pub, "bench client", ca_key, ca, 0) : NULL;
	if (srv == NULL || cli == NULL)
		goto out;
	if (!SSL_CTX_use_certificate(h->server, srv) ||
	    !SSL_CTX_use_PrivateKey(h->server, srv_key) ||
	    !X509_STORE_add_cert(SSL_CTX_get_cert_store(h->server), ca) ||
	    !X509_STORE_add_cert(SSL_CTX_get_cert_store(h->client), srv) ||
	    !SSL_CTX_use_certificate(h->client, cli) ||
	    !SSL_CTX_use_PrivateKey(h->client, key))
		goto out;
	SSL_CTX_set_verify(h->server,
			   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   NULL);
	SSL_CTX_set_verify(h->client, SSL_VERIFY_PEER, NULL);
	ok = 1;
out:
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	return ok;
}

static int
hs_step(SSL *s, int *done)
{
	int r, e;

	if (*done)
		return 0;
	r = SSL_do_handshake(s);
	if (r == 1) {
		*done = 1;
		return 0;
	}
	e = SSL_get_error(s, r);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

static void
report_failure(SSL *c, SSL *s)
{
	if (c != NULL && s != NULL)
		fprintf(stderr,
			"tls-hs: handshake failed: client %s, server %s\n",
			X509_verify_cert_error_string(SSL_get_verify_result(c)),
			X509_verify_cert_error_string(
				SSL_get_verify_result(s)));
	ERR_print_errors_fp(stderr);
}

/* One full handshake; 0 when both sides finished and the server verified
 * the client's certificate and signature. */
static int
handshake(struct hs_ctx *h)
{
	SSL *c = SSL_new(h->client), *s = SSL_new(h->server);
	BIO *cb = NULL, *sb = NULL;
	int cdone = 0, sdone = 0, rc = -1;
	X509 *peer;

	if (c == NULL || s == NULL || !BIO_new_bio_pair(&cb, 0, &sb, 0))
		goto out;
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 64 && !(cdone && sdone); i++) {
		if (hs_step(c, &cdone) != 0 || hs_step(s, &sdone) != 0)
			goto out;
	}
	peer = SSL_get1_peer_certificate(s);
	if (cdone && sdone && peer != NULL &&
	    SSL_get_verify_result(s) == X509_V_OK)
		rc = 0;
	X509_free(peer);
out:
	if (rc != 0)
		report_failure(c, s);
	SSL_free(c);
	SSL_free(s);
	return rc;
}

static void *
hs_thread_main(void *arg)
{
	struct hs_thread *t = arg;
	double end, t0, t1;

	if (handshake(t->ctx) != 0) /* warm-up, outside the clock */
		t->failed = 1;
	pthread_barrier_wait(&t->ctx->start);
	end = now_s(CLOCK_MONOTONIC) + t->ctx->seconds;
	t1 = now_s(CLOCK_MONOTONIC);
	while (!t->failed && t1 < end && t->n < HS_MAX_SAMPLES) {
		t0 = t1;
		if (handshake(t->ctx) != 0) {
			t->failed = 1;
			break;
		}
		t1 = now_s(CLOCK_MONOTONIC);
		t->lat_us[t->n++] = (t1 - t0) * 1e6;
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
run(struct hs_ctx *h, int n)
{
	static struct hs_thread th[HS_MAX_THREADS];
	double w0, c0, wall, cpu, *all;
	unsigned long total = 0, k = 0;
	int failed = 0;

	pthread_barrier_init(&h->start, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		th[i].ctx = h;
		th[i].lat_us = malloc(HS_MAX_SAMPLES * sizeof(double));
		if (th[i].lat_us == NULL ||
		    pthread_create(&th[i].tid, NULL, hs_thread_main, &th[i]))
			abort();
	}
	pthread_barrier_wait(&h->start);
	w0 = now_s(CLOCK_MONOTONIC);
	c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < n; i++) {
		pthread_join(th[i].tid, NULL);
		total += th[i].n;
		failed |= th[i].failed;
	}
	wall = now_s(CLOCK_MONOTONIC) - w0;
	cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	all = malloc((total ? total : 1) * sizeof(double));
	for (int i = 0; all != NULL && i < n; i++) {
		memcpy(all + k, th[i].lat_us, th[i].n * sizeof(double));
		k += th[i].n;
		free(th[i].lat_us);
	}
	if (failed || total == 0 || all == NULL) {
		fprintf(stderr, "tls-hs: a handshake failed\n");
		ERR_print_errors_fp(stderr);
		free(all);
		return 1;
	}
	qsort(all, total, sizeof(double), cmp_double);
	printf("%d threads: %lu verified handshakes in %.2f s: %.1f hs/s, "
	       "p50 %.1f us, p99 %.1f us, process CPU %.1f us/hs\n",
	       n, total, wall, (double)total / wall, all[(total - 1) / 2],
	       all[(unsigned long)((double)(total - 1) * 0.99)],
	       cpu * 1e6 / (double)total);
	free(all);
	return 0;
}

int
main(int argc, char **argv)
{
	struct hs_ctx h = {0};
	EVP_PKEY *key = NULL, *pub = NULL;
	int n, rc = 1;

	if (argc != 7 || (n = (int)strtol(argv[5], NULL, 10)) < 1 ||
	    n > HS_MAX_THREADS || (h.seconds = strtod(argv[6], NULL)) <= 0) {
		fprintf(stderr,
			"usage: %s provider|engine PROVIDER-DIR|MODULE "
			"KEY-URI PUB.pem THREADS(1-%d) SECONDS\n",
			argv[0], HS_MAX_THREADS);
		return 2;
	}
	if (strcmp(argv[1], "provider") == 0)
		key = pt_load_providers(argv[2]) ? pt_load_key(argv[3]) : NULL;
	else if (strcmp(argv[1], "engine") == 0)
		key = load_engine_key(argv[2], argv[3]);
	pub = pt_load_public(argv[4]);
	if (key == NULL || pub == NULL || !setup_ctx(&h, key, pub)) {
		fprintf(stderr, "tls-hs: cannot load %s or set up TLS\n",
			argv[3]);
		ERR_print_errors_fp(stderr);
		goto out;
	}
	rc = run(&h, n);
out:
	SSL_CTX_free(h.client);
	SSL_CTX_free(h.server);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	return rc;
}
