/*
 * test_retention_log.c - unit tests of src/retention_log.c: which parts of
 * a source's change log the kept sets still need (the oldest kept set's
 * log position, pitr_window), gap records, left-over objects, and the
 * fail-safe when a kept set's manifest cannot be read.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "retention_log.h"
#include "sets.h"

#define NOW ((time_t)1796688000) /* 2026-12-08T00:00:00Z */
#define DAY INT64_C(86400000)
#define MS(t) ((int64_t)(t)*1000)

/* A manifest holding the sources named (space-separated); those given a
 * start/end time record it (0: not recorded). */
static struct manifest *
man(const char *id, const char *source, int64_t start_ms, int64_t end_ms, const char *other)
{
	struct manifest *m = xcalloc(1, sizeof(*m));
	m->id = xstrdup(id);
	struct manifest_source *s = manifest_add_source(m);
	s->name = xstrdup(source);
	if (start_ms) {
		s->has_log_start = 1;
		s->log_start.time_ms = start_ms;
	}
	if (end_ms) {
		s->has_log_end = 1;
		s->log_end.time_ms = end_ms;
	}
	if (other) {
		s = manifest_add_source(m);
		s->name = xstrdup(other);
	}
	return m;
}

static void
test_cut_is_the_oldest_kept_position(void **state)
{
	(void)state;
	struct manifest *a = man("20261205T020000Z", "db", MS(NOW) - 3 * DAY, 0, NULL),
	                *b = man("20261206T020000Z", "db", MS(NOW) - 2 * DAY,
	                         MS(NOW) - 2 * DAY + 5000, NULL),
	                *c = man("20261207T020000Z", "files", 0, 0, NULL);
	struct log_keeper k[] = {
	        {"20261206T020000Z", b}, {"20261205T020000Z", a}, {"20261207T020000Z", c}};
	struct log_retention r;
	char why[160];
	assert_int_equal(log_retention_for(k, 3, "db", 0, NOW, &r), 0);
	assert_int_equal(r.holders, 2);
	assert_true(r.cut_ms == MS(NOW) - 3 * DAY);
	assert_string_equal(r.cut_set, "20261205T020000Z");
	/* at the cut and after: kept; before: removed */
	assert_int_equal(log_retention_segment(&r, MS(NOW) - 3 * DAY, why, sizeof(why)), 1);
	assert_string_equal(why, "keep: log after kept set 20261205T020000Z");
	assert_int_equal(log_retention_segment(&r, MS(NOW) - 3 * DAY - 1, why, sizeof(why)), 0);
	assert_string_equal(why, "remove: log before oldest kept set 20261205T020000Z");
	/* END wins over START: only b kept */
	assert_int_equal(log_retention_for(k, 1, "db", 0, NOW, &r), 0);
	assert_true(r.cut_ms == MS(NOW) - 2 * DAY + 5000);
	assert_int_equal(log_retention_segment(&r, MS(NOW) - 2 * DAY + 4999, why, sizeof(why)), 0);
	manifest_free(a);
	manifest_free(b);
	manifest_free(c);
}

static void
test_pitr_window(void **state)
{
	(void)state;
	struct manifest *a = man("20261201T020000Z", "db", MS(NOW) - 7 * DAY, 0, NULL);
	struct log_keeper k[] = {{"20261201T020000Z", a}};
	struct log_retention r;
	char why[160];
	assert_int_equal(log_retention_for(k, 1, "db", 2 * 86400, NOW, &r), 0);
	assert_int_equal(log_retention_segment(&r, MS(NOW) - 2 * DAY - 1, why, sizeof(why)), 0);
	assert_string_equal(why, "remove: log older than pitr_window 2d");
	assert_int_equal(log_retention_segment(&r, MS(NOW) - 2 * DAY, why, sizeof(why)), 1);
	assert_string_equal(why, "keep: log after kept set 20261201T020000Z");
	/* before the set: that reason first */
	assert_int_equal(log_retention_segment(&r, MS(NOW) - 8 * DAY, why, sizeof(why)), 0);
	assert_contains(why, "before oldest kept set");
	/* off: 0 */
	assert_int_equal(log_retention_for(k, 1, "db", 0, NOW, &r), 0);
	assert_int_equal(log_retention_segment(&r, MS(NOW) - 6 * DAY, why, sizeof(why)), 1);
	manifest_free(a);
}

static void
test_no_holder_no_position_unreadable(void **state)
{
	(void)state;
	struct manifest *a = man("20261201T020000Z", "files", 0, 0, NULL),
	                *b = man("20261202T020000Z", "db", 0, 0, "files");
	struct log_keeper k[] = {
	        {"20261201T020000Z", a}, {"20261202T020000Z", b}, {"20261203T020000Z", NULL}};
	struct log_retention r;
	char why[160];
	/* no kept set holds db: its log serves no restore */
	assert_int_equal(log_retention_for(k, 1, "db", 0, NOW, &r), 0);
	assert_int_equal(log_retention_segment(&r, MS(NOW), why, sizeof(why)), 0);
	assert_string_equal(why, "remove: no kept set holds source db");
	/* held, but no kept set says where the log stood: kept, also very
	 * old, unless the window says otherwise */
	assert_int_equal(log_retention_for(k, 2, "db", 0, NOW, &r), 0);
	assert_int_equal(r.holders, 1);
	assert_int_equal(log_retention_segment(&r, 1000, why, sizeof(why)), 1);
	assert_string_equal(why, "keep: no kept set records where the log of db stood");
	assert_int_equal(log_retention_for(k, 2, "db", 86400, NOW, &r), 0);
	assert_int_equal(log_retention_segment(&r, 1000, why, sizeof(why)), 0);
	assert_contains(why, "older than pitr_window 1d");
	/* a kept set whose manifest cannot be read: nothing may go */
	assert_int_equal(log_retention_for(k, 3, "db", 0, NOW, &r), -1);
	manifest_free(a);
	manifest_free(b);
}

static void
test_gaps_and_orphans(void **state)
{
	(void)state;
	char why[160];
	assert_int_equal(log_retention_gap(5000, 4000, why, sizeof(why)), 1);
	assert_string_equal(why, "keep: a kept segment lies before it");
	assert_int_equal(log_retention_gap(5000, 5000, why, sizeof(why)), 1);
	assert_int_equal(log_retention_gap(5000, 5001, why, sizeof(why)), 0);
	assert_string_equal(why, "remove: no kept segment lies before it");
	assert_int_equal(log_retention_gap(5000, INT64_MAX, why, sizeof(why)), 0);
	/* orphans: by mtime, else by the name's TO time */
	assert_int_equal(
	        log_retention_orphan(NOW - SET_LEFTOVER_GRACE - 1, MS(NOW), NOW, why, sizeof(why)),
	        0);
	assert_string_equal(why, "remove: no manifest, left over for more than 1d");
	assert_int_equal(log_retention_orphan(NOW - SET_LEFTOVER_GRACE, 0, NOW, why, sizeof(why)),
	                 1);
	assert_contains(why, "a follower may be writing it");
	assert_int_equal(log_retention_orphan(0, MS(NOW) - 2 * DAY, NOW, why, sizeof(why)), 0);
	assert_int_equal(log_retention_orphan(0, MS(NOW) - 60000, NOW, why, sizeof(why)), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cut_is_the_oldest_kept_position),
	        cmocka_unit_test(test_pitr_window),
	        cmocka_unit_test(test_no_holder_no_position_unreadable),
	        cmocka_unit_test(test_gaps_and_orphans),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
