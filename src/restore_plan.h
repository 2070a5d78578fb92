/* restore_plan.h - which set and which object each source of a restore
 * comes from.
 *
 * A pure module, like retention: the job's sets (with a way to read each
 * one's manifest) and the restore's choices (--id, --at, --source) in,
 * the plan out.  No sink, no clock (the caller passes now), no messages:
 * cmd_restore.c lists the sets, reads the manifests, says what is missing
 * and runs the plan.
 *
 * The rules: the sources are those asked for with --source; else, with
 * --id, what that set holds; else every source the base set (the newest
 * at or before --at) was meant to hold, stored or failed.  With --id each
 * comes from that set.  Without it each comes from the newest complete set
 * taken at or before --at (any time without --at) whose manifest holds it
 * with no backup --set overrides (a one-off run's object is no full backup
 * of the source): a partial set does not cost a restore the source it
 * lacks.  Sets whose manifest cannot be read, and sets whose id lies in
 * the future, are passed over (they are taken only when named with --id).
 *
 * Logs (doc/design.md § Logs): with --at (a time or "latest"), a source
 * that has a log (q->has_log says so: its plugin replays and the sink
 * holds a log of it) comes from the newest complete set holding it with
 * no overrides whose id time is at or before --at and whose recorded log
 * position (the end one if the set has it, else the start one) lies at
 * or before until_ms; the step then replays the log after that position.
 * A source with a log but no such set is planned as one without a log. */
#ifndef CAIRN_RESTORE_PLAN_H
#define CAIRN_RESTORE_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "manifest.h"
#include "sets.h"
#include "util.h"

/* The job's sets in one sink, oldest first (as sets_list gives them). */
struct restore_sets {
	const struct set_info *v;
	size_t n;
	/* The manifest of complete set i, or NULL when it cannot be read or
	 * believed; asked only for the sets the plan looks at, newest first. */
	const struct manifest *(*manifest)(void *ud, size_t i);
	void *ud;
};

struct restore_query {
	size_t base;               /* the set the restore starts from (index) */
	int by_id;                 /* base was named with --id */
	const time_t *at;          /* --at, or NULL */
	const struct strvec *only; /* --source NAMEs; NULL or empty: all */
	time_t now;                /* for "its id lies in the future" */
	/* Logs, with --at only (by_id never replays): until_ms is the last
	 * millisecond to restore (--at's second's last one; INT64_MAX with
	 * --at latest, when at is NULL); has_log (NULL: no source has one)
	 * says whether source name has a log to replay. */
	int with_logs;
	int64_t until_ms;
	int (*has_log)(void *ud, const char *name);
	void *log_ud;
};

/* One source to restore: its entry in the manifest of the set it comes
 * from, and that set's id. */
struct restore_step {
	const struct manifest_source *ms;
	const char *id;
	/* Replay the source's log after `after` (the set's recorded
	 * position) up to the query's until_ms. */
	int replay;
	struct cairn_log_pos after;
};

/* A source the plan cannot take from the set it would come from. */
struct restore_gap {
	const char *name;
	const struct manifest_failed *lack; /* the base set's entry for it: failed
	                                       or left out; NULL if none */
	const char *newest;                 /* id of the newest set that holds it (any time, no
	                       overrides), or NULL if no set does */
};

struct restore_plan {
	struct restore_step *steps;
	size_t n;
	/* restore_plan_make() failed: the first source no set holds */
	struct restore_gap missing;
	/* --id of a partial set without --source: the sources it lacks, each
	 * with the newest set that has it */
	struct restore_gap *lacks;
	size_t nlacks;
};

/* Make the plan.  0, or -1 with p->missing naming the first source that
 * cannot be restored (p->missing.name NULL: the base set's manifest cannot
 * be read).  Pointers in p point into sets and their manifests.  Free with
 * restore_plan_free(), also after a failure. */
int restore_plan_make(const struct restore_sets *sets, const struct restore_query *q,
                      struct restore_plan *p);
void restore_plan_free(struct restore_plan *p);

#endif
