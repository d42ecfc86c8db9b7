/*
 * Frame and message codec.  Payload layouts are in docs/PROTOCOL.md; each
 * encoder and decoder below reads like the byte table there.
 *
 * Encoders append one frame and, on any failure, cut the output back to
 * where it was.  Decoders zero their output first, restore the payload's
 * read position and free what they allocated on failure, and reject bytes
 * left over after the last field.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11agent/error.h"
#include "wire.h"

/*
 * Smallest encoding of one element of a counted list, used to refuse a
 * count that cannot fit in the bytes left before allocating for it.
 * identity: id, uri, label (3 x u32 length), key_type u8, bits u16,
 * curve (u32 length), flags u32, n_schemes u16, cert, spki (2 x u32).
 */
#define IDENTITY_MIN_LEN (4 + 4 + 4 + 1 + 2 + 4 + 4 + 2 + 4 + 4)
/* token: label, uri, module (3 x u32 length), 3 x u32, 3 x u64 */
#define TOKEN_MIN_LEN (4 + 4 + 4 + 4 + 4 + 4 + 8 + 8 + 8)
/* token detail: sessions, queued, running */
#define TOKEN_DETAIL_LEN (4 + 4 + 4)
/* identity paths: id (u32 length), token u32, n_paths u16 */
#define PATHS_MIN_LEN (4 + 4 + 2)

int
p11a_frame_next(struct p11a_buf *in, size_t max_frame, struct p11a_frame *f)
{
	struct p11a_buf body;
	uint32_t len;

	memset(f, 0, sizeof(*f));
	if (p11a_buf_peek_u32(in, &len) != P11A_OK)
		return P11A_ERR_INCOMPLETE;
	/* judged before the body arrives: a huge length is never waited for */
	if (len < P11A_FRAME_BODY_MIN)
		return P11A_ERR_PROTOCOL;
	if (len > max_frame)
		return P11A_ERR_FRAME_TOO_LARGE;
	if (len > p11a_buf_remaining(in) - P11A_FRAME_HEADER_LEN)
		return P11A_ERR_INCOMPLETE;

	p11a_buf_view(&body, p11a_buf_ptr(in) + P11A_FRAME_HEADER_LEN, len);
	/* cannot fail: the length was checked against both buffers above */
	if (p11a_buf_get_u8(&body, &f->type) != P11A_OK ||
	    p11a_buf_get_u32(&body, &f->id) != P11A_OK ||
	    p11a_buf_consume(in, P11A_FRAME_HEADER_LEN + len) != P11A_OK) {
		memset(f, 0, sizeof(*f));
		return P11A_ERR_INTERNAL;
	}
	p11a_buf_view(&f->payload, p11a_buf_ptr(&body),
		      p11a_buf_remaining(&body));
	return P11A_OK;
}

/*
 * Encoding state: each enc_* call does nothing once one has failed, and
 * enc_end() patches the length or cuts the frame off again.
 */
struct enc {
	struct p11a_buf *out;
	size_t start; /* where the frame begins in out */
	int r;	      /* first failure, sticky */
};

static void
enc_fail(struct enc *e, int r)
{
	if (e->r == P11A_OK)
		e->r = r;
}

static void
enc_u8(struct enc *e, uint8_t v)
{
	if (e->r == P11A_OK)
		e->r = p11a_buf_put_u8(e->out, v);
}

static void
enc_u16(struct enc *e, uint16_t v)
{
	if (e->r == P11A_OK)
		e->r = p11a_buf_put_u16(e->out, v);
}

static void
enc_u32(struct enc *e, uint32_t v)
{
	if (e->r == P11A_OK)
		e->r = p11a_buf_put_u32(e->out, v);
}

static void
enc_u64(struct enc *e, uint64_t v)
{
	if (e->r == P11A_OK)
		e->r = p11a_buf_put_u64(e->out, v);
}

static void
enc_begin(struct enc *e, struct p11a_buf *out, uint8_t type, uint32_t id)
{
	e->out = out;
	e->start = out->len;
	e->r = P11A_OK;
	enc_u32(e, 0); /* body length, patched by enc_end() */
	enc_u8(e, type);
	enc_u32(e, id);
}

/* NULL is sent as the empty string */
static void
enc_string(struct enc *e, const char *s)
{
	if (e->r == P11A_OK)
		e->r = p11a_buf_put_cstring(e->out, s);
}

