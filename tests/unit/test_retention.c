/*
 * test_retention.c - unit tests of src/retention.c, the pure policy: sets
 * and times in, keep or remove with reasons out.
 *
 * The expected tables are written out by hand from a calendar (ISO weeks,
 * the Berlin DST dates 2021-03-28 and 2021-10-31), not computed by a second
 * implementation of the rules.  Berlin cases are skipped when the zoneinfo
 * file is missing: glibc would silently use UTC and the test would lie.
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

#include "retention.h"
#include "testutil.h"
#include "timeutil.h"
#include "util.h"

#define MAXSETS 1024

struct fixture {
	struct retention_set sets[MAXSETS];
	char ids[MAXSETS][BACKUP_ID_LEN + 1];
	struct retention_verdict v[MAXSETS];
	size_t n;
};

static struct fixture fx;

/* use_tz and have_zone are testutil.h's */

static int
reset(void **state)
{
	(void)state;
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	memset(&fx, 0, sizeof(fx));
	use_tz("UTC");
	return 0;
}

static time_t
utc(const char *iso)
{
	time_t t;
	if (iso8601_parse(iso, &t))
		fail_msg("bad time %s", iso);
	return t;
}

static size_t
add_set(time_t t, enum retention_state st)
{
	size_t i = fx.n++;
	assert_true(fx.n <= MAXSETS);
	backup_id_format(t, fx.ids[i]);
	fx.sets[i].id = fx.ids[i];
	fx.sets[i].time = t;
	fx.sets[i].mtime = t;
	fx.sets[i].state = st;
	return i;
}

static void
run(const struct retention_policy *p, time_t now)
{
	retention_apply(p, fx.sets, fx.n, now, fx.v);
}

/* The local date of each kept set, "YYYY-mm-dd" joined by spaces, oldest
 * first (sets are added oldest first). */
static char *
kept_days(void)
{
	struct strvec days = {0};
	for (size_t i = 0; i < fx.n; i++)
		if (fx.v[i].keep) {
			char buf[16];
			struct tm tm;
			localtime_r(&fx.sets[i].time, &tm);
			strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
			strvec_push(&days, buf);
		}
	char *s = strvec_join(&days, " ");
	strvec_free(&days);
	return s;
}

static char *
kept_ids(void)
{
	struct strvec ids = {0};
	for (size_t i = 0; i < fx.n; i++)
		if (fx.v[i].keep)
			strvec_push(&ids, fx.ids[i]);
	char *s = strvec_join(&ids, " ");
	strvec_free(&ids);
	return s;
}

static size_t
kept_count(void)
{
	size_t k = 0;
	for (size_t i = 0; i < fx.n; i++)
		k += fx.v[i].keep != 0;
	return k;
}

/* One backup a day at local noon from first to last (inclusive). */
static void
daily_local(int y0, int m0, int d0, int y1, int m1, int d1)
{
	struct tm tm = {.tm_year = y0 - 1900, .tm_mon = m0 - 1, .tm_mday = d0, .tm_hour = 12};
	struct tm end = {.tm_year = y1 - 1900, .tm_mon = m1 - 1, .tm_mday = d1, .tm_hour = 12};
	end.tm_isdst = -1;
	time_t last = mktime(&end);
	for (;;) {
		struct tm t = tm;
		t.tm_isdst = -1;
		time_t when = mktime(&t);
		if (when > last)
			break;
		add_set(when, RETENTION_COMPLETE);
		tm.tm_mday++;
	}
}

/* --------------------------------------------------------------- cases */

