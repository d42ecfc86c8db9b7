/*
 * ssh-agent as a peer: the token added with `ssh-add -s MODULE`, one
 * connection per client thread, SSH2_AGENTC_SIGN_REQUEST (RFC draft
 * "SSH Agent Protocol", section 4.5) one at a time.  ssh-agent hashes the
 * data itself, so it is always sent the message.  SSH has no RSA-PSS:
 * those cells are n/a.  Signatures are turned into TLS form (raw RSA,
 * DER ECDSA) so that the common verifier checks them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>

#include "buf.h"
#include "keys.h"
#include "sendall.h"

#define SSH_AGENT_FAILURE 5
#define SSH_AGENTC_REQUEST_IDENTITIES 11
#define SSH_AGENT_IDENTITIES_ANSWER 12
#define SSH_AGENTC_SIGN_REQUEST 13
#define SSH_AGENT_SIGN_RESPONSE 14
#define SSH_AGENT_RSA_SHA2_256 0x02
#define SSH_AGENT_RSA_SHA2_512 0x04
#define SSH_MAX_MSG (256 * 1024)
#define SSH_BLOB_MAX 2048

struct ssh_shared {
	char path[108];
	struct p11a_buf ids; /* the IDENTITIES_ANSWER body */
	pid_t pid;
};

struct ssh_conn {
	int fd;
	uint8_t blob[SSH_BLOB_MAX];
	size_t blob_len;
	uint32_t flags;
	size_t rsa_len; /* RSA signature size, 0 for others */
	struct p11a_buf out, in;
};

/* ---- I/O ----------------------------------------------------------------- */

static int
read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
ssh_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	int fd;

	if (n >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, n + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send out (a whole message with its u32 length), read one reply body
 * into in. */
static int
transact(int fd, struct p11a_buf *out, struct p11a_buf *in)
{
	uint8_t hdr[4], *p;
	uint32_t len;

	if (p11a_send_all(fd, p11a_buf_ptr(out), p11a_buf_remaining(out)) !=
		    0 ||
	    read_all(fd, hdr, 4) != 0)
		return -1;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	      (uint32_t)hdr[2] << 8 | hdr[3];
	p11a_buf_reset(in);
	if (len == 0 || len > SSH_MAX_MSG ||
	    p11a_buf_reserve(in, len, &p) != 0 || read_all(fd, p, len) != 0)
		return -1;
	return p11a_buf_commit(in, len);
}

/* ---- key blobs ------------------------------------------------------------
 */

/* An SSH mpint: big-endian, minimal, a 0x00 first when the top bit is set. */
static int
put_mpint(struct p11a_buf *b, const BIGNUM *bn)
{
	uint8_t v[1024 + 1];
	int n = BN_num_bytes(bn);

	if (n < 0 || (size_t)n >= sizeof(v))
		return -1;
	v[0] = 0;
	BN_bn2bin(bn, v + 1);
	if (n > 0 && (v[1] & 0x80))
		return p11a_buf_put_bytes(b, v, (size_t)n + 1);
	return p11a_buf_put_bytes(b, v + 1, (size_t)n);
}

static int
blob_rsa(EVP_PKEY *pk, struct p11a_buf *b)
{
	BIGNUM *n = NULL, *e = NULL;
	int r = -1;

	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
	    p11a_buf_put_cstring(b, "ssh-rsa") == 0 && put_mpint(b, e) == 0 &&
	    put_mpint(b, n) == 0)
		r = 0;
	BN_free(n);
	BN_free(e);
	return r;
}

/* The SSH curve name of an OpenSSL group name; NULL if SSH has none. */
static const char *
ssh_curve(const char *group)
{
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		return "nistp256";
	if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		return "nistp384";
	if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
		return "nistp521";
	return NULL;
}

static int
blob_ec(EVP_PKEY *pk, struct p11a_buf *b)
{
	char group[64], type[64];
	uint8_t point[200];
	size_t len = 0;
	const char *curve;

	if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), NULL) != 1 ||
	    (curve = ssh_curve(group)) == NULL ||
	    EVP_PKEY_get_octet_string_param(pk,
					    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					    point, sizeof(point), &len) != 1)
		return -1;
	snprintf(type, sizeof(type), "ecdsa-sha2-%s", curve);
	if (p11a_buf_put_cstring(b, type) != 0 ||
	    p11a_buf_put_cstring(b, curve) != 0 ||
	    p11a_buf_put_bytes(b, point, len) != 0)
		return -1;
	return 0;
}

