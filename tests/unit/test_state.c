/*
 * test_state.c - unit tests of src/state.c (the per-job record of runs,
 * verifies and restore tests) and of the [check] thresholds in config.c
 * that cairn check applies to what status gathers.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "config.h"
#include "state.h"
#include "status.h"

#define ID1 "20261126T020000Z"
#define ID2 "20261127T020000Z"
#define T1 ((time_t)1795658400) /* 2026-11-26T02:00:00Z */

static int
setup(void **state)
{
	char tmpl[] = "/tmp/test_state.XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	*state = strdup(dir);
	return 0;
}

static int
teardown(void **state)
{
	rm_tree(*state);
	free(*state);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
missing_record_is_empty(void **state)
{
	struct job_state st;
	char *err = NULL;
	assert_int_equal(state_load(*state, "nightly", &st, &err), 0);
	assert_int_equal(st.n, 0);
	assert_null(err);
}

static void
save_and_load_round_trip(void **state)
{
	struct job_state st = {0}, back;
	struct state_sink *s;
	const struct state_sink *b;
	char *err = NULL, *path;
	struct stat sb;

	s = state_sink_add(&st, "local");
	state_set_run(s, RUN_OK, ID1, NULL, T1, T1 + 60);
	state_set_test(s, 0, ID1, 1, NULL, T1 + 100);
	state_set_test(s, 1, ID1, 0, "uploads: a file differs", T1 + 200);
	s = state_sink_add(&st, "offsite");
	state_set_run(s, RUN_FAILED, ID2, "connection refused", T1 + 86400, T1 + 86401);
	assert_int_equal(state_save(*state, "nightly", &st, &err), 0);
	state_free(&st);

	path = state_path(*state, "nightly");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	free(path);

	assert_int_equal(state_load(*state, "nightly", &back, &err), 0);
	assert_int_equal(back.n, 2);
	b = state_find(&back, "local");
	assert_non_null(b);
	assert_int_equal(b->run.status, RUN_OK);
	assert_string_equal(b->run.id, ID1);
	assert_int_equal(b->run.started, T1);
	assert_int_equal(b->run.finished, T1 + 60);
	assert_int_equal(b->last_ok, T1 + 60);
	assert_true(b->verify.ok);
	assert_int_equal(b->verify.time, T1 + 100);
	assert_false(b->restore_test.ok);
	assert_string_equal(b->restore_test.detail, "uploads: a file differs");
	b = state_find(&back, "offsite");
	assert_non_null(b);
	assert_int_equal(b->run.status, RUN_FAILED);
	assert_string_equal(b->run.error, "connection refused");
	assert_int_equal(b->failed, 1);
	assert_int_equal(b->last_ok, 0);
	assert_int_equal(b->verify.time, 0);
	state_free(&back);
}

static void
runs_since_success_count_and_reset(void **state)
{
	struct job_state st = {0};
	struct state_sink *s = state_sink_add(&st, "local");
	(void)state;
	state_set_run(s, RUN_OK, ID1, NULL, T1, T1 + 1);
	state_set_run(s, RUN_PARTIAL, ID2, "source db failed", T1 + 10, T1 + 11);
	state_set_run(s, RUN_FAILED, "", "no sink", T1 + 20, T1 + 21);
	state_set_run(s, RUN_FAILED, NULL, "no sink", T1 + 30, T1 + 31);
	assert_int_equal(s->partial, 1);
	assert_int_equal(s->failed, 2);
	assert_int_equal(s->last_ok, T1 + 1);
	assert_string_equal(s->run.id, "");
	state_set_run(s, RUN_OK, ID2, "ignored", T1 + 40, T1 + 41);
	assert_int_equal(s->partial, 0);
	assert_int_equal(s->failed, 0);
	assert_null(s->run.error);
	assert_int_equal(s->last_ok, T1 + 41);
	state_free(&st);
}

/* What is not an id never becomes one: the text reaches JSON and terminals. */
static void
bad_id_is_dropped(void **state)
{
	struct job_state st = {0};
	struct state_sink *s = state_sink_add(&st, "local");
	(void)state;
	state_set_test(s, 0, "../../etc\x1b[2J", 1, NULL, T1);
	assert_string_equal(s->verify.id, "");
	state_free(&st);
}

static void
damaged_records_are_refused(void **state)
{
	static const char *const bad[] = {
	        "",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": ",
	        "[1, 2]",
	        "{\"format\": 1, \"job\": \"other\", \"sinks\": {}}",
	        "{\"format\": 99, \"job\": \"nightly\", \"sinks\": {}}",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": []}",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": {\"../x\": {}}}",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": {\"a\": {\"run\": "
	        "{\"status\": \"great\"}}}}",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": {\"a\": {\"run\": "
	        "{\"status\": \"ok\", \"started\": \"yesterday\"}}}}",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": {\"a\": {\"verify\": "
	        "{\"time\": \"2026-11-26T02:00:00Z\"}}}}",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": {\"a\": {\"verify\": "
	        "{\"ok\": true, \"time\": \"2026-11-26T02:00:00Z\", \"id\": \"x\"}}}}",
	        "{\"format\": 1, \"job\": \"nightly\", \"sinks\": {\"a\": "
	        "{\"failed_since_ok\": -3}}}",
	        "{\"format\": 1, \"format\": 1, \"job\": \"nightly\", \"sinks\": {}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct job_state st;
		char *why = NULL;
		if (state_parse(bad[i], strlen(bad[i]), "nightly", &st, &why) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
		assert_int_equal(st.n, 0);
		free(why);
	}
	(void)state;
}

static void
load_names_the_damaged_file(void **state)
{
	char *dir = xasprintf("%s/status", (char *)*state), *path = state_path(*state, "nightly");
	struct job_state st;
	char *err = NULL;
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(path, "{not json");
	assert_int_equal(state_load(*state, "nightly", &st, &err), -1);
	assert_contains(err, path);
	assert_contains(err, "damaged");
	free(err);
	err = NULL;
	/* too large to be a record: refused before it is read */
	{
		int fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, STATE_MAX_BYTES + 1), 0);
		close(fd);
	}
	assert_int_equal(state_load(*state, "nightly", &st, &err), -1);
	assert_contains(err, "larger than");
	free(err);
	err = NULL;
	/* not a regular file */
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(state_load(*state, "nightly", &st, &err), -1);
	assert_contains(err, path);
	free(err);
	free(path);
	free(dir);
}

