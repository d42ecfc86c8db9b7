/* Signing operations: see signop.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent.h"
#include "digest.h"
#include "ecsig.h"
#include "signop.h"

/*
 * Unhashed input (a digest, a DigestInfo, an Ed25519 message, the
 * message of a MESSAGE_ONLY key) goes into one SIGN frame, with room to spare
 * for the identity and the header.
 */
#define RAW_MAX (P11A_MAX_FRAME - 4096)

struct p11m_signop {
	struct p11m_plan plan;
	struct p11m_keyinfo info;
	char *identity;
	struct p11m_digest *hash; /* hashed here: the running hash */
	uint8_t *buf;		  /* others: the input so far */
	size_t len;
	size_t cap;
};

/* The module hashes what it is fed (else it keeps it for the agent). */
static int
hashes_here(const struct p11m_plan *plan)
{
	return plan->kind == P11M_MECH_HASHED && !plan->message;
}

CK_RV
p11m_signop_new(const CK_MECHANISM *m, const char *identity,
		const struct p11m_keyinfo *info, struct p11m_signop **out)
{
	struct p11m_signop *op;
	CK_RV rv;

	*out = NULL;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return CKR_HOST_MEMORY;
	op->info = *info;
	if ((rv = p11m_mech_plan(m, info, &op->plan)) != CKR_OK)
		goto out;
	if ((op->identity = strdup(identity)) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (hashes_here(&op->plan))
		rv = p11m_digest_new_md(p11a_hash_openssl_name(op->plan.hash),
					&op->hash);
out:
	if (rv != CKR_OK)
		p11m_signop_free(op);
	else
		*out = op;
	return rv;
}

size_t
p11m_signop_len(const struct p11m_signop *op)
{
	return p11m_sig_len(&op->info);
}

static CK_RV
append(struct p11m_signop *op, const uint8_t *data, size_t len)
{
	size_t cap;
	uint8_t *p;

	if (len > RAW_MAX - op->len)
		return CKR_DATA_LEN_RANGE;
	if (op->len + len > op->cap) {
		cap = op->len + len < 256 ? 256 : (op->len + len) * 2;
		if (cap > RAW_MAX)
			cap = RAW_MAX;
		if ((p = realloc(op->buf, cap)) == NULL)
			return CKR_HOST_MEMORY;
		op->buf = p;
		op->cap = cap;
	}
	if (len > 0)
		memcpy(op->buf + op->len, data, len);
	op->len += len;
	return CKR_OK;
}

CK_RV
p11m_signop_update(struct p11m_signop *op, const uint8_t *data, size_t len)
{
	if (!hashes_here(&op->plan))
		return append(op, data, len);
	return p11m_digest_update(op->hash, data, len);
}

/* The agent's signature sig in PKCS#11 form, exactly want bytes. */
static CK_RV
convert(const struct p11m_signop *op, const uint8_t *sig, size_t sig_len,
	uint8_t *out, size_t want)
{
	switch (op->info.key_type) {
	case P11A_KEY_RSA:
		/* an RSA signature is as long as the modulus */
		if (sig_len > want)
			return CKR_DEVICE_ERROR;
		memset(out, 0, want - sig_len);
		memcpy(out + want - sig_len, sig, sig_len);
		return CKR_OK;
	case P11A_KEY_EC:
		if (p11m_ecdsa_der_to_raw(sig, sig_len, want / 2, out) != 0)
			return CKR_DEVICE_ERROR;
		return CKR_OK;
	default:
		if (sig_len != want)
			return CKR_DEVICE_ERROR;
		memcpy(out, sig, want);
		return CKR_OK;
	}
}

CK_RV
p11m_signop_final(struct p11m_signop *op, uint8_t *out, CK_ULONG *out_len)
{
	struct p11a_sign_request req = {.identity = op->identity};
	uint8_t digest[EVP_MAX_MD_SIZE], *sig = NULL;
	const uint8_t *input = op->buf;
	size_t input_len = op->len, sig_len = 0, want = p11m_signop_len(op);
	CK_ULONG dlen = 0;
	CK_RV rv;

	if (hashes_here(&op->plan)) {
		if ((rv = p11m_digest_final(op->hash, digest, &dlen)) != CKR_OK)
			return rv;
		input = digest;
		input_len = dlen;
	}
	rv = p11m_mech_request(&op->plan, &op->info, input, input_len,
			       &req.scheme, &req.flags, &req.data,
			       &req.data_len);
	if (rv != CKR_OK)
		return rv;
	if ((rv = p11m_agent_sign(&req, &sig, &sig_len)) != CKR_OK)
		return rv;
	if ((rv = convert(op, sig, sig_len, out, want)) == CKR_OK)
		*out_len = want;
	free(sig);
	return rv;
}

void
p11m_signop_free(struct p11m_signop *op)
{
	if (op == NULL)
		return;
	p11m_digest_free(op->hash);
	free(op->buf);
	free(op->identity);
	free(op);
}
