/*
 * test_restore_record.c - unit tests of src/restore_record.c: the run
 * record of a restore, as JSON and as the file beside the backup record.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

#include "cairn.h"
#include "restore_record.h"
#include "util.h"

#define T0 ((time_t)1795658400) /* 2026-11-26T02:00:00Z */

/* Every source with its result, error and a copy of its statistics; the
 * run's result follows its exit code (143 and 130 are a signal's). */
static void
test_json(void **state)
{
	(void)state;
	struct restore_record r;
	json_t *stats = json_pack("{s:I}", "keys.db0", (json_int_t)588184), *j;
	restore_record_begin(&r, "j", T0);
	r.sink = "here";
	r.id = "20261126T010000Z";
	restore_record_source(&r, "cache", r.id, CAIRN_E_CANCELLED, "stopped in db0", stats);
	json_object_set_new(stats, "keys.db0", json_integer(1)); /* copied, not shared */
	json_decref(stats);
	restore_record_skipped(&r, "docs", r.id);
	j = restore_record_json(&r, 143, T0 + 60);
	assert_string_equal(json_string_value(json_object_get(j, "job")), "j");
	assert_string_equal(json_string_value(json_object_get(j, "sink")), "here");
	assert_string_equal(json_string_value(json_object_get(j, "started")),
	                    "2026-11-26T02:00:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "finished")),
	                    "2026-11-26T02:01:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "result")), "interrupted");
	assert_int_equal(json_integer_value(json_object_get(j, "exit")), 143);
	assert_true(json_is_null(json_object_get(j, "from")));
	json_t *src = json_array_get(json_object_get(j, "sources"), 0);
	assert_string_equal(json_string_value(json_object_get(src, "result")), "interrupted");
	assert_string_equal(json_string_value(json_object_get(src, "error")), "stopped in db0");
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(src, "stats"), "keys.db0")),
	        588184);
	src = json_array_get(json_object_get(j, "sources"), 1);
	assert_string_equal(json_string_value(json_object_get(src, "result")), "not restored");
	json_decref(j);
	j = restore_record_json(&r, 6, T0);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "failed");
	json_decref(j);
	j = restore_record_json(&r, 0, T0);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "ok");
	json_decref(j);
	restore_record_free(&r);
}

/* A failed source without a message of its own gets its code's words. */
static void
test_error_words(void **state)
{
	(void)state;
	struct restore_record r;
	restore_record_begin(&r, "j", T0);
	restore_record_source(&r, "a", NULL, CAIRN_E_CORRUPT, NULL, NULL);
	restore_record_source(&r, "b", NULL, 0, NULL, NULL);
	json_t *j = restore_record_json(&r, 6, T0);
	json_t *a = json_array_get(json_object_get(j, "sources"), 0);
	json_t *b = json_array_get(json_object_get(j, "sources"), 1);
	assert_non_null(json_string_value(json_object_get(a, "error")));
	assert_true(json_is_null(json_object_get(a, "set")));
	assert_true(json_is_null(json_object_get(b, "error")));
	assert_int_equal(json_object_size(json_object_get(b, "stats")), 0);
	json_decref(j);
	restore_record_free(&r);
}

/* Saved as STATE_DIR/status/JOB.restore.json, mode 0600, the status
 * directory made when missing; a new record replaces the old. */
static void
test_save(void **state)
{
	(void)state;
	char dir[] = "/tmp/cairn-rr.XXXXXX", *err = NULL;
	struct restore_record r;
	struct stat st;
	json_error_t je;
	assert_non_null(mkdtemp(dir));
	restore_record_begin(&r, "j", T0);
	r.from = "/srv/dump.rdb";
	restore_record_source(&r, "cache", NULL, 0, NULL, NULL);
	assert_int_equal(restore_record_save(dir, &r, 0, &err), 0);
	assert_int_equal(restore_record_save(dir, &r, 1, &err), 0);
	char *path = restore_record_path(dir, "j");
	assert_contains(path, "/status/j.restore.json");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	json_t *j = json_load_file(path, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "exit")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "from")), "/srv/dump.rdb");
	json_decref(j);
	free(path);
	restore_record_free(&r);
	rm_tree(dir);
}

/* A state_dir that cannot be written is one line naming it. */
static void
test_save_fails(void **state)
{
	(void)state;
	char *err = NULL;
	struct restore_record r;
	restore_record_begin(&r, "j", T0);
	assert_int_equal(restore_record_save("/proc/no/such", &r, 0, &err), -1);
	assert_contains(err, "/proc/no/such/status");
	free(err);
	restore_record_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_json),
	        cmocka_unit_test(test_error_words),
	        cmocka_unit_test(test_save),
	        cmocka_unit_test(test_save_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
