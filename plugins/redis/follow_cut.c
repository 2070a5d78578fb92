/*
 * follow_cut.c - the replication stream cut into change records
 * (follow_cut.h; the rules are in aof.h): commands parsed as they come,
 * MULTI ... EXEC gathered into one record, heartbeats and GETACKs left
 * out, each record preceded by a SELECT of its database where a replay
 * on a new connection needs one.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "follow_cut.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
fcut_init(struct fcut *f, const char *replid, uint64_t offset, long db)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->replid, sizeof(f->replid), "%s", replid);
	f->offset = offset;
	f->given_lsn = offset;
	f->db = db;
	f->last_end = -1;
	f->marked_sec = -1;
}

void
fcut_free(struct fcut *f)
{
	free(f->rec);
	f->rec = NULL;
	f->rlen = f->rcap = 0;
}

static void
fcut_make_pos(const struct fcut *f, struct cairn_log_pos *pos, int64_t time_ms)
{
	memset(pos, 0, sizeof(*pos));
	pos->lsn = f->offset;
	pos->time_ms = time_ms;
	if (f->db >= 0)
		snprintf(pos->text, sizeof(pos->text), "%s:%" PRIu64 ":%ld", f->replid, f->offset,
		         f->db);
	else
		snprintf(pos->text, sizeof(pos->text), "%s:%" PRIu64, f->replid, f->offset);
}

int
fcut_pos(struct fcut *f, struct cairn_log_pos *pos, int64_t now_ms)
{
	if (f->in_txn || f->offset <= f->given_lsn)
		return 0;
	fcut_make_pos(f, pos, now_ms > f->last_time ? now_ms : f->last_time);
	f->last_time = pos->time_ms;
	f->given_lsn = f->offset;
	return 1;
}

static int
fcut_append(struct fcut *f, const void *p, size_t n)
{
	if (f->rlen + n > AOF_RECORD_MAX) {
		snprintf(f->err, sizeof(f->err),
		         "a transaction (MULTI ... EXEC) of more than %llu MiB at offset %" PRIu64
		         "; cairn keeps a record whole and no larger",
		         AOF_RECORD_MAX >> 20, f->offset);
		return CAIRN_E_UNSUPPORTED;
	}
	if (AOF_MARKS_MAX + f->rlen + n > f->rcap) {
		size_t cap = f->rcap ? f->rcap : 4096;
		unsigned char *q;
		while (cap < AOF_MARKS_MAX + f->rlen + n)
			cap *= 2;
		if (!(q = realloc(f->rec, cap)))
			return CAIRN_E_NOMEM;
		f->rec = q;
		f->rcap = cap;
	}
	memcpy(f->rec + AOF_MARKS_MAX + f->rlen, p, n);
	f->rlen += n;
	return 0;
}

/* A record begins in the stream's database: with a SELECT of it unless
 * the replay is in database 0 already and so is the record. */
static int
fcut_begin(struct fcut *f)
{
	unsigned char sel[AOF_SELECT_MAX];

	if (f->db < 0)
		f->db = 0; /* a replica starts in database 0 too */
	f->rlen = 0;
	if (f->db == 0 && f->last_end == 0)
		return 0;
	return fcut_append(f, sel, aof_select(f->db, sel));
}

/* The counts of the database the record's last commands ran in (all of
 * them, with commands too, when all is set) go to f->stat. */
static void
fcut_stat_flush(struct fcut *f, int all)
{
	if (f->stat && f->stat_db_n) {
		if (!f->stat_key[0] || f->stat_key_db != f->stat_db) {
			snprintf(f->stat_key, sizeof(f->stat_key), "db.%ld", f->stat_db);
			f->stat_key_db = f->stat_db;
		}
		if (all && f->stat_cmds)
			f->stat(f->stat_ud, "commands", f->stat_cmds);
		f->stat(f->stat_ud, f->stat_key, f->stat_db_n);
	}
	f->stat_db_n = 0;
	if (all)
		f->stat_cmds = 0;
}

