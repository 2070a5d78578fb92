/*
 * test_record.c - unit tests of src/record.c: what a backup run records
 * per sink (ok, partial with the sources that failed, failed with why, a
 * sink left out, a one-off run that leaves the record as it was) and what
 * a verify and a restore test record.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "config.h"
#include "pipeline.h"
#include "record.h"
#include "state.h"

#define ID1 "20261126T020000Z"
#define ID2 "20261127T020000Z"

static char dir[] = "/tmp/cairn-test-record.XXXXXX";

static const struct state_sink *
sink_of(struct job_state *st, const char *name)
{
	const struct state_sink *s = state_find(st, name);
	if (!s)
		fail_msg("no record of sink %s", name);
	return s;
}

static void
a_backup_run_per_sink(void **state)
{
	(void)state;
	struct config cfg = {.state_dir = dir}; /* no metrics_file: none written */
	struct cfg_job job = {.name = "j"};
	struct instance k = {.name = "k"}, bad = {.name = "bad"}, *sinks[2] = {&k, &bad};
	struct sink_outcome so[2] = {{.ok = 1}, {.ok = 0, .error = "disk full"}};
	struct backup_outcome res = {.sinks = so};
	struct strvec targets = {0}, dropped = {0}, why = {0};
	struct job_state st;
	char *err = NULL;
	strvec_push(&targets, "k");
	strvec_push(&targets, "bad");
	strvec_push(&targets, "d");
	strvec_push(&targets, "x");
	strvec_push(&dropped, "d");
	strvec_push(&why, "sink d: cannot lock: held by another run");
	struct backup_record br = {.id = ID1,
	                           .sinks = sinks,
	                           .nsinks = 2,
	                           .res = &res,
	                           .targets = &targets,
	                           .dropped = &dropped,
	                           .why = &why};
	record_backup(&cfg, NULL, &job, &br);
	assert_int_equal(state_load(dir, "j", &st, &err), 0);
	assert_int_equal(sink_of(&st, "k")->run.status, RUN_OK);
	assert_string_equal(sink_of(&st, "k")->run.id, ID1);
	assert_null(sink_of(&st, "k")->run.error);
	assert_int_equal(sink_of(&st, "bad")->run.status, RUN_FAILED);
	assert_string_equal(sink_of(&st, "bad")->run.error, "disk full");
	assert_int_equal(sink_of(&st, "d")->run.status, RUN_FAILED);
	assert_string_equal(sink_of(&st, "d")->run.error,
	                    "sink d: cannot lock: held by another run");
	assert_int_equal(sink_of(&st, "x")->run.status, RUN_FAILED);
	assert_string_equal(sink_of(&st, "x")->run.error, "the sink was left out of the run");
	state_free(&st);

	/* a one-off run's (--set, --source) success is not the job's: k's
	 * record stays; a failure is still recorded */
	br.id = ID2;
	br.one_off = 1;
	strvec_free(&targets);
	strvec_push(&targets, "k");
	strvec_push(&targets, "bad");
	record_backup(&cfg, NULL, &job, &br);
	assert_int_equal(state_load(dir, "j", &st, &err), 0);
	assert_string_equal(sink_of(&st, "k")->run.id, ID1);
	assert_string_equal(sink_of(&st, "bad")->run.id, ID2);
	assert_int_equal(sink_of(&st, "bad")->failed, 2);
	state_free(&st);

	/* a set without a source that failed is partial, naming it */
	struct manifest_failed failed = {.name = "docs", .plugin = "files", .error = "boom"};
	res.failed = &failed;
	res.nfailed = 1;
	br.one_off = 0;
	record_backup(&cfg, NULL, &job, &br);
	assert_int_equal(state_load(dir, "j", &st, &err), 0);
	assert_int_equal(sink_of(&st, "k")->run.status, RUN_PARTIAL);
	assert_string_equal(sink_of(&st, "k")->run.error, "partial: source docs failed: boom");
	state_free(&st);

	/* no sink was left to run: each target failed, the run interrupted
	 * says so */
	struct backup_outcome cancelled = {.sinks = so, .cancelled = 1};
	br.res = &cancelled;
	record_backup(&cfg, NULL, &job, &br);
	assert_int_equal(state_load(dir, "j", &st, &err), 0);
	assert_string_equal(sink_of(&st, "bad")->run.error, "interrupted");
	state_free(&st);

	strvec_free(&targets);
	strvec_free(&dropped);
	strvec_free(&why);
}

static void
a_verify_and_a_restore_test(void **state)
{
	(void)state;
	struct config cfg = {.state_dir = dir};
	struct cfg_job job = {.name = "v"};
	struct job_state st;
	char *err = NULL;
	record_verify(&cfg, &job, "k", ID1, 0, 1, NULL);
	record_verify(&cfg, &job, "k", ID1, 1, 0, "source docs: a.txt differs");
	assert_int_equal(state_load(dir, "v", &st, &err), 0);
	const struct state_sink *k = sink_of(&st, "k");
	assert_true(k->verify.time != 0);
	assert_true(k->verify.ok);
	assert_string_equal(k->verify.id, ID1);
	assert_true(k->restore_test.time != 0);
	assert_false(k->restore_test.ok);
	assert_string_equal(k->restore_test.detail, "source docs: a.txt differs");
	/* a verify records no backup run */
	assert_int_equal(k->run.status, RUN_NONE);
	state_free(&st);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	rm_tree(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(a_backup_run_per_sink),
	        cmocka_unit_test(a_verify_and_a_restore_test),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
