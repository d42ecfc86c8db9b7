/*
 * p11a-mktoken - fill an initialised PKCS#11 token with test keys and
 * certificates, for the integration tests.
 *
 *   p11a-mktoken --module PATH --token LABEL (--pin PIN | --pin-file FILE)
 *                [--init] --out DIR KEYSPEC...
 *
 * --pin-file reads the PIN from the file's first line, so that it is not
 * on the command line for other users to see (p11agent-testenv uses it).
 * --init first initialises the module's free token (SoftHSM's empty
 * slot) with label LABEL, its SO PIN and user PIN both the PIN.
 *
 * KEYSPEC is NAME:TYPE[:OPTION[,OPTION...]], TYPE one of rsa2048, rsa3072,
 * p256, p384, p521, ed25519, dsa (dsa never gets a certificate).  OPTIONs:
 * nocert; always-auth (CKA_ALWAYS_AUTHENTICATE, as a PIV 9c key);
 * mechs=M+M... (CKA_ALLOWED_MECHANISMS, M one of rsa-pkcs, rsa-x-509,
 * rsa-pkcs-pss, sha256-rsa-pkcs-pss, ecdsa, ecdsa-sha256, ecdsa-sha384,
 * eddsa), as keys of cards that lack some mechanisms.  For each one a key
 * pair is generated on the token (label NAME, a fresh one-byte CKA_ID),
 * the public key is read back and written to DIR/NAME.pub.pem, the
 * CKA_ID to DIR/NAME.id (hex), and unless :nocert a certificate signed
 * by a throwaway CA (DIR/ca.key, DIR/ca.pem; created on first use) is
 * written to DIR/NAME.pem and stored on the token with the same CKA_ID.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#define PROG "p11a-mktoken"
#define CERT_DAYS 365
#define CA_DAYS 3650
#define CA_CN "p11agent test CA"
#define RSA_EXPONENT 65537
#define DSA_BITS 2048

enum key_kind { KIND_RSA, KIND_EC, KIND_ED25519, KIND_DSA };

/* A KEYSPEC TYPE and how to generate it. */
struct key_type {
	const char *name;
	enum key_kind kind;
	CK_ULONG bits;		  /* RSA modulus, DSA prime */
	const uint8_t *ec_params; /* DER CKA_EC_PARAMS to generate with */
	size_t ec_params_len;
};

/* A curve as CKA_EC_PARAMS may spell it when read back. */
struct curve {
	const uint8_t *der;
	size_t der_len;
	const char *group; /* OpenSSL group / key type name */
	size_t point_len;  /* raw public point length */
};

static const uint8_t der_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
				   0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t der_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t der_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
/* PrintableString "edwards25519" */
static const uint8_t der_ed25519_name[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
					   'd',	 's',  '2', '5', '5', '1', '9'};
/* OID 1.3.101.112 */
static const uint8_t der_ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

static const struct key_type key_types[] = {
	{"rsa2048", KIND_RSA, 2048, NULL, 0},
	{"rsa3072", KIND_RSA, 3072, NULL, 0},
	{"p256", KIND_EC, 0, der_p256, sizeof(der_p256)},
	{"p384", KIND_EC, 0, der_p384, sizeof(der_p384)},
	{"p521", KIND_EC, 0, der_p521, sizeof(der_p521)},
	{"ed25519", KIND_ED25519, 0, der_ed25519_name,
	 sizeof(der_ed25519_name)},
	{"dsa", KIND_DSA, DSA_BITS, NULL, 0},
};

static const struct curve curves[] = {
	{der_p256, sizeof(der_p256), "prime256v1", 65},
	{der_p384, sizeof(der_p384), "secp384r1", 97},
	{der_p521, sizeof(der_p521), "secp521r1", 133},
	{der_ed25519_name, sizeof(der_ed25519_name), "ED25519", 32},
	{der_ed25519_oid, sizeof(der_ed25519_oid), "ED25519", 32},
};

#define MAX_ALLOWED 8

struct keyspec {
	const char *name;
	const struct key_type *type;
	int want_cert;
	int always_auth;
	CK_MECHANISM_TYPE allowed[MAX_ALLOWED];
	size_t n_allowed;
	CK_BYTE id; /* CKA_ID: one byte, chosen unused on the token */
};

struct options {
	const char *module;
	const char *token;
	const char *pin;
	const char *pin_file;
	int init;
	const char *out;
	struct keyspec *specs;
	size_t n_specs;
};

struct ctx {
	CK_FUNCTION_LIST *m;
	int initialized;
	CK_SESSION_HANDLE session;
	int have_session;
	int logged_in;
	const char *out;
	EVP_PKEY *ca_key; /* loaded on the first certificate */
	X509 *ca_cert;
};

/* ---- messages ---------------------------------------------------------- */

static void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
errmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* An OpenSSL failure: our message, then OpenSSL's error queue. */
static void
ossl_err(const char *what)
{
	unsigned long e;
	char buf[256];

	errmsg("%s failed", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "  openssl: %s\n", buf);
	}
}

static void
ck_err(const char *fn, CK_RV rv)
{
	errmsg("%s: %s (CKR 0x%lx)", fn, p11_kit_strerror(rv),
	       (unsigned long)rv);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --module PATH --token LABEL "
		   "(--pin PIN | --pin-file FILE) [--init] --out DIR "
		   "KEYSPEC...\n"
		   "  KEYSPEC = NAME:TYPE[:nocert]\n"
		   "  TYPE    = rsa2048 | rsa3072 | p256 | p384 | p521 | "
		   "ed25519 | dsa\n");
}

