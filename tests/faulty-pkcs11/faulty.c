/*
 * faulty-pkcs11: a PKCS#11 module that forwards every call to a real
 * module and injects the faults a control file asks for, so that tests
 * can pull a card, reset a token or hang a reader under a running
 * p11agentd.
 *
 *   FAULTY_PKCS11_MODULE   the real module (default SoftHSM 2)
 *   FAULTY_PKCS11_CONTROL  the control file (optional: no faults)
 *   FAULTY_PKCS11_LOG      a file that gets one line per C_Login,
 *                          C_Logout, C_OpenSession, C_SignInit, C_Sign
 *                          and C_Finalize: "FUNCTION token=LABEL rv=0xHEX"
 *                          (token=? for C_Finalize)
 *   FAULTY_PKCS11_SOFTHSM2_CONF  SOFTHSM2_CONF for the real module in
 *                          this process, so the shim can serve other
 *                          tokens than a plain SoftHSM module beside it
 *   FAULTY_PKCS11_SLOT_EVENTS  1: C_WaitForSlotEvent reports a change of
 *                          "removed" (a reader that tells of card events)
 *   FAULTY_PKCS11_SERIAL   C_GetTokenInfo reports this serial number
 *                          for every token (as tpm2-pkcs11 does with
 *                          0000000000000000), so tokens can look alike
 *   FAULTY_PKCS11_MODEL    C_GetTokenInfo reports this model, padded
 *                          with NUL bytes (as tpm2-pkcs11 does)
 *   FAULTY_PKCS11_STDERR   C_Initialize writes this line to stderr, as
 *                          chatty modules print warnings of their own
 *   FAULTY_PKCS11_CARD     piv | single-session | no-ecdsa | hashed-only:
 * behave as that kind of card (sessions, mechanisms, PIN counter; see card.h)
 *
 * The control file is re-read on every call; when its content changed,
 * the new settings apply and the one-shot faults are armed again (write
 * a "seq N" line to re-arm without changing anything else).  Lines:
 *
 *   token LABEL          faults apply to this token only (default: all)
 *   removed 0|1          card pulled: C_GetTokenInfo gives
 *                        TOKEN_NOT_PRESENT, C_GetSlotList(present) omits
 *                        the slot, session calls give DEVICE_REMOVED.
 *                        Pulling closes the real sessions, so a returning
 *                        token really needs new sessions and a login.
 *   session_invalid N    the next N C_SignInit give SESSION_HANDLE_INVALID
 *   session_closed N     the next N C_SignInit give SESSION_CLOSED
 *                        (both really close the session first)
 *   logged_out N         the next N C_SignInit log the real token out and
 *                        give USER_NOT_LOGGED_IN (a token reset)
 *   device_error N       the next N C_Sign give DEVICE_ERROR
 *   general_error N      the next N C_Sign give GENERAL_ERROR
 *   reset N              the device was reset under the module (a TPM
 *                        restarted): every C_Sign of a process whose
 *                        C_Initialize saw a smaller N (or none) gives
 *                        GENERAL_ERROR, for good; a module initialised
 *                        after the line (a new process) signs again
 *   pin_wrong 0|1        C_Login gives PIN_INCORRECT without asking the
 *                        real module (the PIN was changed elsewhere)
 *   delay_ms N           every C_Sign waits N ms first (a slow card)
 *   hang 0|1             C_Sign blocks while this says 1
 *   hang_after N         the next N C_Sign pass, the ones after block
 *                        while this line stays
 *   hang_one N           the next N C_Sign pass, the one after blocks
 *                        while this line stays, later ones pass
 *   exec 0|1             C_Sign first tries to execve() a program that
 *                        does not exist and logs "execve ... rv=ERRNO"
 *   crash 0|1|abort|exit C_Sign raises SIGSEGV (1), calls abort() or
 *                        exit(3): a module that crashes or quits
 *   seq N                ignored; changes the content to re-arm faults
 *
 * Only C_GetFunctionList is exported.  PINs are passed through, never
 * logged.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "card.h"

#define EXPORT __attribute__((visibility("default")))
#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define CONTROL_MAX 4096
#define LABEL_LEN 32

enum { CRASH_SEGV = 1, CRASH_ABORT, CRASH_EXIT };

/* What a broken vendor module does inside C_Sign. */
static void
crash(int how)
{
	if (how == CRASH_ABORT)
		abort();
	if (how == CRASH_EXIT)
		exit(3);
	raise(SIGSEGV);
}

