/*
 * follow.c - `cairn follow` for the redis source: cairn connects as a
 * replica does (REPLCONF listening-port 0, capa eof, capa psync2), asks
 * for the stream after the position it was given (PSYNC REPLID OFFSET+1)
 * and keeps the link open, acknowledging the offset every second
 * (REPLCONF ACK, so the master keeps it past repl-timeout) and whenever
 * it asks (REPLCONF GETACK).  follow_cut.c cuts the stream into records.
 *
 *  - +CONTINUE: the master's backlog still holds what follows: stream.
 *  - +FULLRESYNC when a position was given: it does not (backlog overrun,
 *    a restart, a failover to a new history).  On a core with base_begin
 *    (ABI 1.5) the RDB that follows on this link is the new base
 *    (follow_base.c), and the stream after it is followed; on an older
 *    one CAIRN_E_LOGLOST, and the core records the gap and takes a new
 *    base over a connection of its own.
 *  - Without a position: PSYNC ? -1, the snapshot read past, then the
 *    stream from the offset +FULLRESYNC named.
 *  - The link lost, or silent for `timeout`: CAIRN_E_RETRYABLE.
 *
 * Memory: one read buffer that holds at least one command (a larger one
 * grows it for as long as it takes), and the record being gathered.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "follow.h"
#include "follow_cut.h"
#include "repl.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOLLOW_BUF (256u * 1024) /* the read buffer, as a rule */
#define FOLLOW_SLICE_MS 200      /* between looks at the clock */
#define FOLLOW_ACK_MS 1000       /* REPLCONF ACK and idle() this often */

struct follow {
	struct redis *r;
	struct rconn c;
	struct fcut cut;
	struct cairn_log_out *out;
	int64_t last_data, last_ack;
	int core; /* the code to return is the core's (follow_rdb_base) */
};

static int
follow_stop(void *arg)
{
	struct redis *r = arg;
	return redis_host->cancelled(r->ctx);
}

/* A refusal of REPLCONF or PSYNC: which permission is missing, in words. */
static int
follow_refused(struct redis *r, const char *cmd, const char *err)
{
	if (strncmp(err, "NOAUTH", 6) == 0 || strncmp(err, "WRONGPASS", 9) == 0) {
		redis_error(
		        r,
		        "%s refuses %s (%s): set password (or password_file, password_env), and username for an ACL user",
		        r->name, cmd, err);
		return CAIRN_E_AUTH;
	}
	if (strncmp(err, "NOPERM", 6) == 0) {
		redis_error(
		        r,
		        "%s refuses %s (%s): the user lacks the +%s permission; cairn follow needs +psync +replconf (ACL SETUSER USER +psync +replconf)",
		        r->name, cmd, err, strcmp(cmd, "PSYNC") == 0 ? "psync" : "replconf");
		return CAIRN_E_AUTH;
	}
	if (strncmp(err, "NOMASTERLINK", 12) == 0 || strncmp(err, "MASTERDOWN", 10) == 0 ||
	    strncmp(err, "LOADING", 7) == 0) {
		redis_error(
		        r,
		        "%s refuses %s (%s): it has no current data to give yet; following again after a pause",
		        r->name, cmd, err);
		return CAIRN_E_RETRYABLE;
	}
	redis_error(
	        r,
	        "%s refuses %s (%s); cairn follow needs a server that answers PSYNC (Redis 2.8 or later, the command not renamed)",
	        r->name, cmd, err);
	return CAIRN_E_UNSUPPORTED;
}

/* REPLCONF listening-port 0 (no port to connect back to: cairn is not a
 * replica Sentinel could use), capa eof, capa psync2. */
