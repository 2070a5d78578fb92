/*
 * test_values.c - unit tests of src/values.c: the words of sizes,
 * durations, flags, numbers and compressions, as the INI file and --set
 * give them.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "values.h"

static void
parse_size_reads_units(void **state)
{
	static const struct {
		const char *text;
		int64_t want;
	} ok[] = {
	        {"0", 0},
	        {"10", 10},
	        {"10B", 10},
	        {"512K", 512LL << 10},
	        {"512k", 512LL << 10},
	        {"512KB", 512LL << 10},
	        {"512KiB", 512LL << 10},
	        {"64M", 64LL << 20},
	        {"64 M", 64LL << 20},
	        {"64MiB", 64LL << 20},
	        {"1G", 1LL << 30},
	        {"1gib", 1LL << 30},
	        {"3T", 3LL << 40},
	        {"9223372036854775807", INT64_MAX},
	        {"8388607T", 8388607LL << 40},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = -99;
		if (parse_size(ok[i].text, &v) != 0)
			fail_msg("parse_size refused \"%s\"", ok[i].text);
		if (v != ok[i].want)
			fail_msg("\"%s\": got %lld", ok[i].text, (long long)v);
	}
}

static void
parse_size_refuses_bad_text(void **state)
{
	static const char *const bad[] = {
	        "",
	        "M",
	        "-1",
	        "-1M",
	        "+5",
	        " 5",
	        "1.5G",
	        "12X",
	        "12MiBs",
	        "64 M B",
	        "0x10",
	        "9223372036854775808",  /* one past INT64_MAX */
	        "8388608T",             /* 2^63 bytes */
	        "99999999999999999999", /* past 64 bits */
	        "18446744073709551616",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v;
		if (parse_size(bad[i], &v) != -1)
			fail_msg("parse_size accepted \"%s\" as %lld", bad[i], (long long)v);
	}
}

static void
parse_duration_reads_units(void **state)
{
	static const struct {
		const char *text;
		int64_t want;
	} ok[] = {
	        {"0", 0},       {"90", 90},    {"90s", 90},
	        {"10m", 600},   {"2h", 7200},  {"7d", 604800},
	        {"1w", 604800}, {"2 h", 7200}, {"15250284452471w", 15250284452471LL * 604800},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = -99;
		if (parse_duration(ok[i].text, &v) != 0)
			fail_msg("parse_duration refused \"%s\"", ok[i].text);
		if (v != ok[i].want)
			fail_msg("\"%s\": got %lld", ok[i].text, (long long)v);
	}
}

static void
parse_duration_refuses_bad_text(void **state)
{
	static const char *const bad[] = {"",
	                                  "s",
	                                  "-5",
	                                  "-5s",
	                                  "5y",
	                                  "1.5h",
	                                  "1h30m",
	                                  "10ms",
	                                  "15250284452472w",
	                                  "99999999999999999999",
	                                  "9223372036854775808"};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v;
		if (parse_duration(bad[i], &v) != -1)
			fail_msg("parse_duration accepted \"%s\" as %lld", bad[i], (long long)v);
	}
}

static void
parse_bool_reads_the_six_words_and_digits(void **state)
{
	static const char *const yes[] = {"yes", "YES", "true", "True", "on", "1"};
	static const char *const no[] = {"no", "No", "false", "FALSE", "off", "0"};
	static const char *const bad[] = {"", "y", "n", "2", "-1", "yess", "enabled", " yes"};
	(void)state;

	for (size_t i = 0; i < 6; i++) {
		int64_t v = -1;
		assert_int_equal(parse_bool(yes[i], &v), 0);
		assert_int_equal(v, 1);
		v = -1;
		assert_int_equal(parse_bool(no[i], &v), 0);
		assert_int_equal(v, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v;
		if (parse_bool(bad[i], &v) != -1)
			fail_msg("parse_bool accepted \"%s\"", bad[i]);
	}
}

static void
parse_int_handles_sign_and_overflow(void **state)
{
	static const struct {
		const char *text;
		int64_t want;
	} ok[] = {
	        {"0", 0},
	        {"42", 42},
	        {"-5", -5},
	        {"+7", 7},
	        {"9223372036854775807", INT64_MAX},
	        {"-9223372036854775808", INT64_MIN},
	};
	static const char *const bad[] = {"",
	                                  "-",
	                                  "abc",
	                                  "12abc",
	                                  "1.0",
	                                  "0x10",
	                                  "1e3",
	                                  "5 ",
	                                  "9223372036854775808",
	                                  "-9223372036854775809"};
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = -99;
		if (parse_int(ok[i].text, &v) != 0)
			fail_msg("parse_int refused \"%s\"", ok[i].text);
		assert_int_equal(v, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v;
		if (parse_int(bad[i], &v) != -1)
			fail_msg("parse_int accepted \"%s\" as %lld", bad[i], (long long)v);
	}
}

static void
parse_compression_knows_four_names(void **state)
{
	static const struct {
		const char *name, *ext;
		enum compression c;
	} all[] = {
	        {"none", NULL, COMP_NONE},
	        {"zstd", "zst", COMP_ZSTD},
	        {"gzip", "gz", COMP_GZIP},
	        {"xz", "xz", COMP_XZ},
	};
	enum compression c;
	(void)state;

	for (size_t i = 0; i < 4; i++) {
		c = (enum compression)99;
		assert_int_equal(parse_compression(all[i].name, &c), 0);
		assert_int_equal(c, all[i].c);
		assert_string_equal(compression_name(all[i].c), all[i].name);
		if (all[i].ext)
			assert_string_equal(compression_ext(all[i].c), all[i].ext);
		else
			assert_null(compression_ext(all[i].c));
	}
	assert_int_equal(parse_compression("lz4", &c), -1);
	assert_int_equal(parse_compression("", &c), -1);
	assert_int_equal(parse_compression("gz", &c), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(parse_size_reads_units),
	        cmocka_unit_test(parse_size_refuses_bad_text),
	        cmocka_unit_test(parse_duration_reads_units),
	        cmocka_unit_test(parse_duration_refuses_bad_text),
	        cmocka_unit_test(parse_bool_reads_the_six_words_and_digits),
	        cmocka_unit_test(parse_int_handles_sign_and_overflow),
	        cmocka_unit_test(parse_compression_knows_four_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