struct faults {
	char token[LABEL_LEN + 1]; /* "" : every token */
	int removed;
	long session_invalid, session_closed, logged_out;
	long device_error, general_error;
	long reset;
	int pin_wrong;
	long delay_ms;
	int hang;
	long hang_after; /* 0: off; else C_Sign calls to pass + 1 */
	long hang_one;	 /* as hang_after; -1: the one is hanging */
	int crash;
	int exec; /* C_Sign tries to run a program first */
};

static struct {
	pthread_mutex_t lock;
	void *dl;
	CK_FUNCTION_LIST *real;
	CK_FUNCTION_LIST list;
	char control[CONTROL_MAX]; /* content the faults were armed from */
	struct faults f;
	int was_removed; /* the real sessions were closed for this pull */
	long init_reset; /* "reset" when C_Initialize ran */
} shim = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- control file -------------------------------------------------------- */

static long
parse_long(const char *s)
{
	return strtol(s, NULL, 10);
}

static void
parse_line(struct faults *f, const char *key, const char *val)
{
	if (strcmp(key, "token") == 0)
		snprintf(f->token, sizeof(f->token), "%.*s", LABEL_LEN, val);
	else if (strcmp(key, "removed") == 0)
		f->removed = parse_long(val) != 0;
	else if (strcmp(key, "session_invalid") == 0)
		f->session_invalid = parse_long(val);
	else if (strcmp(key, "session_closed") == 0)
		f->session_closed = parse_long(val);
	else if (strcmp(key, "logged_out") == 0)
		f->logged_out = parse_long(val);
	else if (strcmp(key, "device_error") == 0)
		f->device_error = parse_long(val);
	else if (strcmp(key, "general_error") == 0)
		f->general_error = parse_long(val);
	else if (strcmp(key, "reset") == 0)
		f->reset = parse_long(val);
	else if (strcmp(key, "pin_wrong") == 0)
		f->pin_wrong = parse_long(val) != 0;
	else if (strcmp(key, "delay_ms") == 0)
		f->delay_ms = parse_long(val);
	else if (strcmp(key, "hang") == 0)
		f->hang = parse_long(val) != 0;
	else if (strcmp(key, "hang_after") == 0)
		f->hang_after = parse_long(val) + 1;
	else if (strcmp(key, "hang_one") == 0)
		f->hang_one = parse_long(val) + 1;
	else if (strcmp(key, "exec") == 0)
		f->exec = parse_long(val) != 0;
	else if (strcmp(key, "crash") == 0)
		f->crash = strcmp(val, "abort") == 0  ? CRASH_ABORT
			   : strcmp(val, "exit") == 0 ? CRASH_EXIT
			   : parse_long(val) != 0     ? CRASH_SEGV
						      : 0;
}

static void
parse_control(const char *text, struct faults *f)
{
	char copy[CONTROL_MAX], *save = NULL, *line;

	memset(f, 0, sizeof(*f));
	snprintf(copy, sizeof(copy), "%s", text);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[32], val[64];

		if (sscanf(line, "%31s %63s", key, val) == 2)
			parse_line(f, key, val);
	}
}

