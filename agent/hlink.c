#include "hlink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "p11agent/error.h"
#include "p11util.h"
#include "p11agent/protocol.h"
#include "sendall.h"
#include "wire.h"

extern char **environ;

#define HLINK_READ_CHUNK 65536u
/* five restarts within a minute: the module is given up */
#define CRASH_LOOP_N 5
#define CRASH_LOOP_MS 60000u
#define BACKOFF_FIRST_MS 100u
#define BACKOFF_MAX_MS 5000u
#define HELLO_TIMEOUT_MS 30000

struct hlink {
	char *module;
	const char *name; /* the module's file name, for the log */
	struct hlink_config cfg;

	pthread_mutex_t lock; /* all below but what the reader alone uses */
	pthread_cond_t cond;  /* a reply came, or the state changed */
	enum hlink_state state;
	unsigned generation;
	unsigned restarts;
	char reason[160];
	char restart_why[120]; /* hlink_restart() killed it, and why */
	int deliberate;	       /* the last death was hlink_restart()'s */
	pid_t pid;
	int reaping; /* pid is being waited for: not ours to kill */
	int fd;	     /* agent's end of the socketpair; -1 while restarting */
	uint32_t next_id;
	struct hlink_req *calls;
	int stopping;
	void (*on_restart)(void *ctx);
	void *restart_ctx;
	void (*on_event)(void *ctx, uint64_t slot);
	void *event_ctx;
	atomic_int slot_events; /* from the latest HELLO; read unlocked */

	pthread_mutex_t write_lock; /* one whole frame at a time */

	/* the reader thread's own */
	pthread_t reader;
	int wake[2]; /* written by hlink_stop() */
	int err_fd;  /* the helper's stderr */
	char err_line[512];
	size_t err_len;
	struct p11a_buf in;
	int killed; /* SIGKILL sent to the current helper */
	uint64_t crash_ms[CRASH_LOOP_N];
	unsigned n_crash;

	/* from the first HELLO; fixed for the link's life */
	CK_INFO info;
	struct hlink_token *tokens;
	size_t n_tokens;
};

/*
 * Beside our own executable (the build tree), then where the install put
 * it relative to our directory (a DESTDIR or a moved prefix), then the
 * configured absolute path.
 */
const char *
hlink_helper_path(void)
{
	static const char *const rel[] = {"p11agent-helper",
					  P11A_HELPER_FROM_BINDIR};
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			for (size_t i = 0; i < 2; i++)
				if (snprintf(path, sizeof(path), "%s/%s", self,
					     rel[i]) < (int)sizeof(path) &&
				    access(path, X_OK) == 0)
					return path;
		}
	}
	return P11A_LIBEXECDIR "/p11agent/p11agent-helper";
}

/* ---- frames ------------------------------------------------------- */