/* The seed's policy over two years of daily backups in Berlin. */
static void
seed_policy_two_years_berlin(void **state)
{
	(void)state;
	if (!have_zone("Europe/Berlin"))
		skip();
	use_tz("Europe/Berlin");
	daily_local(2020, 1, 1, 2021, 12, 31);
	assert_int_equal(fx.n, 731);
	struct retention_policy p = {.keep_daily = 7,
	                             .keep_weekly = 4,
	                             .keep_monthly = 12,
	                             .keep_yearly = RETENTION_ALL,
	                             .incomplete_grace = 86400};
	run(&p, fx.sets[fx.n - 1].time + 3600);
	char *got = kept_days();
	/* yearly: 2020-12-31; monthly: the last day of each month of 2021;
	 * weekly: 2021-W49..W52 end on Sundays 12-12, 12-19, 12-26 and the
	 * newest, 12-31 (a Friday); daily: 12-25 .. 12-31 */
	assert_string_equal(got, "2020-12-31 2021-01-31 2021-02-28 2021-03-31 2021-04-30 "
	                         "2021-05-31 2021-06-30 2021-07-31 2021-08-31 2021-09-30 "
	                         "2021-10-31 2021-11-30 2021-12-12 2021-12-19 2021-12-25 "
	                         "2021-12-26 2021-12-27 2021-12-28 2021-12-29 2021-12-30 "
	                         "2021-12-31");
	free(got);
	assert_string_equal(fx.v[fx.n - 1].why,
	                    "daily 1/7, weekly 1/4, monthly 1/12, yearly 1/all");
	assert_string_equal(fx.v[fx.n - 6].why, "daily 6/7, weekly 2/4"); /* 12-26 */
	assert_string_equal(fx.v[365].why, "yearly 2/all");               /* 2020-12-31 */
	assert_string_equal(fx.v[0].why, "no rule keeps it");
	assert_int_equal(fx.v[0].keep, 0);
}

/* The same two years with monthly = all and yearly off: every month's
 * last day, 24 of them. */
static void
keep_all_months(void **state)
{
	(void)state;
	if (!have_zone("Europe/Berlin"))
		skip();
	use_tz("Europe/Berlin");
	daily_local(2020, 1, 1, 2021, 12, 31);
	struct retention_policy p = {.keep_monthly = RETENTION_ALL, .incomplete_grace = 86400};
	run(&p, fx.sets[fx.n - 1].time);
	assert_int_equal(kept_count(), 24);
	assert_string_equal(fx.v[59].why, "monthly 23/all"); /* 2020-02-29, a leap day */
	char *got = kept_days();
	assert_true(strncmp(got, "2020-01-31 2020-02-29 2020-03-31 ", 33) == 0);
	free(got);
}

/* 2020-W53 runs from Monday 2020-12-28 to Sunday 2021-01-03: the year's
 * turn is inside one week. */
static void
iso_week_53(void **state)
{
	(void)state;
	add_set(utc("2020-12-20T12:00:00Z"), RETENTION_COMPLETE); /* W51, Sunday */
	add_set(utc("2020-12-27T12:00:00Z"), RETENTION_COMPLETE); /* W52, Sunday */
	add_set(utc("2020-12-28T12:00:00Z"), RETENTION_COMPLETE); /* W53, Monday */
	add_set(utc("2020-12-31T12:00:00Z"), RETENTION_COMPLETE); /* W53 */
	add_set(utc("2021-01-01T12:00:00Z"), RETENTION_COMPLETE); /* W53, Friday */
	add_set(utc("2021-01-03T12:00:00Z"), RETENTION_COMPLETE); /* W53, Sunday */
	add_set(utc("2021-01-04T12:00:00Z"), RETENTION_COMPLETE); /* 2021-W01 */
	struct retention_policy p = {.keep_weekly = 3, .incomplete_grace = 86400};
	run(&p, utc("2021-01-05T00:00:00Z"));
	char *got = kept_ids();
	assert_string_equal(got, "20201227T120000Z 20210103T120000Z 20210104T120000Z");
	free(got);
	assert_string_equal(fx.v[5].why, "weekly 2/3");
	/* and 2026-W53 (2026-12-28 .. 2027-01-03), the next one */
	reset(NULL);
	add_set(utc("2026-12-27T12:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2026-12-28T12:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2027-01-03T12:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2027-01-04T12:00:00Z"), RETENTION_COMPLETE);
	run(&p, utc("2027-01-05T00:00:00Z"));
	got = kept_ids();
	assert_string_equal(got, "20261227T120000Z 20270103T120000Z 20270104T120000Z");
	free(got);
}