/* ---- arguments --------------------------------------------------------- */

static int
valid_name(const char *s)
{
	if (*s == '\0' || *s == '.')
		return 0;
	for (; *s; s++) {
		if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') ||
		      ('0' <= *s && *s <= '9') || *s == '_' || *s == '-' ||
		      *s == '.'))
			return 0;
	}
	return 1;
}

/* Splits arg in place: NAME:TYPE[:nocert]. */
static int
parse_mechs(const char *arg, char *list, struct keyspec *ks)
{
	static const struct {
		const char *name;
		CK_MECHANISM_TYPE m;
	} names[] = {
		{"rsa-pkcs", CKM_RSA_PKCS},
		{"rsa-x-509", CKM_RSA_X_509},
		{"rsa-pkcs-pss", CKM_RSA_PKCS_PSS},
		{"sha256-rsa-pkcs-pss", CKM_SHA256_RSA_PKCS_PSS},
		{"ecdsa", CKM_ECDSA},
		{"ecdsa-sha256", CKM_ECDSA_SHA256},
		{"ecdsa-sha384", CKM_ECDSA_SHA384},
		{"eddsa", CKM_EDDSA},
	};
	char *save = NULL;

	for (char *m = strtok_r(list, "+", &save); m != NULL;
	     m = strtok_r(NULL, "+", &save)) {
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(m, names[i].name) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]) ||
		    ks->n_allowed == MAX_ALLOWED) {
			errmsg("KEYSPEC '%s': unknown or too many mechanisms "
			       "('%s')",
			       arg, m);
			return -1;
		}
		ks->allowed[ks->n_allowed++] = names[i].m;
	}
	return 0;
}

static int
parse_options(const char *arg, char *flags, struct keyspec *ks)
{
	char *save = NULL;

	ks->want_cert = ks->type->kind != KIND_DSA;
	if (flags == NULL)
		return 0;
	for (char *f = strtok_r(flags, ",", &save); f != NULL;
	     f = strtok_r(NULL, ",", &save)) {
		if (strcmp(f, "nocert") == 0)
			ks->want_cert = 0;
		else if (strcmp(f, "always-auth") == 0)
			ks->always_auth = 1;
		else if (strncmp(f, "mechs=", 6) == 0) {
			if (parse_mechs(arg, f + 6, ks) != 0)
				return -1;
		} else {
			errmsg("KEYSPEC '%s': unknown option '%s' (nocert, "
			       "always-auth, mechs=)",
			       arg, f);
			return -1;
		}
	}
	return 0;
}

static int
parse_keyspec(char *arg, struct keyspec *ks)
{
	char *type, *flag;
	size_t i;

	memset(ks, 0, sizeof(*ks));
	type = strchr(arg, ':');
	if (type == NULL) {
		errmsg("KEYSPEC '%s': expected NAME:TYPE[:nocert]", arg);
		return -1;
	}
	*type++ = '\0';
	flag = strchr(type, ':');
	if (flag != NULL)
		*flag++ = '\0';
	if (!valid_name(arg)) {
		errmsg("KEYSPEC name '%s': use letters, digits, '_', '-', '.'",
		       arg);
		return -1;
	}
	ks->name = arg;
	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		if (strcmp(type, key_types[i].name) == 0)
			ks->type = &key_types[i];
	}
	if (ks->type == NULL) {
		errmsg("KEYSPEC '%s': unknown key type '%s'", arg, type);
		return -1;
	}
	return parse_options(arg, flag, ks);
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	int i, rc = -1;
	size_t j;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char **dst = NULL;

		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(argv[i], "--init") == 0) {
			o->init = 1;
			continue;
		}
		if (strcmp(argv[i], "--module") == 0)
			dst = &o->module;
		else if (strcmp(argv[i], "--token") == 0)
			dst = &o->token;
		else if (strcmp(argv[i], "--pin") == 0)
			dst = &o->pin;
		else if (strcmp(argv[i], "--pin-file") == 0)
			dst = &o->pin_file;
		else if (strcmp(argv[i], "--out") == 0)
			dst = &o->out;
		if (dst == NULL || i + 1 >= argc) {
			errmsg("%s: %s", argv[i],
			       dst == NULL ? "unknown option"
					   : "needs a value");
			goto out;
		}
		*dst = argv[++i];
	}
	if (o->module == NULL || o->token == NULL ||
	    (o->pin == NULL) == (o->pin_file == NULL) || o->out == NULL ||
	    i >= argc) {
		errmsg("--module, --token, one of --pin and --pin-file, --out "
		       "and at least one KEYSPEC are required");
		goto out;
	}
	o->n_specs = (size_t)(argc - i);
	o->specs = calloc(o->n_specs, sizeof(*o->specs));
	if (o->specs == NULL) {
		errmsg("out of memory");
		goto out;
	}
	for (j = 0; j < o->n_specs; j++) {
		if (parse_keyspec(argv[i + (int)j], &o->specs[j]) != 0)
			goto out;
	}
	for (j = 1; j < o->n_specs; j++) {
		size_t k;

		for (k = 0; k < j; k++) {
			if (strcmp(o->specs[j].name, o->specs[k].name) == 0) {
				errmsg("KEYSPEC name '%s' given twice",
				       o->specs[j].name);
				goto out;
			}
		}
	}
	rc = 0;
out:
	if (rc != 0)
		usage(stderr);
	return rc;
}

/* ---- files ------------------------------------------------------------- */

static int
out_path(char *buf, size_t len, const char *dir, const char *name,
	 const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n >= len) {
		errmsg("path too long: %s/%s%s", dir, name, suffix);
		return -1;
	}
	return 0;
}

