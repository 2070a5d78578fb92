/* verify_log.h - verify of a job's change logs in one sink (doc/design.md
 * § Logs): every segment's size and SHA-256 as objects are verified, the
 * log's continuity from its oldest segment to its newest (gap records
 * reported, a hole is damage); with deep, every record parsed by the
 * source's replay (CAIRN_REPLAY_PARSE); with restore_test, the newest
 * set whose chain reaches the log's end restored somewhere harmless with
 * the whole log on top (CAIRN_REPLAY_TEST).  One line per log on standard
 * output, like a set's; a failure is recorded as the sink's verify. */
#ifndef CAIRN_VERIFY_LOG_H
#define CAIRN_VERIFY_LOG_H

#include <jansson.h>

#include "cmd.h"

enum verify_log_level {
	VERIFY_LOG_SUMS,
	VERIFY_LOG_DEEP,
	VERIFY_LOG_RESTORE_TEST
};

/* Verify every source's log of job in sink; results (may be NULL, for
 * --json) gets one object per log.  Returns an exit code: 0, 6 for damage
 * or a hole, 1 for another failure. */
int verify_logs(struct cli *c, const struct cfg_job *job, struct instance *sink,
                enum verify_log_level level, json_t *results);

#endif