static int
frame_build(struct p11a_buf *f, uint8_t type, uint32_t id,
	    const struct p11a_buf *payload)
{
	size_t n = payload != NULL ? p11a_buf_remaining(payload) : 0;
	int e;

	p11a_buf_init(f, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
	if ((e = p11a_buf_put_u32(f, (uint32_t)(P11A_FRAME_BODY_MIN + n))) !=
		    P11A_OK ||
	    (e = p11a_buf_put_u8(f, type)) != P11A_OK ||
	    (e = p11a_buf_put_u32(f, id)) != P11A_OK)
		return e;
	return n > 0 ? p11a_buf_put_raw(f, p11a_buf_ptr(payload), n) : P11A_OK;
}

/*
 * Write one frame to fd whole.  gen non-zero: only while fd is still the
 * link's socket of that generation (h->fd and h->generation change
 * under the write lock), so a frame built for a helper that died never
 * goes to a reused descriptor or to its successor.
 */
static int
frame_send(struct hlink *h, int fd, unsigned gen, uint8_t type, uint32_t id,
	   const struct p11a_buf *payload)
{
	struct p11a_buf f;
	int r;

	if ((r = frame_build(&f, type, id, payload)) == P11A_OK) {
		pthread_mutex_lock(&h->write_lock);
		if ((gen != 0 && (h->fd != fd || h->generation != gen)) ||
		    p11a_send_all(fd, p11a_buf_ptr(&f),
				  p11a_buf_remaining(&f)) != 0)
			r = P11A_ERR_IO;
		pthread_mutex_unlock(&h->write_lock);
	}
	/* a LOGIN's PIN was in it */
	p11a_buf_free(&f);
	return r;
}

static void
reply_set_error(struct hlink_reply *rep, int code, CK_RV rv, const char *msg)
{
	rep->type = HL_ERROR;
	rep->code = code;
	rep->rv = rv;
	snprintf(rep->msg, sizeof(rep->msg), "%s", msg);
}

/* Fill rep from a reply frame; the payload is copied. */
static void
reply_from_frame(struct hlink_reply *rep, struct p11a_frame *f)
{
	uint32_t code = P11A_ERR_TOKEN;
	uint64_t rv = CKR_GENERAL_ERROR;
	char *msg = NULL;
	size_t n = p11a_buf_remaining(&f->payload);

	rep->type = f->type;
	if (f->type == HL_ERROR) {
		if (p11a_buf_get_u32(&f->payload, &code) != P11A_OK ||
		    p11a_buf_get_u64(&f->payload, &rv) != P11A_OK ||
		    p11a_buf_get_cstring(&f->payload, &msg) != P11A_OK)
			msg = NULL;
		reply_set_error(rep,
				code == P11A_OK ? P11A_ERR_TOKEN : (int)code,
				(CK_RV)rv,
				msg != NULL ? msg : "malformed helper error");
		free(msg);
		return;
	}
	rep->code = P11A_OK;
	rep->rv = CKR_OK;
	rep->msg[0] = '\0';
	p11a_buf_init(&rep->payload, n > 0 ? n : 1);
	if (n > 0 && p11a_buf_put_raw(&rep->payload, p11a_buf_ptr(&f->payload),
				      n) != P11A_OK)
		reply_set_error(rep, P11A_ERR_NO_MEMORY, CKR_HOST_MEMORY,
				"out of memory");
}

void
hlink_reply_free(struct hlink_reply *rep)
{
	p11a_buf_free(&rep->payload);
}

/* ---- starting the helper ----------------------------------------- */

static int
spawn_helper(struct hlink *h, int *sock, int *err, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	char sessions[16], level[16];
	const char *path = hlink_helper_path();
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	char *argv[] = {(char *)path,
			h->module,
			"--sessions",
			sessions,
			"--log-level",
			level,
			h->cfg.unconfined ? "--unconfined" : NULL,
			NULL};
	int sv[2] = {-1, -1}, ep[2] = {-1, -1}, r;

	snprintf(sessions, sizeof(sessions), "%u", h->cfg.sessions);
	snprintf(level, sizeof(level), "%s",
		 levels[h->cfg.log_level >= 0 && h->cfg.log_level <= 3
				? h->cfg.log_level
				: 2]);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(ep, O_CLOEXEC) != 0) {
		r = errno;
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	r = posix_spawn(pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		goto fail;
	close(sv[1]);
	close(ep[1]);
	*sock = sv[0];
	*err = ep[0];
	return P11A_OK;
fail:
	log_error("module %s: cannot run %s: %s", h->name, path, strerror(r));
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	return P11A_ERR_IO;
}

static int
get_raw(struct p11a_buf *b, void *out, size_t n)
{
	if (p11a_buf_remaining(b) < n)
		return P11A_ERR_TRUNCATED;
	memcpy(out, p11a_buf_ptr(b), n);
	return p11a_buf_consume(b, n);
}

static int
get_version(struct p11a_buf *b, CK_VERSION *v)
{
	int e = p11a_buf_get_u8(b, &v->major);

	return e != P11A_OK ? e : p11a_buf_get_u8(b, &v->minor);
}

static int
get_u64_ulong(struct p11a_buf *b, CK_ULONG *v)
{
	uint64_t x;
	int e = p11a_buf_get_u64(b, &x);

	*v = (CK_ULONG)x;
	return e;
}

static int
decode_token(struct p11a_buf *b, struct hlink_token *t)
{
	CK_TOKEN_INFO *ti = &t->info;
	uint32_t sessions;
	int e;

	memset(t, 0, sizeof(*t));
	if ((e = p11a_buf_get_u64(b, &t->slot)) != P11A_OK ||
	    (e = get_raw(b, ti->label, 32)) != P11A_OK ||
	    (e = get_raw(b, ti->manufacturerID, 32)) != P11A_OK ||
	    (e = get_raw(b, ti->model, 16)) != P11A_OK ||
	    (e = get_raw(b, ti->serialNumber, 16)) != P11A_OK ||
	    (e = get_u64_ulong(b, &ti->flags)) != P11A_OK ||
	    (e = get_u64_ulong(b, &ti->ulMaxSessionCount)) != P11A_OK ||
	    (e = get_u64_ulong(b, &ti->ulSessionCount)) != P11A_OK ||
	    (e = get_u64_ulong(b, &ti->ulMaxPinLen)) != P11A_OK ||
	    (e = get_u64_ulong(b, &ti->ulMinPinLen)) != P11A_OK ||
	    (e = get_version(b, &ti->hardwareVersion)) != P11A_OK ||
	    (e = get_version(b, &ti->firmwareVersion)) != P11A_OK ||
	    (e = p11a_buf_get_u32(b, &sessions)) != P11A_OK)
		return e;
	t->sessions = sessions;
	/* the helper sends the fields raw; URIs are made and matched here */
	p11_blank_nul_padding(ti->label, sizeof(ti->label));
	p11_blank_nul_padding(ti->manufacturerID, sizeof(ti->manufacturerID));
	p11_blank_nul_padding(ti->model, sizeof(ti->model));
	p11_blank_nul_padding(ti->serialNumber, sizeof(ti->serialNumber));
	return P11A_OK;
}

/* HELLO_REPLY: the module's info and its tokens (only kept the first time). */
static int
decode_hello(struct hlink *h, struct p11a_buf *b)
{
	struct hlink_token *tokens = NULL;
	uint32_t version, n;
	uint8_t events = 0;
	CK_INFO mi;
	int e;

	if ((e = p11a_buf_get_u32(b, &version)) != P11A_OK ||
	    (e = get_version(b, &mi.cryptokiVersion)) != P11A_OK ||
	    (e = get_raw(b, mi.manufacturerID, 32)) != P11A_OK ||
	    (e = get_u64_ulong(b, &mi.flags)) != P11A_OK ||
	    (e = get_raw(b, mi.libraryDescription, 32)) != P11A_OK ||
	    (e = get_version(b, &mi.libraryVersion)) != P11A_OK ||
	    (e = p11a_buf_get_u32(b, &n)) != P11A_OK)
		return e;
	if (version != HLINK_VERSION || n > 1024)
		return P11A_ERR_VERSION;
	if (n > 0 && (tokens = calloc(n, sizeof(*tokens))) == NULL)
		return P11A_ERR_NO_MEMORY;
	for (uint32_t i = 0; i < n; i++)
		if ((e = decode_token(b, &tokens[i])) != P11A_OK) {
			free(tokens);
			return e;
		}
	if ((e = p11a_buf_get_u8(b, &events)) != P11A_OK) {
		free(tokens);
		return e;
	}
	atomic_store(&h->slot_events, events == 1);
	if (h->tokens != NULL || h->generation > 0) {
		free(tokens); /* a restart: the slots are the ones we know */
		return P11A_OK;
	}
	p11_blank_nul_padding(mi.manufacturerID, sizeof(mi.manufacturerID));
	p11_blank_nul_padding(mi.libraryDescription,
			      sizeof(mi.libraryDescription));
	h->info = mi;
	h->tokens = tokens;
	h->n_tokens = n;
	return P11A_OK;
}

/* Read one whole frame from fd within timeout_ms (HELLO only). */
static int
read_frame_sync(struct hlink *h, int fd, int timeout_ms, struct p11a_frame *f)
{
	uint64_t end = p11a_clock_ms() + (uint64_t)timeout_ms;
	struct pollfd p = {fd, POLLIN, 0};
	uint8_t *dst;
	ssize_t n;
	int r;

	while ((r = p11a_frame_next(&h->in, P11A_MAX_FRAME, f)) ==
	       P11A_ERR_INCOMPLETE) {
		uint64_t now = p11a_clock_ms();

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0 ||
		    p11a_buf_reserve(&h->in, HLINK_READ_CHUNK, &dst) != P11A_OK)
			return P11A_ERR_TIMEOUT;
		if ((n = read(fd, dst, HLINK_READ_CHUNK)) <= 0)
			return P11A_ERR_IO;
		p11a_buf_commit(&h->in, (size_t)n);
	}
	return r;
}

/* Start a helper and say HELLO; on success it is the link's helper. */
static int
helper_launch(struct hlink *h)
{
	struct p11a_buf hello;
	struct p11a_frame f;
	int fd, err, r;
	pid_t pid;

	if ((r = spawn_helper(h, &fd, &err, &pid)) != P11A_OK)
		return r;
	p11a_buf_reset(&h->in);
	p11a_buf_init(&hello, 4);
	p11a_buf_put_u32(&hello, HLINK_VERSION);
	r = frame_send(h, fd, 0, HL_HELLO, 0, &hello);
	p11a_buf_free(&hello);
	if (r == P11A_OK)
		r = read_frame_sync(h, fd, HELLO_TIMEOUT_MS, &f);
	if (r == P11A_OK && f.type != HL_HELLO_REPLY)
		r = P11A_ERR_PROTOCOL;
	if (r == P11A_OK)
		r = decode_hello(h, &f.payload);
	if (r != P11A_OK) {
		log_error("module %s: its helper did not start: %s", h->name,
			  p11a_strerror(r));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(fd);
		close(err);
		return r;
	}
	p11a_buf_compact(&h->in);
	pthread_mutex_lock(&h->lock);
	pthread_mutex_lock(&h->write_lock);
	h->fd = fd;
	h->generation++;
	pthread_mutex_unlock(&h->write_lock);
	h->pid = pid;
	h->state = HLINK_READY;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	h->err_fd = err;
	return P11A_OK;
}

/* ---- the reader thread ------------------------------------------- */

/* The helper's stderr, one log line per line it wrote. */
static int
read_stderr(struct hlink *h)
{
	char buf[1024];
	ssize_t n = read(h->err_fd, buf, sizeof(buf));

	if (n <= 0)
		return -1;
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf[i];

		if (ch != '\n' && h->err_len < sizeof(h->err_line) - 1) {
			/* its bytes are the module's: no control characters */
			h->err_line[h->err_len++] =
				(ch >= 0x20 && ch != 0x7f) ? ch : '?';
			continue;
		}
		if (ch != '\n')
			continue; /* an overlong line is cut */
		h->err_line[h->err_len] = '\0';
		log_info("module %s: %s", h->name, h->err_line);
		h->err_len = 0;
	}
	return 0;
}