/* Open path for writing (truncating) with the given mode. */
static FILE *
open_out(const char *path, mode_t mode)
{
	int fd;
	FILE *f;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		errmsg("cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		errmsg("fdopen %s: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

static int
close_out(FILE *f, const char *path)
{
	if (fclose(f) != 0) {
		errmsg("writing %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
make_out_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		errmsg("cannot create directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		errmsg("%s is not a directory", dir);
		return -1;
	}
	return 0;
}

/* PEM writers with one signature, so write_pem() serves every kind. */
static int
pem_pubkey(FILE *f, const void *obj)
{
	return PEM_write_PUBKEY(f, (EVP_PKEY *)obj);
}

static int
pem_cert(FILE *f, const void *obj)
{
	return PEM_write_X509(f, (X509 *)obj);
}

static int
pem_private_key(FILE *f, const void *obj)
{
	return PEM_write_PrivateKey(f, (EVP_PKEY *)obj, NULL, NULL, 0, NULL,
				    NULL);
}

/* DIR/NAME<suffix> with the given mode, written by one PEM writer. */
static int
write_pem(const char *dir, const char *name, const char *suffix, mode_t mode,
	  int (*writer)(FILE *, const void *), const char *what,
	  const void *obj)
{
	char path[PATH_MAX];
	FILE *f = NULL;
	int rc = -1;

	if (out_path(path, sizeof(path), dir, name, suffix) != 0)
		goto out;
	if ((f = open_out(path, mode)) == NULL)
		goto out;
	if (!writer(f, obj)) {
		ossl_err(what);
		goto out;
	}
	rc = 0;
out:
	if (f != NULL && close_out(f, path) != 0)
		rc = -1;
	return rc;
}

static int
write_pubkey_pem(const char *dir, const char *name, EVP_PKEY *pk)
{
	return write_pem(dir, name, ".pub.pem", 0644, pem_pubkey,
			 "PEM_write_PUBKEY", pk);
}

static int
write_cert_pem(const char *dir, const char *name, X509 *x)
{
	return write_pem(dir, name, ".pem", 0644, pem_cert, "PEM_write_X509",
			 x);
}

/* An unencrypted private key, readable by its owner only. */
static int
write_key_pem(const char *dir, const char *name, EVP_PKEY *key)
{
	return write_pem(dir, name, ".key", 0600, pem_private_key,
			 "PEM_write_PrivateKey", key);
}

static int
write_id_file(const char *dir, const struct keyspec *ks)
{
	char path[PATH_MAX];
	FILE *f = NULL;
	int rc = -1;

	if (out_path(path, sizeof(path), dir, ks->name, ".id") != 0)
		goto out;
	if ((f = open_out(path, 0644)) == NULL)
		goto out;
	if (fprintf(f, "%02x\n", ks->id) < 0) {
		errmsg("writing %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f != NULL && close_out(f, path) != 0)
		rc = -1;
	return rc;
}

/* ---- PKCS#11 module, token and session ---------------------------------- */

static int
module_open(struct ctx *c, const char *path)
{
	CK_RV rv;

	c->m = p11_kit_module_load(path, 0);
	if (c->m == NULL) {
		const char *msg = p11_kit_message();

		errmsg("cannot load PKCS#11 module %s: %s", path,
		       msg != NULL ? msg : "unknown error");
		return -1;
	}
	rv = p11_kit_module_initialize(c->m);
	if (rv != CKR_OK) {
		ck_err("C_Initialize", rv);
		return -1;
	}
	c->initialized = 1;
	return 0;
}

/* The slots with a token present, in a malloc'd array (NULL when none). */
static int
slot_list(struct ctx *c, CK_SLOT_ID **slots, CK_ULONG *n)
{
	CK_RV rv;

	*slots = NULL;
	*n = 0;
	if ((rv = c->m->C_GetSlotList(CK_TRUE, NULL, n)) != CKR_OK) {
		ck_err("C_GetSlotList", rv);
		return -1;
	}
	if (*n > 0 && (*slots = calloc(*n, sizeof(**slots))) == NULL) {
		errmsg("out of memory");
		return -1;
	}
	if (*n > 0 &&
	    (rv = c->m->C_GetSlotList(CK_TRUE, *slots, n)) != CKR_OK) {
		ck_err("C_GetSlotList", rv);
		free(*slots);
		*slots = NULL;
		return -1;
	}
	return 0;
}

static int
find_slot(struct ctx *c, const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	size_t len = strlen(label);
	int rc = -1, found = 0;
	CK_RV rv;

	if (len > sizeof(ti.label)) {
		errmsg("token label '%s' is longer than %zu bytes", label,
		       sizeof(ti.label));
		goto out;
	}
	if (slot_list(c, &slots, &n) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((rv = c->m->C_GetTokenInfo(slots[i], &ti)) != CKR_OK) {
			ck_err("C_GetTokenInfo", rv);
			goto out;
		}
		if (p11_kit_space_strlen(ti.label, sizeof(ti.label)) == len &&
		    memcmp(ti.label, label, len) == 0) {
			if (found) {
				errmsg("several tokens are labelled '%s'",
				       label);
				goto out;
			}
			*slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		errmsg("no token labelled '%s' (is it initialised?)", label);
		goto out;
	}
	rc = 0;
out:
	free(slots);
	return rc;
}

static int
session_open(struct ctx *c, CK_SLOT_ID slot, const char *pin)
{
	CK_RV rv;

	rv = c->m->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				 NULL, NULL, &c->session);
	if (rv != CKR_OK) {
		ck_err("C_OpenSession", rv);
		return -1;
	}
	c->have_session = 1;
	rv = c->m->C_Login(c->session, CKU_USER, (CK_UTF8CHAR_PTR)pin,
			   strlen(pin));
	if (rv != CKR_OK) {
		ck_err("C_Login", rv);
		return -1;
	}
	c->logged_in = 1;
	return 0;
}

/* ---- token initialisation (--init) ------------------------------------- */

/* The first slot whose token is present but not initialised. */
static int
find_free_slot(struct ctx *c, CK_SLOT_ID *slot)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	int rc = -1;
	CK_RV rv;

	if (slot_list(c, &slots, &n) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((rv = c->m->C_GetTokenInfo(slots[i], &ti)) != CKR_OK) {
			ck_err("C_GetTokenInfo", rv);
			goto out;
		}
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			*slot = slots[i];
			rc = 0;
			goto out;
		}
	}
	errmsg("the module has no free (uninitialised) token");
out:
	free(slots);
	return rc;
}

/* As SO on the freshly initialised token: set the user PIN. */
static int
init_user_pin(struct ctx *c, CK_SLOT_ID slot, const char *pin)
{
	CK_SESSION_HANDLE s;
	CK_ULONG len = strlen(pin);
	CK_RV rv;
	int rc = -1;

	rv = c->m->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				 NULL, NULL, &s);
	if (rv != CKR_OK) {
		ck_err("C_OpenSession", rv);
		return -1;
	}
	if ((rv = c->m->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)pin, len)) !=
	    CKR_OK) {
		ck_err("C_Login (SO)", rv);
		goto out;
	}
	if ((rv = c->m->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, len)) != CKR_OK)
		ck_err("C_InitPIN", rv);
	else
		rc = 0;
	c->m->C_Logout(s);
out:
	c->m->C_CloseSession(s);
	return rc;
}

