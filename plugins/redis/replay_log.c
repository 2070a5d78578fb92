/*
 * replay_log.c - the redis source's replay op (ABI 1.4): restore --at,
 * verify --deep and verify --restore-test of a log.
 *
 *  - into the server: the base restored by the RDB path of restore.c,
 *    then the segments' commands pipelined into the server;
 *  - rdb_path: the base loaded into a scratch server, the segments
 *    replayed into it, SAVE, and its dump.rdb written to rdb_path as a
 *    restore of an RDB would write it;
 *  - CAIRN_REPLAY_TEST: the same into a scratch server, then counted;
 *  - CAIRN_REPLAY_PARSE: every segment read, every record checked.
 *
 * Commands go out as `redis-cli --pipe` sends them, at most LR_WINDOW in
 * flight, every reply counted; the first error reply stops the replay,
 * naming the command, its key, database and time, and how much of the
 * log was applied.  Records at or before the base's position are
 * skipped, those after until_ms end the replay.  Segments follow aof.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "aof.h"
#include "follow.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LR_WINDOW 1024       /* commands in flight */
#define LR_BUF (256u * 1024) /* the segment reader's buffer, as a rule */
#define LR_OBUF (64u * 1024) /* bytes gathered before they go out */

/* A command sent and not answered yet: what a message needs of it. */
struct lr_sent {
	char name[AOF_NAME_MAX];
	char key[48];
	long db;
	int64_t time_ms;
	uint64_t lsn;
	int last; /* the last command of its record */
};

struct lreplay {
	struct redis *r;
	struct cairn_log_replay *rp;
	redisContext *c; /* NULL: parse only */
	const char *tname;
	/* the stream */
	int64_t mark_ms; /* the last time mark (-1: none yet in this chain) */
	int64_t time_ms; /* the record's time: the mark's, or the base's before one */
	uint64_t lsn;    /* the record being read (0: none yet) */
	int skip, in_txn, done;
	long stream_db, conn_db;
	uint64_t seg, records, seg_records, applied_records, commands;
	/* the pipeline */
	char *obuf;
	size_t olen;
	struct lr_sent *ring;
	size_t head, count;
	char *fail;
	int fail_rc;
	/* the segment reader */
	struct cairn_in *in;
	unsigned char *buf;
	size_t cap, pos, len;
	int eof;
	uint64_t seg_off;
};

static void
lr_time_text(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms < 0 || !gmtime_r(&t, &tm)) {
		snprintf(buf, n, "an unknown time");
		return;
	}
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int
lr_damage(struct lreplay *l, const char *what)
{
	redis_error(
	        l->r,
	        "log segment %" PRIu64 " of the chain, byte %" PRIu64
	        ": %s; the stored log is damaged (verify the job, then restore to an earlier --at)",
	        l->seg, l->seg_off, what);
	return CAIRN_E_CORRUPT;
}

/* ------------------------------------------------------------ reading */

/* The next command or mark of the segment: 1 (c, *p), 0 at its clean
 * end, or a code. */
static int
lr_next(struct lreplay *l, struct aof_cmd *c, const unsigned char **p)
{
	for (;;) {
		int rc = aof_parse(l->buf + l->pos, l->len - l->pos, c);
		ssize_t n;
		if (rc < 0)
			return lr_damage(l, c->err);
		if (rc > 0) {
			*p = l->buf + l->pos;
			l->pos += (size_t)c->len;
			l->seg_off += c->len;
			return 1;
		}
		if (l->eof)
			return l->pos == l->len ? 0
			                        : lr_damage(l, "the segment ends inside a command");
		memmove(l->buf, l->buf + l->pos, l->len - l->pos);
		l->len -= l->pos;
		l->pos = 0;
		if (c->need > l->cap || (l->cap > LR_BUF && l->len < LR_BUF)) {
			size_t cap = c->need > LR_BUF ? (size_t)c->need : LR_BUF;
			unsigned char *b = realloc(l->buf, cap < l->len ? l->len : cap);
			if (!b)
				return CAIRN_E_NOMEM;
			l->buf = b;
			l->cap = cap < l->len ? l->len : cap;
		}
		if (l->r->host->cancelled(l->r->ctx))
			return CAIRN_E_CANCELLED;
		n = l->in->read(l->in, l->buf + l->len, l->cap - l->len);
		if (n < 0)
			return (int)n;
		if (n == 0)
			l->eof = 1;
		l->len += (size_t)n;
	}
}

