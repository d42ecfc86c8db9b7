/*
 * p11a_sig_params - the provider's signature parameters against the
 * default provider's.
 *
 *   p11a_sig_params PROVIDER_DIR RSA_URI EC_URI ED25519_URI
 *
 * For each key type it makes a key of the same type with the default
 * provider and opens a digest-sign context on both keys with the same
 * settings, set once as strings and once as numbers (the two forms
 * OpenSSL uses).  Then it asks both contexts for every parameter the
 * default provider can answer, in each form it takes (an int and a
 * string for the padding and the salt length, names for digests, the
 * AlgorithmIdentifier), directly and through OpenSSL's EVP_PKEY_CTX_get_*
 * calls: the agent key must answer whatever the default provider
 * answers, with the same value.  Settings the agent cannot sign with
 * must fail with an error on the stack.  Exit status 0 when all agree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "provtest.h"

static int failures;

static void fail(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	failures++;
}

/* One context's settings, all optional. */
struct settings {
	const char *md;
	const char *pad;     /* "pss", "pkcs1" */
	const char *saltlen; /* "digest", "32", ... */
	const char *mgf1;
	int as_numbers; /* pad and saltlen as OSSL_PARAM ints */
};

static int
saltlen_number(const char *s)
{
	if (strcmp(s, "digest") == 0)
		return RSA_PSS_SALTLEN_DIGEST;
	if (strcmp(s, "max") == 0)
		return RSA_PSS_SALTLEN_MAX;
	if (strcmp(s, "auto") == 0)
		return RSA_PSS_SALTLEN_AUTO;
	return (int)strtol(s, NULL, 10);
}

static int
apply(EVP_PKEY_CTX *pctx, const struct settings *s)
{
	OSSL_PARAM p[4];
	int pad, salt, n = 0;

	pad = s->pad != NULL && strcmp(s->pad, "pss") == 0
		      ? RSA_PKCS1_PSS_PADDING
		      : RSA_PKCS1_PADDING;
	salt = s->saltlen != NULL ? saltlen_number(s->saltlen) : 0;
	if (s->pad != NULL)
		p[n++] = s->as_numbers
				 ? OSSL_PARAM_construct_int(
					   OSSL_SIGNATURE_PARAM_PAD_MODE, &pad)
				 : OSSL_PARAM_construct_utf8_string(
					   OSSL_SIGNATURE_PARAM_PAD_MODE,
					   (char *)s->pad, 0);
	if (s->saltlen != NULL)
		p[n++] = s->as_numbers
				 ? OSSL_PARAM_construct_int(
					   OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
					   &salt)
				 : OSSL_PARAM_construct_utf8_string(
					   OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
					   (char *)s->saltlen, 0);
	if (s->mgf1 != NULL)
		p[n++] = OSSL_PARAM_construct_utf8_string(
			OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)s->mgf1, 0);
	p[n] = OSSL_PARAM_construct_end();
	return n == 0 || EVP_PKEY_CTX_set_params(pctx, p) == 1;
}

static EVP_MD_CTX *
open_ctx(EVP_PKEY *key, const struct settings *s, EVP_PKEY_CTX **pctx)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	if (m != NULL &&
	    EVP_DigestSignInit_ex(m, pctx, s->md, NULL, NULL, key, NULL) == 1 &&
	    apply(*pctx, s))
		return m;
	EVP_MD_CTX_free(m);
	return NULL;
}

/* One answer to a get_params of one parameter, printable. */
struct answer {
	int ok, modified;
	char text[400];
};

static void
hex(const unsigned char *b, size_t n, char *out, size_t len)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Digest names differ between providers ("SHA256", "SHA2-256"). */
static void
canon_md(char *name, size_t len)
{
	EVP_MD *md = name[0] != '\0' ? EVP_MD_fetch(NULL, name, NULL) : NULL;

	if (md != NULL)
		snprintf(name, len, "%s", OBJ_nid2sn(EVP_MD_get_type(md)));
	EVP_MD_free(md);
}