static int
follow_replconf(struct redis *r, redisContext *ctx)
{
	for (int i = 0; i < 2; i++) {
		int rc;
		redisReply *rep =
		        i == 0 ? redis_command(r, ctx, r->name, 1, &rc, "REPLCONF listening-port 0")
		               : redis_command(r, ctx, r->name, 1, &rc,
		                               "REPLCONF capa eof capa psync2");
		if (rep == NULL)
			return rc == CAIRN_E_IO ? CAIRN_E_RETRYABLE : rc;
		if (rep->type == REDIS_REPLY_ERROR) {
			rc = follow_refused(r, "REPLCONF", rep->str);
			freeReplyObject(rep);
			return rc;
		}
		freeReplyObject(rep);
	}
	return 0;
}

static int
follow_send_ack(struct follow *f)
{
	char buf[96];
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, f->cut.offset);
	int len = snprintf(buf, sizeof(buf), "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$%d\r\n%s\r\n",
	                   n, num);
	int rc = rconn_write_all(&f->c, buf, (size_t)len);
	f->last_ack = redis_now_ms();
	return rc == CAIRN_E_IO ? CAIRN_E_RETRYABLE : rc;
}

/* Read past the snapshot a full resync sends (nobody asked for it: there
 * was no position to go on from).  The diskless form ends with its mark
 * at the end of what was sent: the master sends the stream only once
 * we ACK. */
static int
follow_skip_rdb(struct follow *f)
{
	struct repl_header h = {0};
	unsigned char tail[REPL_MARK_LEN];
	size_t have = 0;
	char line[128];
	int rc;

	if ((rc = rconn_line(&f->c, line, sizeof(line), 1, "waiting for the snapshot")) < 0)
		return rc;
	if (strncmp(line, "$EOF:", 5) == 0 && strlen(line + 5) == REPL_MARK_LEN) {
		h.eof_mode = 1;
		memcpy(h.mark, line + 5, REPL_MARK_LEN);
	} else if (line[0] == '$' && line[1] >= '0' && line[1] <= '9') {
		h.total = strtoull(line + 1, NULL, 10);
	} else {
		redis_error(
		        f->r,
		        "%s answered PSYNC with '%.40s', not a snapshot; is this a Redis server?",
		        f->r->name, line);
		return CAIRN_E_IO;
	}
	for (;;) {
		size_t n = f->c.len - f->c.pos;
		if (!h.eof_mode) {
			if (n > h.total)
				n = (size_t)h.total;
			f->c.pos += n;
			if ((h.total -= n) == 0)
				return 0;
		} else {
			/* keep the last REPL_MARK_LEN bytes seen */
			const unsigned char *p = f->c.buf + f->c.pos;
			if (n >= REPL_MARK_LEN) {
				memcpy(tail, p + n - REPL_MARK_LEN, REPL_MARK_LEN);
				have = REPL_MARK_LEN;
			} else {
				size_t keep = have + n > REPL_MARK_LEN ? REPL_MARK_LEN - n : have;
				memmove(tail, tail + have - keep, keep);
				memcpy(tail + keep, p, n);
				have = keep + n;
			}
			f->c.pos += n;
			if (have == REPL_MARK_LEN && memcmp(tail, h.mark, REPL_MARK_LEN) == 0)
				return 0;
		}
		if ((rc = rconn_fill(&f->c, "receiving the snapshot")) < 0)
			return rc;
	}
}