static void
enc_bytes(struct enc *e, const uint8_t *p, size_t n)
{
	if (e->r == P11A_OK)
		e->r = p11a_buf_put_bytes(e->out, p, n);
}

/* A count sent as u32. */
static void
enc_count(struct enc *e, size_t n)
{
	if (n > UINT32_MAX)
		enc_fail(e, P11A_ERR_INVALID_ARGUMENT);
	enc_u32(e, (uint32_t)n);
}

static int
enc_end(struct enc *e)
{
	struct p11a_buf *out = e->out;
	size_t body;

	if (e->r == P11A_OK) {
		body = out->len - e->start - P11A_FRAME_HEADER_LEN;
		if (body > P11A_MAX_FRAME)
			e->r = P11A_ERR_FRAME_TOO_LARGE;
		else
			e->r = p11a_buf_poke_u32(out, e->start, (uint32_t)body);
	}
	if (e->r != P11A_OK && out->len > e->start) {
		/* an UNLOCK frame carries a PIN */
		OPENSSL_cleanse(out->data + e->start, out->len - e->start);
		out->len = e->start;
	}
	return e->r;
}

int
p11a_encode_hello(struct p11a_buf *out, uint32_t id, const struct p11a_hello *h)
{
	struct enc e;

	enc_begin(&e, out, P11A_MSG_HELLO, id);
	enc_u16(&e, h->min_version);
	enc_u16(&e, h->version);
	enc_string(&e, h->name);
	return enc_end(&e);
}

int
p11a_encode_hello_reply(struct p11a_buf *out, uint32_t id,
			const struct p11a_hello *h)
{
	struct enc e;

	enc_begin(&e, out, P11A_MSG_HELLO_REPLY, id);
	enc_u16(&e, h->version);
	enc_string(&e, h->name);
	enc_string(&e, h->software);
	enc_u32(&e, h->capabilities);
	enc_u32(&e, h->max_frame);
	return enc_end(&e);
}

int
p11a_encode_empty(struct p11a_buf *out, uint8_t type, uint32_t id)
{
	struct enc e;

	enc_begin(&e, out, type, id);
	return enc_end(&e);
}

int
p11a_encode_sign(struct p11a_buf *out, uint32_t id,
		 const struct p11a_sign_request *req)
{
	struct enc e;

	/* the agent would answer PROTOCOL and close the connection */
	if (req->identity == NULL || req->identity[0] == '\0')
		return P11A_ERR_INVALID_ARGUMENT;
	enc_begin(&e, out, P11A_MSG_SIGN, id);
	enc_string(&e, req->identity);
	enc_u16(&e, req->scheme);
	enc_u32(&e, req->flags);
	enc_bytes(&e, req->data, req->data_len);
	return enc_end(&e);
}

int
p11a_encode_unlock(struct p11a_buf *out, uint32_t id, const char *token_uri,
		   const uint8_t *pin, size_t pin_len, uint32_t flags)
{
	struct enc e;

	enc_begin(&e, out, P11A_MSG_UNLOCK, id);
	enc_string(&e, token_uri);
	enc_bytes(&e, pin, pin_len);
	if (flags != 0)
		enc_u32(&e, flags);
	return enc_end(&e);
}

static void
enc_identity(struct enc *e, const struct p11a_identity *it)
{
	size_t i;

	if (it->n_schemes > P11A_MAX_SCHEMES) {
		enc_fail(e, P11A_ERR_INVALID_ARGUMENT);
		return;
	}
	enc_string(e, it->id);
	enc_string(e, it->uri);
	enc_string(e, it->label);
	enc_u8(e, it->key_type);
	enc_u16(e, it->bits);
	enc_string(e, it->curve);
	enc_u32(e, it->flags);
	enc_u16(e, (uint16_t)it->n_schemes);
	for (i = 0; i < it->n_schemes; i++)
		enc_u16(e, it->schemes[i]);
	enc_bytes(e, it->cert, it->cert_len);
	enc_bytes(e, it->spki, it->spki_len);
}

int
p11a_encode_identities(struct p11a_buf *out, uint32_t id,
		       const struct p11a_identity *items, size_t n)
{
	struct enc e;
	size_t i;

	if (items == NULL && n > 0)
		return P11A_ERR_INVALID_ARGUMENT;
	enc_begin(&e, out, P11A_MSG_IDENTITIES, id);
	enc_count(&e, n);
	for (i = 0; i < n && e.r == P11A_OK; i++)
		enc_identity(&e, &items[i]);
	return enc_end(&e);
}