/* Berlin's spring change, 2021-03-28 02:00 CET -> 03:00 CEST: that day
 * has 23 hours, and the day's last backup is at 21:00Z, not 22:00Z. */
static void
dst_spring_forward_berlin(void **state)
{
	(void)state;
	if (!have_zone("Europe/Berlin"))
		skip();
	use_tz("Europe/Berlin");
	time_t t0 = utc("2021-03-27T22:00:00Z"), t1 = utc("2021-03-28T23:00:00Z");
	for (time_t t = t0; t <= t1; t += 3600)
		add_set(t, RETENTION_COMPLETE);
	struct retention_policy p = {.keep_daily = RETENTION_ALL, .incomplete_grace = 86400};
	run(&p, t1);
	char *got = kept_ids();
	assert_string_equal(got, "20210327T220000Z 20210328T210000Z 20210328T230000Z");
	free(got);
	/* the same sets counted in UTC keep other ones */
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	p.tz.kind = RETENTION_TZ_UTC;
	run(&p, t1);
	got = kept_ids();
	assert_string_equal(got, "20210327T230000Z 20210328T230000Z");
	free(got);
	/* hourly = all in Berlin: the 23 hours of 2021-03-28, each once */
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	p.tz.kind = RETENTION_TZ_LOCAL;
	p.keep_daily = 0;
	p.keep_hourly = RETENTION_ALL;
	run(&p, t1);
	assert_int_equal(kept_count(), fx.n);
}

/* Berlin's autumn change, 2021-10-31 03:00 CEST -> 02:00 CET: the day has
 * 25 hours, and the hour 02:00-03:00 comes twice; it is one hourly period,
 * whose newest backup (01:00Z = 02:00 CET) is kept. */
static void
dst_fall_back_berlin(void **state)
{
	(void)state;
	if (!have_zone("Europe/Berlin"))
		skip();
	use_tz("Europe/Berlin");
	time_t t0 = utc("2021-10-30T22:00:00Z"), t1 = utc("2021-10-31T22:00:00Z");
	for (time_t t = t0; t <= t1; t += 3600)
		add_set(t, RETENTION_COMPLETE);
	assert_int_equal(fx.n, 25); /* one local day */
	struct retention_policy p = {.keep_hourly = RETENTION_ALL, .incomplete_grace = 86400};
	run(&p, t1);
	assert_int_equal(kept_count(), 24);
	assert_int_equal(fx.v[2].keep, 0); /* 00:00Z = 02:00 CEST */
	assert_string_equal(fx.v[2].why, "no rule keeps it");
	assert_int_equal(fx.v[3].keep, 1); /* 01:00Z = 02:00 CET */
	/* keep_daily = 2 across the change: the 25-hour day and the one
	 * before it, each by its last backup in Berlin time */
	reset(NULL);
	use_tz("Europe/Berlin");
	add_set(utc("2021-10-30T21:00:00Z"), RETENTION_COMPLETE); /* 23:00 CEST Oct 30 */
	for (time_t t = t0; t <= t1; t += 3600)
		add_set(t, RETENTION_COMPLETE);
	p.keep_hourly = 0;
	p.keep_daily = 2;
	run(&p, t1);
	char *got = kept_ids();
	assert_string_equal(got, "20211030T210000Z 20211031T220000Z");
	free(got);
}

/* keep_within counts back from the newest complete set, not from now; as
 * in restic (cur.Time.After(latest - within)) a set exactly that long
 * before the newest is outside. */
