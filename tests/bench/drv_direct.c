/*
 * Direct PKCS#11: C_Sign in this process, one session per client thread,
 * one login for the whole program.  The module is loaded with p11-kit as
 * the agent loads it, and each signature does what the agent's worker
 * does (DigestInfo for PKCS#1, the digest for PSS and ECDSA, the message
 * for EdDSA; r||s to DER), so the two differ only by the hop.
 *
 * The same code measures `p11-kit server` through p11-kit-client.so
 * (mode p11kit): only the module differs.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include "drivers.h"

struct direct_shared {
	CK_FUNCTION_LIST *fn;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE login_session; /* held open: keeps the login */
	int have_session;
	pid_t server; /* p11-kit server, for its CPU time */
};

struct direct_conn {
	CK_FUNCTION_LIST *fn;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_MECHANISM mech;
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_RV rv; /* of the last C_SignInit or C_Sign */
};

/* The slot whose token has this label (CK_TOKEN_INFO pads with spaces). */
static int
find_slot(CK_FUNCTION_LIST *fn, const char *label, CK_SLOT_ID *slot,
	  char why[BENCH_WHY])
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	size_t len = strlen(label);
	CK_RV rv;

	if (len > sizeof(ti.label))
		return bench_why(why, "token label longer than 32 bytes");
	if ((rv = fn->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK)
		return bench_why(why, "C_GetSlotList: %s",
				 p11_kit_strerror(rv));
	for (i = 0; i < n; i++) {
		if (fn->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		if (memcmp(ti.label, label, len) != 0)
			continue;
		if (len < sizeof(ti.label) && ti.label[len] != ' ')
			continue;
		*slot = ids[i];
		return 0;
	}
	return bench_why(why, "no token labelled '%s'", label);
}

static int
login(struct direct_shared *d, const struct bench_opts *o, char why[BENCH_WHY])
{
	CK_RV rv;

	rv = d->fn->C_OpenSession(d->slot, CKF_SERIAL_SESSION, NULL, NULL,
				  &d->login_session);
	if (rv != CKR_OK)
		return bench_why(why, "C_OpenSession: %s",
				 p11_kit_strerror(rv));
	d->have_session = 1;
	if (o->pin == NULL)
		return bench_why(why, "no PIN given (--pin-env or --pin-file)");
	rv = d->fn->C_Login(d->login_session, CKU_USER, (CK_UTF8CHAR *)o->pin,
			    strlen(o->pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return bench_why(why, "C_Login: %s", p11_kit_strerror(rv));
	return 0;
}

static void
direct_teardown(void *shared)
{
	struct direct_shared *d = shared;

	if (d == NULL)
		return;
	if (d->fn != NULL) {
		if (d->have_session)
			d->fn->C_CloseSession(d->login_session);
		p11_kit_module_finalize(d->fn);
		p11_kit_module_release(d->fn);
	}
	free(d);
}

static int
setup_module(const char *module, const struct bench_opts *o, void **shared,
	     char why[BENCH_WHY])
{
	struct direct_shared *d = calloc(1, sizeof(*d));
	CK_RV rv;

	*shared = NULL;
	if (d == NULL) {
		/* -1 spelled out: callers use *shared whenever 0 comes back */
		bench_why(why, "out of memory");
		return -1;
	}
	if (o->token == NULL) {
		bench_why(why, "--token is needed");
		goto fail;
	}
	if ((d->fn = p11_kit_module_load(module, 0)) == NULL) {
		bench_why(why, "cannot load %s: %s", module, p11_kit_message());
		goto fail;
	}
	if ((rv = p11_kit_module_initialize(d->fn)) != CKR_OK) {
		bench_why(why, "C_Initialize of %s: %s", module,
			  p11_kit_strerror(rv));
		p11_kit_module_release(d->fn);
		d->fn = NULL;
		goto fail;
	}
	if (find_slot(d->fn, o->token, &d->slot, why) != 0 ||
	    login(d, o, why) != 0)
		goto fail;
	*shared = d;
	return 0;
fail:
	direct_teardown(d);
	return -1;
}

static int
direct_setup(const struct bench_opts *o, void **shared, char why[BENCH_WHY])
{
	return setup_module(o->module, o, shared, why);
}

/* p11-kit-client.so finds its server through P11_KIT_SERVER_ADDRESS,
 * "unix:path=/run/user/1000/p11-kit/pkcs11-1234". */
static int
p11kit_setup(const struct bench_opts *o, void **shared, char why[BENCH_WHY])
{
	const char *addr = getenv("P11_KIT_SERVER_ADDRESS");
	struct direct_shared *d;

	if (addr == NULL)
		return bench_why(why, "P11_KIT_SERVER_ADDRESS is not set");
	if (setup_module(o->p11kit_module, o, shared, why) != 0)
		return -1;
	d = *shared;
	if (strncmp(addr, "unix:path=", 10) == 0)
		d->server = bench_socket_peer_pid(addr + 10);
	return 0;
}

static int
direct_supports(void *shared, const struct bench_scheme *s,
		const struct bench_key *k, char why[BENCH_WHY])
{
	(void)shared;
	(void)s;
	(void)k;
	(void)why;
	return 0;
}

static pid_t
direct_server_pid(void *shared)
{
	return ((struct direct_shared *)shared)->server;
}

static int
find_key(struct direct_conn *c, const char *label, char why[BENCH_WHY])
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = c->fn->C_FindObjectsInit(c->s, tmpl, 2)) != CKR_OK)
		return bench_why(why, "C_FindObjectsInit: %s",
				 p11_kit_strerror(rv));
	rv = c->fn->C_FindObjects(c->s, h, 2, &n);
	c->fn->C_FindObjectsFinal(c->s);
	if (rv != CKR_OK)
		return bench_why(why, "C_FindObjects: %s",
				 p11_kit_strerror(rv));
	if (n != 1)
		return bench_why(why, "%lu private keys labelled '%s', need 1",
				 (unsigned long)n, label);
	c->key = h[0];
	return 0;
}