static void
fill_one(struct job_state *st, void *ud)
{
	state_set_run(state_sink_add(st, ud), RUN_FAILED, ID1, "boom", T1, T1 + 1);
}

/* A damaged record is replaced by the next update, not kept in part. */
static void
update_replaces_a_damaged_record(void **state)
{
	char *dir = xasprintf("%s/status", (char *)*state), *path = state_path(*state, "nightly");
	struct job_state st;
	char *err = NULL;
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(path, "garbage");
	assert_int_equal(state_update(*state, "nightly", fill_one, "local", &err), 0);
	assert_int_equal(state_update(*state, "nightly", fill_one, "local", &err), 0);
	assert_int_equal(state_load(*state, "nightly", &st, &err), 0);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.v[0].failed, 2);
	state_free(&st);
	/* no temporary file left beside it */
	{
		char *cmd = xasprintf(
		        "test \"$(ls -A %s | grep -v '^\\.nightly\\.lock$' | wc -l)\" = 1", dir);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	free(path);
	free(dir);
}

/* ------------------------------------------------ [check] thresholds */

static struct config *
load_ini(const char *dir, const char *text, char **err)
{
	char *path = xasprintf("%s/cfg.ini", dir);
	struct config *cfg;
	write_file(path, text);
	cfg = config_load(path, err);
	free(path);
	return cfg;
}

#define BASE_INI                                                                           \
	"[source s]\nplugin = files\npath = /tmp\n[sink k]\nplugin = local\npath = /tmp\n" \
	"[job j]\nsources = s\nsinks = k\n"

static void
check_defaults_are_the_seeds(void **state)
{
	char *err = NULL;
	struct config *cfg = load_ini(*state, BASE_INI, &err);
	assert_non_null(cfg);
	const struct cfg_check *c = &cfg->jobs[0].check;
	assert_int_equal(c->max_age.warn, 0);
	assert_int_equal(c->max_age.crit, 25 * 3600);
	assert_int_equal(c->max_size_drop.crit, 50);
	assert_int_equal(c->max_verify_age.crit, 0);
	assert_int_equal(c->max_usage.crit, 90);
	assert_string_equal(cfg->serve.listen, "127.0.0.1:9135");
	assert_int_equal(cfg->serve.max_connections, 512);
	assert_null(cfg->metrics_file);
	config_free(cfg);
}

static void
check_levels_and_job_override(void **state)
{
	char *err = NULL;
	struct config *cfg = load_ini(*state,
	                              "[cairn]\nmetrics_file = m.prom\n"
	                              "[check]\nmax_age = 25h,49h\nmax_size_drop = 30%, 60%\n"
	                              "max_verify_age = 8d\nmax_usage = off\n" BASE_INI
	                              "max_age = 2h\nmax_usage = 80,95%\n",
	                              &err);
	if (!cfg)
		fail_msg("%s", err);
	const struct cfg_check *c = &cfg->jobs[0].check;
	assert_int_equal(c->max_age.warn, 0); /* the job's own: critical only */
	assert_int_equal(c->max_age.crit, 2 * 3600);
	assert_int_equal(c->max_size_drop.warn, 30);
	assert_int_equal(c->max_size_drop.crit, 60);
	assert_int_equal(c->max_verify_age.crit, 8 * 86400);
	assert_int_equal(c->max_usage.warn, 80);
	assert_int_equal(c->max_usage.crit, 95);
	assert_int_equal(cfg->check.max_age.warn, 25 * 3600);
	assert_int_equal(cfg->check.max_age.crit, 49 * 3600);
	assert_int_equal(cfg->check.max_usage.crit, 0);
	assert_contains(cfg->metrics_file, "/m.prom");
	config_free(cfg);
}