static struct answer
ask(EVP_PKEY_CTX *pctx, const char *name, int type)
{
	struct answer a = {0};
	unsigned char buf[256];
	char str[256] = "";
	int i = 0;
	size_t z = 0;
	OSSL_PARAM p[2];

	if (type == OSSL_PARAM_INTEGER)
		p[0] = OSSL_PARAM_construct_int(name, &i);
	else if (type == OSSL_PARAM_UNSIGNED_INTEGER)
		p[0] = OSSL_PARAM_construct_size_t(name, &z);
	else if (type == OSSL_PARAM_UTF8_STRING)
		p[0] = OSSL_PARAM_construct_utf8_string(name, str, sizeof(str));
	else
		p[0] = OSSL_PARAM_construct_octet_string(name, buf,
							 sizeof(buf));
	p[1] = OSSL_PARAM_construct_end();
	a.ok = EVP_PKEY_CTX_get_params(pctx, p) == 1;
	a.modified = OSSL_PARAM_modified(&p[0]);
	if (!a.ok || !a.modified)
		return a;
	if (type == OSSL_PARAM_INTEGER)
		snprintf(a.text, sizeof(a.text), "%d", i);
	else if (type == OSSL_PARAM_UNSIGNED_INTEGER)
		snprintf(a.text, sizeof(a.text), "%zu", z);
	else if (type == OSSL_PARAM_UTF8_STRING)
		snprintf(a.text, sizeof(a.text), "%s", str);
	else
		hex(buf, p[0].return_size, a.text, sizeof(a.text));
	if (strcmp(name, OSSL_SIGNATURE_PARAM_DIGEST) == 0 ||
	    strcmp(name, OSSL_SIGNATURE_PARAM_MGF1_DIGEST) == 0)
		canon_md(a.text, sizeof(a.text));
	return a;
}

static const char *
md_sn(const EVP_MD *md)
{
	return md != NULL ? OBJ_nid2sn(EVP_MD_get_type(md)) : "-";
}

/* What OpenSSL's own getters (the ctrl translation) make of them. */
static void
ask_evp(EVP_PKEY_CTX *pctx, int rsa, int pss, char *out, size_t len)
{
	const EVP_MD *md = NULL, *mgf1 = NULL;
	int pad = 0, salt = 0, r_pad = 0, r_salt = 0, r_mgf1 = 0, r_md;

	r_md = EVP_PKEY_CTX_get_signature_md(pctx, &md);
	if (rsa) {
		r_pad = EVP_PKEY_CTX_get_rsa_padding(pctx, &pad);
		r_mgf1 = EVP_PKEY_CTX_get_rsa_mgf1_md(pctx, &mgf1);
		if (pss)
			r_salt = EVP_PKEY_CTX_get_rsa_pss_saltlen(pctx, &salt);
	}
	snprintf(out, len, "md %d %s, pad %d %d, salt %d %d, mgf1 %d %s", r_md,
		 md_sn(md), r_pad, pad, r_salt, salt, r_mgf1, md_sn(mgf1));
}

struct param {
	const char *name;
	int type;
};

static const struct param params[] = {
	{OSSL_SIGNATURE_PARAM_ALGORITHM_ID, OSSL_PARAM_OCTET_STRING},
	{OSSL_SIGNATURE_PARAM_DIGEST, OSSL_PARAM_UTF8_STRING},
	{OSSL_SIGNATURE_PARAM_DIGEST_SIZE, OSSL_PARAM_UNSIGNED_INTEGER},
	{OSSL_SIGNATURE_PARAM_PAD_MODE, OSSL_PARAM_INTEGER},
	{OSSL_SIGNATURE_PARAM_PAD_MODE, OSSL_PARAM_UTF8_STRING},
	{OSSL_SIGNATURE_PARAM_PSS_SALTLEN, OSSL_PARAM_INTEGER},
	{OSSL_SIGNATURE_PARAM_PSS_SALTLEN, OSSL_PARAM_UTF8_STRING},
	{OSSL_SIGNATURE_PARAM_MGF1_DIGEST, OSSL_PARAM_UTF8_STRING},
};

