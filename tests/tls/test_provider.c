#include "test_provider.h"

#include <openssl/provider.h>
#include <openssl/store.h>

int
p11a_test_load_providers(const char *dir)
{
	return OSSL_PROVIDER_set_default_search_path(NULL, dir) &&
	       OSSL_PROVIDER_load(NULL, "default") != NULL &&
	       OSSL_PROVIDER_load(NULL, "p11agent") != NULL;
}

EVP_PKEY *
p11a_test_store_key(const char *uri)
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