static void
keep_within_from_newest(void **state)
{
	(void)state;
	add_set(utc("2021-06-08T23:59:59Z"), RETENTION_COMPLETE);
	add_set(utc("2021-06-09T00:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-06-09T12:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-06-10T12:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-06-11T00:00:00Z"), RETENTION_PARTIAL); /* not the reference */
	struct retention_policy p = {.keep_within = 36 * 3600, .incomplete_grace = 86400};
	run(&p, utc("2022-06-10T12:00:00Z")); /* a year later: nothing expires by waiting */
	char *got = kept_ids();
	assert_string_equal(got, "20210609T120000Z 20210610T120000Z 20210611T000000Z");
	free(got);
	assert_string_equal(fx.v[2].why, "within 36h");
	assert_string_equal(fx.v[1].why, "no rule keeps it");
	assert_string_equal(fx.v[0].why, "no rule keeps it");
}

static void
keep_last_counts_only_complete(void **state)
{
	(void)state;
	add_set(utc("2021-01-01T00:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-02T00:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-03T00:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-04T00:00:00Z"), RETENTION_PARTIAL);
	add_set(utc("2021-01-05T00:00:00Z"), RETENTION_PARTIAL);
	struct retention_policy p = {.keep_last = 2, .incomplete_grace = 86400};
	run(&p, utc("2021-01-05T01:00:00Z"));
	char *got = kept_ids();
	/* last 2 are the two newest complete; the partial sets are newer than
	 * every complete set, so they stay too */
	assert_string_equal(got, "20210102T000000Z 20210103T000000Z 20210104T000000Z "
	                         "20210105T000000Z");
	free(got);
	assert_string_equal(fx.v[2].why, "last 1/2");
	assert_string_equal(fx.v[3].why, "partial, kept until a newer complete set exists");
}

/* A partial set goes once a newer complete set exists; the dry run says
 * which one. */
static void
partial_superseded(void **state)
{
	(void)state;
	add_set(utc("2021-01-01T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-02T02:00:00Z"), RETENTION_PARTIAL);
	add_set(utc("2021-01-03T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-04T02:00:00Z"), RETENTION_PARTIAL);
	struct retention_policy p = {.keep_daily = 7, .incomplete_grace = 86400};
	run(&p, utc("2021-01-04T03:00:00Z"));
	assert_int_equal(fx.v[0].keep, 1);
	assert_string_equal(fx.v[0].why, "daily 2/7"); /* the partial day is not counted */
	assert_int_equal(fx.v[1].keep, 0);
	assert_string_equal(fx.v[1].why, "partial, and complete set 20210103T020000Z is newer");
	assert_int_equal(fx.v[2].keep, 1);
	assert_int_equal(fx.v[3].keep, 1);
}

/* With every rule off, the newest complete set still stays; a newer
 * partial set does not take its place. */
static void
newest_complete_guard(void **state)
{
	(void)state;
	add_set(utc("2021-01-01T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-02T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-03T02:00:00Z"), RETENTION_PARTIAL);
	add_set(utc("2021-01-04T02:00:00Z"), RETENTION_DAMAGED);
	struct retention_policy p = {.incomplete_grace = 86400};
	run(&p, utc("2021-02-01T00:00:00Z"));
	char *got = kept_ids();
	assert_string_equal(got, "20210102T020000Z 20210103T020000Z 20210104T020000Z");
	free(got);
	assert_string_equal(fx.v[1].why, "the newest complete set, always kept");
	assert_contains(fx.v[3].why, "cannot be read");
}

/* issue 16: a set whose id lies in the future (a wrong clock, or planted)
 * is kept and counted by no rule: it is not the newest complete set (so
 * keep_within and the guard are measured from the clock's past), takes no
 * day of keep_daily, and lets no partial set go.  A set within the
 * tolerance (60 s) is an ordinary set. */