/* PSYNC and its answer: 0 with the cutter set to go on, or a code. */
static int
follow_psync(struct follow *f, const struct cairn_log_pos *from)
{
	struct redis *r = f->r;
	char replid[REPL_ID_LEN + 1] = "?", line[256], cmd[128];
	uint64_t offset = 0, full_off;
	long db = -1;
	int rc;

	if (from && aof_pos_parse(from->text, replid, &offset, &db) != 0) {
		redis_error(
		        r,
		        "%s: the log position '%s' is not a replication position (REPLID:OFFSET); following from a new full backup",
		        r->name, from->text);
		return CAIRN_E_LOGLOST;
	}
	if (from)
		snprintf(cmd, sizeof(cmd), "PSYNC %s %" PRIu64 "\r\n", replid, offset + 1);
	else
		snprintf(cmd, sizeof(cmd), "PSYNC ? -1\r\n");
	if ((rc = rconn_write_all(&f->c, cmd, strlen(cmd))) < 0)
		return rc;
	if ((rc = rconn_line(&f->c, line, sizeof(line), 1, "waiting for PSYNC's answer")) < 0)
		return rc;
	if (line[0] == '-')
		return follow_refused(r, "PSYNC", line + 1);
	if (strncmp(line, "+CONTINUE", 9) == 0 && from) {
		const char *id = line + 9;
		if (*id == ' ' && strlen(id + 1) == REPL_ID_LEN)
			memcpy(replid, id + 1, REPL_ID_LEN + 1); /* a new history (failover) */
		fcut_init(&f->cut, replid, offset, db);
		redis_log(r, CAIRN_LOG_INFO, "%s: following on from %s (+CONTINUE)", r->name,
		          from->text);
		return 0;
	}
	if (repl_parse_fullresync(line, replid, &full_off) != 0) {
		redis_error(r, "%s answered PSYNC with '%.60s'; is this a Redis server?", r->name,
		            line);
		return CAIRN_E_IO;
	}
	if (from && !follow_can_base(f->out)) {
		redis_error(
		        r,
		        "%s no longer holds the replication stream after %s (its backlog was overrun, or it restarted or failed over: it offers a full resync at %s:%" PRIu64
		        "); raise repl-backlog-size to ride out longer pauses",
		        r->name, from->text, replid, full_off);
		return CAIRN_E_LOGLOST;
	}
	if (from) {
		redis_log(
		        r, CAIRN_LOG_WARN,
		        "%s no longer holds the replication stream after %s (its backlog was overrun, or it restarted or failed over): it sends a full resync at %s:%" PRIu64
		        " instead, which becomes a new full backup; raise repl-backlog-size to ride out longer pauses",
		        r->name, from->text, replid, full_off);
		if ((rc = follow_rdb_base(r, &f->c, f->out, replid, full_off, &f->core)) < 0)
			return rc;
		fcut_init(&f->cut, replid, full_off, -1);
		return 0;
	}
	if ((rc = follow_skip_rdb(f)) < 0)
		return rc;
	fcut_init(&f->cut, replid, full_off, -1);
	redis_log(r, CAIRN_LOG_INFO,
	          "%s: following from %s:%" PRIu64 " (a full resync, its snapshot skipped)",
	          r->name, replid, full_off);
	return 0;
}

/* A record's counts (follow_cut.h) for its log segment's manifest. */
static void
follow_stat(void *ud, const char *key, int64_t value)
{
	struct redis *r = ud;
	redis_host->stat(r->ctx, key, value);
}

/* Hand what is buffered to the cutter; keep the rest, grow for a long
 * command, shrink back after one. */
static int
follow_consume(struct follow *f)
{
	struct rconn *c = &f->c;
	uint64_t need = 0;
	long long k;

	/* set anew each time (fcut_init clears it); a core before ABI 1.5
	 * takes host->stat in follow() as the set's */
	if (redis_host->abi_major == 1 && redis_host->abi_minor >= 5) {
		f->cut.stat = follow_stat;
		f->cut.stat_ud = f->r;
	}
	k = fcut_feed(&f->cut, c->buf + c->pos, c->len - c->pos, redis_now_ms(), f->out, &need);

	if (k < 0) {
		if (k == CAIRN_E_CORRUPT || k == CAIRN_E_UNSUPPORTED)
			redis_error(f->r, "%s: %s", f->r->name, f->cut.err);
		return (int)k;
	}
	c->pos += (size_t)k;
	memmove(c->buf, c->buf + c->pos, c->len - c->pos);
	c->len -= c->pos;
	c->pos = 0;
	if (need > c->cap || (c->cap > FOLLOW_BUF && c->len < FOLLOW_BUF && need < FOLLOW_BUF)) {
		size_t cap = need > FOLLOW_BUF ? (size_t)need : FOLLOW_BUF;
		unsigned char *b = realloc(c->buf, cap < c->len ? c->len : cap);
		if (!b)
			return CAIRN_E_NOMEM;
		c->buf = b;
		c->cap = cap < c->len ? c->len : cap;
	}
	if (f->cut.getack) {
		f->cut.getack = 0;
		return follow_send_ack(f);
	}
	return 0;
}