/* --------------------------------------------------------- the pipeline */

static void
lr_describe(const struct lr_sent *e, char *buf, size_t n)
{
	char when[64];
	lr_time_text(e->time_ms, when, sizeof(when));
	snprintf(buf, n, "%s%s%s%s in db %ld (received %s, offset %" PRIu64 ")",
	         e->name[0] ? e->name : "a command", e->key[0] ? " of key \"" : "", e->key,
	         e->key[0] ? "\"" : "", e->db, when, e->lsn);
}

/* An error reply, or an EXEC's array holding one: the first error. */
static const char *
lr_reply_error(const redisReply *rep)
{
	if (rep->type == REDIS_REPLY_ERROR)
		return rep->str;
	if (rep->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < rep->elements; i++)
			if (rep->element[i] && rep->element[i]->type == REDIS_REPLY_ERROR)
				return rep->element[i]->str;
	return NULL;
}

static int
lr_broken(struct lreplay *l)
{
	char why[200];
	if (!l->fail) {
		redis_link_error(l->c, why, sizeof(why));
		if (asprintf(&l->fail, "%s: the link broke while the log was replayed: %s",
		             l->tname, why) < 0)
			l->fail = NULL;
		l->fail_rc = CAIRN_E_IO;
	}
	return CAIRN_E_IO;
}

static int
lr_flush(struct lreplay *l)
{
	int done = 0;
	if (l->olen) {
		if (redisAppendFormattedCommand(l->c, l->obuf, l->olen) != REDIS_OK)
			return lr_broken(l);
		l->olen = 0;
	}
	while (!done)
		if (redisBufferWrite(l->c, &done) != REDIS_OK)
			return lr_broken(l);
	return 0;
}

/* Read the oldest reply. */
static int
lr_reply(struct lreplay *l)
{
	redisReply *rep = NULL;
	struct lr_sent *e;
	const char *err;

	/* replies the last read brought first: the socket is written and
	 * read only when none is left, so a window goes out in few writes */
	if (redisGetReplyFromReader(l->c, (void **)&rep) != REDIS_OK)
		return lr_broken(l);
	if (!rep && lr_flush(l))
		return l->fail_rc;
	while (!rep)
		if (redisBufferRead(l->c) != REDIS_OK ||
		    redisGetReplyFromReader(l->c, (void **)&rep) != REDIS_OK)
			return lr_broken(l);
	e = &l->ring[l->head];
	l->head = (l->head + 1) % LR_WINDOW;
	l->count--;
	if ((err = lr_reply_error(rep)) != NULL && !l->fail) {
		char what[200];
		lr_describe(e, what, sizeof(what));
		if (asprintf(&l->fail, "%s refused %s: %.300s", l->tname, what, err) < 0)
			l->fail = NULL;
		l->fail_rc = !strncmp(err, "NOPERM", 6) || !strncmp(err, "NOAUTH", 6) ? CAIRN_E_AUTH
		                                                                      : CAIRN_E_IO;
	} else if (!err && e->last) {
		l->applied_records++;
	}
	freeReplyObject(rep);
	return l->fail ? l->fail_rc : 0;
}

static int
lr_out(struct lreplay *l, const void *p, size_t n)
{
	if (l->olen + n > LR_OBUF && lr_flush(l))
		return l->fail_rc;
	if (n > LR_OBUF) {
		if (redisAppendFormattedCommand(l->c, p, n) != REDIS_OK)
			return lr_broken(l);
		return 0;
	}
	memcpy(l->obuf + l->olen, p, n);
	l->olen += n;
	return 0;
}