static void
future_set_not_counted(void **state)
{
	(void)state;
	time_t now = utc("2021-01-05T12:00:00Z");
	add_set(utc("2021-01-01T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-02T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-03T02:00:00Z"), RETENTION_COMPLETE);
	size_t partial = add_set(utc("2021-01-04T02:00:00Z"), RETENTION_PARTIAL);
	size_t near = add_set(now + 60, RETENTION_COMPLETE);
	size_t future = add_set(utc("2099-12-31T00:00:00Z"), RETENTION_COMPLETE);
	size_t garbage = add_set(utc("2098-12-31T00:00:00Z"), RETENTION_DAMAGED);
	struct retention_policy p = {
	        .keep_daily = 2, .keep_within = 36 * 3600, .incomplete_grace = 86400};
	run(&p, now);
	char *got = kept_ids();
	/* daily 1/2 is the set 60 s ahead (within the tolerance), daily 2/2
	 * is 01-03; within 36h of the newest (now + 60) is nothing more; the
	 * partial set stays until a complete set newer than it is counted */
	assert_string_equal(got, "20210103T020000Z 20210105T120100Z 20991231T000000Z "
	                         "20981231T000000Z");
	free(got);
	assert_string_equal(fx.v[near].why, "daily 1/2, within 36h");
	assert_contains(fx.v[future].why, "its id lies in the future");
	assert_contains(fx.v[future].why, "not counted, not removed");
	assert_contains(fx.v[garbage].why, "its id lies in the future");
	assert_int_equal(fx.v[partial].keep, 0);
	assert_string_equal(fx.v[partial].why,
	                    "partial, and complete set 20210105T120100Z is newer");

	/* without the set 60 s ahead, the newest complete set is 01-03: the
	 * future one does not stand in for it */
	reset(NULL);
	add_set(utc("2021-01-01T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-03T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2099-12-31T00:00:00Z"), RETENTION_COMPLETE);
	struct retention_policy q = {.keep_within = 3600, .incomplete_grace = 86400};
	run(&q, now);
	got = kept_ids();
	assert_string_equal(got, "20210103T020000Z 20991231T000000Z");
	free(got);
	assert_string_equal(fx.v[1].why, "within 1h");
}

static void
incomplete_grace(void **state)
{
	(void)state;
	time_t now = utc("2021-01-10T12:00:00Z");
	size_t old = add_set(utc("2021-01-01T02:00:00Z"), RETENTION_INCOMPLETE);
	size_t fresh = add_set(utc("2021-01-09T02:00:00Z"), RETENTION_INCOMPLETE);
	size_t slow = add_set(utc("2021-01-08T02:00:00Z"), RETENTION_INCOMPLETE);
	fx.sets[fresh].mtime = 0;         /* a sink without mtimes: the id's time */
	fx.sets[slow].mtime = now - 3600; /* started long ago, still writing */
	add_set(utc("2021-01-10T02:00:00Z"), RETENTION_COMPLETE);
	struct retention_policy p = {.keep_last = 1, .incomplete_grace = 86400};
	run(&p, now);
	assert_int_equal(fx.v[old].keep, 0);
	assert_string_equal(fx.v[old].why, "incomplete (no manifest) for more than 1d");
	assert_int_equal(fx.v[fresh].keep, 0); /* 34h old */
	assert_int_equal(fx.v[slow].keep, 1);
	assert_contains(fx.v[slow].why, "may still be writing");
	p.incomplete_grace = 48 * 3600;
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	run(&p, now);
	assert_int_equal(fx.v[fresh].keep, 1);
	assert_contains(fx.v[fresh].why, "changed within 2d");
}

/* Sets given in any order get the same verdicts. */
static void
order_does_not_matter(void **state)
{
	(void)state;
	add_set(utc("2021-01-03T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-01T02:00:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-02T02:00:00Z"), RETENTION_COMPLETE);
	struct retention_policy p = {.keep_last = 2, .incomplete_grace = 86400};
	run(&p, utc("2021-01-04T00:00:00Z"));
	assert_int_equal(fx.v[0].keep, 1);
	assert_string_equal(fx.v[0].why, "last 1/2");
	assert_int_equal(fx.v[1].keep, 0);
	assert_int_equal(fx.v[2].keep, 1);
}

