/*
 * What the provider test programs (fork_sign.c, threads_sign.c) share:
 * loading the provider and the keys, one verified signature, counts.
 */
#ifndef P11A_TESTS_PROVTEST_H
#define P11A_TESTS_PROVTEST_H

#include <openssl/evp.h>

/* Load the default provider and p11agent.so from dir; 1 on success. */
int pt_load_providers(const char *dir);

/* The private key a p11agent: URI names, through OSSL_STORE; or NULL. */
EVP_PKEY *pt_load_key(const char *uri);

/* The public key of a PEM file; or NULL. */
EVP_PKEY *pt_load_public(const char *path);

/*
 * Sign a fresh random message with key (digest md; NULL for Ed25519)
 * and verify it with pub; 1 if it verified.  OpenSSL's errors go to
 * stderr otherwise.
 */
int pt_sign_verify(EVP_PKEY *key, EVP_PKEY *pub, const char *md);

/* A decimal count in 1..max, the whole of s; 0 if s is not one. */
int pt_parse_count(const char *s, long max);

#endif
