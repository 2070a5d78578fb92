/*
 * follow.h - the redis source's change log ops (ABI 1.4), not installed:
 * follow (follow.c) and replay (replay_log.c).  The format is in aof.h.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_FOLLOW_H
#define CAIRN_REDIS_FOLLOW_H

#include "redis_internal.h"

/* The source's follow op: see struct cairn_source_ops. */
int redis_follow(void *inst, const struct cairn_log_pos *from, struct cairn_log_out *out);
/* The source's replay op: see struct cairn_log_replay. */
int redis_replay(void *inst, struct cairn_log_replay *rp);

#endif /* CAIRN_REDIS_FOLLOW_H */
