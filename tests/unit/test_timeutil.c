/*
 * test_timeutil.c - unit tests of src/timeutil.c (backup ids, ISO 8601
 * times) and of the --at / --id choice of a backup set in src/sets.c.
 *
 * Local-time cases set TZ explicitly and are skipped when the zoneinfo
 * file is missing; the expected epoch values were computed with date(1).
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "sets.h"
#include "timeutil.h"

/* 2026-01-24T03:00:00Z and friends, from `date -d ... +%s`. */
#define T_0124_0300Z ((time_t)1769223600)
#define T_0124_2359_59Z ((time_t)1769299199)
#define T_1126_0200Z ((time_t)1795658400)
#define T_20240229_123456Z ((time_t)1709210096)

/* use_tz and have_zone are testutil.h's */

static int
teardown_tz(void **state)
{
	(void)state;
	use_tz("UTC");
	return 0;
}

/* -------------------------------------------------------- backup ids */

static void
backup_id_format_is_sortable_utc(void **state)
{
	char id[BACKUP_ID_LEN + 1];
	(void)state;

	backup_id_format(T_1126_0200Z, id);
	assert_string_equal(id, "20261126T020000Z");
	assert_int_equal(strlen(id), BACKUP_ID_LEN);
	backup_id_format(0, id);
	assert_string_equal(id, "19700101T000000Z");
	/* local time must not leak into ids */
	use_tz("Europe/Berlin");
	backup_id_format(T_1126_0200Z, id);
	assert_string_equal(id, "20261126T020000Z");
}

static void
backup_id_round_trips(void **state)
{
	static const time_t times[] = {0,
	                               1,
	                               T_0124_0300Z,
	                               T_1126_0200Z,
	                               T_20240229_123456Z,
	                               951782400 /* 2000-02-29 */,
	                               4102444799 /* 2099-12-31 */};
	(void)state;

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char id[BACKUP_ID_LEN + 1];
		time_t back = -1;
		backup_id_format(times[i], id);
		assert_int_equal(backup_id_parse(id, &back), 0);
		assert_int_equal(back, times[i]);
	}
}

static void
backup_id_parse_reads_the_fields(void **state)
{
	time_t t = 0;
	(void)state;

	assert_int_equal(backup_id_parse("20240229T123456Z", &t), 0);
	assert_int_equal(t, T_20240229_123456Z);
	assert_int_equal(backup_id_parse("20261231T235959Z", &t), 0);
	assert_int_equal(backup_id_parse("20000229T000000Z", &t), 0); /* 400-year leap */
}

static void
backup_id_parse_refuses_bad_ids(void **state)
{
	static const char *const bad[] = {
	        "",
	        "20261126T020000",    /* too short */
	        "20261126T020000ZZ",  /* too long */
	        "2026-11-26T020000Z", /* dashes */
	        "20261326T020000Z",   /* month 13 */
	        "20260026T020000Z",   /* month 0 */
	        "20260100T020000Z",   /* day 0 */
	        "20260132T020000Z",   /* Jan 32 */
	        "20260230T020000Z",   /* Feb 30 */
	        "20250229T020000Z",   /* Feb 29, not a leap year */
	        "21000229T020000Z",   /* century, not a leap year */
	        "20260431T020000Z",   /* Apr 31 */
	        "20261126X020000Z",   /* no T */
	        "20261126T0200000",   /* no Z */
	        "20261126t020000Z",   /* lowercase t */
	        "20261126T240000Z",   /* hour 24 */
	        "20261126T026000Z",   /* minute 60 */
	        "20261126T020260Z",   /* second 60: would name 02:03:00 twice (fuzz) */
	        "00261126T021026Z",   /* year 26: formats back unpadded (fuzz) */
	        "19691231T235959Z",   /* before the epoch: no backup was taken then */
	        "2026112aT020000Z",   /* a letter */
	        "20261126T02 000Z",   /* a space */
	        "manifest.json....",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t = 12345;
		if (backup_id_parse(bad[i], &t) != -1)
			fail_msg("backup_id_parse accepted \"%s\"", bad[i]);
		assert_int_equal(t, 12345); /* untouched on error */
	}
}

/* -------------------------------------------------------- ISO 8601 */