static int
blob_ed25519(EVP_PKEY *pk, struct p11a_buf *b)
{
	uint8_t raw[32];
	size_t len = sizeof(raw);

	if (EVP_PKEY_get_raw_public_key(pk, raw, &len) != 1 || len != 32 ||
	    p11a_buf_put_cstring(b, "ssh-ed25519") != 0 ||
	    p11a_buf_put_bytes(b, raw, len) != 0)
		return -1;
	return 0;
}

/* The SSH public key blob of pk into out (SSH_BLOB_MAX bytes). */
static int
ssh_blob(EVP_PKEY *pk, uint8_t *out, size_t *out_len)
{
	struct p11a_buf b;
	int r = -1;

	p11a_buf_init(&b, SSH_BLOB_MAX);
	if (EVP_PKEY_is_a(pk, "RSA"))
		r = blob_rsa(pk, &b);
	else if (EVP_PKEY_is_a(pk, "EC"))
		r = blob_ec(pk, &b);
	else if (EVP_PKEY_is_a(pk, "ED25519"))
		r = blob_ed25519(pk, &b);
	if (r == 0) {
		*out_len = p11a_buf_remaining(&b);
		memcpy(out, p11a_buf_ptr(&b), *out_len);
	}
	p11a_buf_free(&b);
	return r;
}

/* ---- schemes --------------------------------------------------------------
 */

/* The SIGN_REQUEST flags for a scheme on this key; -1 when SSH cannot
 * make that signature (PSS, a hash that does not match the curve). */
static int
ssh_flags(const struct p11a_scheme_info *sc, EVP_PKEY *pk, uint32_t *flags)
{
	*flags = 0;
	switch (sc->code) {
	case P11A_SCHEME_RSA_PKCS1_SHA1:
		return EVP_PKEY_is_a(pk, "RSA") ? 0 : -1;
	case P11A_SCHEME_RSA_PKCS1_SHA256:
		*flags = SSH_AGENT_RSA_SHA2_256;
		return EVP_PKEY_is_a(pk, "RSA") ? 0 : -1;
	case P11A_SCHEME_RSA_PKCS1_SHA512:
		*flags = SSH_AGENT_RSA_SHA2_512;
		return EVP_PKEY_is_a(pk, "RSA") ? 0 : -1;
	case P11A_SCHEME_ECDSA_SECP256R1_SHA256:
		return EVP_PKEY_get_bits(pk) == 256 ? 0 : -1;
	case P11A_SCHEME_ECDSA_SECP384R1_SHA384:
		return EVP_PKEY_get_bits(pk) == 384 ? 0 : -1;
	case P11A_SCHEME_ECDSA_SECP521R1_SHA512:
		return EVP_PKEY_get_bits(pk) == 521 ? 0 : -1;
	case P11A_SCHEME_ED25519:
		return EVP_PKEY_is_a(pk, "ED25519") ? 0 : -1;
	default:
		return -1;
	}
}

/* ---- the driver -----------------------------------------------------------
 */

static void
ssh_teardown(void *shared)
{
	struct ssh_shared *sh = shared;

	if (sh == NULL)
		return;
	p11a_buf_free(&sh->ids);
	free(sh);
}

static int
ssh_setup(const struct bench_opts *o, void **shared, char why[BENCH_WHY])
{
	struct ssh_shared *sh = calloc(1, sizeof(*sh));
	struct p11a_buf out;
	int fd;

	*shared = NULL;
	if (sh == NULL)
		return bench_why(why, "out of memory");
	p11a_buf_init(&sh->ids, SSH_MAX_MSG);
	p11a_buf_init(&out, 16);
	if (o->ssh_socket == NULL ||
	    strlen(o->ssh_socket) >= sizeof(sh->path)) {
		bench_why(why, "no ssh-agent socket: give --ssh-socket or set "
			       "SSH_AUTH_SOCK");
		goto fail;
	}
	snprintf(sh->path, sizeof(sh->path), "%s", o->ssh_socket);
	if ((fd = ssh_connect(sh->path)) < 0) {
		bench_why(why, "no ssh-agent at %s", sh->path);
		goto fail;
	}
	if (p11a_buf_put_u32(&out, 1) != 0 ||
	    p11a_buf_put_u8(&out, SSH_AGENTC_REQUEST_IDENTITIES) != 0 ||
	    transact(fd, &out, &sh->ids) != 0) {
		close(fd);
		bench_why(why, "ssh-agent: REQUEST_IDENTITIES failed");
		goto fail;
	}
	close(fd);
	p11a_buf_free(&out);
	sh->pid = bench_socket_peer_pid(sh->path);
	*shared = sh;
	return 0;
fail:
	p11a_buf_free(&out);
	ssh_teardown(sh);
	return -1;
}

