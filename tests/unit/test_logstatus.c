/* test_logstatus.c - what list, status, check and the metrics make of a
 * job's change logs (src/logstatus.c, the log parts of status.c and
 * metrics.c) and the keys pitr_window and max_log_lag. */
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

#include "config.h"
#include "logstatus.h"
#include "metrics.h"
#include "status.h"

#define T0 ((int64_t)1796653680000) /* 2026-12-07T14:28:00.000Z, in ms */
#define MIN ((int64_t)60000)

static struct cairn_log_pos
pos(int64_t ms, uint64_t lsn)
{
	struct cairn_log_pos p;
	memset(&p, 0, sizeof(p));
	p.time_ms = ms;
	p.lsn = lsn;
	return p;
}

/* a segment (from, to] of `bytes` stored bytes, as a listing gives it */
static void
add_seg(struct log_source *ls, int64_t from_ms, uint64_t from_lsn, int64_t to_ms, uint64_t to_lsn,
        uint64_t bytes)
{
	ls->segs = realloc(ls->segs, (ls->nsegs + 1) * sizeof(*ls->segs));
	struct log_segment *s = &ls->segs[ls->nsegs++];
	memset(s, 0, sizeof(*s));
	s->from = pos(from_ms, from_lsn);
	s->to = pos(to_ms, to_lsn);
	logseg_name(&s->from, &s->to, s->name);
	s->stored_bytes = bytes;
	s->has_manifest = 1;
}

static void
add_gap(struct log_source *ls, int64_t from_ms, uint64_t from_lsn, int64_t to_ms, uint64_t to_lsn,
        const char *reason)
{
	ls->gaps = realloc(ls->gaps, (ls->ngaps + 1) * sizeof(*ls->gaps));
	struct log_gap *g = &ls->gaps[ls->ngaps++];
	memset(g, 0, sizeof(*g));
	g->from = pos(from_ms, from_lsn);
	g->to = pos(to_ms, to_lsn);
	logseg_name(&g->from, &g->to, g->name);
	snprintf(g->base, sizeof(g->base), "20261207T144000Z");
	g->reason = strdup(reason);
}

static void
source_free(struct log_source *ls)
{
	for (size_t i = 0; i < ls->ngaps; i++)
		free(ls->gaps[i].reason);
	free(ls->gaps);
	free(ls->segs);
	strvec_free(&ls->damage);
	strvec_free(&ls->orphans);
}

static void
a_whole_log_has_its_span_size_and_newest(void **state)
{
	struct log_source ls = {.source = "db"};
	struct log_summary s;
	(void)state;
	/* listed out of order: the summary goes by the log's order */
	add_seg(&ls, T0 + MIN, 20, T0 + 2 * MIN, 30, 200);
	add_seg(&ls, T0, 10, T0 + MIN, 20, 100);
	add_seg(&ls, T0 + 2 * MIN, 30, T0 + 3 * MIN + 5, 40, 50);
	strvec_push(&ls.orphans, "j/log/db/x.bson");
	logstatus_summarise(&ls, &s);
	assert_string_equal(s.source, "db");
	assert_int_equal(s.segments, 3);
	assert_int_equal(s.bytes, 350);
	assert_int_equal(s.from_ms, T0);
	assert_int_equal(s.to_ms, T0 + 3 * MIN + 5);
	assert_string_equal(s.newest, ls.segs[2].name);
	assert_int_equal(s.nbreaks, 0);
	assert_int_equal(s.orphans, 1);
	/* lag: now less the newest TO (59.995 s); never below 0 */
	assert_true(logstatus_lag(&s, (time_t)((T0 + 4 * MIN) / 1000)) > 59.99);
	assert_true(logstatus_lag(&s, (time_t)((T0 + 4 * MIN) / 1000)) < 59.999);
	assert_true(logstatus_lag(&s, (time_t)(T0 / 1000)) == 0);
	logstatus_summary_free(&s);
	source_free(&ls);
}