static void
iso8601_parse_with_zone(void **state)
{
	static const struct {
		const char *text;
		time_t want;
	} cases[] = {
	        {"2026-01-24T03:00Z", T_0124_0300Z},
	        {"2026-01-24T03:00:00Z", T_0124_0300Z},
	        {"2026-01-24T03:00:15Z", T_0124_0300Z + 15},
	        {"2026-01-24T03:00:15.999Z", T_0124_0300Z + 15},
	        {"2026-01-24T03:00:15,5Z", T_0124_0300Z + 15},
	        {"2026-01-24t03:00z", T_0124_0300Z},
	        {"2026-01-24 03:00Z", T_0124_0300Z},
	        {"2026-01-24T04:00+01:00", T_0124_0300Z},
	        {"2026-01-24T04:00+0100", T_0124_0300Z},
	        {"2026-01-24T08:00+05", T_0124_0300Z},
	        {"2026-01-23T22:00-0500", T_0124_0300Z},
	        {"2026-01-23T22:00:00-05:00", T_0124_0300Z},
	        {"2026-01-24T08:30+05:30", T_0124_0300Z},
	        {"2026-01-24T03:00+00:00", T_0124_0300Z},
	        /* a date alone is the end of that day, also with a zone */
	        {"2026-01-24Z", T_0124_2359_59Z},
	        {"2026-11-26T02:00:00Z", T_1126_0200Z},
	        {"2024-02-29T12:34:56Z", T_20240229_123456Z},
	};
	(void)state;

	/* a zone in the text wins over TZ */
	use_tz("Asia/Tokyo");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 0;
		if (iso8601_parse(cases[i].text, &t) != 0)
			fail_msg("iso8601_parse refused \"%s\"", cases[i].text);
		if (t != cases[i].want)
			fail_msg("\"%s\": got %lld, want %lld", cases[i].text, (long long)t,
			         (long long)cases[i].want);
	}
}

static void
iso8601_parse_without_zone_is_local_time(void **state)
{
	time_t t = 0;
	(void)state;

	use_tz("UTC");
	assert_int_equal(iso8601_parse("2026-01-24T03:00", &t), 0);
	assert_int_equal(t, T_0124_0300Z);
	assert_int_equal(iso8601_parse("2026-01-24 03:00:00", &t), 0);
	assert_int_equal(t, T_0124_0300Z);
	assert_int_equal(iso8601_parse("2026-01-24", &t), 0);
	assert_int_equal(t, T_0124_2359_59Z);
	/* fixed POSIX zone: always there, no zoneinfo needed */
	use_tz("EST5");
	assert_int_equal(iso8601_parse("2026-01-23T22:00", &t), 0);
	assert_int_equal(t, T_0124_0300Z);
}

static void
iso8601_parse_follows_berlin_winter_and_summer(void **state)
{
	time_t t = 0;
	(void)state;

	if (!have_zone("Europe/Berlin"))
		skip();
	use_tz("Europe/Berlin");
	/* CET, UTC+1 */
	assert_int_equal(iso8601_parse("2026-01-24T04:00", &t), 0);
	assert_int_equal(t, T_0124_0300Z);
	/* a date alone: 23:59:59 local = 22:59:59Z */
	assert_int_equal(iso8601_parse("2026-01-24", &t), 0);
	assert_int_equal(t, (time_t)1769295599);
	/* CEST, UTC+2: 2026-07-01T12:00 local = 10:00Z */
	assert_int_equal(iso8601_parse("2026-07-01T12:00:00", &t), 0);
	assert_int_equal(t, (time_t)1782900000);
	assert_int_equal(iso8601_parse("2026-07-01 12:00", &t), 0);
	assert_int_equal(t, (time_t)1782900000);
}

