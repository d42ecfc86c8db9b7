/*
 * Signature checks for p11a-stress with OpenSSL, against public keys
 * read from the token maker's PEM files (never from the agent).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "scheme.h"
#include "stress.h"

EVP_PKEY *
stress_load_pub(const char *path)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (pk == NULL) {
		rewind(f);
		if ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			pk = X509_get_pubkey(x);
		X509_free(x);
	}
	fclose(f);
	return pk;
}

/* TLS sets the PSS salt to the hash length and MGF1 to the same hash. */
static int
set_padding(EVP_PKEY_CTX *pctx, const struct p11a_scheme_info *s)
{
	if (s->mechanism == CKM_RSA_PKCS_PSS)
		return EVP_PKEY_CTX_set_rsa_padding(
			       pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(
			       pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
	if (s->mechanism == CKM_RSA_PKCS)
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) >
		       0;
	return 1;
}

int
stress_verify(EVP_PKEY *pub, uint16_t scheme, const uint8_t *msg, size_t len,
	      const uint8_t *sig, size_t sig_len)
{
	const struct p11a_scheme_info *s = p11a_scheme_find(scheme);
	const EVP_MD *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx;
	int ok = 0;

	if (s == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (s->hash != P11A_HASH_NONE &&
	    (md = EVP_get_digestbyname(p11a_hash_openssl_name(s->hash))) ==
		    NULL)
		goto out;
	if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pub) != 1 ||
	    !set_padding(pctx, s))
		goto out;
	ok = EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ok;
}

unsigned long
stress_rss_kb(long pid)
{
	char path[64], line[256];
	unsigned long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtoul(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}