static void
holes_and_gaps_are_found_in_log_order(void **state)
{
	struct log_source ls = {.source = "db"};
	struct log_summary s;
	char iv[96];
	(void)state;
	add_seg(&ls, T0, 10, T0 + MIN, 20, 1);
	/* (T0+1m, T0+2m] is missing: a hole */
	add_seg(&ls, T0 + 2 * MIN, 30, T0 + 3 * MIN, 40, 1);
	/* a gap record bridges 40 to 90: no hole beside it */
	add_gap(&ls, T0 + 3 * MIN, 40, T0 + 10 * MIN, 90, "the oplog rolled over");
	add_seg(&ls, T0 + 10 * MIN, 90, T0 + 11 * MIN, 95, 1);
	/* written twice over (T0+10m30s, T0+12m]: overlaps the one before */
	add_seg(&ls, T0 + 10 * MIN + 30000, 93, T0 + 12 * MIN, 99, 1);
	logstatus_summarise(&ls, &s);
	assert_int_equal(s.nbreaks, 3);
	assert_int_equal(s.nholes, 2);
	assert_int_equal(s.ngaps, 1);
	assert_int_equal(s.breaks[0].kind, LOG_BREAK_HOLE);
	logstatus_interval(&s.breaks[0].from, &s.breaks[0].to, iv, sizeof(iv));
	assert_string_equal(iv, "2026-12-07T14:29:00.000Z .. 2026-12-07T14:30:00.000Z");
	assert_contains(s.breaks[0].reason, "no segment covers it");
	assert_int_equal(s.breaks[1].kind, LOG_BREAK_GAP);
	assert_int_equal(s.breaks[1].from.lsn, 40);
	assert_int_equal(s.breaks[1].to.lsn, 90);
	assert_string_equal(s.breaks[1].reason, "the oplog rolled over");
	assert_string_equal(s.breaks[1].base, "20261207T144000Z");
	assert_int_equal(s.breaks[2].kind, LOG_BREAK_HOLE);
	assert_contains(s.breaks[2].reason, "overlap");
	assert_int_equal(s.to_ms, T0 + 12 * MIN);
	logstatus_summary_free(&s);
	source_free(&ls);

	/* a log of a gap record only: the gap, no span */
	struct log_source g = {.source = "db"};
	add_gap(&g, T0, 1, T0 + MIN, 2, "lost");
	logstatus_summarise(&g, &s);
	assert_int_equal(s.segments, 0);
	assert_int_equal(s.ngaps, 1);
	assert_int_equal(s.nholes, 0);
	logstatus_summary_free(&s);
	source_free(&g);
}

/* ----------------------------------------------------------- check */

struct fx {
	struct cfg_job job;
	struct sink_status ss[2];
	struct job_status js;
	struct status_report r;
	struct log_source ls;
};

/* a job "j" that follows source "db" into sinks a and b; only the log
 * rules on; the newest segment of a's log ends at T0 + 3m */
static void
fx_init(struct fx *f, int with_gap)
{
	memset(f, 0, sizeof(*f));
	f->job.name = "j";
	f->job.check.max_log_lag = (struct check_level){60, 300};
	f->ss[0].name = "a";
	f->ss[1].name = "b";
	f->ss[0].reachable = f->ss[1].reachable = 1;
	f->js = (struct job_status){.job = &f->job, .sinks = f->ss, .nsinks = 2};
	f->r = (struct status_report){.now = (time_t)(T0 / 1000), .jobs = &f->js, .njobs = 1};
	f->ls.source = "db";
	add_seg(&f->ls, T0, 1, T0 + 3 * MIN, 3, 10);
	if (with_gap)
		add_gap(&f->ls, T0 + 3 * MIN, 3, T0 + 4 * MIN, 9, "the oplog rolled over");
	for (int k = 0; k < 2; k++) {
		f->ss[k].logs = calloc(1, sizeof(struct log_summary));
		f->ss[k].nlogs = 1;
		logstatus_summarise(&f->ls, &f->ss[k].logs[0]);
		f->ss[k].logs[0].can_follow = 1;
	}
}

static void
fx_free(struct fx *f)
{
	for (int k = 0; k < 2; k++)
		logstatus_free(f->ss[k].logs, f->ss[k].nlogs);
	source_free(&f->ls);
}

/* the check's result at now, with its lines joined */
static enum check_state
run_check(struct fx *f, time_t now, char **text)
{
	struct check_result c;
	struct strvec lines = {0};
	f->r.now = now;
	check_evaluate(&f->r, &c);
	for (size_t i = 0; i < c.n; i++)
		strvec_push(&lines, c.v[i].text);
	*text = strvec_join(&lines, "\n");
	strvec_free(&lines);
	enum check_state s = c.state;
	check_result_free(&c);
	return s;
}