static void
calls_remove(struct hlink *h, struct hlink_req *call)
{
	for (struct hlink_req **p = &h->calls; *p != NULL; p = &(*p)->next)
		if (*p == call) {
			*p = call->next;
			return;
		}
}

/*
 * Mark req answered (under the lock).  An async one leaves the list;
 * 1 if the caller is to call its on_reply (after unlocking): not while
 * its sender is still writing it, which calls it then (send_locked).
 */
static int
req_done_locked(struct hlink *h, struct hlink_req *req)
{
	req->done = 1;
	if (req->wake != NULL) {
		pthread_cond_signal(req->wake);
		return 0;
	}
	/* its sender still uses it: it stays listed, so hlink_stop() waits */
	if (req->sending)
		return 0;
	calls_remove(h, req);
	return 1;
}

static void
deliver(struct hlink *h, struct p11a_frame *f)
{
	struct hlink_req *c;
	int notify = 0;

	pthread_mutex_lock(&h->lock);
	for (c = h->calls; c != NULL; c = c->next)
		if (c->id == f->id && !c->done)
			break;
	if (c != NULL) {
		reply_from_frame(c->rep, f);
		notify = req_done_locked(h, c);
	}
	pthread_mutex_unlock(&h->lock);
	if (c != NULL) {
		/* after the unlock: it may send the next request */
		if (notify)
			c->on_reply(c);
		return;
	}
	if (f->type == HL_EVENT && f->id == 0) {
		uint64_t slot;

		if (p11a_buf_get_u64(&f->payload, &slot) == P11A_OK &&
		    h->on_event != NULL)
			h->on_event(h->event_ctx, slot);
		return;
	}
	if (f->type != HL_PONG)
		log_warn("module %s: a reply to no request (%u)", h->name,
			 f->id);
}

