/*
 * copy.c - every key of a scratch server copied into a target: PEXPIRETIME
 * and DUMP pipelined to the scratch server, each DUMP reply read off its
 * socket straight into a RESTORE ... REPLACE to the target, never whole.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COPY_SCAN_COUNT 1000 /* keys per SCAN of the scratch server */

/* A socket read for the DUMP replies of the scratch server. */
struct fd_src {
	struct redis *r;
	int fd;
};

static ssize_t
fd_read(void *arg, void *buf, size_t len)
{
	struct fd_src *f = arg;
	for (;;) {
		ssize_t n = read(f->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		redis_error(f->r, "%s: the %s: %s", f->r->name, SCRATCH_NAME,
		            errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within the timeout"
		                                                    : strerror(errno));
		return CAIRN_E_IO;
	}
}

static int
scratch_reply_line(struct redis *r, struct resp_in *rd, char *line, size_t size)
{
	int rc = resp_line(rd, line, size);
	if (rc == 0) {
		redis_error(r, "%s: the %s closed the connection", r->name, SCRATCH_NAME);
		return CAIRN_E_IO;
	}
	if (rc == CAIRN_E_CORRUPT) {
		redis_error(r, "%s: the %s sent something unexpected: %s", r->name, SCRATCH_NAME,
		            rd->err);
		return CAIRN_E_IO;
	}
	return rc < 0 ? rc : 0;
}

/* Copy one SCAN batch of db: PEXPIRETIME and DUMP of each key pipelined to
 * the scratch server, each DUMP reply streamed into a RESTORE to the target.
 * The expiry is absolute (ABSTTL) where the target knows it (Redis 5+): a
 * relative TTL would drift by the time the keys before it take to copy. */
static int
copy_batch(struct redis *r, struct scratch *s, struct resp_in *rd, struct target *t,
           redisReply *keys, uint64_t *vanished)
{
	char line[64];
	int rc, done = 0;

	for (size_t i = 0; i < keys->elements; i++) {
		redisReply *k = keys->element[i];
		if (k->type != REDIS_REPLY_STRING)
			continue;
		if (redisAppendCommand(s->c, "PEXPIRETIME %b", k->str, k->len) != REDIS_OK ||
		    redisAppendCommand(s->c, "DUMP %b", k->str, k->len) != REDIS_OK)
			return CAIRN_E_NOMEM;
	}
	while (!done)
		if (redisBufferWrite(s->c, &done) != REDIS_OK) {
			redis_error(r, "%s: the %s: %s", r->name, SCRATCH_NAME, s->c->errstr);
			return CAIRN_E_IO;
		}

	/* Read every reply even after a failure: the scratch link stays in
	 * step (it is stopped next anyway, but the count stays right). */
	for (size_t i = 0; i < keys->elements; i++) {
		redisReply *k = keys->element[i];
		int64_t ttl;
		uint64_t len;
		if (k->type != REDIS_REPLY_STRING)
			continue;
		if ((rc = scratch_reply_line(r, rd, line, sizeof(line))))
			return rc;
		if (line[0] != ':' || resp_parse_i64(line + 1, &ttl)) {
			redis_error(r, "%s: the %s answered PEXPIRETIME with \"%.40s\"", r->name,
			            SCRATCH_NAME, line);
			return CAIRN_E_IO;
		}
		if ((rc = scratch_reply_line(r, rd, line, sizeof(line))))
			return rc;
		if (!strcmp(line, "$-1")) {
			(*vanished)++; /* expired between SCAN and DUMP */
			continue;
		}
		if (line[0] != '$' || resp_parse_u64(line + 1, RESP_MAX_BULK, &len)) {
			redis_error(r, "%s: the %s answered DUMP with \"%.40s\"", r->name,
			            SCRATCH_NAME, line);
			return CAIRN_E_IO;
		}
		if (ttl == -2) {
			/* gone after PEXPIRETIME said so: DUMP cannot find it either */
			(*vanished)++;
			if ((rc = resp_take(rd, len + 2, NULL, NULL, NULL, 0)))
				return rc;
			continue;
		}
		if (ttl < 0) {
			ttl = 0; /* none */
		} else if (!t->absttl) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			ttl -= (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
			if (ttl < 1)
				ttl = 1; /* expiring now; 0 would mean never */
		}

		/* RESTORE key ttl payload REPLACE [ABSTTL], the payload streamed */
		char ttls[24], head[96];
		int n, abs = t->absttl && ttl > 0;
		struct resp_cmd c = {0};
		snprintf(ttls, sizeof(ttls), "%" PRId64, ttl);
		n = snprintf(head, sizeof(head), "*%d\r\n$7\r\nRESTORE\r\n$%zu\r\n", abs ? 6 : 5,
		             k->len);
		if ((rc = target_out(t, head, (size_t)n)) || (rc = target_out(t, k->str, k->len)))
			return rc;
		n = snprintf(head, sizeof(head), "\r\n$%zu\r\n%s\r\n$%" PRIu64 "\r\n", strlen(ttls),
		             ttls, len);
		if ((rc = target_out(t, head, (size_t)n)))
			return rc;
		if ((rc = resp_take(rd, len, target_out, t, NULL, 0)))
			return rc;
		if ((rc = resp_take(rd, 2, NULL, NULL, NULL, 0)))
			return rc;
		if ((rc = target_out(t, "\r\n$7\r\nREPLACE\r\n", 15)))
			return rc;
		if (abs && (rc = target_out(t, "$6\r\nABSTTL\r\n", 12)))
			return rc;
		c.keylen = k->len;
		c.keykept = k->len < RESP_KEY_HEAD ? k->len : RESP_KEY_HEAD;
		memcpy(c.key, k->str, c.keykept);
		if ((rc = target_sent(t, SENT_RESTORE, &c)))
			return rc;
	}
	if (resp_in_pending(rd)) {
		redis_error(r, "%s: the %s sent more than was asked for", r->name, SCRATCH_NAME);
		return CAIRN_E_IO;
	}
	return 0;
}

/* Copy every key of every database of the scratch server to t. */
int
copy_scratch(struct redis *r, struct scratch *s, struct target *t, int force,
             const uint64_t *db_keys, size_t ndb, uint64_t *vanished)
{
	struct fd_src src = {r, s->c->fd};
	struct resp_in rd;
	int rc;

	if ((rc = resp_in_init(&rd, fd_read, &src)))
		return rc;
	for (size_t db = 0; db < ndb && !rc; db++) {
		char dbs[24], cursor[32] = "0";
		redisReply *rep;
		if (!db_keys[db])
			continue;
		snprintf(dbs, sizeof(dbs), "%zu", db);
		t->cur_db = (long)db;
		if ((rc = target_cmd(t, "SELECT", dbs)) ||
		    (rc = target_sent(t, SENT_SELECT, NULL)) ||
		    (rc = target_enter(t, (long)db, force)))
			break;
		rep = redis_command(r, s->c, SCRATCH_NAME, 0, &rc, "SELECT %s", dbs);
		if (!rep)
			break;
		freeReplyObject(rep);
		do {
			if (r->host->cancelled(r->ctx)) {
				rc = CAIRN_E_CANCELLED;
				break;
			}
			rep = redis_command(r, s->c, SCRATCH_NAME, 0, &rc, "SCAN %s COUNT %d",
			                    cursor, COPY_SCAN_COUNT);
			if (!rep)
				break;
			if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
			    rep->element[0]->type != REDIS_REPLY_STRING ||
			    rep->element[0]->len >= sizeof(cursor) ||
			    rep->element[1]->type != REDIS_REPLY_ARRAY) {
				redis_error(r, "%s: the %s answered SCAN oddly", r->name,
				            SCRATCH_NAME);
				freeReplyObject(rep);
				rc = CAIRN_E_IO;
				break;
			}
			memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
			rc = copy_batch(r, s, &rd, t, rep->element[1], vanished);
			freeReplyObject(rep);
		} while (!rc && strcmp(cursor, "0"));
	}
	if (!rc)
		rc = target_send(t);
	if (!rc)
		rc = target_drain(t);
	resp_in_free(&rd);
	return rc;
}
