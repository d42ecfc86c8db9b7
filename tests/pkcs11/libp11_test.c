/*
 * p11m-libp11-test - libp11 (the library behind OpenSSL's pkcs11 engine)
 * as a consumer of p11agent-pkcs11.so: PKCS11_CTX_load the module,
 * enumerate slots, keys and certificates, sign with every private key
 * through the EVP_PKEY libp11 makes for it, and verify each signature
 * with OpenSSL against the public key of the certificate libp11 found
 * and against DIR/NAME.pub.pem from the real token.
 *
 *   p11m-libp11-test MODULE DIR EXPECTED-KEYS
 *
 * Prints one line per signature; exit status 0 when all verified and
 * exactly EXPECTED-KEYS keys were found.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__);                 \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

static EVP_PKEY *
read_pub(const char *dir, const char *label)
{
	char path[4096];
	EVP_PKEY *k = NULL;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.pub.pem", dir, label);
	if ((fp = fopen(path, "r")) != NULL) {
		k = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	return k;
}

/* Sign msg with priv (SHA-256; Ed25519 keys are filtered out). */
static int
sign(EVP_PKEY *priv, const unsigned char *msg, size_t len, unsigned char *sig,
     size_t *sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL &&
	     EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, priv) == 1 &&
	     EVP_DigestSign(ctx, sig, sig_len, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int
verify(EVP_PKEY *pub, const unsigned char *msg, size_t len,
       const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL &&
	     EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
	     EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static void
check_key(PKCS11_KEY *key, const char *dir)
{
	unsigned char msg[300], sig[1024];
	size_t sig_len = sizeof(sig);
	PKCS11_CERT *cert = PKCS11_find_certificate(key);
	EVP_PKEY *priv = PKCS11_get_private_key(key);
	EVP_PKEY *real = read_pub(dir, key->label);
	EVP_PKEY *cpub = cert ? X509_get0_pubkey(cert->x509) : NULL;

	memset(msg, 0x42, sizeof(msg));
	CHECK(cert != NULL, "%s: libp11 found no certificate", key->label);
	CHECK(priv != NULL, "%s: no EVP_PKEY for the private key", key->label);
	CHECK(real != NULL, "%s: no %s/%s.pub.pem", key->label, dir,
	      key->label);
	if (priv == NULL || real == NULL || cpub == NULL)
		goto out;
	CHECK(sign(priv, msg, sizeof(msg), sig, &sig_len), "%s: sign failed",
	      key->label);
	CHECK(verify(real, msg, sizeof(msg), sig, sig_len),
	      "%s: signature does not verify with the token's key", key->label);
	CHECK(verify(cpub, msg, sizeof(msg), sig, sig_len),
	      "%s: signature does not verify with the certificate", key->label);
	printf("signed and verified with %s (%s)\n", key->label,
	       EVP_PKEY_get0_type_name(real));
out:
	EVP_PKEY_free(real);
	EVP_PKEY_free(priv);
}

/* A decimal count, the whole of s; -1 if s is not one. */
static int
parse_count(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9') /* strtoul would take " 7" and "-1" */
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT_MAX)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots = NULL, *slot;
	PKCS11_KEY *keys;
	PKCS11_CERT *certs;
	unsigned int nslots = 0, nkeys, ncerts, i, j, total = 0, tcerts = 0;
	unsigned int expected;

	if (argc != 4 || parse_count(argv[3], &expected) != 0) {
		fprintf(stderr, "usage: %s MODULE DIR EXPECTED-KEYS\n",
			argv[0]);
		return 2;
	}
	ctx = PKCS11_CTX_new();
	if (ctx == NULL || PKCS11_CTX_load(ctx, argv[1]) != 0 ||
	    PKCS11_enumerate_slots(ctx, &slots, &nslots) != 0) {
		fprintf(stderr, "FAIL: cannot load %s\n", argv[1]);
		return 1;
	}
	for (i = 0; i < nslots; i++) {
		slot = &slots[i];
		if (slot->token == NULL)
			continue;
		/* no PKCS11_login: the token needs none */
		CHECK(PKCS11_enumerate_keys(slot->token, &keys, &nkeys) == 0,
		      "token %s: cannot enumerate keys", slot->token->label);
		CHECK(PKCS11_enumerate_certs(slot->token, &certs, &ncerts) == 0,
		      "token %s: cannot enumerate certificates",
		      slot->token->label);
		if (failures > 0)
			break;
		for (j = 0; j < nkeys; j++)
			check_key(&keys[j], argv[2]);
		total += nkeys;
		tcerts += ncerts;
	}
	CHECK(total == expected, "found %u keys, expected %u", total, expected);
	printf("%u keys, %u certificates\n", total, tcerts);
	PKCS11_release_all_slots(ctx, slots, nslots);
	PKCS11_CTX_unload(ctx);
	PKCS11_CTX_free(ctx);
	return failures > 0 ? 1 : 0;
}