static void
the_lag_is_held_against_max_log_lag(void **state)
{
	struct fx f;
	char *t;
	time_t newest = (time_t)((T0 + 3 * MIN) / 1000);
	(void)state;
	fx_init(&f, 0);
	assert_int_equal(run_check(&f, newest + 30, &t), CHECK_OK);
	assert_string_equal(t, "");
	free(t);
	assert_int_equal(run_check(&f, newest + 90, &t), CHECK_WARNING);
	assert_contains(t, "j in a: the log of db is 1m behind: its newest segment ends at "
	                   "2026-12-07T14:31:00.000Z (max_log_lag 1m)");
	assert_contains(t, "j in b: the log of db is 1m behind");
	free(t);
	assert_int_equal(run_check(&f, newest + 400, &t), CHECK_CRITICAL);
	assert_contains(t, "(max_log_lag 5m)");
	free(t);
	/* the newest segment ending in the future: said, as its lag is 0 */
	assert_int_equal(run_check(&f, newest - 3600, &t), CHECK_WARNING);
	assert_contains(t, "j in a: the newest segment of the log of db ends at "
	                   "2026-12-07T14:31:00.000Z, in the future");
	free(t);
	assert_int_equal(run_check(&f, newest - 30, &t), CHECK_OK); /* within 60 s: clocks differ */
	free(t);
	/* off: no lag rule */
	f.job.check.max_log_lag = (struct check_level){0, 0};
	assert_int_equal(run_check(&f, newest + 4000, &t), CHECK_OK);
	free(t);
	/* a source whose plugin does not follow (any more): not checked */
	f.job.check.max_log_lag = (struct check_level){0, 300};
	f.ss[0].logs[0].can_follow = f.ss[1].logs[0].can_follow = 0;
	assert_int_equal(run_check(&f, newest + 4000, &t), CHECK_OK);
	free(t);
	fx_free(&f);
}

static void
a_gap_is_critical_naming_source_interval_and_sink(void **state)
{
	struct fx f;
	char *t;
	(void)state;
	fx_init(&f, 1);
	assert_int_equal(run_check(&f, (time_t)((T0 + 5 * MIN) / 1000), &t), CHECK_CRITICAL);
	assert_contains(
	        t,
	        "j in a: the log of db has a gap 2026-12-07T14:31:00.000Z .. 2026-12-07T14:32:00.000Z: the oplog rolled over;");
	assert_contains(t, "j in b: the log of db has a gap");
	free(t);
	fx_free(&f);
}

static void
a_sink_without_the_log_others_hold_is_said(void **state)
{
	struct fx f;
	char *t;
	(void)state;
	fx_init(&f, 0);
	logstatus_free(f.ss[1].logs, f.ss[1].nlogs);
	f.ss[1].logs = NULL;
	f.ss[1].nlogs = 0;
	assert_int_equal(run_check(&f, (time_t)((T0 + 3 * MIN) / 1000), &t), CHECK_CRITICAL);
	assert_contains(t, "j in b: no segment of the log of db, which a holds");
	assert_true(strstr(t, "j in a: no segment") == NULL);
	free(t);
	fx_free(&f);
}

static void
a_job_without_logs_gets_nothing_new(void **state)
{
	struct cfg_job job = {.name = "j", .check.max_log_lag = {0, 300}};
	struct sink_status ss = {.name = "a", .reachable = 1};
	struct job_status js = {.job = &job, .sinks = &ss, .nsinks = 1};
	struct status_report r = {.now = 2000000000, .jobs = &js, .njobs = 1};
	struct check_result c;
	(void)state;
	check_evaluate(&r, &c);
	assert_int_equal(c.state, CHECK_OK);
	assert_int_equal(c.n, 0);
	check_result_free(&c);
	char *m = metrics_text(&r);
	assert_null(strstr(m, "cairn_log_"));
	free(m);
	json_t *doc = status_json(&r);
	json_t *logs = json_object_get(
	        json_array_get(
	                json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "sinks"),
	                0),
	        "logs");
	assert_true(json_is_array(logs));
	assert_int_equal(json_array_size(logs), 0);
	json_decref(doc);
}

static void
json_and_metrics_show_the_log(void **state)
{
	struct fx f;
	(void)state;
	fx_init(&f, 1);
	f.r.now = (time_t)((T0 + 5 * MIN) / 1000);
	json_t *doc = status_json(&f.r);
	json_t *l = json_array_get(
	        json_object_get(
	                json_array_get(
	                        json_object_get(json_array_get(json_object_get(doc, "jobs"), 0),
	                                        "sinks"),
	                        0),
	                "logs"),
	        0);
	assert_non_null(l);
	assert_string_equal(json_string_value(json_object_get(l, "source")), "db");
	assert_int_equal(json_integer_value(json_object_get(l, "segments")), 1);
	assert_int_equal(json_integer_value(json_object_get(l, "bytes")), 10);
	assert_int_equal(json_integer_value(json_object_get(l, "gaps")), 1);
	assert_int_equal(json_integer_value(json_object_get(l, "holes")), 0);
	assert_int_equal(json_integer_value(json_object_get(l, "lagSeconds")), 120);
	assert_string_equal(json_string_value(json_object_get(l, "to")),
	                    "2026-12-07T14:31:00.000Z");
	assert_string_equal(json_string_value(json_object_get(l, "from")),
	                    "2026-12-07T14:28:00.000Z");
	assert_string_equal(json_string_value(json_object_get(l, "newestSegment")),
	                    f.ls.segs[0].name);
	json_t *br = json_array_get(json_object_get(l, "breaks"), 0);
	assert_string_equal(json_string_value(json_object_get(br, "kind")), "gap");
	assert_string_equal(json_string_value(json_object_get(br, "reason")),
	                    "the oplog rolled over");
	assert_string_equal(json_string_value(json_object_get(br, "base")), "20261207T144000Z");
	json_decref(doc);

	char *m = metrics_text(&f.r);
	assert_contains(m, "# TYPE cairn_log_lag_seconds gauge\n");
	assert_contains(m, "cairn_log_lag_seconds{job=\"j\",source=\"db\",sink=\"a\"} 120\n");
	assert_contains(m, "cairn_log_lag_seconds{job=\"j\",source=\"db\",sink=\"b\"} 120\n");
	assert_contains(
	        m,
	        "cairn_log_newest_timestamp_seconds{job=\"j\",source=\"db\",sink=\"a\"} 1796653860\n");
	assert_contains(
	        m,
	        "cairn_log_oldest_timestamp_seconds{job=\"j\",source=\"db\",sink=\"a\"} 1796653680\n");
	assert_contains(m, "cairn_log_segments{job=\"j\",source=\"db\",sink=\"a\"} 1\n");
	assert_contains(m, "cairn_log_kept_bytes{job=\"j\",source=\"db\",sink=\"a\"} 10\n");
	assert_contains(m, "cairn_log_gaps{job=\"j\",source=\"db\",sink=\"a\"} 1\n");
	assert_contains(m, "cairn_check_status 2\n");
	free(m);
	fx_free(&f);
}

