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
/* Does the core take a new base over the follower's link (ABI 1.5
 * base_begin/base_end)? */
int follow_can_base(const struct cairn_log_out *out);
/* After +FULLRESYNC REPLID OFFSET on c: the RDB that follows into a new
 * full backup (base_begin ... base_end at REPLID:OFFSET); on 0 the
 * replication stream goes on in c (follow_base.c).  *core: the code is
 * the core's (base_begin, base_end, its writer), to be returned as it is. */
struct rconn;
int follow_rdb_base(struct redis *r, struct rconn *c, struct cairn_log_out *out, const char *replid,
                    uint64_t offset, int *core);
/* The source's replay op: see struct cairn_log_replay. */
int redis_replay(void *inst, struct cairn_log_replay *rp);

#endif /* CAIRN_REDIS_FOLLOW_H */
