/*
 * test_json.c - unit tests of src/json.c: the JSON values the run record
 * and the status document share (times, strings, byte counts, each with
 * null for none).
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"

#include "json.h"

#define T1 ((time_t)1795658400) /* 2026-11-26T02:00:00Z */

/* The value as JSON text (an encoding of a bare value), freed after. */
static void
assert_json(json_t *v, const char *want)
{
	assert_non_null(v);
	char *s = json_dumps(v, JSON_ENCODE_ANY);
	assert_string_equal(s, want);
	free(s);
	json_decref(v);
}

static void
a_time_is_utc_iso8601_and_zero_is_null(void **state)
{
	(void)state;
	assert_json(json_time_or_null(T1), "\"2026-11-26T02:00:00Z\"");
	assert_json(json_time_or_null(1), "\"1970-01-01T00:00:01Z\"");
	assert_json(json_time_or_null(0), "null");
}

static void
a_string_is_kept_and_null_is_null(void **state)
{
	(void)state;
	assert_json(json_string_or_null("sink \"far\" is down"), "\"sink \\\"far\\\" is down\"");
	assert_json(json_string_or_null(""), "\"\"");
	assert_json(json_string_or_null(NULL), "null");
}

static void
bytes_are_held_at_the_largest_json_integer(void **state)
{
	(void)state;
	assert_json(json_bytes(0), "0");
	assert_json(json_bytes(1536), "1536");
	assert_json(json_bytes((uint64_t)INT64_MAX), "9223372036854775807");
	assert_json(json_bytes((uint64_t)INT64_MAX + 1), "9223372036854775807");
	assert_json(json_bytes(UINT64_MAX), "9223372036854775807");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(a_time_is_utc_iso8601_and_zero_is_null),
	        cmocka_unit_test(a_string_is_kept_and_null_is_null),
	        cmocka_unit_test(bytes_are_held_at_the_largest_json_integer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