static void
direct_close(void *conn)
{
	struct direct_conn *c = conn;

	if (c == NULL)
		return;
	if (c->s != CK_INVALID_HANDLE)
		c->fn->C_CloseSession(c->s);
	free(c);
}

static int
direct_open(const struct bench_cell *cell, void **conn, char why[BENCH_WHY])
{
	const struct p11a_scheme_info *sc = cell->scheme->sc;
	struct direct_shared *d = cell->shared;
	struct direct_conn *c = calloc(1, sizeof(*c));
	CK_RV rv;

	*conn = NULL;
	if (c == NULL) {
		/* -1 spelled out: callers use *conn whenever 0 comes back */
		bench_why(why, "out of memory");
		return -1;
	}
	c->fn = d->fn;
	c->s = CK_INVALID_HANDLE;
	rv = c->fn->C_OpenSession(d->slot, CKF_SERIAL_SESSION, NULL, NULL,
				  &c->s);
	if (rv != CKR_OK) {
		c->s = CK_INVALID_HANDLE;
		bench_why(why, "C_OpenSession: %s", p11_kit_strerror(rv));
		goto fail;
	}
	if (find_key(c, cell->scheme->label, why) != 0)
		goto fail;
	/* resolved once per thread, as the agent does per identity */
	c->mech.mechanism = sc->mechanism;
	if (sc->mechanism == CKM_RSA_PKCS_PSS) {
		c->pss.hashAlg = sc->pss_hash;
		c->pss.mgf = sc->pss_mgf;
		c->pss.sLen = sc->hash_len;
		c->mech.pParameter = &c->pss;
		c->mech.ulParameterLen = sizeof(c->pss);
	}
	*conn = c;
	return 0;
fail:
	direct_close(c);
	return -1;
}