/* A command of the record being gathered ran in f->db. */
static void
fcut_count(struct fcut *f)
{
	if (f->stat_db_n && f->stat_db != f->db)
		fcut_stat_flush(f, 0);
	f->stat_db = f->db;
	f->stat_db_n++;
	f->stat_cmds++;
}

/* The record is whole: out it goes, at the offset after it, behind its
 * marks (the time mark only when its second is not the last one's). */
static int
fcut_push(struct fcut *f, int64_t now_ms, struct cairn_log_out *out)
{
	struct cairn_log_pos pos;
	unsigned char marks[AOF_MARKS_MAX];
	size_t mlen;
	int64_t sec;
	int rc;

	fcut_make_pos(f, &pos, now_ms > f->last_time ? now_ms : f->last_time);
	sec = pos.time_ms / 1000;
	mlen = aof_marks(marks, sec != f->marked_sec, pos.time_ms, pos.lsn);
	f->marked_sec = sec;
	memcpy(f->rec + AOF_MARKS_MAX - mlen, marks, mlen);
	fcut_stat_flush(f, 1);
	rc = out->record(out, f->rec + AOF_MARKS_MAX - mlen, mlen + f->rlen, &pos);
	f->last_time = pos.time_ms;
	f->given_lsn = f->offset;
	f->last_end = f->db;
	f->records++;
	f->rlen = 0;
	if (f->rcap > FCUT_KEEP_MAX) {
		free(f->rec);
		f->rec = NULL;
		f->rcap = 0;
	}
	return rc;
}

/* One whole command at p (c parsed), its bytes consumed already. */
static int
fcut_command(struct fcut *f, const unsigned char *p, const struct aof_cmd *c, int64_t now_ms,
             struct cairn_log_out *out)
{
	long db;
	int rc;

	if (f->in_txn) {
		if ((rc = fcut_append(f, p, c->len)))
			return rc;
		f->commands++;
		if (aof_select_db(c, &db) == 0)
			f->db = db;
		else if (!aof_is(c, "EXEC", 1))
			fcut_count(f);
		if (!aof_is(c, "EXEC", 1))
			return 0;
		f->in_txn = 0;
		return fcut_push(f, now_ms, out);
	}
	if (aof_select_db(c, &db) == 0) {
		f->db = db; /* the next record carries it */
		return 0;
	}
	if (aof_is(c, "PING", 1)) {
		f->heartbeats++;
		return 0;
	}
	if (aof_is(c, "REPLCONF", 0)) {
		if (c->argc >= 2 && c->arglen[0] == 6 &&
		    strncasecmp((const char *)c->arg[0], "GETACK", 6) == 0)
			f->getack = 1;
		return 0;
	}
	f->commands++;
	if ((rc = fcut_begin(f)))
		return rc;
	if (aof_is(c, "MULTI", 1)) {
		f->in_txn = 1;
		return fcut_append(f, p, c->len);
	}
	fcut_count(f);
	if ((rc = fcut_append(f, p, c->len)))
		return rc;
	return fcut_push(f, now_ms, out);
}

long long
fcut_feed(struct fcut *f, const unsigned char *buf, size_t len, int64_t now_ms,
          struct cairn_log_out *out, uint64_t *need)
{
	struct aof_cmd c;
	size_t at = 0;
	int rc;

	*need = 0;
	while (at < len) {
		rc = aof_parse(buf + at, len - at, &c);
		if (rc == 0) {
			*need = c.need;
			break;
		}
		if (rc < 0 || c.kind != AOF_CMD) {
			snprintf(f->err, sizeof(f->err),
			         "the replication stream at offset %" PRIu64
			         " is not a command: %s",
			         f->offset + 1, rc < 0 ? c.err : "an array of no elements");
			return CAIRN_E_CORRUPT;
		}
		at += (size_t)c.len;
		f->offset += c.len;
		if ((rc = fcut_command(f, buf + at - c.len, &c, now_ms, out)) < 0)
			return rc;
	}
	return (long long)at;
}