/* Whether the agent's IDENTITIES_ANSWER lists this key blob. */
static int
lists_blob(const struct p11a_buf *ids, const uint8_t *blob, size_t len)
{
	struct p11a_buf b;
	const uint8_t *kb, *comment;
	size_t kb_len, c_len;
	uint32_t n, i;
	uint8_t type;

	p11a_buf_view(&b, p11a_buf_ptr(ids), p11a_buf_remaining(ids));
	if (p11a_buf_get_u8(&b, &type) != 0 ||
	    type != SSH_AGENT_IDENTITIES_ANSWER || p11a_buf_get_u32(&b, &n))
		return 0;
	for (i = 0; i < n; i++) {
		if (p11a_buf_get_bytes_view(&b, &kb, &kb_len) != 0 ||
		    p11a_buf_get_bytes_view(&b, &comment, &c_len) != 0)
			return 0;
		if (kb_len == len && memcmp(kb, blob, len) == 0)
			return 1;
	}
	return 0;
}

static int
ssh_supports(void *shared, const struct bench_scheme *s,
	     const struct bench_key *k, char why[BENCH_WHY])
{
	struct ssh_shared *sh = shared;
	uint8_t blob[SSH_BLOB_MAX];
	size_t len;
	uint32_t flags;

	if (ssh_flags(s->sc, k->pub, &flags) != 0)
		return bench_why(why, "SSH has no %s signature with this key",
				 s->sc->name);
	if (ssh_blob(k->pub, blob, &len) != 0)
		return bench_why(why, "no SSH form of the key '%s'", s->label);
	if (!lists_blob(&sh->ids, blob, len))
		return bench_why(why, "ssh-agent does not hold the key '%s'",
				 s->label);
	return 0;
}

static pid_t
ssh_server_pid(void *shared)
{
	return ((struct ssh_shared *)shared)->pid;
}

static void
ssh_close(void *conn)
{
	struct ssh_conn *c = conn;

	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	p11a_buf_free(&c->out);
	p11a_buf_free(&c->in);
	free(c);
}

static int
ssh_open(const struct bench_cell *cell, void **conn, char why[BENCH_WHY])
{
	struct ssh_shared *sh = cell->shared;
	struct ssh_conn *c = calloc(1, sizeof(*c));

	*conn = NULL;
	if (c == NULL)
		return bench_why(why, "out of memory");
	c->fd = -1;
	p11a_buf_init(&c->out, SSH_MAX_MSG);
	p11a_buf_init(&c->in, SSH_MAX_MSG);
	if (ssh_flags(cell->scheme->sc, cell->key->pub, &c->flags) != 0 ||
	    ssh_blob(cell->key->pub, c->blob, &c->blob_len) != 0) {
		bench_why(why, "no SSH form of this cell");
		goto fail;
	}
	if (EVP_PKEY_is_a(cell->key->pub, "RSA"))
		c->rsa_len = (size_t)EVP_PKEY_get_size(cell->key->pub);
	if ((c->fd = ssh_connect(sh->path)) < 0) {
		bench_why(why, "no ssh-agent at %s", sh->path);
		goto fail;
	}
	*conn = c;
	return 0;
fail:
	ssh_close(c);
	return -1;
}