/* Initialise the free token as LABEL; SO PIN and user PIN are both pin. */
static int
token_init(struct ctx *c, const char *label, const char *pin)
{
	CK_UTF8CHAR padded[32];
	size_t len = strlen(label);
	CK_SLOT_ID slot;
	CK_RV rv;

	if (len > sizeof(padded)) {
		errmsg("token label '%s' is longer than %zu bytes", label,
		       sizeof(padded));
		return -1;
	}
	memset(padded, ' ', sizeof(padded));
	/* blank-padded as PKCS#11 wants it: no NUL on purpose */
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result)
	memcpy(padded, label, len);
	if (find_free_slot(c, &slot) != 0)
		return -1;
	rv = c->m->C_InitToken(slot, (CK_UTF8CHAR_PTR)pin, strlen(pin), padded);
	if (rv != CKR_OK) {
		ck_err("C_InitToken", rv);
		return -1;
	}
	/* SoftHSM moves an initialised token to a slot of its own */
	if (find_slot(c, label, &slot) != 0)
		return -1;
	return init_user_pin(c, slot, pin);
}

/* The first line of path, without its newline, into buf. */
static int
read_pin_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t len;
	int rc = -1;

	if (f == NULL) {
		errmsg("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(buf, (int)size, f) == NULL) {
		errmsg("%s: no PIN in the file", path);
		goto out;
	}
	len = strcspn(buf, "\r\n");
	if (buf[len] == '\0' && len == size - 1) {
		errmsg("%s: the PIN is longer than %zu bytes", path, size - 2);
		goto out;
	}
	buf[len] = '\0';
	if (len == 0) {
		errmsg("%s: the PIN is empty", path);
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

static void
ctx_close(struct ctx *c)
{
	CK_RV rv;

	if (c->logged_in)
		c->m->C_Logout(c->session);
	if (c->have_session)
		c->m->C_CloseSession(c->session);
	if (c->initialized) {
		rv = p11_kit_module_finalize(c->m);
		if (rv != CKR_OK)
			ck_err("C_Finalize", rv);
	}
	if (c->m != NULL)
		p11_kit_module_release(c->m);
	EVP_PKEY_free(c->ca_key);
	X509_free(c->ca_cert);
	memset(c, 0, sizeof(*c));
}

/* How many objects match the template (0, 1 or "more"). */
static int
count_objects(struct ctx *c, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ULONG *count)
{
	CK_OBJECT_HANDLE h[2];
	CK_RV rv;

	if ((rv = c->m->C_FindObjectsInit(c->session, tmpl, n)) != CKR_OK) {
		ck_err("C_FindObjectsInit", rv);
		return -1;
	}
	rv = c->m->C_FindObjects(c->session, h, 2, count);
	c->m->C_FindObjectsFinal(c->session);
	if (rv != CKR_OK) {
		ck_err("C_FindObjects", rv);
		return -1;
	}
	return 0;
}

/* Refuse a label in use; choose the first one-byte CKA_ID not in use. */
static int
pick_id(struct ctx *c, struct keyspec *ks)
{
	CK_ATTRIBUTE by_label = {CKA_LABEL, (void *)ks->name, strlen(ks->name)};
	CK_BYTE id;
	CK_ATTRIBUTE by_id = {CKA_ID, &id, 1};
	CK_ULONG n;

	if (count_objects(c, &by_label, 1, &n) != 0)
		return -1;
	if (n != 0) {
		errmsg("%s: the token already holds an object with this label",
		       ks->name);
		return -1;
	}
	for (id = 1; id != 0; id++) {
		if (count_objects(c, &by_id, 1, &n) != 0)
			return -1;
		if (n == 0) {
			ks->id = id;
			return 0;
		}
	}
	errmsg("%s: no free one-byte CKA_ID left on the token", ks->name);
	return -1;
}

/* Read one attribute into a malloc'd buffer. */
static int
get_attr(struct ctx *c, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
	 const char *what, uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv;

	*val = NULL;
	*len = 0;
	rv = c->m->C_GetAttributeValue(c->session, obj, &a, 1);
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    a.ulValueLen == 0) {
		errmsg("reading %s of the public key: %s", what,
		       rv != CKR_OK ? p11_kit_strerror(rv) : "empty");
		return -1;
	}
	if ((a.pValue = malloc(a.ulValueLen)) == NULL) {
		errmsg("out of memory");
		return -1;
	}
	rv = c->m->C_GetAttributeValue(c->session, obj, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		ck_err("C_GetAttributeValue", rv);
		return -1;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

/* ---- key generation ---------------------------------------------------- */

static int
bn_to_bytes(const BIGNUM *bn, uint8_t **out, size_t *len)
{
	*len = (size_t)BN_num_bytes(bn);
	if ((*out = malloc(*len)) == NULL) {
		errmsg("out of memory");
		return -1;
	}
	BN_bn2bin(bn, *out);
	return 0;
}

struct dsa_params {
	uint8_t *p, *q, *g;
	size_t p_len, q_len, g_len;
};

static void
dsa_params_free(struct dsa_params *d)
{
	free(d->p);
	free(d->q);
	free(d->g);
	memset(d, 0, sizeof(*d));
}

/* DSA domain parameters, made in software (the token only gets them). */
static int
dsa_params_make(struct dsa_params *d)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *params = NULL;
	BIGNUM *p = NULL, *q = NULL, *g = NULL;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
	if (pctx == NULL || EVP_PKEY_paramgen_init(pctx) <= 0 ||
	    EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx, DSA_BITS) <= 0 ||
	    EVP_PKEY_paramgen(pctx, &params) <= 0) {
		ossl_err("DSA parameter generation");
		goto out;
	}
	if (!EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_P, &p) ||
	    !EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_Q, &q) ||
	    !EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_G, &g)) {
		ossl_err("reading DSA parameters");
		goto out;
	}
	if (bn_to_bytes(p, &d->p, &d->p_len) != 0 ||
	    bn_to_bytes(q, &d->q, &d->q_len) != 0 ||
	    bn_to_bytes(g, &d->g, &d->g_len) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		dsa_params_free(d);
	BN_free(p);
	BN_free(q);
	BN_free(g);
	EVP_PKEY_free(params);
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

#define ADD_ATTR(arr, n, t, v, l)                                              \
	do {                                                                   \
		(arr)[(n)].type = (t);                                         \
		(arr)[(n)].pValue = (void *)(v);                               \
		(arr)[(n)].ulValueLen = (l);                                   \
		(n)++;                                                         \
	} while (0)

static int
generate_keypair(struct ctx *c, const struct keyspec *ks, CK_OBJECT_HANDLE *pub)
{
	static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const CK_BYTE exponent[] = {0x01, 0x00, 0x01};
	const struct key_type *t = ks->type;
	CK_MECHANISM mech = {0, NULL, 0};
	CK_ATTRIBUTE pt[12], pv[14];
	CK_ULONG npt = 0, npv = 0;
	CK_OBJECT_HANDLE priv;
	struct dsa_params dsa = {0};
	int rc = -1;
	CK_RV rv;

	ADD_ATTR(pt, npt, CKA_TOKEN, &yes, sizeof(yes));
	ADD_ATTR(pt, npt, CKA_PRIVATE, &no, sizeof(no));
	ADD_ATTR(pt, npt, CKA_VERIFY, &yes, sizeof(yes));
	ADD_ATTR(pt, npt, CKA_LABEL, ks->name, strlen(ks->name));
	ADD_ATTR(pt, npt, CKA_ID, &ks->id, 1);

	ADD_ATTR(pv, npv, CKA_TOKEN, &yes, sizeof(yes));
	ADD_ATTR(pv, npv, CKA_PRIVATE, &yes, sizeof(yes));
	ADD_ATTR(pv, npv, CKA_SENSITIVE, &yes, sizeof(yes));
	ADD_ATTR(pv, npv, CKA_SIGN, &yes, sizeof(yes));
	ADD_ATTR(pv, npv, CKA_EXTRACTABLE, &no, sizeof(no));
	ADD_ATTR(pv, npv, CKA_LABEL, ks->name, strlen(ks->name));
	ADD_ATTR(pv, npv, CKA_ID, &ks->id, 1);
	if (ks->always_auth)
		ADD_ATTR(pv, npv, CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes));
	if (ks->n_allowed > 0)
		ADD_ATTR(pv, npv, CKA_ALLOWED_MECHANISMS, ks->allowed,
			 ks->n_allowed * sizeof(ks->allowed[0]));

	switch (t->kind) {
	case KIND_RSA:
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		ADD_ATTR(pt, npt, CKA_MODULUS_BITS, &t->bits, sizeof(t->bits));
		ADD_ATTR(pt, npt, CKA_PUBLIC_EXPONENT, exponent,
			 sizeof(exponent));
		break;
	case KIND_EC:
	case KIND_ED25519:
		mech.mechanism = t->kind == KIND_EC
					 ? CKM_EC_KEY_PAIR_GEN
					 : CKM_EC_EDWARDS_KEY_PAIR_GEN;
		ADD_ATTR(pt, npt, CKA_EC_PARAMS, t->ec_params,
			 t->ec_params_len);
		break;
	case KIND_DSA:
		mech.mechanism = CKM_DSA_KEY_PAIR_GEN;
		if (dsa_params_make(&dsa) != 0)
			goto out;
		ADD_ATTR(pt, npt, CKA_PRIME, dsa.p, dsa.p_len);
		ADD_ATTR(pt, npt, CKA_SUBPRIME, dsa.q, dsa.q_len);
		ADD_ATTR(pt, npt, CKA_BASE, dsa.g, dsa.g_len);
		break;
	}
	rv = c->m->C_GenerateKeyPair(c->session, &mech, pt, npt, pv, npv, pub,
				     &priv);
	if (rv != CKR_OK) {
		errmsg("%s: generating a %s key pair on the token failed",
		       ks->name, t->name);
		ck_err("C_GenerateKeyPair", rv);
		goto out;
	}
	rc = 0;
out:
	dsa_params_free(&dsa);
	return rc;
}

