/*
 * common/buf.c: bounds, growth, the maximum, read-only views.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "p11agent/error.h"
#include "buf.h"
#include "unit.h"

static void
buf_init_is_empty(void **state)
{
	struct p11a_buf b;

	(void)state;
	p11a_buf_init(&b, 100);
	assert_int_equal(p11a_buf_remaining(&b), 0);
	assert_null(p11a_buf_ptr(&b));
	assert_int_equal(b.max, 100);
	assert_false(b.readonly);
	p11a_buf_free(&b);
}

static void
buf_puts_are_big_endian(void **state)
{
	struct p11a_buf b;

	(void)state;
	p11a_buf_init(&b, 1024);
	assert_int_equal(p11a_buf_put_u8(&b, 0x01), P11A_OK);
	assert_int_equal(p11a_buf_put_u16(&b, 0x0203), P11A_OK);
	assert_int_equal(p11a_buf_put_u32(&b, 0x04050607), P11A_OK);
	assert_int_equal(p11a_buf_put_u64(&b, 0x08090a0b0c0d0e0fULL), P11A_OK);
	assert_int_equal(p11a_buf_put_bytes(&b, "ab", 2), P11A_OK);
	assert_int_equal(p11a_buf_put_cstring(&b, "xyz"), P11A_OK);
	assert_int_equal(p11a_buf_put_cstring(&b, NULL), P11A_OK);
	assert_int_equal(p11a_buf_put_raw(&b, "\xee", 1), P11A_OK);
	assert_bytes_hex(p11a_buf_ptr(&b), p11a_buf_remaining(&b),
			 "01 0203 04050607 08090a0b0c0d0e0f"
			 " 00000002 6162 00000003 78797a 00000000 ee");
	p11a_buf_free(&b);
}

static void
buf_gets_read_back_what_puts_wrote(void **state)
{
	struct p11a_buf b;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	uint8_t *dup;
	size_t n;
	char *s;

	(void)state;
	p11a_buf_init(&b, 1024);
	assert_int_equal(p11a_buf_put_u8(&b, 0xfe), P11A_OK);
	assert_int_equal(p11a_buf_put_u16(&b, 0xfedc), P11A_OK);
	assert_int_equal(p11a_buf_put_u32(&b, 0xfedcba98), P11A_OK);
	assert_int_equal(p11a_buf_put_u64(&b, 0xfedcba9876543210ULL), P11A_OK);
	assert_int_equal(p11a_buf_put_bytes(&b, "view", 4), P11A_OK);
	assert_int_equal(p11a_buf_put_bytes(&b, "dup", 3), P11A_OK);
	assert_int_equal(p11a_buf_put_cstring(&b, "str"), P11A_OK);

	assert_int_equal(p11a_buf_get_u8(&b, &u8), P11A_OK);
	assert_int_equal(u8, 0xfe);
	assert_int_equal(p11a_buf_get_u16(&b, &u16), P11A_OK);
	assert_int_equal(u16, 0xfedc);
	assert_int_equal(p11a_buf_peek_u32(&b, &u32), P11A_OK);
	assert_int_equal(u32, 0xfedcba98);
	assert_int_equal(p11a_buf_get_u32(&b, &u32), P11A_OK);
	assert_int_equal(u32, 0xfedcba98);
	assert_int_equal(p11a_buf_get_u64(&b, &u64), P11A_OK);
	assert_true(u64 == 0xfedcba9876543210ULL);
	assert_int_equal(p11a_buf_get_bytes_view(&b, &p, &n), P11A_OK);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "view", 4);
	assert_int_equal(p11a_buf_get_bytes_dup(&b, &dup, &n), P11A_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(dup, "dup", 3);
	free(dup);
	assert_int_equal(p11a_buf_get_cstring(&b, &s), P11A_OK);
	assert_string_equal(s, "str");
	free(s);
	assert_int_equal(p11a_buf_remaining(&b), 0);
	p11a_buf_free(&b);
}

/* Which get to try on a short input. */
enum get_kind {
	GET_U8,
	GET_U16,
	GET_U32,
	GET_U64,
	GET_PEEK_U32,
	GET_BYTES_VIEW,
	GET_BYTES_DUP,
	GET_CSTRING,
	GET_CONSUME,
	GET_KINDS_
};

