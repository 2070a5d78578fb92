/* retention.h - which backup sets a policy keeps, and why.
 *
 * A pure module: sets with their times and states in, keep or remove with
 * the reasons out.  No sink, no clock (the caller passes now), no process
 * state: cmd_prune.c does the listing and the removing.
 *
 * The rules are the ones restic and borg users know.  Only complete sets
 * count.  Walking them newest first, keep_last keeps the N newest; each
 * period rule (hourly, daily, weekly = ISO week, monthly, yearly) keeps the
 * newest set of each of the last N periods that hold a set; keep_within
 * keeps every set taken less than that long before the newest complete set
 * (a set exactly that long before is outside, as in restic)
 * (not before now: a job that stopped backing up must not lose its history
 * by waiting).  A set is kept when any rule keeps it, and the newest
 * complete set is always kept.
 *
 * A set whose id lies in the future (more than BACKUP_ID_FUTURE_TOLERANCE
 * seconds past now: a host with a wrong clock, or a set planted in the
 * sink) is kept with the reason "its id lies in the future" and counted
 * by no rule: it takes no period, is never the newest complete set
 * (keep_within is measured from the newest one in the clock's past), and
 * lets no partial set go.  Its time says nothing, so it neither eats the
 * others' places nor is removed on a guess.
 *
 * A pinned set (complete or partial) is always kept, with the reason
 * "pinned", and kept outside the rules: it takes no place of keep_last or
 * of a period rule, so a set pinned at 14:00 does not push that day's
 * 02:00 set out of keep_daily.  A pin does not keep an incomplete set.
 *
 * Periods are computed in the policy's time zone: local time (the process's
 * TZ, through localtime_r), UTC, or a fixed offset such as +01:00.  glibc
 * has no per-call time zone, and the core may not setenv("TZ") behind the
 * rest of the process, so a named zone other than the local one is not
 * offered: run cairn with TZ=Europe/Berlin in its environment (the systemd
 * unit's Environment=) to count days in Berlin on a UTC host.  In local
 * time a day is the calendar day, whatever its length (23 or 25 hours at
 * a DST change), and the hour repeated when clocks go back is one hour. */
#ifndef CAIRN_RETENTION_H
#define CAIRN_RETENTION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RETENTION_ALL (-1)

enum retention_tz_kind {
	RETENTION_TZ_LOCAL,
	RETENTION_TZ_UTC,
	RETENTION_TZ_OFFSET
};

struct retention_tz {
	enum retention_tz_kind kind;
	int offset; /* seconds east of UTC, for RETENTION_TZ_OFFSET */
};

struct retention_policy {
	/* each a count, 0 (the rule is off) or RETENTION_ALL */
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	int64_t keep_within;      /* seconds; 0: off */
	int64_t incomplete_grace; /* seconds an incomplete set is left alone */
	struct retention_tz tz;
};

enum retention_state {
	RETENTION_COMPLETE,   /* a manifest listing every source */
	RETENTION_PARTIAL,    /* a manifest marked partial: a source failed */
	RETENTION_INCOMPLETE, /* no manifest: a run died or is still writing */
	RETENTION_DAMAGED     /* a manifest that cannot be read or believed */
};

struct retention_set {
	const char *id;
	time_t time;  /* when it was taken (its id) */
	time_t mtime; /* its newest object changed; 0 if unknown */
	enum retention_state state;
	int pinned; /* kept on purpose (cairn pin) */
};

struct retention_verdict {
	int keep;
	char *why; /* "daily 3/7, monthly 1/12" or why it goes; caller frees */
};

/* Decide for sets[0..n) (any order) at time now: out[i] is the verdict on
 * sets[i].  Free each out[i].why. */
void retention_apply(const struct retention_policy *p, const struct retention_set *sets, size_t n,
                     time_t now, struct retention_verdict *out);

/* Does s's id lie in the future as seen at now (see above)? */
int retention_in_future(const struct retention_set *s, time_t now);

/* "local", "UTC" (or "utc", "Z"), or a fixed offset "+01:00", "-0530",
 * "+02": 0, or -1 when text is none of them. */
int retention_parse_tz(const char *text, struct retention_tz *tz);

/* The broken-down time of t in tz. */
void retention_tm(const struct retention_tz *tz, time_t t, struct tm *tm);

/* A duration as the shortest exact text: "90d", "36h", "1h30m". */
void retention_format_duration(int64_t secs, char *buf, size_t len);

#endif
