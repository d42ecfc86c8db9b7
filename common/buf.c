/*
 * The one bounds-checked byte buffer.  This is the only file that turns
 * integers into wire bytes and back.
 *
 * Invariants: off <= len <= cap (len <= max as well for a growable
 * buffer).  Every read compares the wanted size against len - off, which
 * cannot overflow, and a failed read or write changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11agent/error.h"
#include "buf.h"

/* First allocation; doubled from there up to max. */
#define BUF_MIN_CAP 256u

#define PEEK_U16(p) ((uint16_t)(((uint16_t)(p)[0] << 8) | (uint16_t)(p)[1]))
#define PEEK_U32(p)                                                            \
	(((uint32_t)(p)[0] << 24) | ((uint32_t)(p)[1] << 16) |                 \
	 ((uint32_t)(p)[2] << 8) | (uint32_t)(p)[3])
#define POKE_U16(p, v)                                                         \
	do {                                                                   \
		(p)[0] = (uint8_t)((v) >> 8);                                  \
		(p)[1] = (uint8_t)(v);                                         \
	} while (0)
#define POKE_U32(p, v)                                                         \
	do {                                                                   \
		(p)[0] = (uint8_t)((v) >> 24);                                 \
		(p)[1] = (uint8_t)((v) >> 16);                                 \
		(p)[2] = (uint8_t)((v) >> 8);                                  \
		(p)[3] = (uint8_t)(v);                                         \
	} while (0)

