/*
 * backup_rdb.c - mode = rdb: the server's snapshot over the replication
 * link (repl.c), streamed straight into out->write().  The bytes pass
 * through rdb.c's walker on their way, which finds where the RDB ends (the
 * diskless $EOF:<mark> form has no length), counts keys per database and
 * checks the CRC-64, so a snapshot cut short or garbled never becomes a
 * backup.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "backup.h"
#include "rdb.h"
#include "repl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rb_sync {
	struct rbackup *b;
	struct rconn *c;
	int eof_mode;       /* $EOF:<mark> rather than $<length> */
	uint64_t remaining; /* $<length>: bytes still to come */
	uint64_t total;     /* $<length> */
	size_t left_off;    /* bytes already read past the header line */
	size_t left_len;
	/* what came after the snapshot in the same reads (the replication
	 * stream, on a follower's link): c->buf[rest_off..+rest_len) */
	size_t rest_off, rest_len;
	int rc; /* fill()'s own failure (message set) */
	char mark[REPL_MARK_LEN];
};

/* The walker has consumed buf[0..len): pass it on, then read more. */
static int
rb_sync_fill(struct rdb_walk *w)
{
	struct rb_sync *s = w->arg;
	struct rbackup *b = s->b;
	ssize_t n;
	size_t max = w->bufsize;
	int rc;

	if ((rc = rb_write(b, w->buf, w->len)) < 0)
		return s->rc = rc;
	w->pos = w->len = 0;
	if (rb_cancelled(b))
		return s->rc = CAIRN_E_CANCELLED;
	if (s->left_len > 0) {
		size_t k = s->left_len;
		if (!s->eof_mode && k > s->remaining) {
			k = (size_t)s->remaining; /* the rest is not the RDB's */
			s->rest_off = s->left_off + k;
			s->rest_len = s->left_len - k;
		}
		memmove(w->buf, w->buf + s->left_off, k);
		s->left_off = s->left_len = 0;
		if (!s->eof_mode)
			s->remaining -= k;
		w->len = k;
		if (k > 0)
			return 1;
	}
	if (!s->eof_mode) {
		if (s->remaining == 0)
			return 0;
		if (max > s->remaining)
			max = (size_t)s->remaining;
	}
	n = rconn_read_some(s->c, w->buf, max, "receiving the snapshot");
	if (n < 0)
		return s->rc = (int)n;
	if (!s->eof_mode)
		s->remaining -= (uint64_t)n;
	w->len = (size_t)n;
	return 1;
}

/* A newer Redis: the walker does not know a type, but the length still
 * says where the snapshot ends, so it is kept whole, only its keys go
 * uncounted. */
static int
rb_rdb_uncounted(struct rbackup *b, struct rdb_walk *w)
{
	int rc;

	redis_log(b->r, CAIRN_LOG_WARN,
	          "%s: the snapshot %s; it is stored whole, its keys not counted", b->r->name,
	          w->err);
	w->keys = w->expires = 0;
	w->ndb = 0;
	w->pos = w->len;
	while ((rc = rb_sync_fill(w)) == 1)
		w->pos = w->len;
	return rc;
}

/* The RDB ended: what follows must be the diskless form's mark, or, with
 * a length, nothing.  The RDB's last bytes go out. */
static int
rb_rdb_end(struct rb_sync *s, struct rdb_walk *w)
{
	struct rbackup *b = s->b;
	struct redis *r = b->r;
	int rc;

	if (s->eof_mode) {
		unsigned char tail[REPL_MARK_LEN];
		size_t have = w->len - w->pos;
		if (have > REPL_MARK_LEN)
			have = REPL_MARK_LEN;
		memcpy(tail, w->buf + w->pos, have);
		if (w->len - w->pos > REPL_MARK_LEN) { /* the stream, already */
			s->rest_off = w->pos + REPL_MARK_LEN;
			s->rest_len = w->len - s->rest_off;
		}
		/* buf[0..pos) is the last of the RDB; keep it before reading */
		if ((rc = rb_write(b, w->buf, w->pos)) < 0)
			return rc;
		w->pos = w->len = 0;
		while (have < REPL_MARK_LEN) {
			ssize_t n = rconn_read_some(s->c, tail + have, REPL_MARK_LEN - have,
			                            "receiving the snapshot's end");
			if (n < 0)
				return (int)n;
			have += (size_t)n;
		}
		if (memcmp(tail, s->mark, REPL_MARK_LEN) != 0) {
			redis_error(
			        r,
			        "%s: the diskless snapshot does not end with its mark; the RDB inside is damaged or longer than it says",
			        r->name);
			return CAIRN_E_IO;
		}
		return 0;
	}
	if (w->pos != w->len || s->remaining != 0 || s->left_len != 0) {
		redis_error(r,
		            "%s: the snapshot's RDB ends after %" PRIu64 " of %" PRIu64
		            " bytes; the server sent something else",
		            r->name, rdb_walk_offset(w), s->total);
		return CAIRN_E_IO;
	}
	return rb_write(b, w->buf, w->pos);
}