static void
format_local_and_utc_show_the_same_instant(void **state)
{
	char buf[64];
	(void)state;

	iso8601_format_utc(T_1126_0200Z, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26T02:00:00Z");
	if (!have_zone("Europe/Berlin"))
		skip();
	use_tz("Europe/Berlin");
	format_local(T_1126_0200Z, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26 03:00:00");
	format_local((time_t)1782900000, buf, sizeof(buf));
	assert_string_equal(buf, "2026-07-01 12:00:00");
}

static void
iso8601_parse_refuses_garbage(void **state)
{
	static const char *const bad[] = {
	        "",
	        "yesterday",
	        "2026",
	        "2026-01",
	        "2026-1-24",
	        "2026/01/24",
	        "20260124",
	        "2026-13-01",
	        "2026-02-30",
	        "2025-02-29",
	        "2026-01-24T",
	        "2026-01-24T03",
	        "2026-01-24T3:00",
	        "2026-01-24T03:0",
	        "2026-01-24T24:00",
	        "2026-01-24T03:60",
	        "2026-01-24T03:00:",
	        "2026-01-24T03:00:5",
	        "2026-01-24T03:00.5", /* fraction needs seconds */
	        "2026-01-24T03:00 ",  /* trailing space */
	        "2026-01-24T03:00Zjunk",
	        "2026-01-24T03:00ZZ",
	        "2026-01-24T03:00+1",
	        "2026-01-24T03:00+01:0",
	        "2026-01-24T03:00+01:",
	        "2026-01-24T03:00+24:00",
	        "2026-01-24T03:00+01:60",
	        "2026-01-24T03:00+01:00x",
	        "2026-01-24T03:00 UTC",
	        "2026-01-24x",
	        "2026-01-24Tnoon",
	        "20261126T020000Z", /* a backup id is not ISO 8601 extended */
	};
	(void)state;

	use_tz("UTC");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t = 777;
		if (iso8601_parse(bad[i], &t) != -1)
			fail_msg("iso8601_parse accepted \"%s\" as %lld", bad[i], (long long)t);
		assert_int_equal(t, 777);
	}
}

static void
iso8601_format_utc_round_trips_through_parse(void **state)
{
	static const time_t times[] = {0, T_0124_0300Z, T_20240229_123456Z, 4102444799};
	(void)state;

	use_tz("America/New_York");
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char buf[32];
		time_t back = -1;
		iso8601_format_utc(times[i], buf, sizeof(buf));
		assert_int_equal(iso8601_parse(buf, &back), 0);
		assert_int_equal(back, times[i]);
	}
}

/* ------------------------------------------------------- sets_select */

/* Five sets a day apart at 02:00Z, oldest first; C and E have no
 * manifest (a run that died, and one still writing). */
struct fixture {
	struct set_info v[5];
	struct set_list l;
};

enum {
	A,
	B,
	C,
	D,
	E
};
#define DAY 86400
#define T_A ((time_t)1768874400) /* 2026-01-20T02:00:00Z */

static int
setup_sets(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	for (int i = 0; i < 5; i++) {
		f->v[i].time = T_A + (time_t)i * DAY;
		backup_id_format(f->v[i].time, f->v[i].id);
		f->v[i].complete = i != C && i != E;
	}
	f->l.v = f->v;
	f->l.n = 5;
	use_tz("UTC");
	*state = f;
	return 0;
}

static int
teardown_sets(void **state)
{
	free(*state);
	return teardown_tz(state);
}

static void
sets_fixture_ids_are_what_the_tests_assume(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(f->v[A].id, "20260120T020000Z");
	assert_string_equal(f->v[E].id, "20260124T020000Z");
}

static void
select_without_criteria_takes_newest_complete(void **state)
{
	struct fixture *f = *state;
	assert_ptr_equal(sets_select(&f->l, NULL, NULL), &f->v[D]);
	f->v[D].complete = 0;
	assert_ptr_equal(sets_select(&f->l, NULL, NULL), &f->v[B]);
}

static void
select_at_takes_newest_complete_at_or_before(void **state)
{
	struct fixture *f = *state;
	time_t at;

	at = f->v[B].time; /* exactly at B */
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[B]);
	at = f->v[B].time + 3600;
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[B]);
	at = f->v[B].time - 1; /* just before B */
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[A]);
	at = f->v[E].time + 365 * DAY;
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[D]);
}

static void
select_at_never_takes_an_incomplete_set(void **state)
{
	struct fixture *f = *state;
	time_t at;

	at = f->v[C].time; /* C exists but has no manifest */
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[B]);
	at = f->v[E].time;
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[D]);
}

static void
select_at_before_the_first_set_finds_nothing(void **state)
{
	struct fixture *f = *state;
	time_t at = f->v[A].time - 1;

	assert_null(sets_select(&f->l, NULL, &at));
	at = 0;
	assert_null(sets_select(&f->l, NULL, &at));
}

