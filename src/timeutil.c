/* timeutil.c - see timeutil.h */
#include "autoconf.h"

#include "timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void
backup_id_format(time_t t, char out[BACKUP_ID_LEN + 1])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, BACKUP_ID_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

/* Read exactly n digits. */
static int
digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static int
valid_tm(const struct tm *tm)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int year = tm->tm_year + 1900;
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1)
		return 0;
	if (tm->tm_mday > mdays[tm->tm_mon] || (tm->tm_mon == 1 && !leap && tm->tm_mday > 28))
		return 0;
	return tm->tm_hour <= 23 && tm->tm_min <= 59 && tm->tm_sec <= 60;
}

/* Fill tm from calendar fields; -1 if they name no real time. */
static int
make_tm(int y, int mo, int d, int h, int mi, int se, struct tm *tm)
{
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = y - 1900;
	tm->tm_mon = mo - 1;
	tm->tm_mday = d;
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = se;
	return valid_tm(tm) ? 0 : -1;
}

int
backup_id_parse(const char *s, time_t *t)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, se;
	if (strlen(s) != BACKUP_ID_LEN)
		return -1;
	if (digits(&s, 4, &y) || digits(&s, 2, &mo) || digits(&s, 2, &d) || *s++ != 'T' ||
	    digits(&s, 2, &h) || digits(&s, 2, &mi) || digits(&s, 2, &se) || *s != 'Z')
		return -1;
	/* An id is what backup_id_format() writes, so exactly one text per
	 * time: no leap second (second 60 would name the next minute's
	 * first second too) and no year it could not write in four digits
	 * or that comes before any backup. */
	if (se > 59 || y < 1970 || make_tm(y, mo, d, h, mi, se, &tm))
		return -1;
	*t = timegm(&tm);
	return 0;
}

int
iso8601_parse(const char *s, time_t *t)
{
	struct tm tm = {0};
	int y, mo, d, h = 23, mi = 59, se = 59;
	int zone = 0, offset = 0; /* zone: 0 local, 1 given */
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
	    digits(&s, 2, &d))
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
			return -1;
		se = 0;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &se))
				return -1;
			if (*s == '.' || *s == ',') /* fractions are ignored */
				for (s++; isdigit((unsigned char)*s); s++)
					;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		zone = 1;
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
		if (digits(&s, 2, &oh))
			return -1;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &om))
				return -1;
		} else if (*s && digits(&s, 2, &om)) {
			return -1;
		}
		if (oh > 23 || om > 59)
			return -1;
		zone = 1;
		offset = sign * (oh * 3600 + om * 60);
	}
	if (*s)
		return -1;
	if (make_tm(y, mo, d, h, mi, se, &tm))
		return -1;
	if (zone) {
		*t = timegm(&tm) - offset;
	} else {
		tm.tm_isdst = -1;
		*t = mktime(&tm);
	}
	return 0;
}

void
iso8601_format_utc(time_t t, char *out, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
format_local(time_t t, char *out, size_t len)
{
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}