int
p11a_encode_signature(struct p11a_buf *out, uint32_t id, const uint8_t *sig,
		      size_t sig_len)
{
	struct enc e;

	enc_begin(&e, out, P11A_MSG_SIGNATURE, id);
	enc_bytes(&e, sig, sig_len);
	return enc_end(&e);
}

static void
enc_token(struct enc *e, const struct p11a_token_status *t)
{
	enc_string(e, t->label);
	enc_string(e, t->uri);
	enc_string(e, t->module);
	enc_u32(e, t->flags);
	enc_u32(e, t->identities);
	enc_u32(e, t->workers);
	enc_u64(e, t->signs);
	enc_u64(e, t->errors);
	enc_u64(e, t->sign_usec_total);
}

int
p11a_encode_status(struct p11a_buf *out, uint32_t id, uint32_t flags)
{
	struct enc e;

	enc_begin(&e, out, P11A_MSG_STATUS, id);
	if (flags != 0)
		enc_u32(&e, flags);
	return enc_end(&e);
}

static void
enc_status(struct enc *e, const struct p11a_status *st)
{
	size_t i;

	if (st->tokens == NULL && st->n_tokens > 0) {
		enc_fail(e, P11A_ERR_INVALID_ARGUMENT);
		return;
	}
	enc_string(e, st->software);
	enc_u64(e, st->uptime_sec);
	enc_u32(e, st->connections);
	enc_u64(e, st->requests);
	enc_count(e, st->n_tokens);
	for (i = 0; i < st->n_tokens && e->r == P11A_OK; i++)
		enc_token(e, &st->tokens[i]);
}

int
p11a_encode_status_reply(struct p11a_buf *out, uint32_t id,
			 const struct p11a_status *st)
{
	struct enc e;

	enc_begin(&e, out, P11A_MSG_STATUS_REPLY, id);
	enc_status(&e, st);
	return enc_end(&e);
}

static void
enc_identity_paths(struct enc *e, const struct p11a_identity_paths *ip,
		   size_t n_tokens)
{
	if (ip->n_paths > P11A_MAX_SCHEMES || ip->token >= n_tokens) {
		enc_fail(e, P11A_ERR_INVALID_ARGUMENT);
		return;
	}
	enc_string(e, ip->id);
	enc_u32(e, ip->token);
	enc_u16(e, (uint16_t)ip->n_paths);
	for (size_t i = 0; i < ip->n_paths; i++) {
		enc_u16(e, ip->paths[i].scheme);
		enc_u8(e, ip->paths[i].path);
		enc_u32(e, ip->paths[i].mechanism);
	}
}

int
p11a_encode_status_detail_reply(struct p11a_buf *out, uint32_t id,
				const struct p11a_status_detail *d)
{
	const size_t n_tokens = d->status.n_tokens;
	struct enc e;
	size_t i;

	enc_begin(&e, out, P11A_MSG_STATUS_REPLY, id);
	enc_status(&e, &d->status);
	if ((d->tokens == NULL && n_tokens > 0) ||
	    (d->identities == NULL && d->n_identities > 0))
		enc_fail(&e, P11A_ERR_INVALID_ARGUMENT);
	for (i = 0; i < n_tokens && e.r == P11A_OK; i++) {
		enc_u32(&e, d->tokens[i].sessions);
		enc_u32(&e, d->tokens[i].queued);
		enc_u32(&e, d->tokens[i].running);
	}
	enc_count(&e, d->n_identities);
	for (i = 0; i < d->n_identities && e.r == P11A_OK; i++)
		enc_identity_paths(&e, &d->identities[i], n_tokens);
	return enc_end(&e);
}

int
p11a_encode_error(struct p11a_buf *out, uint32_t id, uint32_t code,
		  const char *message)
{
	struct enc e;

	enc_begin(&e, out, P11A_MSG_ERROR, id);
	enc_u32(&e, code);
	enc_string(&e, message);
	return enc_end(&e);
}

/* P11A_ERR_TRAILING_DATA unless the payload has been read to the end. */
static int
check_end(const struct p11a_buf *p)
{
	return p11a_buf_remaining(p) == 0 ? P11A_OK : P11A_ERR_TRAILING_DATA;
}

int
p11a_decode_hello(struct p11a_buf *p, struct p11a_hello *h)
{
	size_t off = p->off;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = p11a_buf_get_u16(p, &h->min_version)) != P11A_OK ||
	    (r = p11a_buf_get_u16(p, &h->version)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &h->name)) != P11A_OK ||
	    (r = check_end(p)) != P11A_OK)
		goto fail;
	return P11A_OK;
