/* record.h - what a run records of itself for status, check and the
 * metrics: backup's and verify's outcome per sink in STATE_DIR/status/
 * JOB.json (state.h), then [cairn] metrics_file refreshed.  A failure to
 * record is a warning, never the run's failure. */
#ifndef CAIRN_RECORD_H
#define CAIRN_RECORD_H

#include <stddef.h>

#include "util.h"

struct config;
struct cfg_job;
struct instance;
struct plugin_registry;
struct backup_outcome;

/* What a backup run did, for its record. */
struct backup_record {
	const char *id;          /* "" when the run got no id */
	struct instance **sinks; /* the sinks the pipeline ran with */
	size_t nsinks;
	const struct backup_outcome *res; /* NULL: no sink was left to run */
	const struct strvec *targets;     /* the sinks the run was for: the job's,
	                                     or --sink's; the others' records stay */
	const struct strvec *dropped;     /* left out as the run started, */
	const struct strvec *why;         /* and why (one line each) */
	int one_off;                      /* --set or --source: its success is not the job's */
};

/* After a backup run: each of br->targets recorded as ok, partial or
 * failed (a one-off run's success leaves the record as it was), then the
 * metrics file refreshed with the plugins of reg. */
void record_backup(const struct config *cfg, struct plugin_registry *reg, const struct cfg_job *job,
                   const struct backup_record *br);
/* After one verify (restore_test 0) or restore test (1) of set id in sink;
 * detail says what failed (NULL when ok).  The command calls
 * metrics_refresh() once at its end. */
void record_verify(const struct config *cfg, const struct cfg_job *job, const char *sink,
                   const char *id, int restore_test, int ok, const char *detail);

#endif
