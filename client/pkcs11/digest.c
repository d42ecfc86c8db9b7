/* Digests hashed in the module: see digest.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "digest.h"

struct p11m_digest {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
	size_t len;
};

struct digest_def {
	CK_MECHANISM_TYPE type;
	const char *name; /* OpenSSL's */
};

/* Also the order in C_GetMechanismList. */
static const struct digest_def defs[] = {
	{CKM_SHA_1, "SHA1"},	{CKM_SHA224, "SHA224"}, {CKM_SHA256, "SHA256"},
	{CKM_SHA384, "SHA384"}, {CKM_SHA512, "SHA512"},
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

_Static_assert(N_DEFS <= P11M_DIGEST_MAX, "P11M_DIGEST_MAX too small");

static const struct digest_def *
find_def(CK_MECHANISM_TYPE type)
{
	size_t i;

	for (i = 0; i < N_DEFS; i++)
		if (defs[i].type == type)
			return &defs[i];
	return NULL;
}

CK_RV
p11m_digest_new_md(const char *name, struct p11m_digest **out)
{
	struct p11m_digest *d;
	CK_RV rv = CKR_HOST_MEMORY;
	int len;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return CKR_HOST_MEMORY;
	if (name == NULL || (d->md = EVP_MD_fetch(NULL, name, NULL)) == NULL) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if ((d->ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	rv = CKR_GENERAL_ERROR;
	if ((len = EVP_MD_get_size(d->md)) <= 0 ||
	    !EVP_DigestInit_ex2(d->ctx, d->md, NULL))
		goto out;
	d->len = (size_t)len;
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		p11m_digest_free(d);
	else
		*out = d;
	return rv;
}

CK_RV
p11m_digest_new(const CK_MECHANISM *m, struct p11m_digest **out)
{
	const struct digest_def *def;

	*out = NULL;
	if (m == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((def = find_def(m->mechanism)) == NULL)
		return CKR_MECHANISM_INVALID;
	if (m->pParameter != NULL || m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	return p11m_digest_new_md(def->name, out);
}

size_t
p11m_digest_len(const struct p11m_digest *d)
{
	return d->len;
}

CK_RV
p11m_digest_update(struct p11m_digest *d, const uint8_t *data, size_t len)
{
	if (len > 0 && !EVP_DigestUpdate(d->ctx, data, len))
		return CKR_GENERAL_ERROR;
	return CKR_OK;
}

CK_RV
p11m_digest_final(struct p11m_digest *d, uint8_t *out, CK_ULONG *out_len)
{
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex(d->ctx, out, &n) || n != d->len)
		return CKR_GENERAL_ERROR;
	*out_len = n;
	return CKR_OK;
}

void
p11m_digest_free(struct p11m_digest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);
	EVP_MD_free(d->md);
	free(d);
}

size_t
p11m_digest_mechanisms(CK_MECHANISM_TYPE *out, size_t max)
{
	size_t i;

	for (i = 0; i < N_DEFS && i < max; i++)
		out[i] = defs[i].type;
	return i;
}

CK_RV
p11m_digest_mechanism_info(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	memset(info, 0, sizeof(*info));
	if (find_def(type) == NULL)
		return CKR_MECHANISM_INVALID;
	/* a digest takes no key: the key sizes stay 0 */
	info->flags = CKF_DIGEST;
	return CKR_OK;
}
