/*
 * test_plugin_header.c - unit tests of the helpers <cairn/plugin.h> gives
 * every plugin: cairn_log() and cairn_error() (and their va_list forms)
 * against a 1.0 host, which has no vlog or vset_error (the helpers format
 * the line themselves and pass it as "%s"), and a 1.1 host, which gets
 * the format and its arguments.  Either way the message arrives whole,
 * also when it is longer than the helpers' 256-byte buffer, and a 1.0
 * host's bytes past its struct_size are never called.
 */
#include "autoconf.h"

#include <cairn/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

/* What the fake host was given last. */
static struct {
	char *log, *error;
	enum cairn_log_level level;
	int log_calls, error_calls, v_calls;
} got;

static cairn_ctx *const CTX = (cairn_ctx *)&got; /* any pointer, checked as passed on */

static char *
format(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	assert_true(n >= 0);
	char *s = malloc((size_t)n + 1);
	assert_non_null(s);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static void
host_log(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	assert_ptr_equal(ctx, CTX);
	va_start(ap, fmt);
	free(got.log);
	got.log = format(fmt, ap);
	va_end(ap);
	got.level = level;
	got.log_calls++;
}

static void
host_set_error(cairn_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	assert_ptr_equal(ctx, CTX);
	va_start(ap, fmt);
	free(got.error);
	got.error = format(fmt, ap);
	va_end(ap);
	got.error_calls++;
}

static void
host_vlog(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, va_list ap)
{
	assert_ptr_equal(ctx, CTX);
	free(got.log);
	got.log = format(fmt, ap);
	got.level = level;
	got.v_calls++;
}

static void
host_vset_error(cairn_ctx *ctx, const char *fmt, va_list ap)
{
	assert_ptr_equal(ctx, CTX);
	free(got.error);
	got.error = format(fmt, ap);
	got.v_calls++;
}

/* A 1.0 plugin's host is cut where 1.1 began; what lies past struct_size
 * is not the plugin's to read, so it is filled with members that fail. */
static void
never_vlog(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, va_list ap)
{
	(void)ctx, (void)level, (void)fmt, (void)ap;
	fail_msg("vlog past a 1.0 host's struct_size was called");
}

static void
never_vset_error(cairn_ctx *ctx, const char *fmt, va_list ap)
{
	(void)ctx, (void)fmt, (void)ap;
	fail_msg("vset_error past a 1.0 host's struct_size was called");
}

static struct cairn_host
host_1_0(void)
{
	struct cairn_host h = {.struct_size = offsetof(struct cairn_host, vlog),
	                       .abi_major = 1,
	                       .abi_minor = 0,
	                       .log = host_log,
	                       .set_error = host_set_error,
	                       .vlog = never_vlog,
	                       .vset_error = never_vset_error};
	return h;
}

static struct cairn_host
host_1_1(void)
{
	struct cairn_host h = {.struct_size = sizeof(struct cairn_host),
	                       .abi_major = 1,
	                       .abi_minor = 1,
	                       .log = host_log,
	                       .set_error = host_set_error,
	                       .vlog = host_vlog,
	                       .vset_error = host_vset_error};
	return h;
}

static int
reset(void **state)
{
	(void)state;
	free(got.log);
	free(got.error);
	memset(&got, 0, sizeof(got));
	return 0;
}

/* A message of n bytes: "[" n-2 letters "]", made with format args. */
static char *
long_text(size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	s[0] = '[';
	for (size_t i = 1; i + 1 < n; i++)
		s[i] = (char)('a' + i % 26);
	s[n - 1] = ']';
	s[n] = '\0';
	return s;
}

static void
check_both(const struct cairn_host *h)
{
	char *big = long_text(1000), *want;
	/* short: the format and its arguments */
	cairn_log(h, CTX, CAIRN_LOG_WARN, "key %s: %d%% used", "bucket", 93);
	assert_string_equal(got.log, "key bucket: 93% used");
	assert_int_equal(got.level, CAIRN_LOG_WARN);
	assert_int_equal(
	        cairn_error(h, CTX, CAIRN_E_CONFIG, "cannot reach %s:%d", "127.0.0.1", 6379),
	        CAIRN_E_CONFIG);
	assert_string_equal(got.error, "cannot reach 127.0.0.1:6379");
	/* longer than 256 bytes: whole, never cut */
	want = malloc(1100);
	assert_non_null(want);
	snprintf(want, 1100, "object %s is %d bytes", big, 1000);
	cairn_log(h, CTX, CAIRN_LOG_INFO, "object %s is %d bytes", big, 1000);
	assert_string_equal(got.log, want);
	assert_int_equal(strlen(got.log), strlen(want));
	assert_int_equal(got.level, CAIRN_LOG_INFO);
	assert_int_equal(cairn_error(h, CTX, CAIRN_E_IO, "object %s is %d bytes", big, 1000),
	                 CAIRN_E_IO);
	assert_string_equal(got.error, want);
	/* exactly at the buffer's edge: 255 and 256 bytes */
	for (size_t n = 255; n <= 257; n++) {
		char *edge = long_text(n);
		cairn_log(h, CTX, CAIRN_LOG_ERROR, "%s", edge);
		assert_string_equal(got.log, edge);
		cairn_error(h, CTX, CAIRN_E_IO, "%s", edge);
		assert_string_equal(got.error, edge);
		free(edge);
	}
	/* a % in an argument is text, not a format */
	cairn_log(h, CTX, CAIRN_LOG_INFO, "%s", "100%s done");
	assert_string_equal(got.log, "100%s done");
	free(want);
	free(big);
}

static void
a_1_0_host_gets_the_line_formatted_as_percent_s(void **state)
{
	(void)state;
	struct cairn_host h = host_1_0();
	check_both(&h);
	assert_int_equal(got.v_calls, 0);
	assert_true(got.log_calls > 0 && got.error_calls > 0);
}

static void
a_1_1_host_gets_the_format_and_its_arguments(void **state)
{
	(void)state;
	struct cairn_host h = host_1_1();
	check_both(&h);
	/* only the va_list members: log and set_error are never needed */
	assert_int_equal(got.log_calls, 0);
	assert_int_equal(got.error_calls, 0);
	assert_true(got.v_calls > 0);
}

static void
a_1_1_host_without_the_members_falls_back(void **state)
{
	(void)state;
	struct cairn_host h = host_1_1();
	h.vlog = NULL;
	h.vset_error = NULL;
	check_both(&h);
	assert_int_equal(got.v_calls, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(a_1_0_host_gets_the_line_formatted_as_percent_s,
	                                        reset, reset),
	        cmocka_unit_test_setup_teardown(a_1_1_host_gets_the_format_and_its_arguments, reset,
	                                        reset),
	        cmocka_unit_test_setup_teardown(a_1_1_host_without_the_members_falls_back, reset,
	                                        reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