/* Read the control file into buf; "" when there is none. */
static void
read_control(char *buf, size_t len)
{
	const char *path = getenv("FAULTY_PKCS11_CONTROL");
	ssize_t n = 0;
	int fd;

	buf[0] = '\0';
	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

/* Bring shim.f up to date; the caller holds shim.lock. */
static void
refresh_locked(void)
{
	char now[CONTROL_MAX];

	read_control(now, sizeof(now));
	if (strcmp(now, shim.control) == 0)
		return;
	memcpy(shim.control, now, sizeof(now));
	parse_control(now, &shim.f);
}

/* ---- helpers --------------------------------------------------------------
 */

static void
token_label(CK_SLOT_ID slot, char *out)
{
	CK_TOKEN_INFO ti;
	size_t n = LABEL_LEN;

	out[0] = '\0';
	if (shim.real->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return;
	memcpy(out, ti.label, LABEL_LEN);
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static int
slot_of_session(CK_SESSION_HANDLE h, CK_SLOT_ID *slot)
{
	CK_SESSION_INFO si;

	if (shim.real->C_GetSessionInfo(h, &si) != CKR_OK)
		return -1;
	*slot = si.slotID;
	return 0;
}

/* Whether the faults concern this slot; the caller holds shim.lock. */
static int
targets_slot_locked(CK_SLOT_ID slot)
{
	char label[LABEL_LEN + 1];

	if (shim.f.token[0] == '\0')
		return 1;
	token_label(slot, label);
	return strcmp(label, shim.f.token) == 0;
}

static void
log_call(const char *fn, CK_SLOT_ID slot, int have_slot, CK_RV rv)
{
	const char *path = getenv("FAULTY_PKCS11_LOG");
	char label[LABEL_LEN + 1] = "?", line[160];
	int fd, n;

	if (path == NULL)
		return;
	if (have_slot)
		token_label(slot, label);
	n = snprintf(line, sizeof(line), "%s token=%s rv=0x%lx\n", fn, label,
		     (unsigned long)rv);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) <
	    0)
		return;
	/* one write per line: O_APPEND keeps lines from threads whole; a
	 * lost line shows up as a wrong count in the test */
	(void)!write(fd, line, (size_t)n);
	close(fd);
}

/*
 * What a module that runs a program gets: the log line "execve" carries
 * the errno in its rv field (EPERM under the helper's filter, ENOENT for
 * this program that does not exist where nothing stops it).
 */
static void
try_exec(CK_SLOT_ID slot)
{
	char *argv[] = {"/nonexistent/p11a-faulty-exec", NULL};
	char *envp[] = {NULL};

	execve(argv[0], argv, envp);
	log_call("execve", slot, 1, (CK_RV)errno);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Take a pending one-shot fault for a slot: non-zero (and one less
 * left) if *count is armed and the slot is targeted.
 */
static int
take_once_locked(long *count, CK_SLOT_ID slot)
{
	if (*count <= 0 || !targets_slot_locked(slot))
		return 0;
	(*count)--;
	return 1;
}

/*
 * Is the card of this slot pulled?  Refreshes the settings.  The first
 * time a pull is seen, the real module's sessions on the slot are closed
 * (which logs the token out), as a real reader would lose them.
 */
static int
slot_removed(CK_SLOT_ID slot)
{
	int removed;

	pthread_mutex_lock(&shim.lock);
	refresh_locked();
	removed = shim.f.removed && targets_slot_locked(slot);
	if (removed && !shim.was_removed) {
		shim.real->C_CloseAllSessions(slot);
		card_sessions_gone(slot);
		shim.was_removed = 1;
	}
	if (!shim.f.removed)
		shim.was_removed = 0;
	pthread_mutex_unlock(&shim.lock);
	return removed;
}

/* Same for a session's slot; a session the real module lost is not. */
static int
session_removed(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;

	if (slot_of_session(h, &slot) != 0) {
		/* the pull closed it: keep saying why while still pulled */
		int removed;

		pthread_mutex_lock(&shim.lock);
		refresh_locked();
		removed = shim.f.removed;
		pthread_mutex_unlock(&shim.lock);
		return removed;
	}
	return slot_removed(slot);
}

/* ---- intercepted calls --------------------------------------------------- */

static CK_RV
f_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_SLOT_ID all[64];
	CK_ULONG n = 64, kept = 0;
	CK_RV rv;

	if (!present || count == NULL)
		return shim.real->C_GetSlotList(present, list, count);
	if ((rv = shim.real->C_GetSlotList(present, all, &n)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n; i++)
		if (!slot_removed(all[i]))
			all[kept++] = all[i];
	if (list == NULL) {
		*count = kept;
		return CKR_OK;
	}
	if (*count < kept) {
		*count = kept;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(list, all, kept * sizeof(*all));
	*count = kept;
	return CKR_OK;
}

static CK_RV
f_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv = shim.real->C_GetSlotInfo(slot, info);

	if (rv == CKR_OK && slot_removed(slot))
		info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
	return rv;
}

/* A text field set from environment variable var, if set, padded with pad. */
static void
field_from_env(unsigned char *field, size_t len, const char *var, int pad)
{
	const char *value = getenv(var);
	size_t n;

	if (value == NULL)
		return;
	n = strlen(value);
	if (n > len)
		n = len;
	memset(field, pad, len);
	memcpy(field, value, n);
}

static CK_RV
f_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv;

	if (slot_removed(slot))
		return CKR_TOKEN_NOT_PRESENT;
	if ((rv = shim.real->C_GetTokenInfo(slot, info)) == CKR_OK) {
		/* tpm2-pkcs11's: one serial for all, a NUL-padded model */
		field_from_env(info->serialNumber, sizeof(info->serialNumber),
			       "FAULTY_PKCS11_SERIAL", ' ');
		field_from_env(info->model, sizeof(info->model),
			       "FAULTY_PKCS11_MODEL", '\0');
		card_token_info(slot, info);
	}
	return rv;
}

static CK_RV
f_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
		   CK_ULONG_PTR count)
{
	CK_MECHANISM_TYPE all[256];
	CK_ULONG n = 256;
	CK_RV rv;

	if (count == NULL)
		return shim.real->C_GetMechanismList(slot, list, count);
	if ((rv = shim.real->C_GetMechanismList(slot, all, &n)) != CKR_OK)
		return rv;
	n = card_filter_mechanisms(all, n, 256);
	if (list == NULL) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(list, all, n * sizeof(*all));
	*count = n;
	return CKR_OK;
}