static void
fixed_offset_days(void **state)
{
	(void)state;
	struct retention_tz tz;
	/* 2021-01-01T23:30Z is already Jan 2 at +01:00, still Jan 1 in UTC */
	add_set(utc("2021-01-01T22:30:00Z"), RETENTION_COMPLETE);
	add_set(utc("2021-01-01T23:30:00Z"), RETENTION_COMPLETE);
	struct retention_policy p = {.keep_daily = 5, .incomplete_grace = 86400};
	assert_int_equal(retention_parse_tz("+01:00", &tz), 0);
	p.tz = tz;
	run(&p, utc("2021-01-02T00:00:00Z"));
	assert_int_equal(kept_count(), 2);
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	p.tz.kind = RETENTION_TZ_UTC;
	run(&p, utc("2021-01-02T00:00:00Z"));
	assert_int_equal(kept_count(), 1);
}

static void
parse_tz_words(void **state)
{
	struct retention_tz tz;
	(void)state;
	assert_int_equal(retention_parse_tz("local", &tz), 0);
	assert_int_equal(tz.kind, RETENTION_TZ_LOCAL);
	assert_int_equal(retention_parse_tz("UTC", &tz), 0);
	assert_int_equal(tz.kind, RETENTION_TZ_UTC);
	assert_int_equal(retention_parse_tz("-05:30", &tz), 0);
	assert_int_equal(tz.kind, RETENTION_TZ_OFFSET);
	assert_int_equal(tz.offset, -(5 * 3600 + 30 * 60));
	assert_int_equal(retention_parse_tz("+0200", &tz), 0);
	assert_int_equal(tz.offset, 7200);
	assert_int_equal(retention_parse_tz("+02", &tz), 0);
	assert_int_equal(tz.offset, 7200);
	assert_int_equal(retention_parse_tz("Europe/Berlin", &tz), -1);
	assert_int_equal(retention_parse_tz("+24:00", &tz), -1);
	assert_int_equal(retention_parse_tz("+01:", &tz), -1);
	assert_int_equal(retention_parse_tz("+01:6", &tz), -1);
	assert_int_equal(retention_parse_tz("", &tz), -1);
	char buf[32];
	retention_format_duration(90 * 86400, buf, sizeof(buf));
	assert_string_equal(buf, "90d");
	retention_format_duration(36 * 3600, buf, sizeof(buf));
	assert_string_equal(buf, "36h");
	retention_format_duration(90, buf, sizeof(buf));
	assert_string_equal(buf, "90s");
}

/* issue 15: a second backup in a day pushed the night's set out of
 * keep_daily.  A pinned set is kept ("pinned") outside the rules: pinning
 * the 14:00 set keeps the 02:00 set's daily place, pinning the 02:00 set
 * keeps it beside the 14:00 one, and a pinned set no rule reaches any
 * more (last year's) stays too. */
static void
pinned_kept_outside_rules(void **state)
{
	(void)state;
	size_t old = add_set(utc("2020-03-01T02:00:00Z"), RETENTION_COMPLETE);
	size_t night = add_set(utc("2021-01-05T02:00:00Z"), RETENTION_COMPLETE);
	size_t deploy = add_set(utc("2021-01-05T14:00:00Z"), RETENTION_COMPLETE);
	struct retention_policy p = {.keep_daily = 1, .incomplete_grace = 86400};
	/* without a pin: the 14:00 set is the day's newest, 02:00 goes */
	run(&p, utc("2021-01-05T14:05:00Z"));
	assert_int_equal(fx.v[night].keep, 0);
	assert_int_equal(fx.v[old].keep, 0);
	/* backup --pin at 14:00 */
	fx.sets[deploy].pinned = 1;
	fx.sets[old].pinned = 1;
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	run(&p, utc("2021-01-05T14:05:00Z"));
	assert_int_equal(fx.v[deploy].keep, 1);
	assert_string_equal(fx.v[deploy].why, "pinned");
	assert_int_equal(fx.v[night].keep, 1);
	assert_string_equal(fx.v[night].why, "daily 1/1");
	assert_int_equal(fx.v[old].keep, 1);
	assert_string_equal(fx.v[old].why, "pinned");
	/* cairn pin on the 02:00 set instead */
	fx.sets[deploy].pinned = 0;
	fx.sets[night].pinned = 1;
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	run(&p, utc("2021-01-05T14:05:00Z"));
	assert_string_equal(fx.v[night].why, "pinned");
	assert_string_equal(fx.v[deploy].why, "daily 1/1");
	/* unpinned, it goes */
	fx.sets[night].pinned = 0;
	for (size_t i = 0; i < fx.n; i++)
		free(fx.v[i].why);
	run(&p, utc("2021-01-05T14:05:00Z"));
	assert_int_equal(fx.v[night].keep, 0);
	assert_string_equal(fx.v[night].why, "no rule keeps it");
}