/* One command out (its bytes p), noted for its reply. */
static int
lr_send(struct lreplay *l, const unsigned char *p, const struct aof_cmd *c, int last)
{
	struct lr_sent *e;
	int rc;

	if (l->count == LR_WINDOW && (rc = lr_reply(l)))
		return rc;
	if ((rc = lr_out(l, p, (size_t)c->len)))
		return rc;
	e = &l->ring[(l->head + l->count++) % LR_WINDOW];
	snprintf(e->name, sizeof(e->name), "%s", c->name);
	e->key[0] = '\0';
	if (c->argc >= 2 && !aof_is(c, "SELECT", 0))
		aof_arg_text(c, 0, e->key, sizeof(e->key));
	e->db = l->conn_db;
	e->time_ms = l->time_ms;
	e->lsn = l->lsn;
	e->last = last;
	l->commands++;
	return 0;
}

static int
lr_drain(struct lreplay *l)
{
	while (l->count > 0 && !lr_reply(l))
		;
	return l->fail ? l->fail_rc : 0;
}

/* ------------------------------------------------------------ applying */

/* A mark: a new time, or a new record (checked, skipped or not, or the
 * end of what is wanted). */
static int
lr_mark(struct lreplay *l, const struct aof_cmd *c)
{
	if (l->in_txn)
		return lr_damage(l, "a mark inside MULTI ... EXEC");
	if (c->kind == AOF_MARK_TIME) {
		if ((int64_t)c->mark < l->mark_ms)
			return lr_damage(l, "a time mark earlier than the one before it");
		l->mark_ms = l->time_ms = (int64_t)c->mark;
		return 0;
	}
	if (c->mark <= l->lsn)
		return lr_damage(l, "an offset mark not past the one before it");
	l->lsn = c->mark;
	l->records++;
	l->seg_records++;
	l->skip = l->lsn <= l->rp->after.lsn;
	if (!l->skip && l->mark_ms < 0)
		/* a record of the base's second the chain has no mark for yet */
		l->time_ms = l->rp->after.time_ms;
	if (!l->skip && l->time_ms > l->rp->until_ms && !(l->rp->flags & CAIRN_REPLAY_PARSE))
		l->done = 1;
	return 0;
}

static int
lr_command(struct lreplay *l, const unsigned char *p, const struct aof_cmd *c)
{
	long db;
	int rc;

	if (l->lsn == 0 || (l->seg_records == 0))
		return lr_damage(l, "a command before its record's offset mark");
	if (aof_select_db(c, &db) == 0) {
		l->stream_db = db;
		return 0; /* sent when a command needs it */
	}
	if (aof_is(c, "SELECT", 0))
		return lr_damage(l, "a SELECT without a database number");
	if (aof_is(c, "MULTI", 1)) {
		if (l->in_txn)
			return lr_damage(l, "MULTI inside MULTI");
		l->in_txn = 1;
	} else if (aof_is(c, "EXEC", 1)) {
		if (!l->in_txn)
			return lr_damage(l, "EXEC without MULTI");
		l->in_txn = 0;
	}
	if (l->skip || !l->c)
		return 0;
	if (l->conn_db != l->stream_db) {
		unsigned char sel[AOF_SELECT_MAX];
		struct aof_cmd sc;
		size_t n = aof_select(l->stream_db, sel);
		aof_parse(sel, n, &sc);
		l->conn_db = l->stream_db;
		if ((rc = lr_send(l, sel, &sc, 0)))
			return rc;
	}
	return lr_send(l, p, c, !l->in_txn);
}

/* One segment, from its first byte to its end (or until_ms). */
static int
lr_segment(struct lreplay *l)
{
	struct aof_cmd c;
	const unsigned char *p = NULL;
	int rc = 0;

	l->pos = l->len = 0;
	l->eof = 0;
	l->seg_off = 0;
	l->seg_records = 0;
	while (!l->done && (rc = lr_next(l, &c, &p)) == 1) {
		if (c.kind != AOF_CMD)
			rc = lr_mark(l, &c);
		else
			rc = lr_command(l, p, &c);
		if (rc)
			return rc;
	}
	if (l->done)
		return 0;
	if (rc < 0)
		return rc;
	if (l->in_txn)
		return lr_damage(l, "the segment ends inside MULTI ... EXEC");
	return 0;
}

