/* Helpers of the provider test programs: see provtest.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/store.h>

#include "provtest.h"

int
pt_load_providers(const char *dir)
{
	if (!OSSL_PROVIDER_set_default_search_path(NULL, dir) ||
	    OSSL_PROVIDER_load(NULL, "default") == NULL ||
	    OSSL_PROVIDER_load(NULL, "p11agent") == NULL) {
		ERR_print_errors_fp(stderr);
		return 0;
	}
	return 1;
}

EVP_PKEY *
pt_load_key(const char *uri)
{
	OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
	OSSL_STORE_INFO *info;
	EVP_PKEY *key = NULL;

	if (st == NULL || !OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY))
		goto out;
	while (key == NULL && !OSSL_STORE_eof(st) &&
	       (info = OSSL_STORE_load(st)) != NULL) {
		key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
out:
	OSSL_STORE_close(st);
	return key;
}

EVP_PKEY *
pt_load_public(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pub;

	if (f == NULL)
		return NULL;
	pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return pub;
}

int
pt_sign_verify(EVP_PKEY *key, EVP_PKEY *pub, const char *md)
{
	unsigned char msg[130], sig[1024];
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

int
pt_parse_count(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > max)
		return 0;
	return (int)v;
}