/* keep_last counts the N newest sets that are not pinned: a pinned set
 * takes no place of it.  A pinned partial set stays after a newer complete
 * one; a pin keeps no incomplete set past its grace. */
static void
pinned_partial_incomplete_last(void **state)
{
	(void)state;
	size_t part = add_set(utc("2021-01-01T02:00:00Z"), RETENTION_PARTIAL);
	size_t inc = add_set(utc("2021-01-02T02:00:00Z"), RETENTION_INCOMPLETE);
	size_t a = add_set(utc("2021-01-03T02:00:00Z"), RETENTION_COMPLETE);
	size_t b = add_set(utc("2021-01-04T02:00:00Z"), RETENTION_COMPLETE);
	size_t c = add_set(utc("2021-01-05T02:00:00Z"), RETENTION_COMPLETE);
	fx.sets[part].pinned = fx.sets[inc].pinned = fx.sets[c].pinned = 1;
	struct retention_policy p = {.keep_last = 1, .incomplete_grace = 86400};
	run(&p, utc("2021-01-06T00:00:00Z"));
	assert_int_equal(fx.v[part].keep, 1);
	assert_string_equal(fx.v[part].why, "pinned");
	assert_int_equal(fx.v[inc].keep, 0);
	assert_int_equal(fx.v[c].keep, 1);
	assert_string_equal(fx.v[c].why, "pinned");
	assert_int_equal(fx.v[b].keep, 1);
	assert_string_equal(fx.v[b].why, "last 1/1");
	assert_int_equal(fx.v[a].keep, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(seed_policy_two_years_berlin, reset, reset),
	        cmocka_unit_test_setup_teardown(keep_all_months, reset, reset),
	        cmocka_unit_test_setup_teardown(iso_week_53, reset, reset),
	        cmocka_unit_test_setup_teardown(dst_spring_forward_berlin, reset, reset),
	        cmocka_unit_test_setup_teardown(dst_fall_back_berlin, reset, reset),
	        cmocka_unit_test_setup_teardown(keep_within_from_newest, reset, reset),
	        cmocka_unit_test_setup_teardown(keep_last_counts_only_complete, reset, reset),
	        cmocka_unit_test_setup_teardown(partial_superseded, reset, reset),
	        cmocka_unit_test_setup_teardown(newest_complete_guard, reset, reset),
	        cmocka_unit_test_setup_teardown(incomplete_grace, reset, reset),
	        cmocka_unit_test_setup_teardown(future_set_not_counted, reset, reset),
	        cmocka_unit_test_setup_teardown(order_does_not_matter, reset, reset),
	        cmocka_unit_test_setup_teardown(fixed_offset_days, reset, reset),
	        cmocka_unit_test_setup_teardown(parse_tz_words, reset, reset),
	        cmocka_unit_test_setup_teardown(pinned_kept_outside_rules, reset, reset),
	        cmocka_unit_test_setup_teardown(pinned_partial_incomplete_last, reset, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
