#include "keys.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11-kit/uri.h>

#include "p11agent/client.h"

/* Whether the identity's URI names the token labelled token. */
static int
on_token(const struct p11a_identity *id, const char *token)
{
	P11KitUri *u;
	CK_TOKEN_INFO *ti;
	size_t len;
	int yes = 0;

	if (token == NULL)
		return 1;
	len = strlen(token);
	if ((u = p11_kit_uri_new()) == NULL)
		return 0;
	if (p11_kit_uri_parse(id->uri, P11_KIT_URI_FOR_ANY, u) ==
		    P11_KIT_URI_OK &&
	    (ti = p11_kit_uri_get_token_info(u)) != NULL &&
	    len <= sizeof(ti->label) && memcmp(ti->label, token, len) == 0 &&
	    (len == sizeof(ti->label) || ti->label[len] == ' '))
		yes = 1;
	p11_kit_uri_free(u);
	return yes;
}

const struct p11a_identity *
bench_find_identity(const struct p11a_identity_list *l, const char *label,
		    const char *token, char why[BENCH_WHY])
{
	const struct p11a_identity *found = NULL;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct p11a_identity *id = &l->items[i];

		if (id->label == NULL || strcmp(id->label, label) != 0 ||
		    !on_token(id, token))
			continue;
		if (found != NULL) {
			bench_why(why,
				  "the agent has several keys labelled "
				  "'%s' (give --token)",
				  label);
			return NULL;
		}
		found = id;
	}
	if (found == NULL)
		bench_why(why, "the agent has no key labelled '%s'", label);
	return found;
}

static EVP_PKEY *
key_from_file(const char *dir, const char *label, char why[BENCH_WHY])
{
	char path[PATH_MAX];
	EVP_PKEY *pk = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.pub.pem", dir, label);
	if ((f = fopen(path, "r")) == NULL) {
		bench_why(why, "cannot open %s", path);
		return NULL;
	}
	pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL)
		bench_why(why, "%s holds no public key", path);
	return pk;
}

static EVP_PKEY *
key_from_identity(const struct p11a_identity_list *l, const char *label,
		  const char *token, char why[BENCH_WHY])
{
	const struct p11a_identity *id;
	const unsigned char *p;
	EVP_PKEY *pk;

	if ((id = bench_find_identity(l, label, token, why)) == NULL)
		return NULL;
	if (id->spki == NULL || id->spki_len > LONG_MAX) {
		bench_why(why, "the agent gives no public key for '%s'", label);
		return NULL;
	}
	p = id->spki;
	if ((pk = d2i_PUBKEY(NULL, &p, (long)id->spki_len)) == NULL)
		bench_why(why, "the public key of '%s' does not parse", label);
	return pk;
}

static int
agent_list(const struct bench_opts *o, struct p11a_identity_list *l,
	   char why[BENCH_WHY])
{
	p11a_client *c = NULL;
	char msg[200] = "";
	int r;

	r = p11a_client_connect_msg(o->socket, &c, msg, sizeof(msg));
	if (r != 0)
		return bench_why(why,
				 "no public keys: no --pubkey-dir and no "
				 "agent (%s)",
				 msg);
	if ((r = p11a_client_list(c, l)) != 0)
		bench_why(why, "LIST_IDENTITIES: %s", p11a_strerror(r));
	p11a_client_close(c);
	return r == 0 ? 0 : -1;
}

int
bench_keys_load(const struct bench_opts *o, struct bench_key *keys,
		char why[BENCH_WHY])
{
	struct p11a_identity_list l = {0};
	size_t i;
	int rc = -1;

	memset(keys, 0, o->n_schemes * sizeof(*keys));
	if (o->pubkey_dir == NULL && agent_list(o, &l, why) != 0)
		return -1;
	for (i = 0; i < o->n_schemes; i++) {
		const char *label = o->schemes[i].label;

		snprintf(keys[i].label, sizeof(keys[i].label), "%s", label);
		keys[i].pub =
			o->pubkey_dir
				? key_from_file(o->pubkey_dir, label, why)
				: key_from_identity(&l, label, o->token, why);
		if (keys[i].pub == NULL)
			goto out;
	}
	rc = 0;
out:
	p11a_identity_list_free(&l);
	if (rc != 0)
		bench_keys_free(keys, o->n_schemes);
	return rc;
}

void
bench_keys_free(struct bench_key *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		EVP_PKEY_free(keys[i].pub);
		keys[i].pub = NULL;
	}
}

int
bench_verify(const struct bench_key *k, const struct bench_input *in,
	     const uint8_t *sig, size_t sig_len)
{
	const struct p11a_scheme_info *sc = in->sc;
	const char *md = p11a_hash_openssl_name(sc->hash);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (ctx == NULL || EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL,
						   k->pub, NULL) != 1)
		goto out;
	if (sc->mechanism == CKM_RSA_PKCS_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
		     1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL) != 1))
		goto out;
	ok = EVP_DigestVerify(ctx, sig, sig_len, in->msg, in->msg_len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}
