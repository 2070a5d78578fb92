/*
 * follow_cut.h - the replication stream cut into change records
 * (follow_cut.c), not installed.  Pure: bytes in, records out through a
 * cairn_log_out; no socket.  See aof.h for what a record is.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_FOLLOW_CUT_H
#define CAIRN_REDIS_FOLLOW_CUT_H

#include "aof.h"

#define FCUT_KEEP_MAX (1u << 20) /* the record buffer shrinks back to this */

struct fcut {
	char replid[41];
	uint64_t offset; /* the master's offset of the last byte consumed */
	long db;         /* the database in force in the stream (-1: not named yet) */
	/* the database a replay is in after the last record (-1: unknown,
	 * so the next record starts with a SELECT) */
	long last_end;
	/* the record being gathered: rlen bytes after AOF_MARKS_MAX kept
	 * free for its marks (rcap counts them) */
	unsigned char *rec;
	size_t rlen, rcap;
	int64_t marked_sec; /* the second of the last time mark (-1: none yet) */
	int in_txn;         /* between MULTI and EXEC */
	int64_t last_time;  /* of the last record: times never go back */
	uint64_t given_lsn; /* the last position given out (record or idle) */
	int getack;         /* a REPLCONF GETACK came: the caller answers it */
	uint64_t records, commands, heartbeats;
	char err[256];
	/* Each record's counts, given to stat (when set; fcut_init clears it)
	 * just before the record goes out: "commands" (those of the record,
	 * without its MULTI, EXEC and SELECTs) and "db.N" (those of them
	 * run in database N). */
	void (*stat)(void *ud, const char *key, int64_t value);
	void *stat_ud;
	long stat_db; /* the database counted in stat_db_n */
	int64_t stat_db_n, stat_cmds;
	char stat_key[24]; /* "db.N" of stat_key_db (formatted once per change) */
	long stat_key_db;
};

/* Start after position (replid, offset) with db in force there (-1 when
 * the position does not say: a full resync's stream names it first). */
void fcut_init(struct fcut *f, const char *replid, uint64_t offset, long db);
void fcut_free(struct fcut *f);
/*
 * Consume the complete commands of buf[0..len), pushing each finished
 * record into out with its position (time: now_ms, or the last record's
 * when the clock went back).  Returns the bytes consumed (the rest is a
 * command cut short: *need bytes from where consumption stopped are
 * needed before the next call can get further), or a negative code:
 * CAIRN_E_CORRUPT (f->err) for bytes that are not a command, or what
 * out->record returned.
 */
long long fcut_feed(struct fcut *f, const unsigned char *buf, size_t len, int64_t now_ms,
                    struct cairn_log_out *out, uint64_t *need);
/* The position after everything consumed; 1 when it is one to give out
 * (not inside a transaction, and past the last one given), else 0. */
int fcut_pos(struct fcut *f, struct cairn_log_pos *pos, int64_t now_ms);

#endif /* CAIRN_REDIS_FOLLOW_CUT_H */
