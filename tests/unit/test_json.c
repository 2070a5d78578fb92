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

/* An untrusted array of strings: taken whole, or refused saying which
 * element (or the array itself) is wrong. */
static void
an_array_of_strings_is_bounded_in_count_and_length(void **state)
{
	(void)state;
	struct strvec sv = {0};
	size_t bad = 7;
	json_t *a = json_loads("[\"age1a\", \"scrypt\"]", 0, NULL);
	assert_int_equal(json_strings(a, 2, 6, &sv, &bad), 0);
	assert_int_equal(sv.n, 2);
	assert_string_equal(sv.v[0], "age1a");
	assert_string_equal(sv.v[1], "scrypt");
	strvec_free(&sv);
	assert_int_equal(json_strings(a, 1, 6, &sv, &bad), -1); /* too many */
	assert_true(bad == SIZE_MAX);
	assert_int_equal(json_strings(a, 2, 5, &sv, &bad), -1); /* "scrypt" too long */
	assert_int_equal(bad, 1);
	json_decref(a);
	const char *wrong[] = {"[\"\"]", "[1]", "[null]", "[[\"x\"]]"};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(*wrong); i++) {
		a = json_loads(wrong[i], 0, NULL);
		assert_int_equal(json_strings(a, 4, 64, &sv, &bad), -1);
		assert_int_equal(bad, 0);
		json_decref(a);
	}
	a = json_loads("{\"x\": \"y\"}", 0, NULL);
	assert_int_equal(json_strings(a, 4, 64, &sv, &bad), -1);
	assert_true(bad == SIZE_MAX);
	json_decref(a);
	strvec_free(&sv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(a_time_is_utc_iso8601_and_zero_is_null),
	        cmocka_unit_test(a_string_is_kept_and_null_is_null),
	        cmocka_unit_test(bytes_are_held_at_the_largest_json_integer),
	        cmocka_unit_test(an_array_of_strings_is_bounded_in_count_and_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
