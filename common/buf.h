/*
 * The one bounds-checked byte buffer.  Every byte read from or written to
 * the socket goes through these functions; nothing else does pointer
 * arithmetic on wire data.  Integers are big-endian.
 *
 * A buffer holds bytes [off, len) that are still to be read.  Writes
 * append at len and grow the allocation up to max; a buffer made with
 * p11a_buf_view() is read-only and borrows its bytes.
 */
#ifndef P11A_BUF_H
#define P11A_BUF_H

#include <stddef.h>
#include <stdint.h>

struct p11a_buf {
	uint8_t *data;
	size_t cap; /* allocated bytes; 0 for a view */
	size_t len; /* end of valid data */
	size_t off; /* read position */
	size_t max; /* hard limit on len */
	int readonly;
};

/* An empty growable buffer that refuses to hold more than max bytes. */
void p11a_buf_init(struct p11a_buf *b, size_t max);
/* A read-only buffer over len bytes at p (not copied, not freed). */
void p11a_buf_view(struct p11a_buf *b, const void *p, size_t len);
/* Wipe and release the storage; safe on a zeroed or freed buffer. */
void p11a_buf_free(struct p11a_buf *b);
/* Drop all contents (keeps the allocation). */
void p11a_buf_reset(struct p11a_buf *b);
/* Move unread bytes to the front so the space before them is reused. */
void p11a_buf_compact(struct p11a_buf *b);

size_t p11a_buf_remaining(const struct p11a_buf *b);
/* Bytes that can still be appended before max is reached (0 for a view). */
size_t p11a_buf_room(const struct p11a_buf *b);
/* Pointer to the first unread byte; valid until the next write. */
const uint8_t *p11a_buf_ptr(const struct p11a_buf *b);
/* Skip n unread bytes; P11A_ERR_TRUNCATED if fewer remain. */
int p11a_buf_consume(struct p11a_buf *b, size_t n);

/*
 * Room for n more bytes at the end, returned in *p for a caller such as
 * read(2) to fill; then p11a_buf_commit() says how many it wrote.  Only
 * n bytes are guaranteed: read at most n, e.g.
 * n = min(CHUNK, p11a_buf_room(b)).
 */
int p11a_buf_reserve(struct p11a_buf *b, size_t n, uint8_t **p);
int p11a_buf_commit(struct p11a_buf *b, size_t n);

int p11a_buf_put_u8(struct p11a_buf *b, uint8_t v);
int p11a_buf_put_u16(struct p11a_buf *b, uint16_t v);
int p11a_buf_put_u32(struct p11a_buf *b, uint32_t v);
int p11a_buf_put_u64(struct p11a_buf *b, uint64_t v);
int p11a_buf_put_raw(struct p11a_buf *b, const void *p, size_t n);
/* u32 length then the bytes */
int p11a_buf_put_bytes(struct p11a_buf *b, const void *p, size_t n);
/* like put_bytes; NULL is written as the empty string */
int p11a_buf_put_cstring(struct p11a_buf *b, const char *s);
/* overwrite a u32 written earlier at absolute position pos */
int p11a_buf_poke_u32(struct p11a_buf *b, size_t pos, uint32_t v);

int p11a_buf_get_u8(struct p11a_buf *b, uint8_t *v);
int p11a_buf_get_u16(struct p11a_buf *b, uint16_t *v);
int p11a_buf_get_u32(struct p11a_buf *b, uint32_t *v);
int p11a_buf_get_u64(struct p11a_buf *b, uint64_t *v);
/* peek a u32 at the read position without consuming it */
int p11a_buf_peek_u32(const struct p11a_buf *b, uint32_t *v);
/* u32 length then bytes; *p points into the buffer (no copy) */
int p11a_buf_get_bytes_view(struct p11a_buf *b, const uint8_t **p, size_t *n);
/* u32 length then bytes, copied into a fresh allocation (NULL if 0) */
int p11a_buf_get_bytes_dup(struct p11a_buf *b, uint8_t **p, size_t *n);
/*
 * u32 length then bytes, copied into a NUL-terminated string; a string
 * with an embedded NUL is rejected with P11A_ERR_PROTOCOL.
 */
int p11a_buf_get_cstring(struct p11a_buf *b, char **s);

#endif