/*
 * Answer every request still in flight with code and msg; the async
 * ones are returned, out of the list, for on_reply outside the lock.
 */
static struct hlink_req *
fail_all_locked(struct hlink *h, int code, const char *msg)
{
	struct hlink_req *c, *next, *async = NULL;

	for (c = h->calls; c != NULL; c = next) {
		next = c->next;
		if (c->done)
			continue;
		reply_set_error(c->rep, code, CKR_DEVICE_ERROR, msg);
		if (req_done_locked(h, c)) {
			c->next = async;
			async = c;
		}
	}
	return async;
}

static void
notify_all(struct hlink_req *async)
{
	for (struct hlink_req *c = async, *next; c != NULL; c = next) {
		next = c->next;
		c->on_reply(c);
	}
}

/* Read what the helper sent; -1 when it is gone or talks nonsense. */
static int
read_replies(struct hlink *h)
{
	struct p11a_frame f;
	uint8_t *dst;
	ssize_t n;
	int r;

	if (p11a_buf_reserve(&h->in, HLINK_READ_CHUNK, &dst) != P11A_OK)
		return -1;
	if ((n = read(h->fd, dst, HLINK_READ_CHUNK)) < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return -1;
	p11a_buf_commit(&h->in, (size_t)n);
	while ((r = p11a_frame_next(&h->in, P11A_MAX_FRAME, &f)) == P11A_OK)
		deliver(h, &f);
	p11a_buf_compact(&h->in);
	if (r != P11A_ERR_INCOMPLETE) {
		log_error("module %s: malformed frame from its helper: %s",
			  h->name, p11a_strerror(r));
		return -1;
	}
	return 0;
}

/* How long the reader may sleep: until the oldest request hangs. */
static int
hang_wait_ms(struct hlink *h, uint64_t now, int *hung)
{
	uint64_t oldest = UINT64_MAX, limit = h->cfg.hang_timeout_ms;
	int ms = -1;

	pthread_mutex_lock(&h->lock);
	for (struct hlink_req *c = h->calls; c != NULL; c = c->next)
		if (!c->done && c->sent_ms < oldest)
			oldest = c->sent_ms;
	pthread_mutex_unlock(&h->lock);
	*hung = 0;
	if (oldest == UINT64_MAX || limit == 0)
		return -1;
	if (now >= oldest + limit)
		*hung = 1;
	else
		ms = (int)(oldest + limit - now);
	return ms;
}

static void
describe_exit(int status, char *out, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(out, len, "exited with status %d",
			 WEXITSTATUS(status));
	else
		snprintf(out, len, "ended");
}

/* The helper is gone: every request in flight fails. */
static void
helper_lost(struct hlink *h, const char *how)
{
	char msg[sizeof(h->reason) + 100];
	struct hlink_req *async;
	int status = 0;

	pthread_mutex_lock(&h->lock);
	h->reaping = 1;
	/* under the write lock: a sender never writes to a reused number */
	pthread_mutex_lock(&h->write_lock);
	close(h->fd);
	h->fd = -1;
	pthread_mutex_unlock(&h->write_lock);
	pthread_mutex_unlock(&h->lock);
	close(h->err_fd);
	h->err_fd = -1;
	h->err_len = 0;
	p11a_buf_reset(&h->in);
	while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&h->lock);
	h->reaping = 0;
	describe_exit(status, h->reason, sizeof(h->reason));
	h->deliberate = h->restart_why[0] != '\0';
	if (how == NULL && h->deliberate)
		how = h->restart_why;
	if (how != NULL)
		snprintf(h->reason, sizeof(h->reason), "%s", how);
	h->restart_why[0] = '\0';
	snprintf(msg, sizeof(msg),
		 "the helper process of module %s %s; it is restarted", h->name,
		 h->reason);
	async = fail_all_locked(h, P11A_ERR_TOKEN, msg);
	if (!h->stopping)
		h->state = HLINK_RECOVERING;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	notify_all(async);
	if (!h->stopping)
		log_error("module %s: helper %s", h->name, h->reason);
}

