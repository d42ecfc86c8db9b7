/*
 * common/error.c: every code has a name and a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "p11agent/error.h"
#include "unit.h"

static void
every_code_has_a_message_and_a_distinct_name(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < P11A_ERR_MAX_; i++) {
		const char *msg = p11a_strerror(i);
		const char *name = p11a_err_name(i);

		assert_non_null(msg);
		assert_non_null(name);
		if (msg[0] == '\0' || strcmp(msg, "unknown error") == 0)
			fail_msg("code %d has no message", i);
		if (name[0] == '\0' || strcmp(name, "UNKNOWN") == 0)
			fail_msg("code %d has no name", i);
		for (j = 0; j < i; j++) {
			if (strcmp(name, p11a_err_name(j)) == 0)
				fail_msg("codes %d and %d share name %s", j, i,
					 name);
		}
	}
}

static void
names_are_the_enum_names_without_prefix(void **state)
{
	(void)state;
	assert_string_equal(p11a_err_name(P11A_OK), "OK");
	assert_string_equal(p11a_err_name(P11A_ERR_INTERNAL), "INTERNAL");
	assert_string_equal(p11a_err_name(P11A_ERR_LOCKED), "LOCKED");
	assert_string_equal(p11a_err_name(P11A_ERR_IDENTITY_AMBIGUOUS),
			    "IDENTITY_AMBIGUOUS");
	assert_string_equal(p11a_err_name(P11A_ERR_INCOMPLETE), "INCOMPLETE");
	assert_string_equal(p11a_strerror(P11A_OK), "success");
}

static void
unknown_codes_are_reported_as_unknown(void **state)
{
	(void)state;
	assert_string_equal(p11a_strerror(-1), "unknown error");
	assert_string_equal(p11a_strerror(P11A_ERR_MAX_), "unknown error");
	assert_string_equal(p11a_strerror(100000), "unknown error");
	assert_string_equal(p11a_err_name(-1), "UNKNOWN");
	assert_string_equal(p11a_err_name(P11A_ERR_MAX_), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_has_a_message_and_a_distinct_name),
		cmocka_unit_test(names_are_the_enum_names_without_prefix),
		cmocka_unit_test(unknown_codes_are_reported_as_unknown),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
