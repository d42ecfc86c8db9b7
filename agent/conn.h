/*
 * A client connection.  Its event loop owns reading; any thread may send
 * a reply.  Replies are written straight to the socket when it takes
 * them, otherwise kept in the output buffer and written by the loop when
 * the socket is writable.  The descriptor is closed only when the last
 * reference is dropped, so a worker finishing late never writes to a
 * reused descriptor.
 */
#ifndef P11A_AGENT_CONN_H
#define P11A_AGENT_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Replies a client does not read pile up to this much, then it is cut. */
#define CONN_MAX_OUTPUT (8u * 1024u * 1024u)
#define CONN_MAX_GROUPS 64

struct conn {
	int fd;
	int epfd;
	atomic_int refs;
	pthread_mutex_t out_lock; /* out, closed, want_write */
	struct p11a_buf out;
	atomic_int closed; /* written under out_lock, read anywhere */
	int want_write;
	atomic_uint inflight; /* SIGNs queued or running */
	/* the rest belongs to the event loop thread */
	struct p11a_buf in;
	unsigned loop; /* the event loop it belongs to, for its whole life */
	int hello_done;
	uint64_t last_active_ms;   /* last byte received */
	uint64_t partial_since_ms; /* a frame is half received; 0: none */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[CONN_MAX_GROUPS]; /* supplementary groups */
	size_t n_groups;
	char exe[256]; /* the peer's executable, for the audit log */
	struct conn *prev, *next;
};

struct conn *conn_new(int fd, int epfd);
/*
 * Connections allocated and not yet freed, including closed ones that
 * queued jobs still hold: what really uses descriptors and memory.
 */
unsigned conn_count_live(void);
/* Whether the client is gone: work for it can be skipped. */
int conn_is_closed(const struct conn *c);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/*
 * Lock the output buffer for appending one reply; NULL when the
 * connection is closed (nothing to send to, nothing locked).
 */
struct p11a_buf *conn_out_begin(struct conn *c);
/* Write what the socket takes, arm EPOLLOUT for the rest, unlock. */
void conn_out_end(struct conn *c);
/* Whether the peer has gid as its primary or a supplementary group. */
int conn_peer_in_group(const struct conn *c, gid_t gid);
/* Send an ERROR reply; the message must never contain secrets. */
void conn_send_error(struct conn *c, uint32_t id, int code, const char *msg);
/* Send a reply with an empty payload (OK). */
void conn_send_empty(struct conn *c, uint8_t type, uint32_t id);

/*
 * This thread holds back what it writes to c (replies of a batch of one
 * client's jobs) until conn_release_held(); takes a reference.
 */
void conn_hold(const void *c);
/* Write what was held (see conn_hold) and drop the reference. */
void conn_release_held(void);
/*
 * Monitor: write what any thread has held back for more than max_age_ms
 * (its batch's next job is stuck in the token).
 */
void conn_flush_held(uint64_t now_ms, uint64_t max_age_ms);

/*
 * Write what the output buffer holds, as far as the socket takes it, and
 * wait for EPOLLOUT for the rest: the loop when the socket became
 * writable, and whoever sends replies that were held back.
 */
void conn_flush(struct conn *c);
/* Loop: stop serving this connection; the last unref closes the fd. */
void conn_close(struct conn *c);
/* Shutdown: write out what is queued, waiting at most timeout_ms. */
void conn_drain(struct conn *c, int timeout_ms);

#endif