static void
check_bad_thresholds_name_the_key(void **state)
{
	static const struct {
		const char *ini, *want;
	} cases[] = {
	        {"[check]\nmax_age = soon\n", "[check] max_age: \"soon\" is not a threshold"},
	        {"[check]\nmax_age = 49h,25h\n", "warning first"},
	        {"[check]\nmax_usage = 120%\n", "[check] max_usage"},
	        {"[check]\nmax_size_drop = 1,2,3\n", "max_size_drop"},
	        {"[check]\nmax_speed = 1\n", "[check] max_speed: unknown key"},
	        {"[check x]\n", "the [check] section takes no name"},
	        {"[serve]\nlisten = 9135\n", "[serve] listen: \"9135\" is not ADDR:PORT"},
	        {"[serve]\nlisten = 127.0.0.1:99999\n", "is not ADDR:PORT"},
	        {"[serve]\nmax_connections = 0\n", "[serve] max_connections"},
	        {"[serve]\ntls_cert = c.pem\n", "give both tls_cert and tls_key"},
	        {"[serve]\nport = 1\n", "[serve] port: unknown key"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = NULL;
		char *ini = xasprintf("%s%s", cases[i].ini, BASE_INI);
		struct config *cfg = load_ini(*state, ini, &err);
		if (cfg)
			fail_msg("accepted: %s", cases[i].ini);
		assert_contains(err, cases[i].want);
		free(err);
		free(ini);
	}
	{
		char *err = NULL;
		struct config *cfg = load_ini(*state, BASE_INI "max_age = never\n", &err);
		assert_null(cfg);
		assert_contains(err, "[job j] max_age");
		free(err);
	}
}

/* ---------------------------------------------------- check_evaluate */

static void
evaluate_levels(void **state)
{
	char *err = NULL;
	struct config *cfg = load_ini(
	        *state, "[check]\nmax_age = 25h,49h\nmax_usage = 80%,90%\n" BASE_INI, &err);
	struct sink_status ss = {0};
	struct job_status js = {.job = &cfg->jobs[0], .sinks = &ss, .nsinks = 1};
	struct status_report r = {.now = T1 + 30 * 3600, .jobs = &js, .njobs = 1};
	struct check_result cr;
	(void)state;

	ss.name = "k";
	ss.reachable = 1;
	ss.have_last = 1;
	memcpy(ss.last.id, ID1, sizeof(ss.last.id));
	ss.last.time = T1;
	/* 30h old: warning only */
	check_evaluate(&r, &cr);
	assert_int_equal(cr.state, CHECK_WARNING);
	assert_int_equal(cr.n, 1);
	assert_contains(cr.v[0].text, "j in k: the last complete backup " ID1 " is 30h old");
	assert_contains(cr.perfdata, "'j/k age'=108000s;90000;176400;0;");
	check_result_free(&cr);
	/* 50h: critical */
	r.now = T1 + 50 * 3600;
	check_evaluate(&r, &cr);
	assert_int_equal(cr.state, CHECK_CRITICAL);
	check_result_free(&cr);
	/* fresh, but the size fell by 60 % and the sink is 85 % full */
	r.now = T1 + 3600;
	ss.have_prev = 1;
	ss.last.have_manifest = ss.prev.have_manifest = 1;
	ss.last.stored = 400;
	ss.prev.stored = 1000;
	ss.have_usage = 1;
	ss.usage = (struct cairn_usage){.used = 10, .avail = 15, .total = 100};
	check_evaluate(&r, &cr);
	assert_int_equal(cr.state, CHECK_CRITICAL);
	assert_int_equal(cr.n, 2);
	assert_int_equal(cr.v[0].level, CHECK_CRITICAL);
	assert_contains(cr.v[0].text, "60.0 % less");
	assert_int_equal(cr.v[1].level, CHECK_WARNING);
	assert_contains(cr.v[1].text, "85.0 % full");
	check_result_free(&cr);
	/* an unreachable sink is unknown: its numbers cannot be told */
	ss.reachable = 0;
	ss.error = "connection refused";
	check_evaluate(&r, &cr);
	assert_int_equal(cr.state, CHECK_UNKNOWN);
	assert_contains(cr.v[0].text, "connection refused");
	check_result_free(&cr);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(missing_record_is_empty, setup, teardown),
	        cmocka_unit_test_setup_teardown(save_and_load_round_trip, setup, teardown),
	        cmocka_unit_test(runs_since_success_count_and_reset),
	        cmocka_unit_test(bad_id_is_dropped),
	        cmocka_unit_test(damaged_records_are_refused),
	        cmocka_unit_test_setup_teardown(load_names_the_damaged_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(update_replaces_a_damaged_record, setup, teardown),
	        cmocka_unit_test_setup_teardown(check_defaults_are_the_seeds, setup, teardown),
	        cmocka_unit_test_setup_teardown(check_levels_and_job_override, setup, teardown),
	        cmocka_unit_test_setup_teardown(check_bad_thresholds_name_the_key, setup, teardown),
	        cmocka_unit_test_setup_teardown(evaluate_levels, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
