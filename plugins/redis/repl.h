/*
 * repl.h - the replication link of the redis source (repl.c), not
 * installed: how cairn talks to a server as a replica would.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_REPL_H
#define CAIRN_REDIS_REPL_H

#include "redis_internal.h"

#define REPL_MARK_LEN 40 /* the diskless snapshot's end mark */
#define REPL_ID_LEN 40   /* a replication id: 40 hex digits */

/* The header of the snapshot a master sends after SYNC / PSYNC. */
struct repl_header {
	int eof_mode;   /* $EOF:<mark> (diskless) rather than $<length> */
	uint64_t total; /* $<length>: the RDB's size */
	char mark[REPL_MARK_LEN];
	/* +FULLRESYNC REPLID OFFSET (PSYNC): the snapshot holds the data set
	 * as it stood at that replication offset; have_pos 0 after SYNC */
	int have_pos;
	char replid[REPL_ID_LEN + 1];
	uint64_t offset;
};

/* REPLCONF capa eof (we read the diskless form) and rdb-only 1 (Redis 7+:
 * no replication stream after the snapshot; older servers refuse it). */
int repl_replconf(struct redis *r, redisContext *ctx);
/*
 * Send PSYNC ? -1 (or, when it is refused, SYNC) over c and read up to the
 * snapshot's bulk header, into *h (with the replication id and offset of
 * +FULLRESYNC when PSYNC answered).  The RDB's first bytes may be in
 * c->buf[c->pos..c->len) already.  A refusal is one line saying why in
 * words the user can act on: CAIRN_E_AUTH, CAIRN_E_IO or
 * CAIRN_E_UNSUPPORTED.
 */
int repl_sync_start(struct rconn *c, struct repl_header *h);
/* The snapshot's bulk header line ("$EOF:<mark>" or "$<length>") into *h:
 * 0, or CAIRN_E_IO with the error set when the line is no such header. */
int repl_parse_header(struct redis *r, const char *line, struct repl_header *h);
/* "+FULLRESYNC REPLID OFFSET": 0 with replid (41 bytes) and *offset, -1
 * when the line is not one. */
int repl_parse_fullresync(const char *line, char *replid, uint64_t *offset);
/*
 * A replica whose link to its master is down and that holds no key has
 * not finished its first sync (or lost its data): a backup of it would be
 * an empty set that looks fine.  CAIRN_E_IO with the replica's state then;
 * a warning when it holds keys; 0 for any other server (or one that
 * refuses INFO).
 */
int repl_replica_check(struct redis *r, redisContext *ctx);

#endif /* CAIRN_REDIS_REPL_H */