static CK_RV
f_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE m,
		   CK_MECHANISM_INFO_PTR info)
{
	if (!card_has_mechanism(m))
		return CKR_MECHANISM_INVALID;
	return shim.real->C_GetMechanismInfo(slot, card_real_mechanism(m),
					     info);
}

static CK_RV
f_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY n,
	      CK_SESSION_HANDLE_PTR h)
{
	CK_RV rv = CKR_TOKEN_NOT_PRESENT;

	if (!slot_removed(slot) && (rv = card_session_take(slot)) == CKR_OK &&
	    (rv = shim.real->C_OpenSession(slot, flags, app, n, h)) != CKR_OK)
		card_session_give(slot);
	log_call("C_OpenSession", slot, 1, rv);
	return rv;
}

static CK_RV
f_CloseSession(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;
	int have = slot_of_session(h, &slot) == 0;
	CK_RV rv = shim.real->C_CloseSession(h);

	if (have && rv == CKR_OK)
		card_session_give(slot);
	return rv;
}

static CK_RV
f_CloseAllSessions(CK_SLOT_ID slot)
{
	card_sessions_gone(slot);
	return shim.real->C_CloseAllSessions(slot);
}

static CK_RV
f_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	if (session_removed(h))
		return CKR_DEVICE_REMOVED;
	return shim.real->C_GetSessionInfo(h, info);
}

static CK_RV
f_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
	CK_ULONG len)
{
	CK_SLOT_ID slot = 0;
	int have = slot_of_session(h, &slot) == 0, wrong;
	CK_RV rv;

	if (session_removed(h)) {
		rv = CKR_DEVICE_REMOVED;
		goto out;
	}
	pthread_mutex_lock(&shim.lock);
	wrong = shim.f.pin_wrong && have && targets_slot_locked(slot);
	pthread_mutex_unlock(&shim.lock);
	/* a blocked card does not even look at the PIN */
	if (have && (rv = card_login_allowed(slot)) != CKR_OK)
		goto out;
	rv = wrong ? CKR_PIN_INCORRECT : shim.real->C_Login(h, user, pin, len);
	if (have)
		card_login_done(slot, rv);
out:
	log_call("C_Login", slot, have, rv);
	return rv;
}

static CK_RV
f_Logout(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot = 0;
	int have = slot_of_session(h, &slot) == 0;
	CK_RV rv = CKR_DEVICE_REMOVED;

	if (!session_removed(h))
		rv = shim.real->C_Logout(h);
	log_call("C_Logout", slot, have, rv);
	return rv;
}

static CK_RV
f_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	if (session_removed(h))
		return CKR_DEVICE_REMOVED;
	return shim.real->C_FindObjectsInit(h, t, n);
}

static CK_RV
f_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG max,
	      CK_ULONG_PTR n)
{
	if (session_removed(h))
		return CKR_DEVICE_REMOVED;
	return shim.real->C_FindObjects(h, o, max, n);
}

static CK_RV
f_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
		    CK_ULONG n)
{
	if (session_removed(h))
		return CKR_DEVICE_REMOVED;
	return shim.real->C_GetAttributeValue(h, o, t, n);
}

/* The fault C_SignInit should show for this session now, or CKR_OK. */
static CK_RV
signinit_fault(CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&shim.lock);
	refresh_locked();
	if (take_once_locked(&shim.f.session_invalid, slot))
		rv = CKR_SESSION_HANDLE_INVALID;
	else if (take_once_locked(&shim.f.session_closed, slot))
		rv = CKR_SESSION_CLOSED;
	else if (take_once_locked(&shim.f.logged_out, slot))
		rv = CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_unlock(&shim.lock);
	/* make it true, so that only real recovery gets past it */
	if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED)
		shim.real->C_CloseSession(h);
	else if (rv == CKR_USER_NOT_LOGGED_IN)
		shim.real->C_Logout(h);
	return rv;
}