/* Sleep ms, or less when hlink_stop() wakes us: 1 when stopping. */
static int
reader_sleep(struct hlink *h, int ms)
{
	struct pollfd p = {h->wake[0], POLLIN, 0};

	return poll(&p, 1, ms) > 0;
}

/* After a death: back off, then start a new helper, or give up. */
static void
helper_restart(struct hlink *h)
{
	uint64_t now = p11a_clock_ms();
	unsigned recent = 0, backoff = BACKOFF_FIRST_MS;

	/*
	 * A restart the agent asked for (a token's errors in a row) is no
	 * crash: it must never leave a module failed for good.
	 */
	if (!h->deliberate)
		h->crash_ms[h->n_crash++ % CRASH_LOOP_N] = now;
	for (unsigned i = 0; i < CRASH_LOOP_N && i < h->n_crash; i++)
		if (now - h->crash_ms[i] < CRASH_LOOP_MS)
			recent++;
	for (unsigned i = 1; i < recent && backoff < BACKOFF_MAX_MS; i++)
		backoff *= 2;
	while (recent < CRASH_LOOP_N) {
		if (reader_sleep(h, (int)backoff))
			return;
		if (helper_launch(h) == P11A_OK) {
			pthread_mutex_lock(&h->lock);
			h->restarts++;
			pthread_mutex_unlock(&h->lock);
			log_info("module %s: helper restarted (generation %u)",
				 h->name, h->generation);
			if (h->on_restart != NULL)
				h->on_restart(h->restart_ctx);
			return;
		}
		h->crash_ms[h->n_crash++ % CRASH_LOOP_N] = p11a_clock_ms();
		recent++;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
						       : backoff * 2;
	}
	pthread_mutex_lock(&h->lock);
	h->state = HLINK_FAILED;
	snprintf(h->reason + strlen(h->reason),
		 sizeof(h->reason) - strlen(h->reason),
		 "; %d restarts within %u s: given up", CRASH_LOOP_N,
		 CRASH_LOOP_MS / 1000);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	log_error("module %s failed: %s", h->name, h->reason);
}