/* ---- public key read-back ---------------------------------------------- */

/* Build a public EVP_PKEY of the given type from OSSL_PARAMs. */
static EVP_PKEY *
pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pk = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		ossl_err("building the public key");
		pk = NULL;
	}
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(pctx);
	return pk;
}

/* Push attribute `type` of obj as a big-endian BIGNUM parameter. */
static int
push_bn_attr(struct ctx *c, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
	     const char *what, OSSL_PARAM_BLD *bld, const char *key,
	     BIGNUM **bn)
{
	uint8_t *v = NULL;
	size_t len;
	int rc = -1;

	if (get_attr(c, obj, type, what, &v, &len) != 0)
		goto out;
	if ((*bn = BN_bin2bn(v, (int)len, NULL)) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, key, *bn)) {
		ossl_err(what);
		goto out;
	}
	rc = 0;
out:
	free(v);
	return rc;
}

static EVP_PKEY *
pubkey_rsa(struct ctx *c, CK_OBJECT_HANDLE obj)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pk = NULL;

	if (bld == NULL) {
		ossl_err("OSSL_PARAM_BLD_new");
		goto out;
	}
	if (push_bn_attr(c, obj, CKA_MODULUS, "CKA_MODULUS", bld,
			 OSSL_PKEY_PARAM_RSA_N, &n) != 0 ||
	    push_bn_attr(c, obj, CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT",
			 bld, OSSL_PKEY_PARAM_RSA_E, &e) != 0)
		goto out;
	pk = pkey_from_params("RSA", bld);
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

