/* restore_log.h - restore --at of a source that has a change log
 * (doc/design.md § Logs): which sources have a log to replay, the chain
 * of segments from the base's position up to the time asked, and its
 * replay (replay.c).  cmd_restore.c plans (restore_plan.c) and says what
 * happens; this module finds the chain and runs it. */
#ifndef CAIRN_RESTORE_LOG_H
#define CAIRN_RESTORE_LOG_H

#include <stdint.h>

#include "config.h"
#include "logcat.h"
#include "plugin.h"
#include "restore_plan.h"

struct restore_logs {
	struct plugin_registry *reg;
	const struct config *cfg;
	struct log_catalog cat; /* the sink's logs, manifests read */
};

/* Does any source of job have a plugin that replays a log?  Without
 * one, restore --at is what it always was: no log is listed. */
int restore_logs_wanted(struct plugin_registry *reg, const struct config *cfg,
                        const struct cfg_job *job);
/* List and read the job's logs in sink.  0, or a CAIRN_E_* code with
 * *err. */
int restore_logs_load(struct restore_logs *rl, struct instance *sink, const char *job, char **err);
/* restore_query's has_log: the source's plugin replays and the sink
 * holds segments of it. */
int restore_logs_has(void *ud, const char *name);

/* What a replay reached, for messages. */
struct restore_log_done {
	size_t nsegs;
	int64_t reach_ms; /* the chain's end: its last segment's TO time */
};

/* Restore step st (st->replay set) of source src from sink: the chain
 * from st->after up to until_ms, proven whole, then replayed on top of
 * the base.  0, or a CAIRN_E_* code with *err, one line: a chain that
 * breaks (a gap, a missing stretch, a damaged segment) is CAIRN_E_CORRUPT
 * naming the interval and the latest time that can be restored, with the
 * command that restores up to it. */
int restore_logs_run(struct restore_logs *rl, const char *job, struct instance *sink,
                     const struct restore_step *st, struct instance *src, int64_t until_ms,
                     unsigned flags, struct restore_log_done *done, char **err);
void restore_logs_free(struct restore_logs *rl);

/* The --at that restores up to reach_ms: its second when reach_ms is
 * its last millisecond, else the second before; "YYYY-MM-DDTHH:MM:SSZ". */
void restore_log_at(int64_t reach_ms, char *out, size_t len);

#endif
