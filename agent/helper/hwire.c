#include "hwire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <p11-kit/p11-kit.h>

#include "log.h"
#include "p11agent/error.h"
#include "p11agent/protocol.h"
#include "sendall.h"

static int
decode_login(struct p11a_buf *p, struct hreq *r)
{
	int e;

	if ((e = p11a_buf_get_u64(p, &r->slot)) != P11A_OK ||
	    (e = p11a_buf_get_u64(p, &r->user_type)) != P11A_OK)
		return e;
	return p11a_buf_get_bytes_view(p, &r->pin, &r->pin_len);
}

static int
decode_sign(struct p11a_buf *p, struct hreq *r)
{
	int e;

	if ((e = p11a_buf_get_u64(p, &r->slot)) != P11A_OK ||
	    (e = p11a_buf_get_u64(p, &r->key)) != P11A_OK ||
	    (e = p11a_buf_get_u64(p, &r->mechanism)) != P11A_OK ||
	    (e = p11a_buf_get_u8(p, &r->has_pss)) != P11A_OK)
		return e;
	if (r->has_pss > 1)
		return P11A_ERR_PROTOCOL;
	if (r->has_pss && ((e = p11a_buf_get_u64(p, &r->pss_hash)) != P11A_OK ||
			   (e = p11a_buf_get_u64(p, &r->pss_mgf)) != P11A_OK ||
			   (e = p11a_buf_get_u64(p, &r->pss_salt)) != P11A_OK))
		return e;
	if ((e = p11a_buf_get_bytes_view(p, &r->data, &r->data_len)) !=
		    P11A_OK ||
	    (e = p11a_buf_get_u8(p, &r->auth)) != P11A_OK)
		return e;
	if (r->auth > 1)
		return P11A_ERR_PROTOCOL;
	return r->auth ? p11a_buf_get_bytes_view(p, &r->pin, &r->pin_len)
		       : P11A_OK;
}

static int
decode_fields(struct p11a_buf *p, struct hreq *r)
{
	switch (r->type) {
	case H_HELLO:
		return p11a_buf_get_u32(p, &r->version);
	case H_LOGIN:
		return decode_login(p, r);
	case H_LOGOUT:
	case H_KEYS:
	case H_PROBE:
		return p11a_buf_get_u64(p, &r->slot);
	case H_SIGN:
		return decode_sign(p, r);
	case H_PING:
	case H_SHUTDOWN:
		return P11A_OK;
	default:
		return P11A_ERR_UNKNOWN_MESSAGE;
	}
}

int
hwire_decode(struct p11a_buf *p, struct hreq *r)
{
	int e = decode_fields(p, r);

	if (e != P11A_OK)
		return e;
	return p11a_buf_remaining(p) == 0 ? P11A_OK : P11A_ERR_TRAILING_DATA;
}

int
hwire_send(struct helper *h, uint8_t type, uint32_t id,
	   const struct p11a_buf *payload)
{
	size_t n = p11a_buf_remaining(payload);
	struct p11a_buf f;
	int r = -1;

	p11a_buf_init(&f, P11A_FRAME_HEADER_LEN + P11A_MAX_FRAME);
	if (n > P11A_MAX_FRAME - P11A_FRAME_BODY_MIN ||
	    p11a_buf_put_u32(&f, (uint32_t)(P11A_FRAME_BODY_MIN + n)) !=
		    P11A_OK ||
	    p11a_buf_put_u8(&f, type) != P11A_OK ||
	    p11a_buf_put_u32(&f, id) != P11A_OK ||
	    p11a_buf_put_raw(&f, p11a_buf_ptr(payload), n) != P11A_OK) {
		log_error("reply %u of type 0x%02x does not fit a frame", id,
			  type);
		goto out;
	}
	/* one whole frame per lock: replies from workers never interleave */
	pthread_mutex_lock(&h->write_lock);
	r = p11a_send_all(HELPER_FD, p11a_buf_ptr(&f), p11a_buf_remaining(&f));
	pthread_mutex_unlock(&h->write_lock);
	if (r != 0)
		log_debug("reply %u not sent: %s", id, strerror(errno));
out:
	p11a_buf_free(&f);
	return r;
}