/* One look at the socket: read what is there and cut it. */
static int
follow_read(struct follow *f)
{
	struct pollfd p = {.fd = f->c.fd, .events = POLLIN};
	ssize_t n;
	int k = poll(&p, 1, FOLLOW_SLICE_MS);

	if (k < 0)
		return errno == EINTR ? 0 : CAIRN_E_RETRYABLE;
	if (k == 0)
		return 0;
	n = read(f->c.fd, f->c.buf + f->c.len, f->c.cap - f->c.len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n < 0) {
		redis_error(f->r,
		            "%s: the replication link failed: %s; following again after a pause",
		            f->r->name, strerror(errno));
		return CAIRN_E_RETRYABLE;
	}
	if (n == 0) {
		redis_error(f->r,
		            "%s closed the replication link at offset %" PRIu64
		            "; following again after a pause",
		            f->r->name, f->cut.offset);
		return CAIRN_E_RETRYABLE;
	}
	f->c.len += (size_t)n;
	f->last_data = redis_now_ms();
	return follow_consume(f);
}

static int
follow_stream(struct follow *f)
{
	struct redis *r = f->r;
	int rc;

	f->last_data = redis_now_ms();
	if ((rc = follow_send_ack(f)))
		return rc;
	for (;;) {
		int64_t now;
		if ((rc = follow_read(f)))
			return rc;
		now = redis_now_ms();
		if (now - f->last_ack >= FOLLOW_ACK_MS) {
			struct cairn_log_pos pos;
			if ((rc = follow_send_ack(f)))
				return rc;
			rc = f->out->idle(f->out, fcut_pos(&f->cut, &pos, now) ? &pos : NULL);
			if (rc)
				return rc;
		}
		if (now - f->last_data > r->timeout_ms) {
			redis_error(
			        r,
			        "%s sent nothing for %d s, not even its heartbeat; following again after a pause (raise timeout = if repl-ping-replica-period is longer)",
			        r->name, r->timeout_ms / 1000);
			return CAIRN_E_RETRYABLE;
		}
	}
}

int
redis_follow(void *inst, const struct cairn_log_pos *from, struct cairn_log_out *out)
{
	struct redis *r = inst;
	struct follow f = {.r = r, .out = out};
	redisContext *ctx = NULL;
	int rc;

	if (r->mode != REDIS_MODE_RDB) {
		redis_error(
		        r,
		        "%s: cairn follow needs mode = rdb: a dump (mode = dump) is not consistent at one replication offset, so no log can go on from it",
		        r->name);
		return CAIRN_E_CONFIG;
	}
	if ((rc = redis_connect(r, &ctx)) < 0)
		return rc == CAIRN_E_IO ? CAIRN_E_RETRYABLE : rc;
	if ((rc = follow_replconf(r, ctx)) < 0)
		goto out;
	f.c = (struct rconn){.r = r, .fd = ctx->fd, .stop = follow_stop, .stop_arg = r};
	if (!(f.c.buf = malloc(FOLLOW_BUF))) {
		rc = CAIRN_E_NOMEM;
		goto out;
	}
	f.c.cap = FOLLOW_BUF;
	if ((rc = follow_psync(&f, from)) == 0)
		rc = follow_stream(&f);
	if (rc == CAIRN_E_IO && !f.core)
		rc = CAIRN_E_RETRYABLE; /* the link, not the data */
	redis_log(r, CAIRN_LOG_DEBUG,
	          "%s: %" PRIu64 " records, %" PRIu64 " commands, %" PRIu64 " heartbeats", r->name,
	          f.cut.records, f.cut.commands, f.cut.heartbeats);
out:
	fcut_free(&f.cut);
	free(f.c.buf);
	redisFree(ctx);
	return rc;
}
