/* retention_log.h - which parts of a source's change log a job's kept
 * sets still need, and why (doc/design.md § Logs).  Pure, like
 * retention.c: kept sets and times in, keep or remove with a reason out;
 * prune_log.c lists, prints and removes.
 *
 * A segment stays while a kept set can be the base of a restore --at
 * that needs it: when its TO time is at or after the log position (END
 * if recorded, else START) of the oldest kept set that holds the source,
 * and, with pitr_window, no older than that window.  A gap record stays
 * while a kept segment lies before it (it is where a chain breaks).  A
 * data object without its manifest goes once it is older than
 * SET_LEFTOVER_GRACE (a follower commits the manifest right after it). */
#ifndef CAIRN_RETENTION_LOG_H
#define CAIRN_RETENTION_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "manifest.h"
#include "timeutil.h"

/* A set the job's retention keeps, as the log's retention sees it. */
struct log_keeper {
	const char *id;
	const struct manifest *m; /* NULL: its manifest cannot be read */
};

struct log_retention {
	const char *source;
	size_t holders;                  /* kept sets holding the source */
	int64_t cut_ms;                  /* INT64_MIN: none records a position */
	char cut_set[BACKUP_ID_LEN + 1]; /* the set whose position is cut_ms */
	int64_t window;                  /* pitr_window, seconds; 0: off */
	int64_t now_ms;
};

/* The policy for source's log from the kept sets (kept[0..n)) at now.
 * -1 (and nothing may be removed) when a kept set's manifest cannot be
 * read: it might hold the source at an older position. */
int log_retention_for(const struct log_keeper *kept, size_t n, const char *source, int64_t window,
                      time_t now, struct log_retention *out);

/* Keep (1) or remove (0) a segment whose TO time is to_ms; why gets one
 * line ("keep: log after kept set ID", ...). */
int log_retention_segment(const struct log_retention *p, int64_t to_ms, char *why, size_t len);

/* A gap record beginning at from_ms, when the oldest kept segment's TO
 * time is kept_to_ms (INT64_MAX: none is kept). */
int log_retention_gap(int64_t from_ms, int64_t kept_to_ms, char *why, size_t len);

/* A data object without a manifest, listed with mtime (seconds; 0:
 * unknown, then its name's TO time, to_ms, stands in). */
int log_retention_orphan(int64_t mtime, int64_t to_ms, time_t now, char *why, size_t len);

#endif