static void *
reader_main(void *arg)
{
	struct hlink *h = arg;

	for (;;) {
		struct pollfd p[3] = {{h->fd, POLLIN, 0},
				      {h->err_fd, POLLIN, 0},
				      {h->wake[0], POLLIN, 0}};
		int hung, ms = hang_wait_ms(h, p11a_clock_ms(), &hung);
		int gone = 0;

		if (hung && !h->killed) {
			h->killed = 1;
			log_error("module %s: no answer for %u ms: killing its "
				  "helper",
				  h->name, h->cfg.hang_timeout_ms);
			kill(h->pid, SIGKILL);
		}
		if (hung)
			ms = -1; /* the EOF follows */
		if (poll(p, 3, ms) < 0 && errno != EINTR)
			break;
		if (p[2].revents)
			break;
		if (p[1].revents && read_stderr(h) != 0)
			p[1].fd = -1;
		if (p[0].revents && read_replies(h) != 0)
			gone = 1;
		if (!gone)
			continue;
		helper_lost(h, h->killed ? "hung and was killed" : NULL);
		h->killed = 0;
		if (h->stopping)
			return NULL;
		helper_restart(h);
		if (hlink_state(h) != HLINK_READY)
			return NULL;
	}
	return NULL;
}

/* ---- the API ------------------------------------------------------ */

int
hlink_start(const char *module, const struct hlink_config *cfg,
	    struct hlink **out)
{
	struct hlink *h;
	const char *slash;
	int r;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->module = strdup(module)) == NULL) {
		free(h);
		return P11A_ERR_NO_MEMORY;
	}
	slash = strrchr(h->module, '/');
	h->name = slash != NULL ? slash + 1 : h->module;
	h->cfg = *cfg;
	h->fd = h->err_fd = h->wake[0] = h->wake[1] = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->write_lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	p11a_buf_init(&h->in, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME +
				      HLINK_READ_CHUNK);
	if (pipe2(h->wake, O_CLOEXEC) != 0) {
		r = P11A_ERR_IO;
		goto fail;
	}
	if ((r = helper_launch(h)) != P11A_OK)
		goto fail;
	if (pthread_create(&h->reader, NULL, reader_main, h) != 0) {
		r = P11A_ERR_NO_MEMORY;
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		goto fail;
	}
	*out = h;
	return P11A_OK;
fail:
	for (int i = 0; i < 2; i++)
		if (h->wake[i] >= 0)
			close(h->wake[i]);
	if (h->fd >= 0)
		close(h->fd);
	if (h->err_fd >= 0)
		close(h->err_fd);
	p11a_buf_free(&h->in);
	free(h->tokens);
	free(h->module);
	free(h);
	return r;
}

void
hlink_set_event_hook(struct hlink *h, void (*fn)(void *ctx, uint64_t slot),
		     void *ctx)
{
	h->on_event = fn;
	h->event_ctx = ctx;
}

int
hlink_slot_events(const struct hlink *h)
{
	return atomic_load(&h->slot_events);
}