fail:
	p11a_hello_clear(h);
	p->off = off;
	return r;
}

int
p11a_decode_hello_reply(struct p11a_buf *p, struct p11a_hello *h)
{
	size_t off = p->off;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = p11a_buf_get_u16(p, &h->version)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &h->name)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &h->software)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &h->capabilities)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &h->max_frame)) != P11A_OK ||
	    (r = check_end(p)) != P11A_OK)
		goto fail;
	return P11A_OK;
fail:
	p11a_hello_clear(h);
	p->off = off;
	return r;
}

int
p11a_decode_empty(struct p11a_buf *p)
{
	return check_end(p);
}

int
p11a_decode_sign(struct p11a_buf *p, struct p11a_sign_view *v)
{
	size_t off = p->off;
	int r;

	memset(v, 0, sizeof(*v));
	if ((r = p11a_buf_get_bytes_view(p, &v->identity, &v->identity_len)) !=
	    P11A_OK)
		goto fail;
	if (v->identity_len == 0 ||
	    memchr(v->identity, '\0', v->identity_len) != NULL) {
		r = P11A_ERR_PROTOCOL;
		goto fail;
	}
	if ((r = p11a_buf_get_u16(p, &v->scheme)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &v->flags)) != P11A_OK ||
	    (r = p11a_buf_get_bytes_view(p, &v->data, &v->data_len)) !=
		    P11A_OK ||
	    (r = check_end(p)) != P11A_OK)
		goto fail;
	return P11A_OK;
fail:
	memset(v, 0, sizeof(*v));
	p->off = off;
	return r;
}

int
p11a_decode_unlock(struct p11a_buf *p, char **token_uri, const uint8_t **pin,
		   size_t *pin_len, uint32_t *flags)
{
	size_t off = p->off;
	int r;

	*token_uri = NULL;
	*pin = NULL;
	*pin_len = 0;
	*flags = 0;
	if ((r = p11a_buf_get_cstring(p, token_uri)) != P11A_OK ||
	    (r = p11a_buf_get_bytes_view(p, pin, pin_len)) != P11A_OK ||
	    (p11a_buf_remaining(p) >= 4 &&
	     (r = p11a_buf_get_u32(p, flags)) != P11A_OK) ||
	    (r = check_end(p)) != P11A_OK)
		goto fail;
	if ((*token_uri)[0] == '\0') {
		/* "" means every token */
		free(*token_uri);
		*token_uri = NULL;
	}
	return P11A_OK;
fail:
	free(*token_uri);
	*token_uri = NULL;
	*pin = NULL;
	*pin_len = 0;
	*flags = 0;
	p->off = off;
	return r;
}

static int
get_identity(struct p11a_buf *p, struct p11a_identity *it)
{
	uint16_t n;
	size_t i;
	int r;

	if ((r = p11a_buf_get_cstring(p, &it->id)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &it->uri)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &it->label)) != P11A_OK ||
	    (r = p11a_buf_get_u8(p, &it->key_type)) != P11A_OK ||
	    (r = p11a_buf_get_u16(p, &it->bits)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &it->curve)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &it->flags)) != P11A_OK ||
	    (r = p11a_buf_get_u16(p, &n)) != P11A_OK)
		return r;
	if (n > P11A_MAX_SCHEMES)
		return P11A_ERR_PROTOCOL;
	for (i = 0; i < n; i++) {
		if ((r = p11a_buf_get_u16(p, &it->schemes[i])) != P11A_OK)
			return r;
	}
	it->n_schemes = n;
	if ((r = p11a_buf_get_bytes_dup(p, &it->cert, &it->cert_len)) !=
		    P11A_OK ||
	    (r = p11a_buf_get_bytes_dup(p, &it->spki, &it->spki_len)) !=
		    P11A_OK)
		return r;
	return P11A_OK;
}

/*
 * Room for count decoded items, refused before anything is allocated
 * when count items of at least min_len bytes cannot fit in what remains.
 */
static int
alloc_counted(struct p11a_buf *p, uint32_t count, size_t min_len, size_t size,
	      void **items)
{
	*items = NULL;
	if (count > p11a_buf_remaining(p) / min_len)
		return P11A_ERR_TRUNCATED;
	if (count > 0 && (*items = calloc(count, size)) == NULL)
		return P11A_ERR_NO_MEMORY;
	return P11A_OK;
}

