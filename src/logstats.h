/* logstats.h - the statistics a source gives while it follows (host->stat
 * inside follow(), ABI 1.5), counted per log segment for its manifest's
 * "stats".
 *
 * A value given goes first to the pending counts: they belong to the
 * segment that the next record goes into, which the writer knows only
 * when that record comes (it may cut the segment first).  It then takes
 * them into the open segment's counts (logstats_take), which go into the
 * segment's manifest and start again from zero with the next segment.
 *
 * Bounded: at most LOGSTATS_KEYS keys a segment (and pending), each 1 to
 * LOGSTATS_KEY_MAX printable ASCII characters without space; a value for
 * any other key is left out and counted in the manifest under
 * LOGSTATS_DROPPED, so a segment says when its counts are not complete.
 * Sums saturate at INT64_MAX / INT64_MIN. */
#ifndef CAIRN_LOGSTATS_H
#define CAIRN_LOGSTATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LOGSTATS_KEYS 64
#define LOGSTATS_KEY_MAX 63
/* the core's key: how many values were left out (over the cap, or a key
 * that is no valid name) */
#define LOGSTATS_DROPPED "stats_dropped"

struct logstats_map {
	struct {
		char key[LOGSTATS_KEY_MAX + 1];
		int64_t value;
	} v[LOGSTATS_KEYS];
	size_t n;
	int64_t dropped;
};

struct logstats {
	struct logstats_map pending; /* for the next record's segment */
	struct logstats_map open;    /* the open segment's */
};

/* Add value to key's pending count. */
void logstats_add(struct logstats *s, const char *key, int64_t value);
/* Forget the pending counts (follow() starts again: what it counted for a
 * record it never gave, it counts again when it gives it). */
void logstats_drop_pending(struct logstats *s);
/* A record went into the open segment: the pending counts are its. */
void logstats_take(struct logstats *s);
/* The open segment is closed or dropped: its counts start from zero. */
void logstats_reset(struct logstats *s);
/* The open segment's counts as a JSON object of integers (with
 * LOGSTATS_DROPPED when some were left out); NULL when there are none. */
json_t *logstats_json(const struct logstats *s);
/* A manifest's stats (untrusted: from a sink) as one line for people,
 * "commands 14, db.0 5, db.3 9" (keys escaped, values that are no
 * integer left out); NULL when there are none.  Free it. */
char *logstats_text(const json_t *stats);

#endif