static CK_RV
f_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	CK_SLOT_ID slot = 0;
	int have = slot_of_session(h, &slot) == 0;
	CK_RV rv;

	if (m == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (session_removed(h))
		rv = CKR_DEVICE_REMOVED;
	else if (!card_has_mechanism(m->mechanism))
		rv = CKR_MECHANISM_INVALID;
	else if (!have || (rv = signinit_fault(h, slot)) == CKR_OK) {
		CK_MECHANISM real = *m;

		real.mechanism = card_real_mechanism(m->mechanism);
		card_sign_begin(h, m->mechanism);
		rv = shim.real->C_SignInit(h, &real, key);
	}
	log_call("C_SignInit", slot, have, rv);
	return rv;
}

/* Wait as delay_ms and hang say; returns the one-shot error, if any. */
static CK_RV
sign_fault(CK_SLOT_ID slot)
{
	CK_RV rv = CKR_OK;
	int passes = 0, the_one = 0;
	long delay;

	pthread_mutex_lock(&shim.lock);
	refresh_locked();
	delay = (targets_slot_locked(slot) ? shim.f.delay_ms : 0) +
		card_sign_ms();
	if (take_once_locked(&shim.f.device_error, slot))
		rv = CKR_DEVICE_ERROR;
	else if (take_once_locked(&shim.f.general_error, slot) ||
		 (shim.f.reset > shim.init_reset && targets_slot_locked(slot)))
		rv = CKR_GENERAL_ERROR;
	/* one of the calls hang_after lets through */
	if (shim.f.hang_after > 1 && targets_slot_locked(slot)) {
		shim.f.hang_after--;
		passes = 1;
	}
	if (shim.f.hang_one > 0 && targets_slot_locked(slot)) {
		the_one = --shim.f.hang_one == 0;
		if (the_one)
			shim.f.hang_one = -1;
	}
	if (shim.f.crash && targets_slot_locked(slot))
		crash(shim.f.crash);
	if (shim.f.exec && targets_slot_locked(slot))
		try_exec(slot);
	pthread_mutex_unlock(&shim.lock);
	if (delay > 0)
		sleep_ms(delay);
	for (;;) {
		int hang;

		pthread_mutex_lock(&shim.lock);
		refresh_locked();
		hang = (shim.f.hang || (!passes && shim.f.hang_after == 1) ||
			(the_one && shim.f.hang_one == -1)) &&
		       targets_slot_locked(slot);
		pthread_mutex_unlock(&shim.lock);
		if (!hang)
			break;
		sleep_ms(10);
	}
	return rv;
}

static CK_RV
f_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
       CK_ULONG_PTR sig_len)
{
	CK_SLOT_ID slot = 0;
	int have = slot_of_session(h, &slot) == 0;
	CK_RV rv, fault = CKR_OK;
	CK_BYTE digest[64];
	CK_ULONG digest_len = 0;
	int hashed;

	if (session_removed(h)) {
		rv = CKR_DEVICE_REMOVED;
		goto out;
	}
	if ((hashed = card_sign_input(h, data, len, digest, &digest_len)) < 0) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	/* a size query does not end the operation: no fault there */
	if (have && sig != NULL)
		fault = sign_fault(slot);
	rv = hashed ? shim.real->C_Sign(h, digest, digest_len, sig, sig_len)
		    : shim.real->C_Sign(h, data, len, sig, sig_len);
	/* the real call ran, so the operation is over either way */
	if (fault != CKR_OK)
		rv = fault;
out:
	log_call("C_Sign", slot, have, rv);
	return rv;
}

static CK_RV
f_Initialize(CK_VOID_PTR args)
{
	const char *line = getenv("FAULTY_PKCS11_STDERR");

	if (line != NULL)
		fprintf(stderr, "%s\n", line);
	/* a reset before this is one the module never saw */
	pthread_mutex_lock(&shim.lock);
	refresh_locked();
	shim.init_reset = shim.f.reset;
	pthread_mutex_unlock(&shim.lock);
	return shim.real->C_Initialize(args);
}

/*
 * FAULTY_PKCS11_SLOT_EVENTS=1: a module with C_WaitForSlotEvent (a card
 * reader's), whose event is a change of the control file's "removed"
 * (of the fault's token; the shim looks every 20 ms: test code).
 * Without it, SoftHSM's answer: not supported.
 */
