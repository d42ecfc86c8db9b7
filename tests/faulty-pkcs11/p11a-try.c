/*
 * p11a-try: one request to p11agentd through libp11agent, printing the
 * exact outcome so that shell tests can assert the error code a client
 * sees (the p11agent command folds many codes into exit status 1).
 *
 *   p11a-try sign IDENTITY SCHEME IN OUT   sign file IN, write OUT
 *   p11a-try token-flags LABEL             STATUS flags of a token
 *   p11a-try identity-flags LABEL          LIST flags of an identity
 *   p11a-try load IDENTITY SCHEME PUB SECS sign random messages for SECS
 *                                          seconds, one at a time, and
 *                                          verify each against PUB (PEM;
 *                                          ECDSA and Ed25519 schemes);
 *                                          prints "OK n=N p50_us=..
 *                                          p99_us=.. max_us=.." or the
 *                                          first error; a signature that
 *                                          does not verify is BAD_SIGNATURE
 *   p11a-try signs IDENTITY SCHEME PUB N   the same for N signatures in a
 *                                          row on one connection
 *
 * The socket is $P11AGENT_SOCK.  The first line on stdout is the result:
 * OK, or the error's symbolic name (TOKEN_NOT_PRESENT, TIMEOUT, ...);
 * for the flag commands it is followed by the flags as words, e.g.
 * "OK present,logged-in".  Exit status 0 for OK, 1 for an error reply,
 * 2 for a usage or local file error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "p11agent/client.h"
#include "scheme.h"

static int
result(int r, p11a_client *c)
{
	printf("%s", p11a_err_name(r));
	if (r != P11A_OK)
		printf(" %s", p11a_client_last_message(c));
	printf("\n");
	return r == P11A_OK ? 0 : 1;
}

static int
read_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = P11A_MAX_FRAME;

	*len = 0;
	if (f == NULL || (*data = malloc(cap)) == NULL) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	*len = fread(*data, 1, cap, f);
	fclose(f);
	return 0;
}

static int
write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int
cmd_sign(p11a_client *c, char **argv)
{
	struct p11a_sign_request req = {.identity = argv[0]};
	uint8_t *data = NULL, *sig = NULL;
	size_t len = 0, sig_len = 0;
	int r, rc = 2;

	if (p11a_scheme_from_name(argv[1], &req.scheme) != P11A_OK) {
		fprintf(stderr, "p11a-try: unknown scheme %s\n", argv[1]);
		return 2;
	}
	if (read_file(argv[2], &data, &len) != 0) {
		perror(argv[2]);
		goto out;
	}
	req.data = data;
	req.data_len = len;
	r = p11a_client_sign(c, &req, &sig, &sig_len);
	if (r == P11A_OK && write_file(argv[3], sig, sig_len) != 0) {
		perror(argv[3]);
		goto out;
	}
	rc = result(r, c);
out:
	free(data);
	free(sig);
	return rc;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static EVP_PKEY *
read_public(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL)
		return NULL;
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* DER ECDSA or raw Ed25519 over msg, as the scheme says. */
static int
verify_one(EVP_PKEY *pub, const struct p11a_scheme_info *sc, const uint8_t *msg,
	   size_t len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *md = sc->hash == P11A_HASH_SHA256	? "SHA256"
			 : sc->hash == P11A_HASH_SHA384 ? "SHA384"
			 : sc->hash == P11A_HASH_SHA512 ? "SHA512"
							: NULL;
	int ok = ctx != NULL &&
		 EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, pub,
					 NULL) == 1 &&
		 EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * Sign random messages one at a time until secs seconds have passed or
 * count signatures are made, verifying each against the public key.
 */