/* What C_Sign gets: the agent's signer_prepare(), step for step. */
static int
prepare(const struct bench_input *in, uint8_t *buf, size_t buf_len,
	const uint8_t **data, size_t *len)
{
	const struct p11a_scheme_info *sc = in->sc;
	uint8_t digest[EVP_MAX_MD_SIZE];
	const uint8_t *d = in->digest;
	size_t d_len = in->digest_len;

	if (sc->hash == P11A_HASH_NONE) {
		*data = in->msg;
		*len = in->msg_len;
		return 0;
	}
	if (in->message_form) {
		if (p11a_scheme_hash(sc, in->msg, in->msg_len, digest,
				     sizeof(digest), &d_len) != 0)
			return -1;
		d = digest;
	}
	*data = buf;
	if (sc->mechanism == CKM_RSA_PKCS)
		return p11a_digestinfo_build(sc->hash, d, d_len, buf, buf_len,
					     len) == 0
			       ? 0
			       : -1;
	memcpy(buf, d, d_len);
	*len = d_len;
	return 0;
}

static int
direct_sign(void *conn, const struct bench_input *in, uint8_t *sig,
	    size_t *sig_len, char why[BENCH_WHY])
{
	struct direct_conn *c = conn;
	uint8_t buf[128], raw[BENCH_SIG_MAX], der[BENCH_SIG_MAX];
	CK_ULONG raw_len = sizeof(raw);
	const uint8_t *data;
	size_t len, out_len;
	uint8_t *out = sig ? sig : der;
	CK_RV rv;

	if (prepare(in, buf, sizeof(buf), &data, &len) != 0)
		return bench_why(why, "cannot build the mechanism input");
	rv = c->fn->C_SignInit(c->s, &c->mech, c->key);
	if (rv == CKR_OK)
		rv = c->fn->C_Sign(c->s, (CK_BYTE *)data, len, raw, &raw_len);
	OPENSSL_cleanse(buf, sizeof(buf)); /* as the agent does */
	c->rv = rv;
	if (rv != CKR_OK)
		return bench_why(why, "C_Sign: %s", p11_kit_strerror(rv));
	if (in->sc->mechanism == CKM_ECDSA) {
		if (p11a_ecdsa_raw_to_der(raw, raw_len, out, BENCH_SIG_MAX,
					  &out_len) != 0)
			return bench_why(why, "bad ECDSA signature length");
	} else {
		memcpy(out, raw, raw_len);
		out_len = raw_len;
	}
	if (sig_len != NULL)
		*sig_len = out_len;
	return 0;
}

/*
 * p11-kit 0.24's RPC protocol knows only some mechanisms (not CKM_EDDSA):
 * try one signature, and call the cell not applicable when the mechanism
 * does not get through.
 */
static int
p11kit_supports(void *shared, const struct bench_scheme *s,
		const struct bench_key *k, char why[BENCH_WHY])
{
	struct bench_opts o = {0};
	struct bench_cell cell = {&o, s, k, 1, shared};
	struct bench_input in = {.sc = s->sc, .msg_len = 1};
	struct direct_conn *c;
	void *conn;
	int na;

	in.digest_len = s->sc->hash_len; /* an all-zero digest will do */
	if (direct_open(&cell, &conn, why) != 0)
		return 0; /* the cell will fail and say why */
	c = conn;
	na = direct_sign(conn, &in, NULL, NULL, why) != 0 &&
	     c->rv == CKR_MECHANISM_INVALID;
	if (na)
		bench_why(why, "p11-kit server does not carry %s's mechanism",
			  s->sc->name);
	direct_close(conn);
	return na ? -1 : 0;
}

const struct bench_driver bench_driver_direct = {
	.mode = MODE_DIRECT,
	.setup = direct_setup,
	.teardown = direct_teardown,
	.supports = direct_supports,
	.server_pid = direct_server_pid,
	.open = direct_open,
	.sign = direct_sign,
	.close = direct_close,
};

const struct bench_driver bench_driver_p11kit = {
	.mode = MODE_P11KIT,
	.setup = p11kit_setup,
	.teardown = direct_teardown,
	.supports = p11kit_supports,
	.server_pid = direct_server_pid,
	.open = direct_open,
	.sign = direct_sign,
	.close = direct_close,
};