/* Every segment of the chain, in order. */
static int
lr_segments(struct lreplay *l)
{
	int rc;

	l->mark_ms = l->time_ms = -1;
	while (!l->done) {
		rc = l->rp->next(l->rp, &l->in);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		l->seg++;
		if ((rc = lr_segment(l)))
			return rc;
	}
	if (l->c && (rc = lr_flush(l)) == 0)
		rc = lr_drain(l);
	else
		rc = l->c ? l->fail_rc : 0;
	return rc;
}

/* ------------------------------------------------------------- the op */

static int
lr_init(struct lreplay *l, struct redis *r, struct cairn_log_replay *rp, redisContext *c,
        const char *tname)
{
	memset(l, 0, sizeof(*l));
	l->r = r;
	l->rp = rp;
	l->c = c;
	l->tname = tname;
	l->buf = malloc(LR_BUF);
	l->cap = LR_BUF;
	if (c) {
		l->obuf = malloc(LR_OBUF);
		l->ring = calloc(LR_WINDOW, sizeof(*l->ring));
	}
	return l->buf && (!c || (l->obuf && l->ring)) ? 0 : CAIRN_E_NOMEM;
}

static void
lr_free(struct lreplay *l)
{
	free(l->buf);
	free(l->obuf);
	free(l->ring);
	free(l->fail);
}

/* What the replay did, or why it stopped: the message and the stats. */
static int
lr_report(struct lreplay *l, int rc)
{
	struct redis *r = l->r;
	char when[64];

	r->host->stat(r->ctx, "records", (int64_t)l->records);
	if (l->c)
		r->host->stat(r->ctx, "records.applied", (int64_t)l->applied_records);
	lr_time_text(l->time_ms, when, sizeof(when));
	if (rc && l->fail) {
		redis_error(
		        r,
		        "%s; %" PRIu64
		        " records of the log were applied before it stopped (%" PRIu64
		        " commands sent); the target holds the base and them: fix the cause, then restore again with --force and flush = yes",
		        l->fail, l->applied_records, l->commands);
		return l->fail_rc ? l->fail_rc : CAIRN_E_IO;
	}
	if (!rc)
		redis_log(r, CAIRN_LOG_INFO,
		          "%s: %" PRIu64 " records of the log applied (%" PRIu64 " read in %" PRIu64
		          " segments), up to %s",
		          l->tname, l->applied_records, l->records, l->seg, when);
	return rc;
}

/* The segments into c, which holds the base already. */
static int
lr_apply(struct redis *r, struct cairn_log_replay *rp, redisContext *c, const char *tname)
{
	struct lreplay l;
	int rc = lr_init(&l, r, rp, c, tname);

	if (!rc)
		rc = lr_segments(&l);
	rc = lr_report(&l, rc);
	lr_free(&l);
	return rc;
}

/* rdb_path: the scratch server's SAVE, written to rdb_path as a stored
 * RDB would be. */
struct lr_file_in {
	struct cairn_in in;
	int fd;
};

static ssize_t
lr_file_read(struct cairn_in *self, void *buf, size_t len)
{
	struct lr_file_in *f = (struct lr_file_in *)self;
	for (;;) {
		ssize_t n = read(f->fd, buf, len);
		if (n >= 0 || errno != EINTR)
			return n < 0 ? CAIRN_E_IO : n;
	}
}

static int
lr_save_to_path(struct redis *r, struct scratch *s, unsigned flags)
{
	struct lr_file_in f = {
	        .in = {.struct_size = sizeof(struct cairn_in), .read = lr_file_read}};
	redisReply *rep;
	int rc;

	rep = redis_command(r, s->c, SCRATCH_NAME, 0, &rc, "SAVE");
	if (!rep)
		return rc;
	freeReplyObject(rep);
	f.fd = open(s->rdb, O_RDONLY | O_CLOEXEC);
	if (f.fd < 0) {
		redis_error(r, "%s: cannot open %s after SAVE: %s", SCRATCH_NAME, s->rdb,
		            strerror(errno));
		return CAIRN_E_IO;
	}
	rc = restore_rdb_file(r, &f.in, flags);
	close(f.fd);
	return rc;
}

