/* retention.c - see retention.h */
#include "autoconf.h"

#include "retention.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "timeutil.h"
#include "util.h"

int
retention_parse_tz(const char *text, struct retention_tz *tz)
{
	int h = 0, m = 0, n = 0;
	if (strcmp(text, "local") == 0) {
		tz->kind = RETENTION_TZ_LOCAL;
		tz->offset = 0;
		return 0;
	}
	if (strcasecmp(text, "utc") == 0 || strcmp(text, "Z") == 0) {
		tz->kind = RETENTION_TZ_UTC;
		tz->offset = 0;
		return 0;
	}
	if ((text[0] != '+' && text[0] != '-') || !isdigit((unsigned char)text[1]) ||
	    !isdigit((unsigned char)text[2]))
		return -1;
	h = (text[1] - '0') * 10 + (text[2] - '0');
	n = 3;
	if (text[n] == ':')
		n++;
	if (text[n]) {
		if (!isdigit((unsigned char)text[n]) || !isdigit((unsigned char)text[n + 1]) ||
		    text[n + 2])
			return -1;
		m = (text[n] - '0') * 10 + (text[n + 1] - '0');
	} else if (n == 4) {
		return -1; /* "+01:" */
	}
	if (h > 23 || m > 59)
		return -1;
	tz->kind = RETENTION_TZ_OFFSET;
	tz->offset = (text[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
	return 0;
}

void
retention_tm(const struct retention_tz *tz, time_t t, struct tm *tm)
{
	switch (tz->kind) {
	case RETENTION_TZ_LOCAL: localtime_r(&t, tm); break;
	case RETENTION_TZ_UTC: gmtime_r(&t, tm); break;
	case RETENTION_TZ_OFFSET:
		t += tz->offset;
		gmtime_r(&t, tm);
		break;
	}
}

void
retention_format_duration(int64_t secs, char *buf, size_t len)
{
	if (secs % 86400 == 0)
		snprintf(buf, len, "%lldd", (long long)(secs / 86400));
	else if (secs % 3600 == 0)
		snprintf(buf, len, "%lldh", (long long)(secs / 3600));
	else if (secs % 60 == 0)
		snprintf(buf, len, "%lldm", (long long)(secs / 60));
	else
		snprintf(buf, len, "%llds", (long long)secs);
}

static int
days_in_year(int year)
{
	return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 366 : 365;
}

/* The ISO 8601 week of tm as year * 100 + week: the week belongs to the
 * year that holds its Thursday, so 2021-01-01 (a Friday) is 2020-W53. */
static long
iso_week(const struct tm *tm)
{
	int year = tm->tm_year + 1900;
	int monday_based = (tm->tm_wday + 6) % 7;
	int thursday = tm->tm_yday - monday_based + 3;
	if (thursday < 0) {
		year--;
		thursday += days_in_year(year);
	} else if (thursday >= days_in_year(year)) {
		thursday -= days_in_year(year);
		year++;
	}
	return (long)year * 100 + thursday / 7 + 1;
}

enum rule {
	RULE_LAST,
	RULE_HOURLY,
	RULE_DAILY,
	RULE_WEEKLY,
	RULE_MONTHLY,
	RULE_YEARLY,
	NRULES
};

static const char *const rule_names[NRULES] = {"last",   "hourly",  "daily",
                                               "weekly", "monthly", "yearly"};

/* The period of rule that t falls in, as one number; for keep_last every
 * set is a period of its own. */
static long
period_of(enum rule r, const struct tm *tm, size_t index)
{
	long day = (long)(tm->tm_year + 1900) * 400 + tm->tm_yday;
	switch (r) {
	case RULE_LAST: return (long)index;
	case RULE_HOURLY: return day * 24 + tm->tm_hour;
	case RULE_DAILY: return day;
	case RULE_WEEKLY: return iso_week(tm);
	case RULE_MONTHLY: return (long)(tm->tm_year + 1900) * 12 + tm->tm_mon;
	case RULE_YEARLY: return tm->tm_year + 1900;
	default: return 0;
	}
}

struct order {
	const struct retention_set *s;
	size_t i;
};

/* Newest first; ids break ties (they are unique per sink). */
static int
newest_first(const void *a, const void *b)
{
	const struct retention_set *x = ((const struct order *)a)->s,
	                           *y = ((const struct order *)b)->s;
	if (x->time != y->time)
		return x->time < y->time ? 1 : -1;
	return -strcmp(x->id, y->id);
}

int
retention_in_future(const struct retention_set *s, time_t now)
{
	return s->time > now && s->time - now > BACKUP_ID_FUTURE_TOLERANCE;
}

static void add_reason(struct strvec *why, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
add_reason(struct strvec *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strvec_push_own(why, xvasprintf(fmt, ap));
	va_end(ap);
}

/* The period rules as they walk the complete sets, newest first: per
 * rule how many it keeps, how many it kept, and the period of the last
 * one it kept. */
struct rule_state {
	int counts[NRULES];
	int used[NRULES];
	long last[NRULES];
	int seen[NRULES];
};

/* Does a period rule keep complete set s, the index-th counted one?  The
 * reasons go to why. */
static int
keep_by_rules(const struct retention_policy *p, struct rule_state *rs,
              const struct retention_set *s, size_t index, struct strvec *why)
{
	struct tm tm;
	int keep = 0;
	retention_tm(&p->tz, s->time, &tm);
	for (int r = 0; r < NRULES; r++) {
		long period;
		if (!rs->counts[r] || (rs->counts[r] > 0 && rs->used[r] >= rs->counts[r]))
			continue;
		period = period_of((enum rule)r, &tm, index);
		if (rs->seen[r] && period == rs->last[r])
			continue;
		rs->seen[r] = 1;
		rs->last[r] = period;
		rs->used[r]++;
		keep = 1;
		if (rs->counts[r] == RETENTION_ALL)
			add_reason(why, "%s %d/all", rule_names[r], rs->used[r]);
		else
			add_reason(why, "%s %d/%d", rule_names[r], rs->used[r], rs->counts[r]);
	}
	return keep;
}

void
retention_apply(const struct retention_policy *p, const struct retention_set *sets, size_t n,
                time_t now, struct retention_verdict *out)
{
	struct rule_state rs = {.counts = {p->keep_last, p->keep_hourly, p->keep_daily,
	                                   p->keep_weekly, p->keep_monthly, p->keep_yearly}};
	struct order *o = xcalloc(n ? n : 1, sizeof(*o));
	const struct retention_set *newest = NULL, *newer_complete = NULL;
	char grace[32], within[32];
	size_t ncomplete = 0;

	retention_format_duration(p->incomplete_grace, grace, sizeof(grace));
	retention_format_duration(p->keep_within, within, sizeof(within));
	for (size_t i = 0; i < n; i++) {
		o[i].s = &sets[i];
		o[i].i = i;
	}
	if (n > 1)
		qsort(o, n, sizeof(*o), newest_first);
	for (size_t k = 0; k < n && !newest; k++)
		if (o[k].s->state == RETENTION_COMPLETE && !retention_in_future(o[k].s, now))
			newest = o[k].s;

	for (size_t k = 0; k < n; k++) {
		const struct retention_set *s = o[k].s;
		struct retention_verdict *v = &out[o[k].i];
		struct strvec why = {0};

		v->keep = 0;
		if (retention_in_future(s, now)) {
			/* a wrong clock or a planted set: its time says nothing,
			 * so it takes no place, is not the newest, and is not
			 * removed on a guess either */
			v->keep = 1;
			add_reason(
			        &why,
			        "its id lies in the future (a host with a wrong clock, or planted); not counted, not removed");
			v->why = strvec_join(&why, ", ");
			strvec_free(&why);
			continue;
		}
		switch (s->state) {
		case RETENTION_INCOMPLETE: {
			time_t touched = s->mtime > s->time ? s->mtime : s->time;
			if (now - touched > p->incomplete_grace) {
				add_reason(&why, "incomplete (no manifest) for more than %s",
				           grace);
			} else {
				v->keep = 1;
				add_reason(
				        &why,
				        "incomplete, changed within %s: a run may still be writing it",
				        grace);
			}
			break;
		}
		case RETENTION_DAMAGED:
			/* never remove what cannot be understood */
			v->keep = 1;
			add_reason(&why, "its manifest cannot be read; not counted, not removed");
			break;
		case RETENTION_PARTIAL:
			if (s->pinned) {
				v->keep = 1;
				add_reason(&why, "pinned");
			} else if (newer_complete) {
				add_reason(&why, "partial, and complete set %s is newer",
				           newer_complete->id);
			} else {
				v->keep = 1;
				add_reason(&why, "partial, kept until a newer complete set exists");
			}
			break;
		case RETENTION_COMPLETE:
			if (s->pinned) {
				/* kept on purpose, outside the rules: it takes no
				 * place another set would have had */
				v->keep = 1;
				add_reason(&why, "pinned");
				newer_complete = s;
				break;
			}
			v->keep = keep_by_rules(p, &rs, s, ncomplete, &why);
			/* strictly within, as restic's
			 * cur.Time.After(latest - within) */
			if (p->keep_within > 0 && newest &&
			    newest->time - s->time < p->keep_within) {
				v->keep = 1;
				add_reason(&why, "within %s", within);
			}
			if (!v->keep && s == newest) {
				v->keep = 1;
				add_reason(&why, "the newest complete set, always kept");
			}
			if (!v->keep)
				add_reason(&why, "no rule keeps it");
			ncomplete++;
			newer_complete = s;
			break;
		}
		v->why = strvec_join(&why, ", ");
		strvec_free(&why);
	}
	free(o);
}
