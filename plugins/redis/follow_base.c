/*
 * follow_base.c - a +FULLRESYNC while following (the master's backlog no
 * longer holds what follows the position asked for: overrun, a restart, a
 * failover), on a core with base_begin (ABI 1.5): the RDB the master sends
 * on the follower's own link is the new full backup.  It goes into the
 * out base_begin gives, walked and counted as a `mode = rdb` backup's
 * (backup_rdb.c: rb_rdb_stream, rb_stats), the diskless form's end mark
 * held back; base_end closes it at the +FULLRESYNC's REPLID:OFFSET, where
 * the RDB alone is consistent, and following goes on from there.  No
 * second connection, no second BGSAVE.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "backup.h"
#include "follow.h"
#include "repl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
follow_can_base(const struct cairn_log_out *out)
{
	return CAIRN_LOG_OUT_HAS(out, base_end) && out->base_begin != NULL && out->base_end != NULL;
}

int
follow_rdb_base(struct redis *r, struct rconn *c, struct cairn_log_out *out, const char *replid,
                uint64_t offset, int *core)
{
	struct rbackup b = {.r = r, .used_memory = -1};
	struct repl_header h = {0};
	struct cairn_log_pos pos = {0};
	struct cairn_out *o = NULL;
	char line[128];
	int rc, erc;

	*core = 0;
	if ((rc = rconn_line(c, line, sizeof(line), 1, "waiting for the snapshot")) < 0)
		return rc;
	if ((rc = repl_parse_header(r, line, &h)) < 0)
		return rc;
	/* the snapshot stands at the offset +FULLRESYNC named, as a backup's */
	pos.lsn = offset;
	pos.time_ms = redis_now_ms();
	snprintf(pos.text, sizeof(pos.text), "%s:%" PRIu64, replid, offset);
	if ((rc = out->base_begin(out, &o)) < 0) {
		*core = 1; /* the core's word: CAIRN_E_LOGLOST takes the old way */
		return rc;
	}
	b.out = o;
	rc = rb_rdb_stream(&b, c, &h);
	if (rc == 0)
		rb_stats(&b);
	erc = out->base_end(out, rc, &pos);
	if (rc == 0 && erc == 0)
		redis_log(r, CAIRN_LOG_INFO,
		          "%s: its snapshot at %s stored as a new full backup (%" PRIu64
		          " keys, %" PRIu64 " bytes); following on from there",
		          r->name, pos.text, b.keys, b.bytes);
	free(b.db_keys);
	if (rc < 0) {
		*core = b.out_rc < 0; /* a failure of the core's writer, as it is */
		return rc;
	}
	*core = erc < 0;
	return erc;
}