/* ECDSA: the SSH signature blob is mpint r, mpint s; TLS wants DER. */
static int
ecdsa_to_der(const uint8_t *p, size_t len, uint8_t *out, size_t *out_len)
{
	struct p11a_buf b;
	const uint8_t *r, *s;
	size_t r_len, s_len;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *q = out;
	int n = -1;

	p11a_buf_view(&b, p, len);
	if (p11a_buf_get_bytes_view(&b, &r, &r_len) != 0 ||
	    p11a_buf_get_bytes_view(&b, &s, &s_len) != 0 ||
	    p11a_buf_remaining(&b) != 0)
		return -1;
	br = BN_bin2bn(r, (int)r_len, NULL);
	bs = BN_bin2bn(s, (int)s_len, NULL);
	if (br == NULL || bs == NULL || (es = ECDSA_SIG_new()) == NULL ||
	    ECDSA_SIG_set0(es, br, bs) != 1)
		goto out;
	br = bs = NULL; /* owned by es now */
	if (i2d_ECDSA_SIG(es, NULL) <= BENCH_SIG_MAX)
		n = i2d_ECDSA_SIG(es, &q);
out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return -1;
	*out_len = (size_t)n;
	return 0;
}

/* The signature in a SIGN_RESPONSE body, in TLS form. */
static int
take_signature(struct ssh_conn *c, uint8_t *out, size_t *out_len)
{
	struct p11a_buf b;
	const uint8_t *sig, *alg, *raw;
	size_t sig_len, alg_len, raw_len;
	uint8_t type;

	if (p11a_buf_get_u8(&c->in, &type) != 0 ||
	    type != SSH_AGENT_SIGN_RESPONSE ||
	    p11a_buf_get_bytes_view(&c->in, &sig, &sig_len) != 0)
		return -1;
	p11a_buf_view(&b, sig, sig_len);
	if (p11a_buf_get_bytes_view(&b, &alg, &alg_len) != 0 ||
	    p11a_buf_get_bytes_view(&b, &raw, &raw_len) != 0)
		return -1;
	if (alg_len > 6 && memcmp(alg, "ecdsa-", 6) == 0)
		return ecdsa_to_der(raw, raw_len, out, out_len);
	if (raw_len > BENCH_SIG_MAX || (c->rsa_len && raw_len > c->rsa_len))
		return -1;
	*out_len = raw_len;
	/* an RSA signature may come without its leading zero bytes */
	if (c->rsa_len > raw_len) {
		memset(out, 0, c->rsa_len - raw_len);
		*out_len = c->rsa_len;
	}
	memcpy(out + (*out_len - raw_len), raw, raw_len);
	return 0;
}

static int
ssh_sign(void *conn, const struct bench_input *in, uint8_t *sig,
	 size_t *sig_len, char why[BENCH_WHY])
{
	struct ssh_conn *c = conn;
	uint8_t tmp[BENCH_SIG_MAX];
	size_t len;

	p11a_buf_reset(&c->out);
	if (p11a_buf_put_u32(&c->out, 0) != 0 ||
	    p11a_buf_put_u8(&c->out, SSH_AGENTC_SIGN_REQUEST) != 0 ||
	    p11a_buf_put_bytes(&c->out, c->blob, c->blob_len) != 0 ||
	    p11a_buf_put_bytes(&c->out, in->msg, in->msg_len) != 0 ||
	    p11a_buf_put_u32(&c->out, c->flags) != 0 ||
	    p11a_buf_poke_u32(&c->out, 0,
			      (uint32_t)p11a_buf_remaining(&c->out) - 4) != 0)
		return bench_why(why, "cannot encode SIGN_REQUEST");
	if (transact(c->fd, &c->out, &c->in) != 0)
		return bench_why(why, "ssh-agent: connection failed");
	if (p11a_buf_remaining(&c->in) >= 1 &&
	    p11a_buf_ptr(&c->in)[0] == SSH_AGENT_FAILURE)
		return bench_why(why, "ssh-agent refused to sign");
	/* cppcheck-suppress legacyUninitvar ; a false positive: tmp is
	 * output only, take_signature() writes it and never reads it */
	if (take_signature(c, sig ? sig : tmp, &len) != 0)
		return bench_why(why, "ssh-agent: malformed SIGN_RESPONSE");
	if (sig_len != NULL)
		*sig_len = len;
	return 0;
}

const struct bench_driver bench_driver_ssh = {
	.mode = MODE_SSH,
	.setup = ssh_setup,
	.teardown = ssh_teardown,
	.supports = ssh_supports,
	.server_pid = ssh_server_pid,
	.open = ssh_open,
	.sign = ssh_sign,
	.close = ssh_close,
};