static int
do_get(struct p11a_buf *b, enum get_kind k, size_t want)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p = (const uint8_t *)"x";
	uint8_t *dup = (uint8_t *)"x";
	char *s = (char *)"x";
	size_t n = 99;
	int r = P11A_ERR_INTERNAL;

	switch (k) {
	case GET_U8:
		return p11a_buf_get_u8(b, &u8);
	case GET_U16:
		return p11a_buf_get_u16(b, &u16);
	case GET_U32:
		return p11a_buf_get_u32(b, &u32);
	case GET_U64:
		return p11a_buf_get_u64(b, &u64);
	case GET_PEEK_U32:
		return p11a_buf_peek_u32(b, &u32);
	case GET_BYTES_VIEW:
		r = p11a_buf_get_bytes_view(b, &p, &n);
		if (r != P11A_OK) {
			assert_null(p);
			assert_int_equal(n, 0);
		}
		return r;
	case GET_BYTES_DUP:
		r = p11a_buf_get_bytes_dup(b, &dup, &n);
		if (r != P11A_OK) {
			assert_null(dup);
			assert_int_equal(n, 0);
		} else {
			free(dup);
		}
		return r;
	case GET_CSTRING:
		r = p11a_buf_get_cstring(b, &s);
		if (r != P11A_OK)
			assert_null(s);
		else
			free(s);
		return r;
	case GET_CONSUME:
		return p11a_buf_consume(b, want);
	case GET_KINDS_:
		break;
	}
	return r;
}

/*
 * For every get, every input one byte too short gives TRUNCATED and
 * leaves the read position where it was.  The input starts one byte in,
 * so a non-zero offset is covered too.
 */
static void
buf_short_get_is_truncated_and_keeps_offset(void **state)
{
	/* size each get needs; length-prefixed fields announce 3 bytes */
	static const size_t need[GET_KINDS_] = {1, 2, 4, 8, 4, 7, 7, 7, 5};
	uint8_t in[16] = {0xaa, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0};
	struct p11a_buf b;
	enum get_kind k;
	size_t len;

	(void)state;
	for (k = 0; k < GET_KINDS_; k++) {
		for (len = 0; len < need[k]; len++) {
			p11a_buf_view(&b, in, 1 + len);
			assert_int_equal(p11a_buf_consume(&b, 1), P11A_OK);
			assert_int_equal(do_get(&b, k, need[k]),
					 P11A_ERR_TRUNCATED);
			assert_int_equal(b.off, 1);
		}
		p11a_buf_view(&b, in, 1 + need[k]);
		assert_int_equal(p11a_buf_consume(&b, 1), P11A_OK);
		assert_int_equal(do_get(&b, k, need[k]), P11A_OK);
		if (k != GET_PEEK_U32)
			assert_int_equal(p11a_buf_remaining(&b), 0);
	}
}

static void
buf_get_bytes_with_huge_length_is_truncated(void **state)
{
	static const uint8_t in[] = {0xff, 0xff, 0xff, 0xff, 'a', 'b'};
	struct p11a_buf b;
	const uint8_t *p;
	uint8_t *dup;
	char *s;
	size_t n;

	(void)state;
	p11a_buf_view(&b, in, sizeof(in));
	assert_int_equal(p11a_buf_get_bytes_view(&b, &p, &n),
			 P11A_ERR_TRUNCATED);
	assert_int_equal(p11a_buf_get_bytes_dup(&b, &dup, &n),
			 P11A_ERR_TRUNCATED);
	assert_int_equal(p11a_buf_get_cstring(&b, &s), P11A_ERR_TRUNCATED);
	assert_int_equal(b.off, 0);
}

static void
buf_get_cstring_rejects_embedded_nul(void **state)
{
	static const uint8_t in[] = {0, 0, 0, 3, 'a', 0, 'b'};
	struct p11a_buf b;
	char *s = (char *)"x";

	(void)state;
	p11a_buf_view(&b, in, sizeof(in));
	assert_int_equal(p11a_buf_get_cstring(&b, &s), P11A_ERR_PROTOCOL);
	assert_null(s);
	assert_int_equal(b.off, 0);
}

