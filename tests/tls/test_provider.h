/*
 * What the test programs do as stock openssl does: load the default
 * provider and p11agent.so, and load a key by URI through OSSL_STORE.
 */
#ifndef P11A_TEST_PROVIDER_H
#define P11A_TEST_PROVIDER_H

#include <openssl/evp.h>

/* The default provider and p11agent from dir; 0 with OpenSSL's error. */
int p11a_test_load_providers(const char *dir);
/* The first key uri names, or NULL (OpenSSL's error stack says why). */
EVP_PKEY *p11a_test_store_key(const char *uri);

#endif
