/*
 * rdb.h - the RDB walker of the redis source (rdb.c), not installed.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_RDB_H
#define CAIRN_REDIS_RDB_H

#include "redis_internal.h"

/*
 * A streaming walker of the RDB format.  It pulls bytes through `fill`,
 * which refills the walker's buffer, and never holds more than that buffer
 * (values of any size are skipped through it), so memory stays flat.
 *
 * The caller owns buf (bufsize bytes).  fill() is called only when every
 * byte in buf[0..len) has been consumed (pos == len); it must put new bytes
 * into buf[0..), set len to their count and pos to 0, and return 1, or
 * return 0 at the end of the input, or a negative CAIRN_E_* code (kept as
 * the walk's result).  Before it overwrites buf, fill() may do what it likes
 * with the consumed bytes buf[0..len) (backup_rdb.c writes them to the sink):
 * they are exactly the RDB's bytes in order.  Once rdb_walk() returns 0,
 * buf[0..pos) is the last part of the RDB and buf[pos..len) is what came
 * after it.
 */

/* CRC-64 as Redis computes it (crc64.c: Jones polynomial, reflected, init
 * 0, no final xor), eight bytes at a time through these tables. */
struct rdb_crc {
	uint64_t t[8][256];
};
void rdb_crc_init(struct rdb_crc *c);
uint64_t rdb_crc64(const struct rdb_crc *c, uint64_t crc, const void *buf, size_t len);

struct rdb_walk {
	/* set by the caller */
	unsigned char *buf;
	size_t bufsize;
	size_t pos, len;
	int (*fill)(struct rdb_walk *w);
	void *arg; /* for fill() */

	/* results */
	int version;        /* RDB_VERSION from the header */
	uint64_t keys;      /* keys in all databases */
	uint64_t expires;   /* of them with an expiry */
	uint64_t *db_keys;  /* keys per database, ndb entries (malloc) */
	size_t ndb;         /* 1 + the highest database that had keys */
	char redis_ver[32]; /* the aux field redis-ver, "" if none */
	int64_t used_mem;   /* the aux field used-mem, -1 if none */
	int crc_checked;    /* 1: the trailer matched; 0: none (rdbchecksum no) */
	/* set on failure: one line without the object's name, e.g.
	 * "at byte 4711 (key 12 of db 0): value type 99 unknown"; callers
	 * put the server's or object's name in front. */
	char err[256];
	int unknown_type; /* CAIRN_E_UNSUPPORTED: the type or opcode */

	/* private */
	uint64_t base;     /* bytes consumed before buf[0] */
	size_t crc_from;   /* buf[crc_from..pos) is not in crc yet */
	uint64_t crc;      /* of everything consumed before buf[crc_from] */
	long cur_db;       /* -1 before the first SELECTDB */
	uint64_t db_alloc; /* entries allocated in db_keys */
	struct rdb_crc tab;
};

/* Set up w (buf, bufsize, fill, arg must be set first; pos = len = 0). */
void rdb_walk_init(struct rdb_walk *w);
/*
 * Walk a whole RDB: magic, version, every opcode and value to EOF, and the
 * CRC-64 trailer (RDB version >= 5).  0 on success; CAIRN_E_CORRUPT with
 * w->err set when the bytes are not a valid RDB (cut short included: the
 * input ended inside it); CAIRN_E_UNSUPPORTED with w->err and
 * w->unknown_type set for a value type or opcode this walker does not know
 * (a newer Redis); CAIRN_E_NOMEM; or fill()'s own negative code.
 */
int rdb_walk(struct rdb_walk *w);
/* Bytes of the RDB consumed so far. */
static inline uint64_t
rdb_walk_offset(const struct rdb_walk *w)
{
	return w->base + w->pos;
}
void rdb_walk_free(struct rdb_walk *w);

#endif /* CAIRN_REDIS_RDB_H */
