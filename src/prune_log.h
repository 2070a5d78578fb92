/* prune_log.h - the prune of a job's change logs in one sink: segments no
 * kept set needs, gap records before every kept segment, and data objects
 * left without a manifest, removed, saying why for each.  The policy is
 * retention_log.c's; prune.c calls this after judging the sets. */
#ifndef CAIRN_PRUNE_LOG_H
#define CAIRN_PRUNE_LOG_H

#include <jansson.h>
#include <time.h>

#include "retention.h"
#include "sets.h"

struct cfg_job;
struct instance;

/* The logs of job in sink, judged against the sets of l that retention
 * keeps (v, index for index with l; their manifests as sets_for_retention
 * read them) at now.  flags are prune_sink()'s; with jsink (the sink's
 * object of prune --json) a "logs" array is added to it instead of
 * printing.  Nothing is removed when a kept set's manifest cannot be
 * read.  0, or an exit code (a listing that failed, an object that could
 * not be removed: named, the others still were). */
int prune_logs(const struct cfg_job *job, struct instance *sink, const struct set_list *l,
               const struct retention_verdict *v, time_t now, unsigned flags, json_t *jsink);

#endif