static EVP_PKEY *
pubkey_dsa(struct ctx *c, CK_OBJECT_HANDLE obj)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *p = NULL, *q = NULL, *g = NULL, *y = NULL;
	EVP_PKEY *pk = NULL;

	if (bld == NULL) {
		ossl_err("OSSL_PARAM_BLD_new");
		goto out;
	}
	if (push_bn_attr(c, obj, CKA_PRIME, "CKA_PRIME", bld,
			 OSSL_PKEY_PARAM_FFC_P, &p) != 0 ||
	    push_bn_attr(c, obj, CKA_SUBPRIME, "CKA_SUBPRIME", bld,
			 OSSL_PKEY_PARAM_FFC_Q, &q) != 0 ||
	    push_bn_attr(c, obj, CKA_BASE, "CKA_BASE", bld,
			 OSSL_PKEY_PARAM_FFC_G, &g) != 0 ||
	    push_bn_attr(c, obj, CKA_VALUE, "CKA_VALUE", bld,
			 OSSL_PKEY_PARAM_PUB_KEY, &y) != 0)
		goto out;
	pk = pkey_from_params("DSA", bld);
out:
	BN_free(p);
	BN_free(q);
	BN_free(g);
	BN_free(y);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

static const struct curve *
curve_find(const uint8_t *der, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
		if (curves[i].der_len == len &&
		    memcmp(curves[i].der, der, len) == 0)
			return &curves[i];
	}
	return NULL;
}

/*
 * CKA_EC_POINT is specified as a DER OCTET STRING around the point; some
 * tokens return the bare point.  Lengths tell them apart: the wrapped
 * form is always 2 or 3 bytes longer than the raw one.  Sets *pt to a
 * view into der or into *tmp (free with ASN1_OCTET_STRING_free).
 */
static int
ec_point_unwrap(const uint8_t *der, size_t len, size_t raw_len,
		const uint8_t **pt, ASN1_OCTET_STRING **tmp)
{
	const uint8_t *p = der;

	*tmp = NULL;
	if (len == raw_len) {
		*pt = der;
		return 0;
	}
	*tmp = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
	if (*tmp == NULL || p != der + len ||
	    (size_t)ASN1_STRING_length(*tmp) != raw_len) {
		errmsg("CKA_EC_POINT (%zu bytes) is neither a %zu-byte point "
		       "nor "
		       "a DER OCTET STRING holding one",
		       len, raw_len);
		ASN1_OCTET_STRING_free(*tmp);
		*tmp = NULL;
		return -1;
	}
	*pt = ASN1_STRING_get0_data(*tmp);
	return 0;
}