/* What the walk found becomes the run's counts. */
static void
rb_rdb_counts(struct rbackup *b, struct rdb_walk *w)
{
	struct redis *r = b->r;

	redis_host->stat(r->ctx, "rdb_version", w->version);
	if (b->server_version == 0 && w->redis_ver[0] != '\0')
		b->server_version = rb_parse_version(w->redis_ver);
	if (b->used_memory < 0)
		b->used_memory = w->used_mem;
	b->keys = w->keys;
	b->expires = w->expires;
	b->db_keys = w->db_keys;
	b->ndb = w->ndb;
	w->db_keys = NULL;
	if (!w->crc_checked && w->version >= 5)
		redis_log(r, CAIRN_LOG_INFO, "%s: the snapshot has no CRC-64 (rdbchecksum no)",
		          r->name);
}

/* Walk the snapshot as it arrives, writing it out; then its end. */
static int
rb_rdb_walk(struct rb_sync *s, struct rdb_walk *w)
{
	struct rbackup *b = s->b;
	struct redis *r = b->r;
	int rc;

	w->buf = s->c->buf;
	w->bufsize = s->c->cap;
	w->fill = rb_sync_fill;
	w->arg = s;
	rdb_walk_init(w);
	rc = rdb_walk(w);
	if (rc == CAIRN_E_UNSUPPORTED && !s->eof_mode && s->rc == 0)
		return rb_rdb_uncounted(b, w);
	if (rc < 0) {
		if (s->rc != 0 || b->out_rc != 0 || rc == CAIRN_E_NOMEM)
			; /* the message is set already */
		else if (rc == CAIRN_E_UNSUPPORTED)
			redis_error(r, "%s sent a diskless snapshot this cairn cannot read (%s)",
			            r->name, w->err);
		else
			redis_error(r, "%s sent a damaged or cut snapshot: %s", r->name, w->err);
		return rc;
	}
	return rb_rdb_end(s, w);
}

/* The snapshot stands at the replication offset +FULLRESYNC named: the
 * log position `cairn follow` goes on from (both START and END: the RDB
 * alone is consistent there).  Text "REPLID:OFFSET"; time when the
 * server answered (it forks for the snapshot then).  After SYNC (PSYNC
 * refused or renamed) there is none. */
static void
rb_log_position(struct redis *r, const struct repl_header *h, int64_t when_ms)
{
	struct cairn_log_pos pos = {0};

	if (!h->have_pos) {
		redis_log(
		        r, CAIRN_LOG_INFO,
		        "%s: the snapshot came through SYNC, which names no replication offset; cairn follow cannot go on from this backup (allow the user +psync)",
		        r->name);
		return;
	}
	if (!CAIRN_HOST_HAS(redis_host, log_position) || redis_host->log_position == NULL)
		return;
	pos.lsn = h->offset;
	pos.time_ms = when_ms;
	snprintf(pos.text, sizeof(pos.text), "%s:%" PRIu64, h->replid, h->offset);
	redis_host->log_position(r->ctx, CAIRN_LOG_AT_START, &pos);
	redis_host->log_position(r->ctx, CAIRN_LOG_AT_END, &pos);
}

int
rb_rdb_stream(struct rbackup *b, struct rconn *c, const struct repl_header *h)
{
	struct redis *r = b->r;
	struct rb_sync s = {.b = b, .c = c};
	struct rdb_walk *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL)
		return CAIRN_E_NOMEM;
	s.eof_mode = h->eof_mode;
	s.remaining = s.total = h->total;
	memcpy(s.mark, h->mark, sizeof(s.mark));
	s.left_off = c->pos;
	s.left_len = c->len - c->pos;
	if (!s.eof_mode && CAIRN_HOST_HAS(redis_host, progress_total) &&
	    redis_host->progress_total != NULL)
		redis_host->progress_total(r->ctx, s.total);
	redis_log(r, CAIRN_LOG_DEBUG, "%s: snapshot of %s", r->name,
	          s.eof_mode ? "unknown size (diskless)" : "known size");
	rc = rb_rdb_walk(&s, w);
	if (rc == 0) {
		rb_rdb_counts(b, w);
		c->pos = s.rest_off; /* the walk read into c->buf */
		c->len = s.rest_off + s.rest_len;
	}
	rdb_walk_free(w);
	free(w);
	if (rc < 0 && b->out_rc < 0)
		rc = b->out_rc;
	return rc;
}

int
backup_rdb(struct rbackup *b, redisContext *ctx)
{
	struct redis *r = b->r;
	struct rconn c = {.r = r, .fd = ctx->fd, .stop = rb_stop, .stop_arg = b};
	struct repl_header h;
	int64_t when_ms = 0;
	int rc;

	if ((rc = repl_replconf(r, ctx)) < 0)
		return rc;
	if ((c.buf = malloc(RB_BUF)) == NULL)
		return CAIRN_E_NOMEM;
	c.cap = RB_BUF;
	rc = repl_sync_start(&c, &h);
	if (rc == 0) {
		when_ms = redis_now_ms();
		if ((rc = rb_rdb_stream(b, &c, &h)) == 0)
			rb_log_position(r, &h, when_ms);
	}
	free(c.buf);
	if (rc < 0 && b->out_rc < 0)
		rc = b->out_rc;
	return rc;
}