static atomic_int finalizing;

static CK_SLOT_ID
event_slot(void)
{
	CK_SLOT_ID all[64];
	CK_ULONG n = 64;

	if (shim.real->C_GetSlotList(CK_TRUE, all, &n) != CKR_OK || n == 0)
		return 0;
	for (CK_ULONG i = 0; i < n; i++) {
		int hit;

		pthread_mutex_lock(&shim.lock);
		hit = targets_slot_locked(all[i]);
		pthread_mutex_unlock(&shim.lock);
		if (hit)
			return all[i];
	}
	return all[0];
}

static CK_RV
f_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	static int seen = -1; /* the "removed" state last reported */
	int now;

	if (getenv("FAULTY_PKCS11_SLOT_EVENTS") == NULL)
		return shim.real->C_WaitForSlotEvent(flags, slot, reserved);
	for (;;) {
		pthread_mutex_lock(&shim.lock);
		refresh_locked();
		now = shim.f.removed;
		if (seen < 0)
			seen = now;
		pthread_mutex_unlock(&shim.lock);
		if (atomic_load(&finalizing))
			return CKR_CRYPTOKI_NOT_INITIALIZED;
		if (now != seen) {
			seen = now;
			*slot = event_slot();
			return CKR_OK;
		}
		if (flags & CKF_DONT_BLOCK)
			return CKR_NO_EVENT;
		sleep_ms(20);
	}
}

static CK_RV
f_Finalize(CK_VOID_PTR reserved)
{
	CK_RV rv;

	atomic_store(&finalizing, 1); /* wakes C_WaitForSlotEvent */
	rv = shim.real->C_Finalize(reserved);

	log_call("C_Finalize", 0, 0, rv);
	return rv;
}

/* ---- entry point --------------------------------------------------------- */

static CK_RV
load_real(void)
{
	const char *path = getenv("FAULTY_PKCS11_MODULE"), *conf;
	CK_C_GetFunctionList get;

	if (shim.real != NULL)
		return CKR_OK;
	if (card_init() != 0)
		return CKR_GENERAL_ERROR;
	if (path == NULL || *path == '\0')
		path = DEFAULT_MODULE;
	if ((conf = getenv("FAULTY_PKCS11_SOFTHSM2_CONF")) != NULL)
		setenv("SOFTHSM2_CONF", conf, 1);
	if ((shim.dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "faulty-pkcs11: %s\n", dlerror());
		return CKR_GENERAL_ERROR;
	}
	get = (CK_C_GetFunctionList)dlsym(shim.dl, "C_GetFunctionList");
	if (get == NULL || get(&shim.real) != CKR_OK || shim.real == NULL) {
		fprintf(stderr, "faulty-pkcs11: %s has no C_GetFunctionList\n",
			path);
		return CKR_GENERAL_ERROR;
	}
	/* forward everything, then take over the calls faults touch */
	shim.list = *shim.real;
	shim.list.C_Initialize = f_Initialize;
	shim.list.C_Finalize = f_Finalize;
	shim.list.C_WaitForSlotEvent = f_WaitForSlotEvent;
	shim.list.C_GetSlotList = f_GetSlotList;
	shim.list.C_GetSlotInfo = f_GetSlotInfo;
	shim.list.C_GetTokenInfo = f_GetTokenInfo;
	shim.list.C_OpenSession = f_OpenSession;
	shim.list.C_CloseSession = f_CloseSession;
	shim.list.C_CloseAllSessions = f_CloseAllSessions;
	shim.list.C_GetMechanismList = f_GetMechanismList;
	shim.list.C_GetMechanismInfo = f_GetMechanismInfo;
	shim.list.C_GetSessionInfo = f_GetSessionInfo;
	shim.list.C_Login = f_Login;
	shim.list.C_Logout = f_Logout;
	shim.list.C_FindObjectsInit = f_FindObjectsInit;
	shim.list.C_FindObjects = f_FindObjects;
	shim.list.C_GetAttributeValue = f_GetAttributeValue;
	shim.list.C_SignInit = f_SignInit;
	shim.list.C_Sign = f_Sign;
	return CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	CK_RV rv;

	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&shim.lock);
	rv = load_real();
	pthread_mutex_unlock(&shim.lock);
	if (rv == CKR_OK)
		*out = &shim.list;
	return rv;
}