/* EC and Ed25519: CKA_EC_PARAMS names the curve, CKA_EC_POINT the point. */
static EVP_PKEY *
pubkey_ec(struct ctx *c, CK_OBJECT_HANDLE obj)
{
	uint8_t *params = NULL, *point = NULL;
	size_t params_len, point_len;
	ASN1_OCTET_STRING *wrapped = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	const struct curve *cv;
	const uint8_t *raw;
	EVP_PKEY *pk = NULL;

	if (get_attr(c, obj, CKA_EC_PARAMS, "CKA_EC_PARAMS", &params,
		     &params_len) != 0 ||
	    get_attr(c, obj, CKA_EC_POINT, "CKA_EC_POINT", &point,
		     &point_len) != 0)
		goto out;
	if ((cv = curve_find(params, params_len)) == NULL) {
		errmsg("CKA_EC_PARAMS of the new key names an unexpected "
		       "curve");
		goto out;
	}
	if (ec_point_unwrap(point, point_len, cv->point_len, &raw, &wrapped) !=
	    0)
		goto out;
	if (strcmp(cv->group, "ED25519") == 0) {
		pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw,
						    cv->point_len);
		if (pk == NULL)
			ossl_err("EVP_PKEY_new_raw_public_key_ex");
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     cv->group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, raw,
					      cv->point_len)) {
		ossl_err("EC parameters");
		goto out;
	}
	pk = pkey_from_params("EC", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(wrapped);
	free(params);
	free(point);
	return pk;
}

static EVP_PKEY *
read_public_key(struct ctx *c, const struct keyspec *ks, CK_OBJECT_HANDLE pub)
{
	EVP_PKEY *pk = NULL;

	switch (ks->type->kind) {
	case KIND_RSA:
		pk = pubkey_rsa(c, pub);
		break;
	case KIND_EC:
	case KIND_ED25519:
		pk = pubkey_ec(c, pub);
		break;
	case KIND_DSA:
		pk = pubkey_dsa(c, pub);
		break;
	}
	if (pk == NULL)
		errmsg("%s: cannot read the public key back from the token",
		       ks->name);
	return pk;
}

/* ---- certificates ------------------------------------------------------ */

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL) {
		ossl_err(OBJ_nid2sn(nid));
		return -1;
	}
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok) {
		ossl_err("X509_add_ext");
		return -1;
	}
	return 0;
}

static int
set_random_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int rc = -1;

	/* 127 bits with the top one set: positive, 16 bytes in DER */
	if (bn == NULL ||
	    !BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		ossl_err("serial number");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

/*
 * A certificate for pub with subject CN=cn, valid for days, without
 * extensions or signature yet.
 */
static X509 *
cert_new(const char *cn, EVP_PKEY *pub, long days)
{
	X509 *x = X509_new();
	X509_NAME *name = x != NULL ? X509_get_subject_name(x) : NULL;

	if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    set_random_serial(x) != 0 ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ==
		    NULL ||
	    !X509_set_pubkey(x, pub)) {
		ossl_err("building a certificate");
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
cert_sign(X509 *x, EVP_PKEY *key)
{
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		ossl_err("X509_sign");
		return -1;
	}
	return 0;
}

static int
ca_create(struct ctx *c)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rc = -1;

	if ((key = EVP_EC_gen("P-256")) == NULL) {
		ossl_err("CA key generation");
		goto out;
	}
	if ((x = cert_new(CA_CN, key, CA_DAYS)) == NULL ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") != 0 ||
	    cert_sign(x, key) != 0)
		goto out;
	if (write_key_pem(c->out, "ca", key) != 0 ||
	    write_cert_pem(c->out, "ca", x) != 0)
		goto out;
	c->ca_key = key;
	c->ca_cert = x;
	key = NULL;
	x = NULL;
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(x);
	return rc;
}

