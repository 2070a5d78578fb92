/* prune.h - the prune of one sink: the sets a job's retention no longer
 * keeps removed, saying for every set why it stays or goes.  The policy
 * itself is retention.c's; this lists, reads manifests, prints and
 * removes.  cairn prune (cmd_prune.c) runs it for each sink, backup
 * (cmd_backup.c) after a successful run. */
#ifndef CAIRN_PRUNE_H
#define CAIRN_PRUNE_H

#include <jansson.h>

struct cfg_job;
struct instance;

/* Flags of prune_sink(). */
#define PRUNE_DRY_RUN 0x1u /* decide and say, remove nothing */
#define PRUNE_PRINT 0x2u   /* a line per set on stdout (else only the log) */
/* Apply job's retention to its sets in sink, whose lock the caller holds
 * (unless a dry run).  With json (an array), one object per sink is
 * appended instead of printing.  0, or an exit code: 1 when a set could
 * not be removed (named; the others still were). */
int prune_sink(const struct cfg_job *job, struct instance *sink, unsigned flags, json_t *json);

#endif
