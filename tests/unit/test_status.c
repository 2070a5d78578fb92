/*
 * test_status.c - unit tests of src/status.c: the size change and usage
 * figures, the JSON document of doc/status-json.md made from a report,
 * and a report gathered from a real local sink and one that cannot be
 * made.  (cairn check's thresholds are test_state.c's.)
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "status.h"

#define REAL_PLUGINS TEST_BUILDDIR "/plugins/.libs"
#define ID0 "20261125T020000Z"
#define ID1 "20261126T020000Z"
#define T0 ((time_t)1795572000) /* 2026-11-25T02:00:00Z */
#define T1 ((time_t)1795658400) /* 2026-11-26T02:00:00Z */

static void
size_change_and_usage_need_both_figures(void **state)
{
	struct sink_status s = {0};
	double pct = 1;
	(void)state;
	assert_int_equal(status_size_change(&s, &pct), 0);
	assert_true(pct == 0);
	s.have_last = s.have_prev = 1;
	s.last.stored = 400;
	s.prev.stored = 1000;
	assert_int_equal(status_size_change(&s, &pct), 1);
	assert_true(pct > -60.0001 && pct < -59.9999);
	s.last.stored = 1500;
	assert_int_equal(status_size_change(&s, &pct), 1);
	assert_true(pct > 49.9999 && pct < 50.0001);
	s.prev.stored = 0; /* nothing to compare with */
	assert_int_equal(status_size_change(&s, &pct), 0);

	assert_int_equal(status_usage_percent(&s, &pct), 0);
	s.have_usage = 1;
	/* what is not available counts as used, as df does */
	s.usage = (struct cairn_usage){.used = 10, .avail = 15, .total = 100};
	assert_int_equal(status_usage_percent(&s, &pct), 1);
	assert_true(pct > 84.9999 && pct < 85.0001);
	s.usage.avail = UINT64_MAX; /* unknown */
	assert_int_equal(status_usage_percent(&s, &pct), 0);
	s.usage.avail = 200; /* more free than there is: not believed */
	assert_int_equal(status_usage_percent(&s, &pct), 0);
	s.usage = (struct cairn_usage){.used = 1, .avail = 0, .total = 0};
	assert_int_equal(status_usage_percent(&s, &pct), 0);
}

static json_t *
at(json_t *o, const char *path)
{
	/* "a.b.0.c": objects by key, arrays by index */
	char *p = strdup(path), *save = NULL;
	for (char *w = strtok_r(p, ".", &save); w && o; w = strtok_r(NULL, ".", &save))
		o = json_is_array(o) ? json_array_get(o, strtoul(w, NULL, 10))
		                     : json_object_get(o, w);
	free(p);
	if (!o)
		fail_msg("no %s in the document", path);
	return o;
}

#define assert_json_str(doc, path, want) assert_string_equal(json_string_value(at(doc, path)), want)
#define assert_json_int(doc, path, want) assert_int_equal(json_integer_value(at(doc, path)), want)
#define assert_json_null(doc, path) assert_true(json_is_null(at(doc, path)))