int
p11a_decode_identities(struct p11a_buf *p, struct p11a_identity_list *list)
{
	size_t off = p->off;
	uint32_t count;
	int r;

	memset(list, 0, sizeof(*list));
	if ((r = p11a_buf_get_u32(p, &count)) != P11A_OK ||
	    (r = alloc_counted(p, count, IDENTITY_MIN_LEN, sizeof(*list->items),
			       (void **)&list->items)) != P11A_OK)
		goto fail;
	/* n counts the items to clear, including a half-decoded one */
	for (list->n = 0; list->n < count;) {
		r = get_identity(p, &list->items[list->n++]);
		if (r != P11A_OK)
			goto fail;
	}
	if ((r = check_end(p)) != P11A_OK)
		goto fail;
	return P11A_OK;
fail:
	p11a_identity_list_clear(list);
	p->off = off;
	return r;
}

int
p11a_decode_signature(struct p11a_buf *p, const uint8_t **sig, size_t *sig_len)
{
	size_t off = p->off;
	int r;

	if ((r = p11a_buf_get_bytes_view(p, sig, sig_len)) != P11A_OK ||
	    (r = check_end(p)) != P11A_OK)
		goto fail;
	return P11A_OK;
fail:
	*sig = NULL;
	*sig_len = 0;
	p->off = off;
	return r;
}

static int
get_token(struct p11a_buf *p, struct p11a_token_status *t)
{
	int r;

	if ((r = p11a_buf_get_cstring(p, &t->label)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &t->uri)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, &t->module)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &t->flags)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &t->identities)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &t->workers)) != P11A_OK ||
	    (r = p11a_buf_get_u64(p, &t->signs)) != P11A_OK ||
	    (r = p11a_buf_get_u64(p, &t->errors)) != P11A_OK ||
	    (r = p11a_buf_get_u64(p, &t->sign_usec_total)) != P11A_OK)
		return r;
	return P11A_OK;
}

int
p11a_decode_status(struct p11a_buf *p, uint32_t *flags)
{
	size_t off = p->off;
	int r;

	*flags = 0;
	if ((p11a_buf_remaining(p) >= 4 &&
	     (r = p11a_buf_get_u32(p, flags)) != P11A_OK) ||
	    (r = check_end(p)) != P11A_OK) {
		*flags = 0;
		p->off = off;
		return r;
	}
	return P11A_OK;
}

/* The fields of every STATUS_REPLY; the caller checks what follows. */
static int
get_status(struct p11a_buf *p, struct p11a_status *st)
{
	uint32_t count;
	int r;

	if ((r = p11a_buf_get_cstring(p, &st->software)) != P11A_OK ||
	    (r = p11a_buf_get_u64(p, &st->uptime_sec)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &st->connections)) != P11A_OK ||
	    (r = p11a_buf_get_u64(p, &st->requests)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &count)) != P11A_OK ||
	    (r = alloc_counted(p, count, TOKEN_MIN_LEN, sizeof(*st->tokens),
			       (void **)&st->tokens)) != P11A_OK)
		return r;
	for (st->n_tokens = 0; st->n_tokens < count;) {
		r = get_token(p, &st->tokens[st->n_tokens++]);
		if (r != P11A_OK)
			return r;
	}
	return P11A_OK;
}

int
p11a_decode_status_reply(struct p11a_buf *p, struct p11a_status *st)
{
	size_t off = p->off;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = get_status(p, st)) != P11A_OK || (r = check_end(p)) != P11A_OK)
		goto fail;
	return P11A_OK;
fail:
	p11a_status_clear(st);
	p->off = off;
	return r;
}

static int
get_identity_paths(struct p11a_buf *p, struct p11a_identity_paths *ip,
		   size_t n_tokens)
{
	uint16_t n;
	int r;

	if ((r = p11a_buf_get_cstring(p, &ip->id)) != P11A_OK ||
	    (r = p11a_buf_get_u32(p, &ip->token)) != P11A_OK ||
	    (r = p11a_buf_get_u16(p, &n)) != P11A_OK)
		return r;
	if (ip->token >= n_tokens || n > P11A_MAX_SCHEMES)
		return P11A_ERR_PROTOCOL;
	for (ip->n_paths = 0; ip->n_paths < n; ip->n_paths++) {
		struct p11a_scheme_path *sp = &ip->paths[ip->n_paths];

		if ((r = p11a_buf_get_u16(p, &sp->scheme)) != P11A_OK ||
		    (r = p11a_buf_get_u8(p, &sp->path)) != P11A_OK ||
		    (r = p11a_buf_get_u32(p, &sp->mechanism)) != P11A_OK)
			return r;
	}
	return P11A_OK;
}

