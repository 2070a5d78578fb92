/*
 * test_metrics.c - unit tests of src/metrics.c: the status report in the
 * Prometheus text format (one HELP and TYPE per metric, a sample per job
 * and sink where it is known, usage once per sink, cairn check's state and
 * the time of the report) and the metrics file written atomically.
 */
#include "autoconf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "metrics.h"

#define ID1 "20261126T020000Z"
#define T1 ((time_t)1795658400) /* 2026-11-26T02:00:00Z */

/* How many lines of text start with prefix. */
static int
lines_with(const char *text, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += strncmp(p, prefix, len) == 0;
	return n;
}

/* Two jobs: j in sinks k (a complete set, verified, usage known) and off
 * (unreachable), and j2 in k too. */
struct fixture {
	struct cfg_job job, job2;
	struct sink_status ss[3];
	struct job_status js[2];
	struct status_report r;
};

static void
make(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->job.name = "j";
	f->job2.name = "j2";
	struct sink_status *k = &f->ss[0], *off = &f->ss[1], *k2 = &f->ss[2];
	k->name = "k";
	k->reachable = 1;
	k->sets = 3;
	k->bytes_kept = 4096;
	k->have_last = 1;
	memcpy(k->last.id, ID1, sizeof(k->last.id));
	k->last.time = T1;
	k->last.started = T1;
	k->last.finished = T1 + 90;
	k->last.stored = 400;
	k->last.raw = 1000;
	k->have_usage = 1;
	k->usage = (struct cairn_usage){.used = 10, .avail = UINT64_MAX, .total = 100};
	k->state.verify.time = T1 + 3600;
	k->state.verify.ok = 1;
	off->name = "off";
	off->error = "connection refused";
	off->state.failed = 2;
	*k2 = *k;
	k2->state.verify.time = 0;
	f->js[0] = (struct job_status){.job = &f->job, .sinks = f->ss, .nsinks = 2};
	f->js[1] = (struct job_status){.job = &f->job2, .sinks = k2, .nsinks = 1};
	f->r = (struct status_report){.now = T1 + 7200, .jobs = f->js, .njobs = 2};
}

static void
samples_where_known_with_one_help_each(void **state)
{
	struct fixture f;
	(void)state;
	make(&f);
	char *t = metrics_text(&f.r);
	/* every sink says whether it is up */
	assert_contains(t, "cairn_sink_up{job=\"j\",sink=\"k\"} 1\n");
	assert_contains(t, "cairn_sink_up{job=\"j\",sink=\"off\"} 0\n");
	assert_contains(t, "cairn_sink_up{job=\"j2\",sink=\"k\"} 1\n");
	assert_int_equal(lines_with(t, "# HELP cairn_sink_up "), 1);
	assert_int_equal(lines_with(t, "# TYPE cairn_sink_up gauge"), 1);
	/* the newest complete set */
	assert_contains(
	        t,
	        "cairn_backup_last_success_timestamp_seconds{job=\"j\",sink=\"k\"} 1795658490\n");
	assert_contains(t, "cairn_backup_last_stored_bytes{job=\"j\",sink=\"k\"} 400\n");
	assert_contains(t, "cairn_backup_last_raw_bytes{job=\"j\",sink=\"k\"} 1000\n");
	assert_contains(t, "cairn_backup_last_duration_seconds{job=\"j\",sink=\"k\"} 90\n");
	assert_contains(t, "cairn_backup_sets{job=\"j\",sink=\"k\"} 3\n");
	assert_contains(t, "cairn_backup_kept_bytes{job=\"j\",sink=\"k\"} 4096\n");
	/* an unreachable sink has no set numbers, but its failed runs */
	assert_int_equal(lines_with(t, "cairn_backup_sets{job=\"j\",sink=\"off\"}"), 0);
	assert_int_equal(lines_with(t, "cairn_backup_last_stored_bytes{job=\"j\",sink=\"off\"}"),
	                 0);
	assert_contains(t, "cairn_backup_failed_runs_since_success{job=\"j\",sink=\"off\"} 2\n");
	/* a verify only where one was recorded */
	assert_contains(t, "cairn_verify_last_success{job=\"j\",sink=\"k\"} 1\n");
	assert_int_equal(lines_with(t, "cairn_verify_last_success{job=\"j2\""), 0);
	assert_int_equal(lines_with(t, "cairn_restore_test_last_success"), 0);
	assert_int_equal(lines_with(t, "# HELP cairn_restore_test_last_success"), 0);
	/* usage belongs to the sink: once, though two jobs use it; an
	 * unknown figure (UINT64_MAX) is left out */
	assert_int_equal(lines_with(t, "cairn_sink_used_bytes{sink=\"k\"} 10"), 1);
	assert_int_equal(lines_with(t, "cairn_sink_total_bytes{sink=\"k\"} 100"), 1);
	assert_int_equal(lines_with(t, "cairn_sink_avail_bytes"), 0);
	/* cairn check's state (an unreachable sink is unknown) and the time */
	assert_contains(t, "# TYPE cairn_check_status gauge\ncairn_check_status 3\n");
	assert_contains(t, "cairn_status_generated_timestamp_seconds 1795665600\n");
	free(t);
}

static void
label_values_are_escaped(void **state)
{
	struct fixture f;
	(void)state;
	make(&f);
	f.job.name = "a\"b\\c\nd";
	char *t = metrics_text(&f.r);
	assert_contains(t, "cairn_sink_up{job=\"a\\\"b\\\\c\\nd\",sink=\"k\"} 1\n");
	free(t);
}

static void
an_empty_report_has_the_check_and_the_time(void **state)
{
	struct status_report r = {.now = T1};
	(void)state;
	char *t = metrics_text(&r);
	assert_int_equal(lines_with(t, "cairn_sink_up"), 0);
	assert_contains(t, "cairn_check_status 0\n");
	assert_contains(t, "cairn_status_generated_timestamp_seconds 1795658400\n");
	free(t);
}

static void
the_file_is_written_whole_and_readable_by_a_collector(void **state)
{
	char dir[] = "/tmp/cairn-test-metrics-XXXXXX";
	struct stat st;
	char *err = NULL;
	(void)state;
	assert_non_null(mkdtemp(dir));
	char *path = path_join(dir, "cairn.prom");
	assert_int_equal(metrics_write(path, "cairn_check_status 0\n", &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 21);
	/* no temporary left beside it */
	DIR *d = opendir(dir);
	struct dirent *e;
	int others = 0;
	while ((e = readdir(d)))
		others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		          strcmp(e->d_name, "cairn.prom");
	closedir(d);
	assert_int_equal(others, 0);
	free(path);
	/* a missing directory, and a directory where the file should be */
	path = xasprintf("%s/missing/cairn.prom", dir);
	assert_int_equal(metrics_write(path, "x\n", &err), -1);
	assert_contains(err, "cannot create a file in ");
	assert_contains(err,
	                "/missing for the metrics: No such file or directory; check metrics_file");
	free(err);
	free(path);
	path = path_join(dir, "adir");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(metrics_write(path, "x\n", &err), -1);
	assert_contains(err, "cannot write the metrics file ");
	assert_contains(err, "/adir: Is a directory");
	free(err);
	free(path);
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(samples_where_known_with_one_help_each),
	        cmocka_unit_test(label_values_are_escaped),
	        cmocka_unit_test(an_empty_report_has_the_check_and_the_time),
	        cmocka_unit_test(the_file_is_written_whole_and_readable_by_a_collector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