void
hlink_set_restart_hook(struct hlink *h, void (*fn)(void *ctx), void *ctx)
{
	h->on_restart = fn;
	h->restart_ctx = ctx;
}

const CK_INFO *
hlink_module_info(const struct hlink *h)
{
	return &h->info;
}

const struct hlink_token *
hlink_tokens(const struct hlink *h, size_t *n)
{
	*n = h->n_tokens;
	return h->tokens;
}

const char *
hlink_module(const struct hlink *h)
{
	return h->module;
}

enum hlink_state
hlink_state(struct hlink *h)
{
	enum hlink_state s;

	pthread_mutex_lock(&h->lock);
	s = h->state;
	pthread_mutex_unlock(&h->lock);
	return s;
}

void
hlink_reason(struct hlink *h, char *out, size_t len)
{
	pthread_mutex_lock(&h->lock);
	snprintf(out, len, "%s", h->reason);
	pthread_mutex_unlock(&h->lock);
}

unsigned
hlink_generation(struct hlink *h)
{
	unsigned g;

	pthread_mutex_lock(&h->lock);
	g = h->generation;
	pthread_mutex_unlock(&h->lock);
	return g;
}

unsigned
hlink_restarts(struct hlink *h)
{
	unsigned n;

	pthread_mutex_lock(&h->lock);
	n = h->restarts;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* Wait, under the lock, while a new helper is being started. */
static int
wait_ready(struct hlink *h)
{
	struct timespec until;
	uint64_t ms = h->cfg.hang_timeout_ms ? h->cfg.hang_timeout_ms : 30000;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (h->state == HLINK_RECOVERING && !h->stopping)
		if (pthread_cond_timedwait(&h->cond, &h->lock, &until) ==
		    ETIMEDOUT)
			break;
	return h->state == HLINK_READY && !h->stopping;
}

int
hlink_wait_ready(struct hlink *h)
{
	int ready;

	pthread_mutex_lock(&h->lock);
	ready = wait_ready(h);
	pthread_mutex_unlock(&h->lock);
	return ready;
}

/*
 * Refuse a request the helper cannot take now (under the lock): 0 when
 * it may be sent, else the code, with rep saying why.
 */
static int
refuse_locked(struct hlink *h, unsigned generation, struct hlink_reply *rep)
{
	char msg[sizeof(h->reason) + 100];

	if (h->state != HLINK_READY || h->stopping) {
		snprintf(msg, sizeof(msg), "module %s %s: %s", h->name,
			 h->stopping		    ? "is stopping"
			 : h->state == HLINK_FAILED ? "failed"
						    : "is restarting",
			 h->reason);
		reply_set_error(rep,
				h->stopping ? P11A_ERR_SHUTTING_DOWN
					    : P11A_ERR_TOKEN,
				CKR_DEVICE_ERROR, msg);
		return rep->code;
	}
	if (generation != 0 && generation != h->generation) {
		reply_set_error(rep, P11A_ERR_TOKEN, CKR_KEY_HANDLE_INVALID,
				"the module's helper was restarted since the "
				"keys were listed");
		return rep->code;
	}
	return P11A_OK;
}

/*
 * Put req in flight and write its frame; called and returns with the
 * lock held.  0: sent and not answered yet.  1: the write failed and
 * nothing was sent (rep says so).  2: answered while we wrote it (the
 * reply, or the helper's end): an async req's on_reply is ours to call.
 * req->sending keeps the reader from calling on_reply meanwhile, so a
 * caller's req is never freed under us.
 */
static int
send_locked(struct hlink *h, uint8_t type, const struct p11a_buf *payload,
	    struct hlink_req *req)
{
	int fd = h->fd, r;
	unsigned gen = h->generation;

	req->done = 0;
	req->sending = 1;
	req->id = ++h->next_id;
	req->sent_ms = p11a_clock_ms();
	req->next = h->calls;
	h->calls = req;
	pthread_mutex_unlock(&h->lock);
	/* the reader wakes on our reply or the helper's end; a helper that
	 * never reads would show as a request that hangs */
	r = frame_send(h, fd, gen, type, req->id, payload);
	pthread_mutex_lock(&h->lock);
	req->sending = 0;
	if (req->done) {
		if (req->wake == NULL) {
			calls_remove(h, req);
			if (h->stopping)
				pthread_cond_broadcast(&h->cond);
		}
		return 2;
	}
	if (r == P11A_OK)
		return 0;
	reply_set_error(req->rep, P11A_ERR_TOKEN, CKR_DEVICE_ERROR,
			"cannot write to the module's helper");
	req->done = 1;
	calls_remove(h, req);
	return 1;
}

int
hlink_send(struct hlink *h, unsigned generation, uint8_t type,
	   const struct p11a_buf *payload, struct hlink_req *req)
{
	int r, sent = 0;

	memset(req->rep, 0, sizeof(*req->rep));
	req->wake = NULL;
	pthread_mutex_lock(&h->lock);
	if ((r = refuse_locked(h, generation, req->rep)) == P11A_OK &&
	    (sent = send_locked(h, type, payload, req)) == 1)
		r = req->rep->code;
	pthread_mutex_unlock(&h->lock);
	if (sent == 2)
		req->on_reply(req);
	return r;
}

int
hlink_call(struct hlink *h, unsigned generation, uint8_t type,
	   const struct p11a_buf *payload, struct hlink_reply *rep)
{
	pthread_cond_t wake;
	struct hlink_req call = {.rep = rep, .wake = &wake};

	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&h->lock);
	wait_ready(h);
	if (refuse_locked(h, generation, rep) != P11A_OK)
		goto out;
	pthread_cond_init(&wake, NULL);
	/* on our stack while we wait; unlinked before we return */
	// cppcheck-suppress autoVariables
	if (send_locked(h, type, payload, &call) != 1) {
		while (!call.done)
			pthread_cond_wait(&wake, &h->lock);
		calls_remove(h, &call);
	}
	pthread_cond_destroy(&wake);
	if (h->stopping)
		pthread_cond_broadcast(&h->cond); /* hlink_stop() waits */
out:
	pthread_mutex_unlock(&h->lock);
	return rep->code;
}