static void
the_document_of_a_report(void **state)
{
	struct cfg_job job = {.name = "j", .description = "the nightly"};
	struct sink_status ss[2] = {{0}};
	struct job_status js = {.job = &job, .sinks = ss, .nsinks = 2};
	struct status_report r = {.now = T1 + 3600, .jobs = &js, .njobs = 1};
	(void)state;
	ss[0].name = "k";
	ss[0].plugin = "local";
	ss[0].reachable = 1;
	ss[0].sets = 2;
	ss[0].bytes_kept = 1400;
	ss[0].have_last = ss[0].have_prev = 1;
	ss[0].last = (struct set_summary){.id = ID1,
	                                  .time = T1,
	                                  .bytes = 400,
	                                  .have_manifest = 1,
	                                  .stored = 400,
	                                  .raw = 900,
	                                  .started = T1,
	                                  .finished = T1 + 90,
	                                  .nsources = 2};
	ss[0].prev = (struct set_summary){.id = ID0,
	                                  .time = T0,
	                                  .bytes = 1000,
	                                  .have_manifest = 1,
	                                  .stored = 1000,
	                                  .started = T0,
	                                  .finished = T0 + 60};
	ss[0].recent[0] = ss[0].prev;
	ss[0].recent[1] = ss[0].last;
	ss[0].nrecent = 2;
	ss[0].state.run =
	        (struct state_run){.status = RUN_OK, .id = ID1, .started = T1, .finished = T1 + 90};
	ss[0].state.last_ok = T1 + 90;
	ss[0].state.verify = (struct state_test){.time = T1 + 600, .id = ID1, .ok = 1};
	ss[1].name = "off";
	ss[1].plugin = "s3";
	ss[1].error = "cannot reach http://127.0.0.1:9: connection refused";
	ss[1].state.failed = 3;

	json_t *doc = status_json(&r);
	assert_json_int(doc, "version", STATUS_JSON_VERSION);
	assert_json_str(doc, "generated", "2026-11-26T03:00:00Z");
	assert_json_str(doc, "lastBackup.id", ID1);
	assert_json_str(doc, "lastBackup.job", "j");
	assert_json_str(doc, "lastBackup.sink", "k");
	assert_json_int(doc, "storageUsed", 1400);
	/* recent backups of every sink, newest first */
	assert_json_str(doc, "recentBackups.0.id", ID1);
	assert_json_str(doc, "recentBackups.1.id", ID0);
	assert_json_str(doc, "jobs.0.name", "j");
	assert_json_str(doc, "jobs.0.description", "the nightly");
	assert_json_null(doc, "jobs.0.stateError");
	json_t *k = at(doc, "jobs.0.sinks.0");
	assert_true(json_is_true(at(k, "reachable")));
	assert_json_null(k, "error");
	assert_json_int(k, "sets", 2);
	assert_json_str(k, "lastBackup.time", "2026-11-26T02:01:30Z");
	assert_json_int(k, "lastBackup.durationSeconds", 90);
	assert_json_int(k, "lastBackup.storedBytes", 400);
	assert_json_int(k, "lastBackup.rawBytes", 900);
	assert_json_int(k, "lastBackup.sources", 2);
	assert_json_int(k, "lastBackup.ageSeconds", 3600 - 90);
	assert_true(json_real_value(at(k, "sizeChangePercent")) == -60.0);
	assert_json_str(k, "lastRun.status", "ok");
	assert_json_str(k, "lastSuccess", "2026-11-26T02:01:30Z");
	assert_true(json_is_true(at(k, "lastVerify.ok")));
	assert_json_null(k, "lastVerify.detail");
	assert_json_null(k, "lastRestoreTest");
	assert_json_null(k, "usage");
	json_t *off = at(doc, "jobs.0.sinks.1");
	assert_true(json_is_false(at(off, "reachable")));
	assert_json_str(off, "error", "cannot reach http://127.0.0.1:9: connection refused");
	assert_json_null(off, "lastBackup");
	assert_json_null(off, "sizeChangePercent");
	assert_json_null(off, "lastRun");
	assert_json_int(off, "runsSinceSuccess.failed", 3);
	json_decref(doc);

	/* one job's document, for serve's /status/JOB */
	doc = status_job_json(&r, "j");
	assert_json_str(doc, "job.name", "j");
	assert_json_int(doc, "version", STATUS_JSON_VERSION);
	json_decref(doc);
	assert_null(status_job_json(&r, "nosuch"));
}

static void
gathered_from_a_local_sink_and_one_that_cannot_be_made(void **state)
{
	char dir[] = "/tmp/cairn-test-status-XXXXXX";
	struct plugin_registry reg;
	struct status_report r;
	char *err = NULL;
	(void)state;
	if (!plugin_built("local"))
		skip();
	assert_non_null(mkdtemp(dir));
	char *ini = path_join(dir, "cairn.ini");
	FILE *f = fopen(ini, "w");
	assert_non_null(f);
	fprintf(f,
	        "[cairn]\nstate_dir = %s/state\n\n"
	        "[source docs]\nplugin = files\npath = %s\n\n"
	        "[sink here]\nplugin = local\npath = %s/store\n\n"
	        "[sink gone]\nplugin = cairn-no-such-plugin\n\n"
	        "[job j]\nsources = docs\nsinks = here gone\n",
	        dir, dir, dir);
	fclose(f);
	struct config *cfg = config_load(ini, &err);
	if (!cfg)
		fail_msg("%s", err);
	setenv("CAIRN_PLUGIN_PATH", REAL_PLUGINS, 1);
	registry_init(&reg, NULL);

	assert_int_equal(status_gather(&reg, cfg, "nosuch", &r), -1);
	assert_int_equal(status_gather(&reg, cfg, NULL, &r), 0);
	assert_int_equal(r.njobs, 1);
	assert_int_equal(r.jobs[0].nsinks, 2);
	const struct sink_status *here = &r.jobs[0].sinks[0], *gone = &r.jobs[0].sinks[1];
	assert_string_equal(here->name, "here");
	assert_true(here->reachable);
	assert_null(here->error);
	assert_int_equal(here->sets, 0);
	assert_false(here->have_last);
	assert_string_equal(gone->name, "gone");
	assert_false(gone->reachable);
	assert_contains(gone->error, "cairn-no-such-plugin");
	assert_null(r.jobs[0].state_error);
	status_free(&r);

	registry_free(&reg);
	config_free(cfg);
	unsetenv("CAIRN_PLUGIN_PATH");
	free(ini);
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(size_change_and_usage_need_both_figures),
	        cmocka_unit_test(the_document_of_a_report),
	        cmocka_unit_test(gathered_from_a_local_sink_and_one_that_cannot_be_made),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
