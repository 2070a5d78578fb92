/* timeutil.h - backup ids and ISO 8601 times. */
#ifndef CAIRN_TIMEUTIL_H
#define CAIRN_TIMEUTIL_H

#include <stddef.h>
#include <time.h>

#define BACKUP_ID_LEN 16 /* "20261126T020000Z" */

/* A new set's id is the clock's time when its run starts (the next free
 * second when a set already has that id).  A set whose id lies more than
 * this many seconds past the clock (a host with a wrong clock, or a set
 * planted in the sink) is "in the future": it is reported, never used to
 * make a new id, not counted by retention, and passed over when the
 * newest set is wanted.  The margin allows for hosts whose clocks differ
 * a little. */
#define BACKUP_ID_FUTURE_TOLERANCE 60

/* Format t as a backup id: the sortable UTC time YYYYmmddTHHMMSSZ. */
void backup_id_format(time_t t, char out[BACKUP_ID_LEN + 1]);
/* Parse a backup id; 0 and *t on success, -1 if s is not one. */
int backup_id_parse(const char *s, time_t *t);

/* Parse an ISO 8601 time: 2026-01-24, 2026-01-24T03:00, 2026-01-24T03:00:15,
 * also with ' ' for 'T', and with Z, +HH:MM, +HHMM or +HH; without a zone
 * it is local time.  A date alone means the end of that day (23:59:59), so
 * "--at 2026-01-24" picks the last backup of that day.  0 or -1. */
int iso8601_parse(const char *s, time_t *t);
/* "2026-11-26T02:00:00Z" into out. */
void iso8601_format_utc(time_t t, char *out, size_t len);
/* Local time "2026-11-26 03:00:00" into out. */
void format_local(time_t t, char *out, size_t len);

#endif