/* Every parameter the default provider lists is listed, same type. */
static void
compare_lists(const char *what, const OSSL_PARAM *ours,
	      const OSSL_PARAM *theirs)
{
	const OSSL_PARAM *o;

	for (; theirs != NULL && theirs->key != NULL; theirs++) {
		/* a known-answer test parameter, for testing ECDSA itself */
		if (strcmp(theirs->key, OSSL_SIGNATURE_PARAM_KAT) == 0)
			continue;
		o = OSSL_PARAM_locate_const(ours, theirs->key);
		if (o == NULL || o->data_type != theirs->data_type)
			fail(what, "%s %s", theirs->key,
			     o == NULL ? "not listed" : "of another type");
	}
}

/* The agent key answers as the default provider's key does. */
static void
compare(const char *what, EVP_PKEY *agent, EVP_PKEY *ref,
	const struct settings *s)
{
	EVP_PKEY_CTX *pa = NULL, *pr = NULL;
	struct settings rs = *s;
	EVP_MD_CTX *ma, *mr;
	struct answer a, r;
	char ea[200], er[200], label[200];
	size_t i;
	int pss = s->pad != NULL && strcmp(s->pad, "pss") == 0;

	/* signing with no salt length set, the agent's is the hash length
	 * (OpenSSL's is the longest) */
	if (pss && rs.saltlen == NULL)
		rs.saltlen = "digest";
	ma = open_ctx(agent, s, &pa);
	mr = open_ctx(ref, &rs, &pr);
	if (ma == NULL || mr == NULL) {
		fail(what, "%s", "cannot open the contexts");
		goto out;
	}
	compare_lists(what, EVP_PKEY_CTX_gettable_params(pa),
		      EVP_PKEY_CTX_gettable_params(pr));
	compare_lists(what, EVP_PKEY_CTX_settable_params(pa),
		      EVP_PKEY_CTX_settable_params(pr));
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		/* a salt length means nothing without PSS */
		if (!pss && strcmp(params[i].name,
				   OSSL_SIGNATURE_PARAM_PSS_SALTLEN) == 0)
			continue;
		snprintf(label, sizeof(label), "%s: %s as %s", what,
			 params[i].name,
			 params[i].type == OSSL_PARAM_INTEGER ? "int"
			 : params[i].type == OSSL_PARAM_UTF8_STRING
				 ? "string"
				 : "its type");
		a = ask(pa, params[i].name, params[i].type);
		r = ask(pr, params[i].name, params[i].type);
		if (a.ok != r.ok || a.modified != r.modified ||
		    strcmp(a.text, r.text) != 0)
			fail(label, "agent key: '%s', default provider: '%s'",
			     a.ok ? a.modified ? a.text : "(unanswered)"
				  : "(failed)",
			     r.ok ? r.modified ? r.text : "(unanswered)"
				  : "(failed)");
	}
	ask_evp(pa, EVP_PKEY_is_a(ref, "RSA"), pss, ea, sizeof(ea));
	ask_evp(pr, EVP_PKEY_is_a(ref, "RSA"), pss, er, sizeof(er));
	if (strcmp(ea, er) != 0)
		fail(what,
		     "EVP_PKEY_CTX_get_*: agent key '%s', default "
		     "provider '%s'",
		     ea, er);
	printf("ok: %s\n", what);
out:
	EVP_MD_CTX_free(ma);
	EVP_MD_CTX_free(mr);
}

/* Settings the agent cannot sign with fail, with an error, at the latest
 * when the AlgorithmIdentifier is asked for or when signing. */
static void
refused(const char *what, EVP_PKEY *agent, const struct settings *s)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *m;
	unsigned char sig[1024], aid[256];
	size_t siglen = sizeof(sig);
	OSSL_PARAM p[2];
	int ok;

	ERR_clear_error();
	if ((m = open_ctx(agent, s, &pctx)) != NULL) {
		p[0] = OSSL_PARAM_construct_octet_string(
			OSSL_SIGNATURE_PARAM_ALGORITHM_ID, aid, sizeof(aid));
		p[1] = OSSL_PARAM_construct_end();
		ok = EVP_PKEY_CTX_get_params(pctx, p) == 1;
		if (ok || ERR_peek_error() == 0)
			fail(what, "%s",
			     ok ? "an AlgorithmIdentifier was made"
				: "no error for the AlgorithmIdentifier");
		ERR_clear_error();
		ok = EVP_DigestSign(m, sig, &siglen, (const unsigned char *)"x",
				    1) == 1;
		if (ok || ERR_peek_error() == 0)
			fail(what, "%s",
			     ok ? "signed" : "no error for the signature");
	} else if (ERR_peek_error() == 0) {
		fail(what, "%s", "refused without an error");
	}
	ERR_clear_error();
	EVP_MD_CTX_free(m);
	printf("ok: %s: refused\n", what);
}