/* ------------------------------------------------------------ keys */

static struct config *
load_ini(const char *text, char **err)
{
	char path[] = "/tmp/cairn-test-logstatus-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct config *cfg = config_load(path, err);
	unlink(path);
	return cfg;
}

#define BASE_INI                                                                           \
	"[source s]\nplugin = files\npath = /tmp\n[sink k]\nplugin = local\npath = /tmp\n" \
	"[job j]\nsources = s\nsinks = k\n"

static void
the_keys_max_log_lag_and_pitr_window(void **state)
{
	char *err = NULL;
	(void)state;
	struct config *cfg = load_ini(BASE_INI, &err);
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(cfg->jobs[0].check.max_log_lag.warn, 0);
	assert_int_equal(cfg->jobs[0].check.max_log_lag.crit, 5 * 60);
	assert_int_equal(cfg->jobs[0].log.pitr_window, 0);
	config_free(cfg);
	cfg = load_ini("[check]\nmax_log_lag = 2m,10m\n" BASE_INI "pitr_window = 7d\n"
	               "[job j2]\nsources = s\nsinks = k\nmax_log_lag = 30s\npitr_window = 0\n",
	               &err);
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(cfg->jobs[0].check.max_log_lag.warn, 120);
	assert_int_equal(cfg->jobs[0].check.max_log_lag.crit, 600);
	assert_int_equal(cfg->jobs[0].log.pitr_window, 7 * 86400);
	assert_int_equal(cfg->jobs[1].check.max_log_lag.warn, 0);
	assert_int_equal(cfg->jobs[1].check.max_log_lag.crit, 30);
	assert_int_equal(cfg->jobs[1].log.pitr_window, 0);
	config_free(cfg);
	static const struct {
		const char *ini, *want;
	} bad[] = {
	        {"[check]\nmax_log_lag = soon\n" BASE_INI,
	         "[check] max_log_lag: \"soon\" is not a threshold"},
	        {"[check]\nmax_log_lag = 10m,1m\n" BASE_INI, "warning first"},
	        {BASE_INI "max_log_lag = 5%\n", "[job j] max_log_lag"},
	        {BASE_INI "pitr_window = a week\n",
	         "[job j] pitr_window: \"a week\": use a duration"},
	        {BASE_INI "pitr_window = -1d\n", "[job j] pitr_window"},
	        {BASE_INI "pitr = 7d\n", "pitr_window"},
	        {"[check]\nmax_lag = 1m\n" BASE_INI, "max_log_lag"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		cfg = load_ini(bad[i].ini, &err);
		if (cfg)
			fail_msg("accepted: %s", bad[i].ini);
		assert_contains(err, bad[i].want);
		free(err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(a_whole_log_has_its_span_size_and_newest),
	        cmocka_unit_test(holes_and_gaps_are_found_in_log_order),
	        cmocka_unit_test(the_lag_is_held_against_max_log_lag),
	        cmocka_unit_test(a_gap_is_critical_naming_source_interval_and_sink),
	        cmocka_unit_test(a_sink_without_the_log_others_hold_is_said),
	        cmocka_unit_test(a_job_without_logs_gets_nothing_new),
	        cmocka_unit_test(json_and_metrics_show_the_log),
	        cmocka_unit_test(the_keys_max_log_lag_and_pitr_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