static void
buf_get_cstring_of_empty_string_is_allocated(void **state)
{
	static const uint8_t in[] = {0, 0, 0, 0};
	struct p11a_buf b;
	char *s = NULL;

	(void)state;
	p11a_buf_view(&b, in, sizeof(in));
	assert_int_equal(p11a_buf_get_cstring(&b, &s), P11A_OK);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
}

static void
buf_get_bytes_dup_of_empty_field_is_null(void **state)
{
	static const uint8_t in[] = {0, 0, 0, 0};
	struct p11a_buf b;
	uint8_t *p = (uint8_t *)"x";
	size_t n = 5;

	(void)state;
	p11a_buf_view(&b, in, sizeof(in));
	assert_int_equal(p11a_buf_get_bytes_dup(&b, &p, &n), P11A_OK);
	assert_null(p);
	assert_int_equal(n, 0);
	assert_int_equal(p11a_buf_remaining(&b), 0);
}

static void
buf_grows_by_doubling(void **state)
{
	struct p11a_buf b;
	uint8_t block[100] = {0};
	size_t i, prev_cap = 0;

	(void)state;
	p11a_buf_init(&b, 1u << 20);
	for (i = 0; i < 100; i++) {
		assert_int_equal(p11a_buf_put_raw(&b, block, sizeof(block)),
				 P11A_OK);
		assert_true(b.cap >= b.len);
		if (b.cap != prev_cap && prev_cap != 0)
			assert_int_equal(b.cap, 2 * prev_cap);
		prev_cap = b.cap;
	}
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.cap, 16384);
	p11a_buf_free(&b);
}

