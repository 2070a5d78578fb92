/*
 * aof.h - the redis source's change log (not installed): the command
 * stream a master sends its replicas, which is also the AOF format and
 * what `redis-cli --pipe` reads.
 *
 *   aof.c         one RESP command parsed in place (pure: no I/O, no
 *                 allocation); a SELECT written out
 *   follow_cut.c  the stream cut into change records (struct fcut)
 *   follow.c      the replication link the stream comes over
 *   replay_log.c  segments replayed into a server (restore --at)
 *
 * A segment is records concatenated.  A record is, in this order:
 *
 *   *0\r\n*-TIME\r\n   a time mark: TIME is when cairn received the
 *                      records that follow, ms since the epoch; only
 *                      before the first record of a second (and the
 *                      first of a follower's run): the index by second
 *   *-OFFSET\r\n       the lsn mark: the master's replication offset
 *                      after this record (its position)
 *   SELECT DB          the database it runs in, unless both it and the
 *                      record before it run in database 0 (where a new
 *                      connection starts)
 *   the command        as the master sent it, or a whole MULTI ... EXEC
 *
 * A server takes an array header with a count of 0 or less as nothing
 * at all (no reply, no error), so the marks cost `redis-cli --pipe`
 * nothing and every segment, replayed alone on a new connection, writes
 * each command into its own database.  Heartbeat PINGs, REPLCONF GETACK
 * and SELECTs on their own are not records (the next record names its
 * database itself).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_AOF_H
#define CAIRN_REDIS_AOF_H

#include "redis_internal.h"

#define AOF_NAME_MAX 24               /* a command name kept (uppercased) */
#define AOF_HEAD_MAX 128              /* bytes kept of the first two arguments */
#define AOF_RECORD_MAX (512ull << 20) /* a record (command or transaction) */
#define AOF_SELECT_MAX 32             /* "*2\r\n$6\r\nSELECT\r\n$5\r\n65535\r\n" */
#define AOF_MARKS_MAX 64              /* both marks */

enum aof_kind {
	AOF_CMD = 1,   /* a command */
	AOF_MARK_TIME, /* *0 *-TIME: mark = TIME */
	AOF_MARK_LSN   /* *-OFFSET: mark = OFFSET */
};

/* One command (an array of bulk strings), or a mark. */
struct aof_cmd {
	enum aof_kind kind;
	uint64_t mark;
	uint64_t len;            /* bytes of the whole command */
	uint64_t argc;           /* the name included */
	char name[AOF_NAME_MAX]; /* uppercased; "" when longer or not text */
	/* the first two arguments after the name, their first bytes */
	unsigned char arg[2][AOF_HEAD_MAX];
	size_t argkept[2];
	uint64_t arglen[2];
	uint64_t need; /* incomplete: bytes the buffer must hold to go on */
	char err[160]; /* damage: what and where in the command */
};

/*
 * Parse the command or mark at p[0..len).  > 0: it is complete, c->len bytes;
 * 0: it is cut short (c->need: how many bytes from p there must be before
 * another try can get further); CAIRN_E_CORRUPT: not a command of the
 * form (c->err).  Nothing is allocated; only lengths are read past bulk
 * payloads, so a try costs the command's argument count, not its size.
 */
int aof_parse(const unsigned char *p, size_t len, struct aof_cmd *c);

/* The marks before a record into buf (AOF_MARKS_MAX): the time mark
 * when with_time, then the lsn mark.  Their length. */
size_t aof_marks(unsigned char *buf, int with_time, int64_t time_ms, uint64_t lsn);
/* Is c the command `name` (uppercase) with argc arguments (0: any)? */
int aof_is(const struct aof_cmd *c, const char *name, uint64_t argc);
/* SELECT's database: 0 with *db, -1 when the argument is not one. */
int aof_select_db(const struct aof_cmd *c, long *db);
/* "*2\r\n$6\r\nSELECT\r\n$N\r\nDB\r\n" into buf (AOF_SELECT_MAX): its length. */
size_t aof_select(long db, unsigned char *buf);
/* An argument for a message: quoted, cut ("..." and its length). */
void aof_arg_text(const struct aof_cmd *c, int i, char *dst, size_t size);

/* Positions: text "REPLID:OFFSET" (a backup's) or "REPLID:OFFSET:DB" (in
 * the stream: DB is the database in force there, which a partial resync
 * does not repeat).  0 with replid (41 bytes), *offset and *db (-1 when
 * not named), or -1 when text is not one. */
int aof_pos_parse(const char *text, char *replid, uint64_t *offset, long *db);

#endif /* CAIRN_REDIS_AOF_H */