/* The base loaded into the scratch server s (initialised). */
static int
lr_base_scratch(struct redis *r, struct cairn_in *base, struct scratch *s)
{
	struct rdb_walk w = {0};
	struct redis_peek p;
	int kind = redis_peek(r, base, &p), rc, counted;

	if (kind < 0)
		return kind;
	if (kind != REDIS_OBJ_RDB) {
		redis_error(
		        r,
		        "the full backup a log continues must be an RDB (mode = rdb); this one is not");
		return CAIRN_E_CORRUPT;
	}
	rc = rdb_to_file(r, &p.in, s->rdb, &w, &counted);
	if (!rc)
		rc = scratch_start(r, s, ALL_DATABASES);
	if (w.buf) {
		free(w.buf);
		rdb_walk_free(&w);
	}
	return rc;
}

/* rdb_path, and the restore test: base and log into a scratch server. */
static int
lr_scratch(struct redis *r, struct cairn_log_replay *rp)
{
	int test = (rp->flags & CAIRN_REPLAY_TEST) != 0;
	struct scratch s;
	uint64_t *db_keys = NULL;
	size_t ndb = 0;
	int rc;

	if (!test && !(rp->restore_flags & CAIRN_RESTORE_FORCE) && access(r->rdb_path, F_OK) == 0) {
		redis_error(
		        r,
		        "%s exists; restore with --force to replace it, or set rdb_path to a new file",
		        r->rdb_path);
		return CAIRN_E_EXISTS;
	}
	if ((rc = scratch_init(r, &s)))
		return rc;
	rc = lr_base_scratch(r, rp->base, &s);
	if (!rc)
		rc = lr_apply(r, rp, s.c, SCRATCH_NAME);
	if (!rc && test && !(rc = redis_keyspace(r, s.c, SCRATCH_NAME, &db_keys, &ndb))) {
		char key[32];
		r->host->stat(r->ctx, "keys", (int64_t)redis_sum(db_keys, ndb));
		for (size_t d = 0; d < ndb; d++)
			if (db_keys[d]) {
				snprintf(key, sizeof(key), "keys.db%zu", d);
				r->host->stat(r->ctx, key, (int64_t)db_keys[d]);
			}
		redis_log(
		        r, CAIRN_LOG_INFO,
		        "restore test of the log: the base and every record applied into a %s without an error: %" PRIu64
		        " keys at the log's end",
		        SCRATCH_NAME, redis_sum(db_keys, ndb));
	}
	if (!rc && !test)
		rc = lr_save_to_path(r, &s, rp->restore_flags);
	free(db_keys);
	scratch_stop(r, &s);
	scratch_free(&s);
	return rc;
}

/* Into the server: the base as restore() writes an RDB, then the log. */
static int
lr_server(struct redis *r, struct cairn_log_replay *rp)
{
	struct redis_peek p;
	redisContext *c = NULL;
	int kind = redis_peek(r, rp->base, &p), rc;

	if (kind < 0)
		return kind;
	if (kind != REDIS_OBJ_RDB) {
		redis_error(
		        r,
		        "the full backup a log continues must be an RDB (mode = rdb); this one is not");
		return CAIRN_E_CORRUPT;
	}
	if ((rc = restore_rdb_scratch(r, &p.in, rp->restore_flags)))
		return rc;
	if ((rc = redis_connect(r, &c)))
		return rc;
	rc = lr_apply(r, rp, c, r->name);
	redisFree(c);
	return rc;
}

int
redis_replay(void *inst, struct cairn_log_replay *rp)
{
	struct redis *r = inst;

	if (rp->flags & CAIRN_REPLAY_PARSE)
		return lr_apply(r, rp, NULL, "the log");
	if (!rp->base) {
		redis_error(r, "a replay of the log without its full backup; this cairn is broken");
		return CAIRN_E_CONFIG;
	}
	if ((rp->flags & CAIRN_REPLAY_TEST) || r->rdb_path)
		return lr_scratch(r, rp);
	return lr_server(r, rp);
}
