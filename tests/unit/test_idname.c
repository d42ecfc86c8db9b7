/*
 * common/idname.c: an identity id is 32 lowercase hex digits, a URI
 * starts with pkcs11:, and the length of a name never decides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "idname.h"
#include "unit.h"

static enum p11a_name_kind
kind(const char *s)
{
	return p11a_name_kind(s, strlen(s));
}

static void
uri_of_id_length_is_a_uri(void **state)
{
	const char *uri = "pkcs11:token=team-a;object=rsa-1";

	(void)state;
	assert_int_equal(strlen(uri), P11A_ID_LEN);
	assert_int_equal(kind(uri), P11A_NAME_URI);
	assert_int_equal(kind("pkcs11:token=team-a;object=rsa-"),
			 P11A_NAME_URI);
	assert_int_equal(kind("pkcs11:token=team-a;object=rsa-12"),
			 P11A_NAME_URI);
}

static void
uri_scheme_is_case_insensitive(void **state)
{
	(void)state;
	assert_int_equal(kind("PKCS11:token=a"), P11A_NAME_URI);
	assert_int_equal(kind("Pkcs11:"), P11A_NAME_URI);
	assert_int_equal(kind("pkcs11:"), P11A_NAME_URI);
	assert_int_equal(kind("pkcs11"), P11A_NAME_OTHER);
	assert_int_equal(kind("pkcs12:token=a"), P11A_NAME_OTHER);
	assert_int_equal(kind(" pkcs11:token=a"), P11A_NAME_OTHER);
}

static void
id_is_exactly_32_lowercase_hex_digits(void **state)
{
	(void)state;
	assert_int_equal(kind("0123456789abcdef0123456789abcdef"),
			 P11A_NAME_ID);
	assert_int_equal(kind("0123456789ABCDEF0123456789abcdef"),
			 P11A_NAME_OTHER);
	assert_int_equal(kind("0123456789abcdef0123456789abcdeg"),
			 P11A_NAME_OTHER);
	assert_int_equal(kind("0123456789abcdef0123456789abcde"),
			 P11A_NAME_OTHER);
	assert_int_equal(kind("0123456789abcdef0123456789abcdef0"),
			 P11A_NAME_OTHER);
	assert_int_equal(kind("0123456789abcdef 123456789abcdef"),
			 P11A_NAME_OTHER);
}

static void
only_len_bytes_are_read(void **state)
{
	const char *s = "0123456789abcdef0123456789abcdefXYZ";

	(void)state;
	assert_int_equal(p11a_name_kind(s, P11A_ID_LEN), P11A_NAME_ID);
	assert_int_equal(p11a_name_kind("pkcs11:", 6), P11A_NAME_OTHER);
	assert_int_equal(p11a_name_kind("", 0), P11A_NAME_OTHER);
	assert_int_equal(p11a_name_kind(NULL, 0), P11A_NAME_OTHER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uri_of_id_length_is_a_uri),
		cmocka_unit_test(uri_scheme_is_case_insensitive),
		cmocka_unit_test(id_is_exactly_32_lowercase_hex_digits),
		cmocka_unit_test(only_len_bytes_are_read),
	};

	return cmocka_run_group_tests_name("idname", tests, NULL, NULL);
}