int
hwire_send_empty(struct helper *h, uint8_t type, uint32_t id)
{
	struct p11a_buf none;

	p11a_buf_view(&none, NULL, 0);
	return hwire_send(h, type, id, &none);
}

int
hwire_send_rv(struct helper *h, uint32_t id, int code, CK_RV rv,
	      const char *call)
{
	char msg[160];
	struct p11a_buf p;
	int r = -1;

	snprintf(msg, sizeof(msg), "%s: %s", call, p11_kit_strerror(rv));
	p11a_buf_init(&p, sizeof(msg) + 16);
	if (p11a_buf_put_u32(&p, (uint32_t)code) == P11A_OK &&
	    p11a_buf_put_u64(&p, rv) == P11A_OK &&
	    p11a_buf_put_cstring(&p, msg) == P11A_OK)
		r = hwire_send(h, H_ERROR, id, &p);
	p11a_buf_free(&p);
	return r;
}

static int
put_version(struct p11a_buf *b, CK_VERSION v)
{
	int e = p11a_buf_put_u8(b, v.major);

	return e != P11A_OK ? e : p11a_buf_put_u8(b, v.minor);
}

static int
put_token(struct p11a_buf *b, const struct htoken *t)
{
	const CK_TOKEN_INFO *ti = &t->info;
	int e;

	if ((e = p11a_buf_put_u64(b, t->slot)) != P11A_OK ||
	    (e = p11a_buf_put_raw(b, ti->label, 32)) != P11A_OK ||
	    (e = p11a_buf_put_raw(b, ti->manufacturerID, 32)) != P11A_OK ||
	    (e = p11a_buf_put_raw(b, ti->model, 16)) != P11A_OK ||
	    (e = p11a_buf_put_raw(b, ti->serialNumber, 16)) != P11A_OK ||
	    (e = p11a_buf_put_u64(b, ti->flags)) != P11A_OK ||
	    (e = p11a_buf_put_u64(b, ti->ulMaxSessionCount)) != P11A_OK ||
	    (e = p11a_buf_put_u64(b, ti->ulSessionCount)) != P11A_OK ||
	    (e = p11a_buf_put_u64(b, ti->ulMaxPinLen)) != P11A_OK ||
	    (e = p11a_buf_put_u64(b, ti->ulMinPinLen)) != P11A_OK ||
	    (e = put_version(b, ti->hardwareVersion)) != P11A_OK ||
	    (e = put_version(b, ti->firmwareVersion)) != P11A_OK)
		return e;
	return p11a_buf_put_u32(b, t->opened);
}

int
hwire_hello_reply(const struct helper *h, uint32_t version,
		  struct p11a_buf *out)
{
	const CK_INFO *mi = &h->info;
	int e;

	if ((e = p11a_buf_put_u32(out, version)) != P11A_OK ||
	    (e = put_version(out, mi->cryptokiVersion)) != P11A_OK ||
	    (e = p11a_buf_put_raw(out, mi->manufacturerID, 32)) != P11A_OK ||
	    (e = p11a_buf_put_u64(out, mi->flags)) != P11A_OK ||
	    (e = p11a_buf_put_raw(out, mi->libraryDescription, 32)) !=
		    P11A_OK ||
	    (e = put_version(out, mi->libraryVersion)) != P11A_OK ||
	    (e = p11a_buf_put_u32(out, (uint32_t)h->n_tokens)) != P11A_OK)
		return e;
	for (size_t i = 0; i < h->n_tokens; i++)
		if ((e = put_token(out, &h->tokens[i])) != P11A_OK)
			return e;
	/* 1: slot events come as H_EVENT, the agent need not poll */
	return p11a_buf_put_u8(out, (uint8_t)h->slot_events);
}
