/*
 * backup.h - what the redis source's backup files share (not installed):
 * the run (backup.c) and its two modes (backup_rdb.c, backup_dump.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_BACKUP_H
#define CAIRN_REDIS_BACKUP_H

#include "redis_internal.h"

#define RB_BUF (256 * 1024) /* socket reads, RDB walk */

/* What a run writes, and its manifest counts. */
struct rbackup {
	struct redis *r;
	struct cairn_out *out;
	int out_rc; /* the first out->write() failure */
	uint64_t bytes;
	unsigned char *obuf; /* dump mode */
	size_t olen;
	uint64_t keys, expires;
	uint64_t *db_keys; /* dump mode, per database, ndb entries */
	size_t ndb;
	int server_version; /* major*10000 + minor*100 + patch; 0 unknown */
	int64_t used_memory;
};

/* out->write(), counted; the first failure is kept (out_rc) and returned
 * from then on. */
int rb_write(struct rbackup *b, const void *buf, size_t len);
/* Is the run being stopped?  (out_rc becomes CAIRN_E_CANCELLED.) */
int rb_cancelled(struct rbackup *b);
/* The same as an rconn's stop() (arg: the rbackup). */
int rb_stop(void *arg);
/* "7.0.15" as major*10000 + minor*100 + patch; 0 when it is not one. */
int rb_parse_version(const char *v);
/* Server version and used memory, for the manifest and for ABSTTL.  A
 * server that refuses INFO (ACL) is not an error: they stay unknown. */
void rb_server_info(struct rbackup *b, redisContext *ctx);
/* The manifest's stats of a run that succeeded. */
void rb_stats(struct rbackup *b);

/* The two modes: the whole stream into b->out, its counts into b. */
int backup_rdb(struct rbackup *b, redisContext *ctx);
int backup_dump(struct rbackup *b, redisContext *ctx);
/* The snapshot whose header h was read over c (its first bytes in
 * c->buf[c->pos..c->len)): walked into b->out, its counts into b.  On 0,
 * c->buf[c->pos..c->len) holds what came after it in the same reads (the
 * replication stream, on a follower's link; never the diskless end mark). */
struct rconn;
struct repl_header;
int rb_rdb_stream(struct rbackup *b, struct rconn *c, const struct repl_header *h);

#endif /* CAIRN_REDIS_BACKUP_H */