int
hlink_restart(struct hlink *h, unsigned generation, const char *reason)
{
	pthread_mutex_lock(&h->lock);
	if (h->state != HLINK_READY || h->stopping || h->reaping ||
	    generation != h->generation) {
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	h->state = HLINK_RECOVERING;
	snprintf(h->restart_why, sizeof(h->restart_why), "was restarted: %s",
		 reason);
	/* under the lock: the reader cannot have reaped it yet; its EOF
	 * takes the reader down the path of a death */
	kill(h->pid, SIGKILL);
	pthread_mutex_unlock(&h->lock);
	/* helper_lost() logs it, with this reason */
	return 1;
}

/* 1 once the helper closed fd (or the time is up); 0: read on. */
static int
helper_gone(int fd, uint64_t end)
{
	struct pollfd p = {fd, POLLIN, 0};
	uint64_t now = p11a_clock_ms();
	char discard[4096];

	if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
		return 1;
	return read(fd, discard, sizeof(discard)) <= 0;
}

void
hlink_stop(struct hlink *h, int timeout_ms)
{
	uint64_t end = p11a_clock_ms() + (uint64_t)timeout_ms;
	struct hlink_req *async;
	int status;
	pid_t pid;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = 1;
	pid = h->fd >= 0 ? h->pid : 0;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	(void)!write(h->wake[1], "x", 1);
	pthread_join(h->reader, NULL);
	if (pid > 0) {
		frame_send(h, h->fd, 0, HL_SHUTDOWN, 0, NULL);
		shutdown(h->fd, SHUT_WR);
		/* its end of the socket closes when it exits */
		while (!helper_gone(h->fd, end))
			;
		if (p11a_clock_ms() >= end) {
			log_warn("module %s: helper did not stop in time: "
				 "killed",
				 h->name);
			kill(pid, SIGKILL);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		close(h->fd);
	}
	/* the helper is gone: whoever still waits for it is told so */
	pthread_mutex_lock(&h->lock);
	async = fail_all_locked(h, P11A_ERR_SHUTTING_DOWN,
				"the agent is stopping");
	pthread_mutex_unlock(&h->lock);
	notify_all(async);
	pthread_mutex_lock(&h->lock);
	while (h->calls != NULL)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (h->err_fd >= 0)
		close(h->err_fd);
	close(h->wake[0]);
	close(h->wake[1]);
	p11a_buf_free(&h->in);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->write_lock);
	pthread_cond_destroy(&h->cond);
	free(h->tokens);
	free(h->module);
	free(h);
}
