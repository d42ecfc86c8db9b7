/*
 * p11a_fork_sign - a program that uses the p11agent provider across a
 * fork, as a daemon or a pre-forking server would.
 *
 *   p11a_fork_sign PROVIDER_DIR KEY_URI PUBKEY.pem DIGEST|none COUNT
 *
 * It loads the default provider and p11agent.so from PROVIDER_DIR, loads
 * the key, signs once (which opens the provider's agent connection),
 * forks, and then parent and child each sign COUNT messages at the same
 * time; the parent signs once more after the child has exited.  Every
 * signature is verified with PUBKEY.pem.  It prints "parent PID" and
 * "child PID" so that the caller can find each process's signatures in
 * the agent's audit log (the agent records the pid of the connection's
 * peer: a child that used its parent's connection would show up under
 * the parent's pid, and its replies would be mixed with the parent's).
 * Exit status 0 when every signature verified.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "test_provider.h"

static EVP_PKEY *
load_public(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pub;

	if (f == NULL)
		return NULL;
	pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return pub;
}

/* Sign a fresh random message with key and verify it with pub. */
static int
sign_verify(EVP_PKEY *key, EVP_PKEY *pub, const char *md)
{
	unsigned char msg[100], sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
	int ok = 0;

	if (s == NULL || v == NULL || RAND_bytes(msg, sizeof(msg)) != 1)
		goto out;
	if (EVP_DigestSignInit_ex(s, NULL, md, NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(s, sig, &siglen, msg, sizeof(msg)) != 1)
		goto out;
	if (EVP_DigestVerifyInit_ex(v, NULL, md, NULL, NULL, pub, NULL) != 1 ||
	    EVP_DigestVerify(v, sig, siglen, msg, sizeof(msg)) != 1)
		goto out;
	ok = 1;
out:
	EVP_MD_CTX_free(s);
	EVP_MD_CTX_free(v);
	if (!ok)
		ERR_print_errors_fp(stderr);
	return ok;
}

static int
sign_many(EVP_PKEY *key, EVP_PKEY *pub, const char *md, int count,
	  const char *who)
{
	int i;

	for (i = 0; i < count; i++) {
		if (!sign_verify(key, pub, md)) {
			fprintf(stderr, "%s: signature %d failed\n", who,
				i + 1);
			return 0;
		}
	}
	return 1;
}

/* A positive decimal count, the whole of s; 0 if s is not one. */
static int
parse_count(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > INT_MAX)
		return 0;
	return (int)v;
}

int
main(int argc, char **argv)
{
	const char *md;
	EVP_PKEY *key, *pub;
	int count, status, ok;
	pid_t child;

	if (argc != 6) {
		fprintf(stderr, "usage: p11a_fork_sign PROVIDER_DIR KEY_URI "
				"PUBKEY.pem DIGEST|none COUNT\n");
		return 2;
	}
	md = strcmp(argv[4], "none") == 0 ? NULL : argv[4];
	if ((count = parse_count(argv[5])) == 0) {
		fprintf(stderr, "COUNT must be a positive number\n");
		return 2;
	}
	if (!p11a_test_load_providers(argv[1])) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if ((key = p11a_test_store_key(argv[2])) == NULL ||
	    (pub = load_public(argv[3])) == NULL) {
		fprintf(stderr, "cannot load the key or the public key\n");
		ERR_print_errors_fp(stderr);
		return 1;
	}
	/* the first signature opens the provider's connection */
	if (!sign_many(key, pub, md, 1, "parent before fork"))
		return 1;
	printf("parent %d\n", (int)getpid());
	fflush(stdout);
	if ((child = fork()) < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		printf("child %d\n", (int)getpid());
		fflush(stdout);
		_exit(sign_many(key, pub, md, count, "child") ? 0 : 1);
	}
	ok = sign_many(key, pub, md, count, "parent");
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "the child failed\n");
		ok = 0;
	}
	ok = ok && sign_many(key, pub, md, 1, "parent after the child");
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	return ok ? 0 : 1;
}