static int
cmd_load(p11a_client *c, char **argv, uint64_t secs, size_t count)
{
	struct p11a_sign_request req = {.identity = argv[0]};
	const struct p11a_scheme_info *sc;
	uint64_t *lat = NULL, end, t0;
	size_t n = 0, cap = 1u << 20, sig_len;
	uint8_t msg[64], *sig;
	EVP_PKEY *pub;
	int r = P11A_OK, rc = 1;

	if (p11a_scheme_from_name(argv[1], &req.scheme) != P11A_OK ||
	    (sc = p11a_scheme_find(req.scheme)) == NULL ||
	    (sc->mechanism != CKM_ECDSA && sc->mechanism != CKM_EDDSA) ||
	    (pub = read_public(argv[2])) == NULL) {
		fprintf(stderr, "p11a-try: load needs an ECDSA or Ed25519 "
				"scheme and a public key\n");
		return 2;
	}
	if ((lat = calloc(cap, sizeof(*lat))) == NULL)
		goto out;
	req.data = msg;
	req.data_len = sizeof(msg);
	end = now_us() + secs * 1000000u;
	while (now_us() < end && n < cap && n < count) {
		RAND_bytes(msg, sizeof(msg));
		t0 = now_us();
		if ((r = p11a_client_sign(c, &req, &sig, &sig_len)) != P11A_OK)
			break;
		lat[n++] = now_us() - t0;
		if (!verify_one(pub, sc, msg, sizeof(msg), sig, sig_len)) {
			free(sig);
			printf("BAD_SIGNATURE after %zu\n", n);
			goto out;
		}
		free(sig);
	}
	if (r != P11A_OK) {
		printf("%s after %zu: %s\n", p11a_err_name(r), n,
		       p11a_client_last_message(c));
		goto out;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("OK n=%zu p50_us=%llu p99_us=%llu max_us=%llu\n", n,
	       n ? (unsigned long long)lat[n / 2] : 0,
	       n ? (unsigned long long)lat[n * 99 / 100] : 0,
	       n ? (unsigned long long)lat[n - 1] : 0);
	rc = 0;
out:
	free(lat);
	EVP_PKEY_free(pub);
	return rc;
}

static void
print_words(uint32_t flags, const char *const names[], size_t n)
{
	int any = 0;

	for (size_t i = 0; i < n; i++)
		if (flags & (1u << i)) {
			printf("%s%s", any ? "," : "", names[i]);
			any = 1;
		}
	printf("%s\n", any ? "" : "-");
}

static int
cmd_token_flags(p11a_client *c, const char *label)
{
	static const char *const names[] = {
		"present",	 "logged-in",	  "protected-auth",
		"needs-unlock",	 "recovering",	  "failed",
		"pin-count-low", "pin-final-try", "pin-locked"};
	struct p11a_status st;
	int r, rc = 1;

	if ((r = p11a_client_status(c, &st)) != P11A_OK)
		return result(r, c);
	for (size_t i = 0; i < st.n_tokens; i++)
		if (strcmp(st.tokens[i].label, label) == 0) {
			printf("OK ");
			print_words(st.tokens[i].flags, names,
				    sizeof(names) / sizeof(names[0]));
			rc = 0;
		}
	if (rc != 0)
		printf("NO_SUCH_TOKEN %s\n", label);
	p11a_status_free(&st);
	return rc;
}

static int
cmd_identity_flags(p11a_client *c, const char *label)
{
	static const char *const names[] = {"available", "tls13-client-only"};
	struct p11a_identity_list l;
	int r, rc = 1;

	if ((r = p11a_client_list(c, &l)) != P11A_OK)
		return result(r, c);
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.items[i].label, label) == 0) {
			printf("OK ");
			print_words(l.items[i].flags, names, 2);
			rc = 0;
		}
	if (rc != 0)
		printf("NO_SUCH_IDENTITY %s\n", label);
	p11a_identity_list_free(&l);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr, "usage: p11a-try sign IDENTITY SCHEME IN OUT\n"
			"       p11a-try token-flags LABEL\n"
			"       p11a-try identity-flags LABEL\n"
			"       p11a-try load IDENTITY SCHEME PUB SECONDS\n"
			"       p11a-try signs IDENTITY SCHEME PUB N\n");
	return 2;
}

int
main(int argc, char **argv)
{
	p11a_client *c = NULL;
	int r, rc;

	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "sign") == 0 || strcmp(argv[1], "load") == 0 ||
	    strcmp(argv[1], "signs") == 0) {
		if (argc != 6)
			return usage();
	} else if (argc != 3) {
		return usage();
	}
	if ((r = p11a_client_connect(NULL, &c)) != P11A_OK)
		return result(r, c);
	if (strcmp(argv[1], "sign") == 0)
		rc = cmd_sign(c, argv + 2);
	else if (strcmp(argv[1], "load") == 0)
		rc = cmd_load(c, argv + 2, strtoull(argv[5], NULL, 10),
			      SIZE_MAX);
	else if (strcmp(argv[1], "signs") == 0)
		rc = cmd_load(c, argv + 2, UINT64_MAX / 2000000u,
			      strtoull(argv[5], NULL, 10));
	else if (strcmp(argv[1], "token-flags") == 0)
		rc = cmd_token_flags(c, argv[2]);
	else if (strcmp(argv[1], "identity-flags") == 0)
		rc = cmd_identity_flags(c, argv[2]);
	else
		rc = usage();
	p11a_client_close(c);
	return rc;
}