static void
select_at_a_date_means_the_end_of_that_day(void **state)
{
	struct fixture *f = *state;
	time_t at;

	/* "--at 2026-01-21" in UTC: the set of 02:00 that day */
	assert_int_equal(iso8601_parse("2026-01-21", &at), 0);
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[B]);
	/* "--at 2026-01-22": that day's set is incomplete, so the one before */
	assert_int_equal(iso8601_parse("2026-01-22", &at), 0);
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[B]);
	assert_int_equal(iso8601_parse("2026-01-23T01:59:59Z", &at), 0);
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[B]);
	assert_int_equal(iso8601_parse("2026-01-23T02:00Z", &at), 0);
	assert_ptr_equal(sets_select(&f->l, NULL, &at), &f->v[D]);
}

static void
select_by_id_matches_exactly(void **state)
{
	struct fixture *f = *state;

	assert_ptr_equal(sets_select(&f->l, "20260120T020000Z", NULL), &f->v[A]);
	assert_ptr_equal(sets_select(&f->l, f->v[D].id, NULL), &f->v[D]);
	/* the id wins over a time */
	time_t at = f->v[D].time;
	assert_ptr_equal(sets_select(&f->l, f->v[A].id, &at), &f->v[A]);
}

static void
select_by_id_refuses_missing_and_incomplete(void **state)
{
	struct fixture *f = *state;

	assert_null(sets_select(&f->l, "20990101T000000Z", NULL));
	assert_null(sets_select(&f->l, "20260120T020000", NULL)); /* a prefix */
	assert_null(sets_select(&f->l, "", NULL));
	assert_null(sets_select(&f->l, f->v[C].id, NULL));
	assert_null(sets_select(&f->l, f->v[E].id, NULL));
}

static void
select_in_an_empty_list_finds_nothing(void **state)
{
	struct set_list empty = {0};
	time_t at = T_1126_0200Z;
	(void)state;

	assert_null(sets_select(&empty, NULL, NULL));
	assert_null(sets_select(&empty, NULL, &at));
	assert_null(sets_select(&empty, "20261126T020000Z", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(backup_id_format_is_sortable_utc, teardown_tz),
	        cmocka_unit_test(backup_id_round_trips),
	        cmocka_unit_test(backup_id_parse_reads_the_fields),
	        cmocka_unit_test(backup_id_parse_refuses_bad_ids),
	        cmocka_unit_test_teardown(iso8601_parse_with_zone, teardown_tz),
	        cmocka_unit_test_teardown(iso8601_parse_without_zone_is_local_time, teardown_tz),
	        cmocka_unit_test_teardown(iso8601_parse_follows_berlin_winter_and_summer,
	                                  teardown_tz),
	        cmocka_unit_test_teardown(format_local_and_utc_show_the_same_instant, teardown_tz),
	        cmocka_unit_test_teardown(iso8601_parse_refuses_garbage, teardown_tz),
	        cmocka_unit_test_teardown(iso8601_format_utc_round_trips_through_parse,
	                                  teardown_tz),
	        cmocka_unit_test_setup_teardown(sets_fixture_ids_are_what_the_tests_assume,
	                                        setup_sets, teardown_sets),
	        cmocka_unit_test_setup_teardown(select_without_criteria_takes_newest_complete,
	                                        setup_sets, teardown_sets),
	        cmocka_unit_test_setup_teardown(select_at_takes_newest_complete_at_or_before,
	                                        setup_sets, teardown_sets),
	        cmocka_unit_test_setup_teardown(select_at_never_takes_an_incomplete_set, setup_sets,
	                                        teardown_sets),
	        cmocka_unit_test_setup_teardown(select_at_before_the_first_set_finds_nothing,
	                                        setup_sets, teardown_sets),
	        cmocka_unit_test_setup_teardown(select_at_a_date_means_the_end_of_that_day,
	                                        setup_sets, teardown_sets),
	        cmocka_unit_test_setup_teardown(select_by_id_matches_exactly, setup_sets,
	                                        teardown_sets),
	        cmocka_unit_test_setup_teardown(select_by_id_refuses_missing_and_incomplete,
	                                        setup_sets, teardown_sets),
	        cmocka_unit_test_setup_teardown(select_in_an_empty_list_finds_nothing, setup_sets,
	                                        teardown_sets),
	};
	use_tz("UTC");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