static int
ca_load(struct ctx *c, const char *key_path, const char *cert_path)
{
	FILE *f = NULL;
	int rc = -1;

	if ((f = fopen(key_path, "r")) == NULL) {
		errmsg("cannot open %s: %s", key_path, strerror(errno));
		goto out;
	}
	c->ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	f = NULL;
	if ((f = fopen(cert_path, "r")) == NULL) {
		errmsg("cannot open %s: %s", cert_path, strerror(errno));
		goto out;
	}
	c->ca_cert = PEM_read_X509(f, NULL, NULL, NULL);
	if (c->ca_key == NULL || c->ca_cert == NULL) {
		ossl_err("reading the CA key and certificate");
		goto out;
	}
	if (!X509_check_private_key(c->ca_cert, c->ca_key)) {
		ossl_err("matching the CA certificate with its key");
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (rc != 0) {
		EVP_PKEY_free(c->ca_key);
		X509_free(c->ca_cert);
		c->ca_key = NULL;
		c->ca_cert = NULL;
	}
	return rc;
}

/* Load DIR/ca.key + DIR/ca.pem, making them first if neither exists. */
static int
ca_get(struct ctx *c)
{
	char key_path[PATH_MAX], cert_path[PATH_MAX];
	int have_key, have_cert;

	if (c->ca_key != NULL)
		return 0;
	if (out_path(key_path, sizeof(key_path), c->out, "ca", ".key") != 0 ||
	    out_path(cert_path, sizeof(cert_path), c->out, "ca", ".pem") != 0)
		return -1;
	have_key = access(key_path, F_OK) == 0;
	have_cert = access(cert_path, F_OK) == 0;
	if (have_key != have_cert) {
		errmsg("found %s but not %s: remove it or supply both",
		       have_key ? key_path : cert_path,
		       have_key ? cert_path : key_path);
		return -1;
	}
	if (have_key)
		return ca_load(c, key_path, cert_path);
	return ca_create(c);
}

static X509 *
cert_issue(struct ctx *c, const struct keyspec *ks, EVP_PKEY *pub)
{
	X509 *x = NULL;

	if (ca_get(c) != 0)
		goto fail;
	if ((x = cert_new(ks->name, pub, CERT_DAYS)) == NULL)
		goto fail;
	if (!X509_set_issuer_name(x, X509_get_subject_name(c->ca_cert))) {
		ossl_err("X509_set_issuer_name");
		goto fail;
	}
	if (add_ext(x, c->ca_cert, NID_basic_constraints,
		    "critical,CA:FALSE") != 0 ||
	    add_ext(x, c->ca_cert, NID_key_usage,
		    "critical,digitalSignature") != 0 ||
	    add_ext(x, c->ca_cert, NID_ext_key_usage, "clientAuth") != 0 ||
	    add_ext(x, c->ca_cert, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(x, c->ca_cert, NID_authority_key_identifier,
		    "keyid:always") != 0 ||
	    cert_sign(x, c->ca_key) != 0)
		goto fail;
	return x;
fail:
	errmsg("%s: cannot issue the certificate", ks->name);
	X509_free(x);
	return NULL;
}

/* DER of an OpenSSL object into a malloc'd buffer (for CKA_* values). */
#define I2D_ALLOC(fn, obj, out, len)                                           \
	((len) = (fn)((obj), &(out)), (len) > 0 ? 0 : -1)

static int
store_cert(struct ctx *c, const struct keyspec *ks, X509 *x)
{
	static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	static const CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	unsigned char *value = NULL, *subject = NULL, *issuer = NULL,
		      *serial = NULL;
	int value_len, subject_len, issuer_len, serial_len;
	CK_ATTRIBUTE t[11];
	CK_ULONG n = 0;
	CK_OBJECT_HANDLE h;
	int rc = -1;
	CK_RV rv;

	if (I2D_ALLOC(i2d_X509, x, value, value_len) != 0 ||
	    I2D_ALLOC(i2d_X509_NAME, X509_get_subject_name(x), subject,
		      subject_len) != 0 ||
	    I2D_ALLOC(i2d_X509_NAME, X509_get_issuer_name(x), issuer,
		      issuer_len) != 0 ||
	    I2D_ALLOC(i2d_ASN1_INTEGER, X509_get0_serialNumber(x), serial,
		      serial_len) != 0) {
		ossl_err("DER-encoding the certificate");
		goto out;
	}
	ADD_ATTR(t, n, CKA_CLASS, &cls, sizeof(cls));
	ADD_ATTR(t, n, CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype));
	ADD_ATTR(t, n, CKA_TOKEN, &yes, sizeof(yes));
	ADD_ATTR(t, n, CKA_PRIVATE, &no, sizeof(no));
	ADD_ATTR(t, n, CKA_LABEL, ks->name, strlen(ks->name));
	ADD_ATTR(t, n, CKA_ID, &ks->id, 1);
	ADD_ATTR(t, n, CKA_VALUE, value, (CK_ULONG)value_len);
	ADD_ATTR(t, n, CKA_SUBJECT, subject, (CK_ULONG)subject_len);
	ADD_ATTR(t, n, CKA_ISSUER, issuer, (CK_ULONG)issuer_len);
	ADD_ATTR(t, n, CKA_SERIAL_NUMBER, serial, (CK_ULONG)serial_len);
	rv = c->m->C_CreateObject(c->session, t, n, &h);
	if (rv != CKR_OK) {
		errmsg("%s: storing the certificate on the token failed",
		       ks->name);
		ck_err("C_CreateObject", rv);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(value);
	OPENSSL_free(subject);
	OPENSSL_free(issuer);
	OPENSSL_free(serial);
	return rc;
}

/* ---- one KEYSPEC ------------------------------------------------------- */

static int
make_key(struct ctx *c, struct keyspec *ks)
{
	CK_OBJECT_HANDLE pub;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	int rc = -1;

	/* a CA problem must not leave a key behind without its certificate */
	if (ks->want_cert && ca_get(c) != 0)
		goto out;
	if (pick_id(c, ks) != 0 || generate_keypair(c, ks, &pub) != 0)
		goto out;
	if ((pk = read_public_key(c, ks, pub)) == NULL)
		goto out;
	if (write_pubkey_pem(c->out, ks->name, pk) != 0 ||
	    write_id_file(c->out, ks) != 0)
		goto out;
	if (ks->want_cert) {
		if ((x = cert_issue(c, ks, pk)) == NULL ||
		    write_cert_pem(c->out, ks->name, x) != 0 ||
		    store_cert(c, ks, x) != 0)
			goto out;
	}
	printf("%s: %s key, CKA_ID %02x%s\n", ks->name, ks->type->name, ks->id,
	       ks->want_cert ? ", certificate" : "");
	rc = 0;
out:
	EVP_PKEY_free(pk);
	X509_free(x);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct ctx c = {0};
	char pin_buf[258];
	CK_SLOT_ID slot;
	size_t i;
	int rc = 1;

	if (parse_args(argc, argv, &o) != 0) {
		rc = 2;
		goto out;
	}
	if (o.pin_file != NULL) {
		if (read_pin_file(o.pin_file, pin_buf, sizeof(pin_buf)) != 0)
			goto out;
		o.pin = pin_buf;
	}
	c.out = o.out;
	if (make_out_dir(o.out) != 0 || module_open(&c, o.module) != 0)
		goto out;
	if (o.init && token_init(&c, o.token, o.pin) != 0)
		goto out;
	if (find_slot(&c, o.token, &slot) != 0 ||
	    session_open(&c, slot, o.pin) != 0)
		goto out;
	for (i = 0; i < o.n_specs; i++) {
		if (make_key(&c, &o.specs[i]) != 0)
			goto out;
	}
	rc = 0;
out:
	ctx_close(&c);
	OPENSSL_cleanse(pin_buf, sizeof(pin_buf));
	free(o.specs);
	return rc;
}