static void
buf_grows_to_exactly_max_and_no_further(void **state)
{
	struct p11a_buf b;
	uint8_t block[1000];
	size_t i;

	(void)state;
	memset(block, 0x5a, sizeof(block));
	p11a_buf_init(&b, 1000);
	for (i = 0; i < 10; i++)
		assert_int_equal(p11a_buf_put_raw(&b, block, 100), P11A_OK);
	assert_int_equal(b.len, 1000);
	assert_int_equal(b.cap, 1000);
	assert_int_equal(p11a_buf_put_u8(&b, 1), P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(b.len, 1000);
	p11a_buf_free(&b);
}

static void
buf_write_past_max_is_refused_and_writes_nothing(void **state)
{
	struct p11a_buf b;
	uint8_t block[64] = {0};
	uint8_t *p;

	(void)state;
	p11a_buf_init(&b, 10);
	assert_int_equal(p11a_buf_put_raw(&b, "abcdefgh", 8), P11A_OK);
	assert_int_equal(p11a_buf_put_u32(&b, 1), P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(p11a_buf_put_u64(&b, 1), P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(p11a_buf_put_raw(&b, block, 3),
			 P11A_ERR_FRAME_TOO_LARGE);
	/* the length prefix would fit, the bytes would not */
	assert_int_equal(p11a_buf_put_bytes(&b, NULL, 0),
			 P11A_ERR_FRAME_TOO_LARGE);
	p11a_buf_reset(&b);
	assert_int_equal(p11a_buf_put_bytes(&b, block, 7),
			 P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(b.len, 0);
	assert_int_equal(p11a_buf_put_cstring(&b, "0123456789"),
			 P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(b.len, 0);
	assert_int_equal(p11a_buf_reserve(&b, 11, &p),
			 P11A_ERR_FRAME_TOO_LARGE);
	assert_null(p);
	assert_int_equal(p11a_buf_room(&b), 10);
	assert_int_equal(p11a_buf_put_bytes(&b, block, 6), P11A_OK);
	assert_int_equal(b.len, 10);
	assert_int_equal(p11a_buf_room(&b), 0);
	p11a_buf_free(&b);
}

static void
buf_put_with_null_source_is_invalid(void **state)
{
	struct p11a_buf b;

	(void)state;
	p11a_buf_init(&b, 100);
	assert_int_equal(p11a_buf_put_raw(&b, NULL, 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_bytes(&b, NULL, 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_bytes(&b, NULL, 0), P11A_OK);
	assert_int_equal(b.len, 4);
	p11a_buf_free(&b);
}

static void
buf_view_is_read_only(void **state)
{
	uint8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct p11a_buf b;
	uint8_t *p;
	uint32_t v;

	(void)state;
	p11a_buf_view(&b, in, sizeof(in));
	assert_true(b.readonly);
	assert_int_equal(p11a_buf_remaining(&b), 8);
	assert_int_equal(p11a_buf_put_u8(&b, 0), P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_u16(&b, 0), P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_u32(&b, 0), P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_u64(&b, 0), P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_raw(&b, "a", 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_bytes(&b, "a", 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_put_cstring(&b, "a"),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_poke_u32(&b, 0, 0),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_reserve(&b, 1, &p),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_commit(&b, 0), P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_room(&b), 0);
	assert_int_equal(p11a_buf_consume(&b, 4), P11A_OK);
	p11a_buf_compact(&b);
	assert_int_equal(b.off, 4);
	assert_int_equal(p11a_buf_get_u32(&b, &v), P11A_OK);
	assert_int_equal(v, 0x05060708);
	assert_memory_equal(in, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	/* freeing a view does not free the bytes it borrows */
	p11a_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(in[0], 1);
}

static void
buf_reserve_then_commit_fills_the_tail(void **state)
{
	struct p11a_buf b;
	uint8_t *p;

	(void)state;
	p11a_buf_init(&b, 64);
	assert_int_equal(p11a_buf_put_u8(&b, 0xaa), P11A_OK);
	assert_int_equal(p11a_buf_reserve(&b, 10, &p), P11A_OK);
	assert_non_null(p);
	assert_ptr_equal(p, b.data + 1);
	memcpy(p, (const uint8_t[]){'h', 'e', 'l', 'l', 'o'}, 5);
	assert_int_equal(b.len, 1);
	assert_int_equal(p11a_buf_commit(&b, 5), P11A_OK);
	assert_bytes_hex(p11a_buf_ptr(&b), p11a_buf_remaining(&b),
			 "aa 68656c6c6f");
	p11a_buf_free(&b);
}

static void
buf_reserve_near_max_gives_only_the_room_left(void **state)
{
	struct p11a_buf b;
	uint8_t *p;
	size_t room;

	(void)state;
	p11a_buf_init(&b, 1000);
	assert_int_equal(p11a_buf_reserve(&b, 990, &p), P11A_OK);
	assert_int_equal(p11a_buf_commit(&b, 990), P11A_OK);
	assert_int_equal(p11a_buf_reserve(&b, 16, &p),
			 P11A_ERR_FRAME_TOO_LARGE);
	room = p11a_buf_room(&b);
	assert_int_equal(room, 10);
	assert_int_equal(p11a_buf_reserve(&b, room, &p), P11A_OK);
	assert_true(b.cap - b.len >= room);
	memset(p, 0x11, room);
	assert_int_equal(p11a_buf_commit(&b, room), P11A_OK);
	assert_int_equal(p11a_buf_reserve(&b, 1, &p), P11A_ERR_FRAME_TOO_LARGE);
	p11a_buf_free(&b);
}

static void
buf_commit_beyond_allocation_is_rejected(void **state)
{
	struct p11a_buf b;
	uint8_t *p;

	(void)state;
	p11a_buf_init(&b, 1000);
	assert_int_equal(p11a_buf_reserve(&b, 10, &p), P11A_OK);
	assert_int_equal(p11a_buf_commit(&b, b.cap + 1),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(b.len, 0);
	assert_int_equal(p11a_buf_commit(&b, 10), P11A_OK);
	assert_int_equal(b.len, 10);
	p11a_buf_free(&b);
}

static void
buf_compact_moves_unread_bytes_to_front(void **state)
{
	struct p11a_buf b;
	uint8_t u8;

	(void)state;
	p11a_buf_init(&b, 8);
	assert_int_equal(p11a_buf_put_raw(&b, "abcdefgh", 8), P11A_OK);
	assert_int_equal(p11a_buf_put_u8(&b, 'i'), P11A_ERR_FRAME_TOO_LARGE);
	assert_int_equal(p11a_buf_consume(&b, 5), P11A_OK);
	p11a_buf_compact(&b);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "fgh", 3);
	/* the space before them is usable again */
	assert_int_equal(p11a_buf_put_raw(&b, "ijklm", 5), P11A_OK);
	assert_bytes_hex(p11a_buf_ptr(&b), p11a_buf_remaining(&b),
			 "666768 696a6b6c6d");
	/* everything read: compact empties it */
	assert_int_equal(p11a_buf_consume(&b, 8), P11A_OK);
	p11a_buf_compact(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(p11a_buf_get_u8(&b, &u8), P11A_ERR_TRUNCATED);
	p11a_buf_free(&b);
}

static void
buf_consume_past_end_is_truncated(void **state)
{
	struct p11a_buf b;

	(void)state;
	p11a_buf_view(&b, "abc", 3);
	assert_int_equal(p11a_buf_consume(&b, 4), P11A_ERR_TRUNCATED);
	assert_int_equal(p11a_buf_consume(&b, SIZE_MAX), P11A_ERR_TRUNCATED);
	assert_int_equal(b.off, 0);
	assert_int_equal(p11a_buf_consume(&b, 3), P11A_OK);
	assert_int_equal(p11a_buf_consume(&b, 1), P11A_ERR_TRUNCATED);
}

static void
buf_poke_u32_overwrites_only_inside_data(void **state)
{
	struct p11a_buf b;

	(void)state;
	p11a_buf_init(&b, 100);
	assert_int_equal(p11a_buf_put_raw(&b, "\0\0\0\0\0\0", 6), P11A_OK);
	assert_int_equal(p11a_buf_poke_u32(&b, 2, 0x01020304), P11A_OK);
	assert_bytes_hex(b.data, b.len, "0000 01020304");
	assert_int_equal(p11a_buf_poke_u32(&b, 3, 0),
			 P11A_ERR_INVALID_ARGUMENT);
	assert_int_equal(p11a_buf_poke_u32(&b, SIZE_MAX, 0),
			 P11A_ERR_INVALID_ARGUMENT);
	p11a_buf_free(&b);
}

static void
buf_reset_keeps_allocation(void **state)
{
	struct p11a_buf b;
	uint8_t *data;

	(void)state;
	p11a_buf_init(&b, 100);
	assert_int_equal(p11a_buf_put_cstring(&b, "1234"), P11A_OK);
	data = b.data;
	p11a_buf_reset(&b);
	assert_int_equal(p11a_buf_remaining(&b), 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.data[4], 0); /* wiped */
	p11a_buf_free(&b);
}

static void
buf_free_is_safe_on_zeroed_and_freed_buffers(void **state)
{
	struct p11a_buf b;

	(void)state;
	memset(&b, 0, sizeof(b));
	p11a_buf_free(&b);
	p11a_buf_init(&b, 100);
	assert_int_equal(p11a_buf_put_u32(&b, 7), P11A_OK);
	p11a_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	p11a_buf_free(&b);
	p11a_buf_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_init_is_empty),
		cmocka_unit_test(buf_puts_are_big_endian),
		cmocka_unit_test(buf_gets_read_back_what_puts_wrote),
		cmocka_unit_test(buf_short_get_is_truncated_and_keeps_offset),
		cmocka_unit_test(buf_get_bytes_with_huge_length_is_truncated),
		cmocka_unit_test(buf_get_cstring_rejects_embedded_nul),
		cmocka_unit_test(buf_get_cstring_of_empty_string_is_allocated),
		cmocka_unit_test(buf_get_bytes_dup_of_empty_field_is_null),
		cmocka_unit_test(buf_grows_by_doubling),
		cmocka_unit_test(buf_grows_to_exactly_max_and_no_further),
		cmocka_unit_test(
			buf_write_past_max_is_refused_and_writes_nothing),
		cmocka_unit_test(buf_put_with_null_source_is_invalid),
		cmocka_unit_test(buf_view_is_read_only),
		cmocka_unit_test(buf_reserve_then_commit_fills_the_tail),
		cmocka_unit_test(buf_reserve_near_max_gives_only_the_room_left),
		cmocka_unit_test(buf_commit_beyond_allocation_is_rejected),
		cmocka_unit_test(buf_compact_moves_unread_bytes_to_front),
		cmocka_unit_test(buf_consume_past_end_is_truncated),
		cmocka_unit_test(buf_poke_u32_overwrites_only_inside_data),
		cmocka_unit_test(buf_reset_keeps_allocation),
		cmocka_unit_test(buf_free_is_safe_on_zeroed_and_freed_buffers),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
