#include "job.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hwire.h"
#include "p11agent/error.h"

static size_t
page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) / page * page;
}

/* Locking is best effort: RLIMIT_MEMLOCK may be small; wiping is not. */
static uint8_t *
locked_alloc(size_t n)
{
	void *p = mmap(NULL, page_round(n), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)mlock(p, page_round(n));
	(void)madvise(p, page_round(n), MADV_DONTDUMP);
	return p;
}

static void
copy_free(struct hjob *j)
{
	if (j->copy == NULL)
		return;
	OPENSSL_cleanse(j->copy, j->copy_len);
	if (j->locked) {
		munlock(j->copy, page_round(j->copy_len + 1));
		munmap(j->copy, page_round(j->copy_len + 1));
	} else {
		free(j->copy);
	}
	j->copy = NULL;
}

/* Whether the payload carries a PIN, and so goes to a locked page. */
static int
job_has_pin(uint8_t type, const struct p11a_buf *payload)
{
	struct hreq peek = {.type = type};
	struct p11a_buf view;

	if (type == H_LOGIN)
		return 1;
	if (type != H_SIGN)
		return 0;
	p11a_buf_view(&view, p11a_buf_ptr(payload),
		      p11a_buf_remaining(payload));
	/* a malformed one is caught by the decode of the copy */
	return hwire_decode(&view, &peek) == P11A_OK && peek.auth;
}

struct hjob *
job_new(uint8_t type, uint32_t id, const struct p11a_buf *payload, int *err)
{
	size_t n = p11a_buf_remaining(payload);
	struct p11a_buf view;
	struct hjob *j;

	*err = P11A_ERR_NO_MEMORY;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->locked = job_has_pin(type, payload);
	j->copy_len = n;
	/* one spare byte: a zero-length payload still gets a buffer */
	j->copy = j->locked ? locked_alloc(n + 1) : malloc(n + 1);
	if (j->copy == NULL) {
		free(j);
		return NULL;
	}
	memcpy(j->copy, p11a_buf_ptr(payload), n);
	j->req.type = type;
	j->req.id = id;
	p11a_buf_view(&view, j->copy, n);
	if ((*err = hwire_decode(&view, &j->req)) != P11A_OK) {
		job_free(j);
		return NULL;
	}
	return j;
}

void
job_free(struct hjob *j)
{
	if (j == NULL)
		return;
	copy_free(j);
	free(j);
}