void
p11a_buf_init(struct p11a_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
p11a_buf_view(struct p11a_buf *b, const void *p, size_t len)
{
	memset(b, 0, sizeof(*b));
	/* const is dropped here only; readonly guards every write */
	b->data = (uint8_t *)(uintptr_t)p;
	b->len = p == NULL ? 0 : len;
	b->max = b->len;
	b->readonly = 1;
}

void
p11a_buf_free(struct p11a_buf *b)
{
	if (b == NULL)
		return;
	if (!b->readonly && b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

void
p11a_buf_reset(struct p11a_buf *b)
{
	if (!b->readonly && b->data != NULL)
		OPENSSL_cleanse(b->data, b->len);
	b->len = 0;
	b->off = 0;
}

void
p11a_buf_compact(struct p11a_buf *b)
{
	size_t n;

	if (b->readonly || b->off == 0)
		return;
	n = b->len - b->off;
	if (n > 0)
		memmove(b->data, b->data + b->off, n);
	/* the bytes vacated at the end may have held a PIN */
	OPENSSL_cleanse(b->data + n, b->off);
	b->len = n;
	b->off = 0;
}

size_t
p11a_buf_remaining(const struct p11a_buf *b)
{
	return b->len - b->off;
}

size_t
p11a_buf_room(const struct p11a_buf *b)
{
	if (b->readonly || b->len > b->max)
		return 0;
	return b->max - b->len;
}

const uint8_t *
p11a_buf_ptr(const struct p11a_buf *b)
{
	if (b->data == NULL)
		return NULL;
	return b->data + b->off;
}

int
p11a_buf_consume(struct p11a_buf *b, size_t n)
{
	if (n > b->len - b->off)
		return P11A_ERR_TRUNCATED;
	b->off += n;
	return P11A_OK;
}

/*
 * Make room for n more bytes at len.  The old allocation is wiped, not
 * realloc()ed, because it may hold a PIN.
 */
static int
buf_ensure(struct p11a_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (b->readonly)
		return P11A_ERR_INVALID_ARGUMENT;
	if (b->len > b->max || n > b->max - b->len)
		return P11A_ERR_FRAME_TOO_LARGE;
	need = b->len + n;
	if (need <= b->cap)
		return P11A_OK;
	cap = b->cap == 0 ? BUF_MIN_CAP : b->cap;
	while (cap < need) {
		if (cap > b->max / 2) {
			cap = b->max;
			break;
		}
		cap *= 2;
	}
	if (cap > b->max)
		cap = b->max;
	if ((p = malloc(cap)) == NULL)
		return P11A_ERR_NO_MEMORY;
	if (b->data != NULL) {
		if (b->len > 0)
			memcpy(p, b->data, b->len);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return P11A_OK;
}

int
p11a_buf_reserve(struct p11a_buf *b, size_t n, uint8_t **p)
{
	int r;

	*p = NULL;
	if ((r = buf_ensure(b, n)) != P11A_OK)
		return r;
	if (b->data != NULL)
		*p = b->data + b->len;
	return P11A_OK;
}

int
p11a_buf_commit(struct p11a_buf *b, size_t n)
{
	if (b->readonly || n > b->cap - b->len)
		return P11A_ERR_INVALID_ARGUMENT;
	b->len += n;
	return P11A_OK;
}

int
p11a_buf_put_raw(struct p11a_buf *b, const void *p, size_t n)
{
	int r;

	if (p == NULL && n > 0)
		return P11A_ERR_INVALID_ARGUMENT;
	if ((r = buf_ensure(b, n)) != P11A_OK)
		return r;
	if (n > 0) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
	return P11A_OK;
}

int
p11a_buf_put_u8(struct p11a_buf *b, uint8_t v)
{
	return p11a_buf_put_raw(b, &v, 1);
}

int
p11a_buf_put_u16(struct p11a_buf *b, uint16_t v)
{
	uint8_t t[2];

	POKE_U16(t, v);
	return p11a_buf_put_raw(b, t, sizeof(t));
}

int
p11a_buf_put_u32(struct p11a_buf *b, uint32_t v)
{
	uint8_t t[4];

	POKE_U32(t, v);
	return p11a_buf_put_raw(b, t, sizeof(t));
}

int
p11a_buf_put_u64(struct p11a_buf *b, uint64_t v)
{
	uint8_t t[8];

	POKE_U32(t, (uint32_t)(v >> 32));
	POKE_U32(t + 4, (uint32_t)v);
	return p11a_buf_put_raw(b, t, sizeof(t));
}

int
p11a_buf_put_bytes(struct p11a_buf *b, const void *p, size_t n)
{
	int r;

	if (p == NULL && n > 0)
		return P11A_ERR_INVALID_ARGUMENT;
	if (n > UINT32_MAX || n > SIZE_MAX - 4)
		return P11A_ERR_FRAME_TOO_LARGE;
	/* room for both parts first, so a failure writes nothing */
	if ((r = buf_ensure(b, 4 + n)) != P11A_OK)
		return r;
	POKE_U32(b->data + b->len, (uint32_t)n);
	b->len += 4;
	if (n > 0) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
	return P11A_OK;
}

int
p11a_buf_put_cstring(struct p11a_buf *b, const char *s)
{
	return p11a_buf_put_bytes(b, s, s == NULL ? 0 : strlen(s));
}

int
p11a_buf_poke_u32(struct p11a_buf *b, size_t pos, uint32_t v)
{
	if (b->readonly || pos > b->len || 4 > b->len - pos)
		return P11A_ERR_INVALID_ARGUMENT;
	POKE_U32(b->data + pos, v);
	return P11A_OK;
}

int
p11a_buf_get_u8(struct p11a_buf *b, uint8_t *v)
{
	if (1 > b->len - b->off)
		return P11A_ERR_TRUNCATED;
	*v = b->data[b->off];
	b->off += 1;
	return P11A_OK;
}

int
p11a_buf_get_u16(struct p11a_buf *b, uint16_t *v)
{
	if (2 > b->len - b->off)
		return P11A_ERR_TRUNCATED;
	*v = PEEK_U16(b->data + b->off);
	b->off += 2;
	return P11A_OK;
}

int
p11a_buf_get_u32(struct p11a_buf *b, uint32_t *v)
{
	if (4 > b->len - b->off)
		return P11A_ERR_TRUNCATED;
	*v = PEEK_U32(b->data + b->off);
	b->off += 4;
	return P11A_OK;
}

int
p11a_buf_get_u64(struct p11a_buf *b, uint64_t *v)
{
	if (8 > b->len - b->off)
		return P11A_ERR_TRUNCATED;
	*v = ((uint64_t)PEEK_U32(b->data + b->off) << 32) |
	     PEEK_U32(b->data + b->off + 4);
	b->off += 8;
	return P11A_OK;
}

int
p11a_buf_peek_u32(const struct p11a_buf *b, uint32_t *v)
{
	if (4 > b->len - b->off)
		return P11A_ERR_TRUNCATED;
	*v = PEEK_U32(b->data + b->off);
	return P11A_OK;
}

/* Length-prefixed field at the read position, without consuming it. */
static int
buf_peek_field(const struct p11a_buf *b, const uint8_t **p, size_t *n)
{
	uint32_t len;
	int r;

	if ((r = p11a_buf_peek_u32(b, &len)) != P11A_OK)
		return r;
	if (len > b->len - b->off - 4)
		return P11A_ERR_TRUNCATED;
	*p = b->data + b->off + 4;
	*n = len;
	return P11A_OK;
}

int
p11a_buf_get_bytes_view(struct p11a_buf *b, const uint8_t **p, size_t *n)
{
	const uint8_t *q;
	size_t len;
	int r;

	*p = NULL;
	*n = 0;
	if ((r = buf_peek_field(b, &q, &len)) != P11A_OK)
		return r;
	b->off += 4 + len;
	*p = q;
	*n = len;
	return P11A_OK;
}

int
p11a_buf_get_bytes_dup(struct p11a_buf *b, uint8_t **p, size_t *n)
{
	const uint8_t *q;
	uint8_t *copy = NULL;
	size_t len;
	int r;

	*p = NULL;
	*n = 0;
	if ((r = buf_peek_field(b, &q, &len)) != P11A_OK)
		return r;
	if (len > 0) {
		if ((copy = malloc(len)) == NULL)
			return P11A_ERR_NO_MEMORY;
		memcpy(copy, q, len);
	}
	b->off += 4 + len;
	*p = copy;
	*n = len;
	return P11A_OK;
}

int
p11a_buf_get_cstring(struct p11a_buf *b, char **s)
{
	const uint8_t *q;
	char *copy;
	size_t len;
	int r;

	*s = NULL;
	if ((r = buf_peek_field(b, &q, &len)) != P11A_OK)
		return r;
	if (len > 0 && memchr(q, '\0', len) != NULL)
		return P11A_ERR_PROTOCOL;
	if ((copy = malloc(len + 1)) == NULL)
		return P11A_ERR_NO_MEMORY;
	if (len > 0)
		memcpy(copy, q, len);
	copy[len] = '\0';
	b->off += 4 + len;
	*s = copy;
	return P11A_OK;
}