/* What follows the tokens in a reply to STATUS with P11A_STATUS_DETAIL. */
static int
get_status_detail(struct p11a_buf *p, struct p11a_status_detail *d)
{
	const size_t n_tokens = d->status.n_tokens;
	uint32_t count;
	int r;

	if (n_tokens > p11a_buf_remaining(p) / TOKEN_DETAIL_LEN)
		return P11A_ERR_TRUNCATED;
	if (n_tokens > 0 &&
	    (d->tokens = calloc(n_tokens, sizeof(*d->tokens))) == NULL)
		return P11A_ERR_NO_MEMORY;
	for (size_t i = 0; i < n_tokens; i++)
		if ((r = p11a_buf_get_u32(p, &d->tokens[i].sessions)) !=
			    P11A_OK ||
		    (r = p11a_buf_get_u32(p, &d->tokens[i].queued)) !=
			    P11A_OK ||
		    (r = p11a_buf_get_u32(p, &d->tokens[i].running)) != P11A_OK)
			return r;
	if ((r = p11a_buf_get_u32(p, &count)) != P11A_OK ||
	    (r = alloc_counted(p, count, PATHS_MIN_LEN, sizeof(*d->identities),
			       (void **)&d->identities)) != P11A_OK)
		return r;
	for (d->n_identities = 0; d->n_identities < count;) {
		r = get_identity_paths(p, &d->identities[d->n_identities++],
				       n_tokens);
		if (r != P11A_OK)
			return r;
	}
	return P11A_OK;
}

int
p11a_decode_status_detail_reply(struct p11a_buf *p,
				struct p11a_status_detail *d)
{
	size_t off = p->off;
	int r;

	memset(d, 0, sizeof(*d));
	if ((r = get_status(p, &d->status)) != P11A_OK ||
	    (r = get_status_detail(p, d)) != P11A_OK ||
	    (r = check_end(p)) != P11A_OK)
		goto fail;
	d->detailed = 1;
	return P11A_OK;
fail:
	p11a_status_detail_clear(d);
	p->off = off;
	return r;
}

int
p11a_decode_error(struct p11a_buf *p, uint32_t *code, char **message)
{
	size_t off = p->off;
	int r;

	*code = 0;
	*message = NULL;
	if ((r = p11a_buf_get_u32(p, code)) != P11A_OK ||
	    (r = p11a_buf_get_cstring(p, message)) != P11A_OK ||
	    (r = check_end(p)) != P11A_OK)
		goto fail;
	return P11A_OK;
fail:
	free(*message);
	*message = NULL;
	*code = 0;
	p->off = off;
	return r;
}

void
p11a_hello_clear(struct p11a_hello *h)
{
	if (h == NULL)
		return;
	free(h->name);
	free(h->software);
	memset(h, 0, sizeof(*h));
}

void
p11a_identity_clear(struct p11a_identity *id)
{
	if (id == NULL)
		return;
	free(id->id);
	free(id->uri);
	free(id->label);
	free(id->curve);
	free(id->cert);
	free(id->spki);
	memset(id, 0, sizeof(*id));
}

void
p11a_identity_list_clear(struct p11a_identity_list *list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < list->n; i++)
		p11a_identity_clear(&list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static void
token_status_clear(struct p11a_token_status *t)
{
	free(t->label);
	free(t->uri);
	free(t->module);
	memset(t, 0, sizeof(*t));
}

void
p11a_status_clear(struct p11a_status *st)
{
	size_t i;

	if (st == NULL)
		return;
	free(st->software);
	/* a decoder that failed to allocate tokens leaves n_tokens 0 */
	for (i = 0; st->tokens != NULL && i < st->n_tokens; i++)
		token_status_clear(&st->tokens[i]);
	free(st->tokens);
	memset(st, 0, sizeof(*st));
}

void
p11a_status_detail_clear(struct p11a_status_detail *d)
{
	if (d == NULL)
		return;
	p11a_status_clear(&d->status);
	free(d->tokens);
	for (size_t i = 0; d->identities != NULL && i < d->n_identities; i++)
		free(d->identities[i].id);
	free(d->identities);
	memset(d, 0, sizeof(*d));
}