static EVP_PKEY *
reference_key(const char *type)
{
	if (strcmp(type, "RSA") == 0)
		return EVP_PKEY_Q_keygen(NULL, "provider=default", "RSA",
					 (size_t)2048);
	if (strcmp(type, "EC") == 0)
		return EVP_PKEY_Q_keygen(NULL, "provider=default", "EC",
					 "P-256");
	return EVP_PKEY_Q_keygen(NULL, "provider=default", type);
}

static void
rsa_cases(EVP_PKEY *agent, EVP_PKEY *ref)
{
	static const char *const mds[] = {"SHA256", "SHA384", "SHA512"};
	static const char *const lens[] = {"32", "48", "64"};
	const char *salts[3];
	char what[200];
	size_t i, j;
	int num;

	compare("RSA, default settings", agent, ref, &(struct settings){0});
	for (i = 0; i < 3; i++) {
		salts[0] = NULL;
		salts[1] = "digest";
		salts[2] = lens[i];
		for (num = 0; num < 2; num++) {
			snprintf(what, sizeof(what), "RSA %s PKCS#1 (%s)",
				 mds[i], num ? "numbers" : "strings");
			compare(what, agent, ref,
				&(struct settings){mds[i], "pkcs1", NULL, NULL,
						   num});
			for (j = 0; j < 3; j++) {
				snprintf(what, sizeof(what),
					 "RSA %s PSS salt %s (%s)", mds[i],
					 salts[j] ? salts[j] : "unset",
					 num ? "numbers" : "strings");
				compare(what, agent, ref,
					&(struct settings){mds[i], "pss",
							   salts[j], NULL,
							   num});
			}
		}
		snprintf(what, sizeof(what), "RSA %s PSS MGF1 %s", mds[i],
			 mds[i]);
		compare(what, agent, ref,
			&(struct settings){mds[i], "pss", "digest", mds[i], 0});
	}
	refused("RSA PSS salt 20", agent,
		&(struct settings){"SHA256", "pss", "20", NULL, 0});
	refused("RSA PSS salt max", agent,
		&(struct settings){"SHA256", "pss", "max", NULL, 1});
	refused("RSA PSS salt auto", agent,
		&(struct settings){"SHA256", "pss", "auto", NULL, 0});
	refused("RSA PSS MGF1 SHA1", agent,
		&(struct settings){"SHA256", "pss", NULL, "SHA1", 0});
	refused("RSA PSS salt -5 as a number", agent,
		&(struct settings){"SHA256", "pss", "-5", NULL, 1});
	refused("RSA padding none", agent,
		&(struct settings){"SHA256", "none", NULL, NULL, 0});
}

int
main(int argc, char **argv)
{
	static const char *const types[] = {"RSA", "EC", "ED25519"};
	EVP_PKEY *agent, *ref;
	int i;

	if (argc != 5) {
		fprintf(stderr,
			"usage: %s PROVIDER_DIR RSA_URI EC_URI "
			"ED25519_URI\n",
			argv[0]);
		return 2;
	}
	if (!pt_load_providers(argv[1])) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	for (i = 0; i < 3; i++) {
		agent = pt_load_key(argv[2 + i]);
		ref = reference_key(types[i]);
		if (agent == NULL || ref == NULL) {
			fail(types[i], "%s", "cannot load or make the key");
			return 1;
		}
		if (i == 0)
			rsa_cases(agent, ref);
		else if (i == 1)
			compare("ECDSA SHA384", agent, ref,
				&(struct settings){"SHA384", NULL, NULL, NULL,
						   0});
		else
			compare("Ed25519", agent, ref, &(struct settings){0});
		if (i == 1)
			refused("ECDSA with PSS", agent,
				&(struct settings){"SHA256", "pss", NULL, NULL,
						   0});
		EVP_PKEY_free(agent);
		EVP_PKEY_free(ref);
	}
	return failures == 0 ? 0 : 1;
}
