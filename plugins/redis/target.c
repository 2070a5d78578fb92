/*
 * target.c - a server being written to (the configured one, or a scratch
 * server in a restore test): commands gathered and pipelined with at most
 * TARGET_WINDOW in flight, every reply counted, so a failed restore says
 * which key failed and how many were written (per database) before it
 * stopped.
 *
 * A non-empty target is refused without --force: any database holding
 * keys (INFO keyspace) before anything is written; when the server
 * refuses INFO, each database is checked with DBSIZE as it is entered.
 * With --force keys of the same name are replaced, and flush = yes
 * empties each database the backup writes into first.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "target.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
target_init(struct target *t, struct redis *r, redisContext *c, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->r = r;
	t->c = c;
	t->name = name;
	t->obuf = malloc(TARGET_OBUF_SIZE);
	t->ring = calloc(TARGET_WINDOW, sizeof(*t->ring));
	if (t->obuf && t->ring)
		return 0;
	/* half set up: nothing stays for the caller to free */
	target_free(t);
	return CAIRN_E_NOMEM;
}

void
target_free(struct target *t)
{
	free(t->obuf);
	free(t->ring);
	free(t->fail);
	free(t->entered);
	free(t->dbw);
	t->dbw = NULL;
	t->ndbw = 0;
	t->obuf = NULL;
	t->ring = NULL;
	t->fail = NULL;
	t->entered = NULL;
}

static void
link_broken(struct target *t)
{
	char why[200];
	const redisContext *c = t->c;

	if (t->broken)
		return;
	t->broken = 1;
	redis_link_error(c, why, sizeof(why));
	if (!t->fail) {
		if (asprintf(&t->fail, "%s: the link broke: %s", t->name, why) < 0)
			t->fail = NULL;
		t->fail_rc = c->err == REDIS_ERR_OOM ? CAIRN_E_NOMEM : CAIRN_E_IO;
	}
}

/* Hand the gathered bytes to hiredis and send everything it holds. */
int
target_send(struct target *t)
{
	int done = 0;

	if (t->broken)
		return t->fail_rc;
	if (t->olen) {
		if (redisAppendFormattedCommand(t->c, t->obuf, t->olen) != REDIS_OK) {
			link_broken(t);
			return t->fail_rc;
		}
		t->olen = 0;
	}
	while (!done)
		if (redisBufferWrite(t->c, &done) != REDIS_OK) {
			link_broken(t);
			return t->fail_rc;
		}
	return 0;
}

int
target_out(void *arg, const void *p, size_t n)
{
	struct target *t = arg;
	const char *s = p;

	while (n > 0) {
		size_t k = TARGET_OBUF_SIZE - t->olen < n ? TARGET_OBUF_SIZE - t->olen : n;
		memcpy(t->obuf + t->olen, s, k);
		t->olen += k;
		s += k;
		n -= k;
		if (t->olen == TARGET_OBUF_SIZE) {
			int rc = target_send(t);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* A small command of our own, as RESP. */
int
target_cmd(struct target *t, const char *cmd, const char *arg)
{
	char buf[96];
	int n;

	if (arg)
		n = snprintf(buf, sizeof(buf), "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(cmd),
		             cmd, strlen(arg), arg);
	else
		n = snprintf(buf, sizeof(buf), "*1\r\n$%zu\r\n%s\r\n", strlen(cmd), cmd);
	return target_out(t, buf, (size_t)n);
}

static void
describe(const struct sent *e, char *dst, size_t size)
{
	char q[RESP_KEY_HEAD * 4 + 48];

	switch (e->kind) {
	case SENT_SELECT: snprintf(dst, size, "SELECT %ld", e->db); break;
	case SENT_FLUSHDB: snprintf(dst, size, "FLUSHDB of db %ld", e->db); break;
	case SENT_RESTORE:
		resp_quote(q, sizeof(q), e->key, e->keykept, e->keylen);
		snprintf(dst, size, "RESTORE of key \"%s\" in db %ld", q, e->db);
		break;
	}
}

/* One more key written into database db (the per-database counts are
 * only for the report: without memory for them the total still holds). */
static void
target_count_db(struct target *t, long db)
{
	if (db < 0)
		return;
	if ((size_t)db >= t->ndbw) {
		size_t n = (size_t)db + 1;
		uint64_t *p = realloc(t->dbw, n * sizeof(*p));
		if (!p)
			return;
		memset(p + t->ndbw, 0, (n - t->ndbw) * sizeof(*p));
		t->dbw = p;
		t->ndbw = n;
	}
	t->dbw[db]++;
}

/* The stats of a key just written into db: the target's count of it and
 * the total, so a restore that stops leaves them exact. */
static void
target_stat(const struct target *t, long db)
{
	char key[32];

	redis_host->stat(t->r->ctx, "keys", (int64_t)t->written);
	if (db < 0 || (size_t)db >= t->ndbw)
		return;
	snprintf(key, sizeof(key), "keys.db%ld", db);
	redis_host->stat(t->r->ctx, key, (int64_t)t->dbw[db]);
}

/* v with thousands separators: 588,184. */
static const char *
fmt_count(uint64_t v, char *buf, size_t n)
{
	char digits[32];
	size_t len = (size_t)snprintf(digits, sizeof(digits), "%" PRIu64, v), o = 0;
	for (size_t i = 0; i < len && o + 2 < n; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* "db0 588,184, db3 12": what the target holds of the restore so far. */
static void
target_written_dbs(const struct target *t, char *buf, size_t n)
{
	size_t o = 0;
	char num[32];
	buf[0] = '\0';
	for (size_t db = 0; db < t->ndbw && o < n; db++) {
		if (!t->dbw[db])
			continue;
		int k = snprintf(buf + o, n - o, "%sdb%zu %s", o ? ", " : "", db,
		                 fmt_count(t->dbw[db], num, sizeof(num)));
		if (k < 0)
			break;
		o += (size_t)k;
	}
}

/* Read the oldest unanswered reply. */
static int
target_reply(struct target *t)
{
	redisReply *rep = NULL;
	struct sent *e;
	int rc;

	if ((rc = target_send(t)))
		return rc;
	if (redisGetReply(t->c, (void **)&rep) != REDIS_OK || !rep) {
		link_broken(t);
		return t->fail_rc;
	}
	e = &t->ring[t->head];
	t->head = (t->head + 1) % TARGET_WINDOW;
	t->count--;
	if (rep->type == REDIS_REPLY_ERROR) {
		if (!t->fail) {
			char what[RESP_KEY_HEAD * 4 + 96];
			describe(e, what, sizeof(what));
			if (asprintf(&t->fail, "%s: %s failed: %s", t->name, what, rep->str) < 0)
				t->fail = NULL;
			t->fail_rc =
			        (!strncmp(rep->str, "NOPERM", 6) || !strncmp(rep->str, "NOAUTH", 6))
			                ? CAIRN_E_AUTH
			                : CAIRN_E_IO;
		}
	} else if (e->kind == SENT_RESTORE) {
		t->written++;
		target_count_db(t, e->db);
		if (t->stats)
			target_stat(t, e->db);
	}
	freeReplyObject(rep);
	return 0;
}

/* Note a command just passed to target_out(); read a reply when TARGET_WINDOW
 * are in flight.  Once a command was refused nothing more is sent. */
int
target_sent(struct target *t, enum sent_kind kind, const struct resp_cmd *c)
{
	struct sent *e;
	int rc;

	if (t->count == TARGET_WINDOW && (rc = target_reply(t)))
		return rc;
	e = &t->ring[(t->head + t->count) % TARGET_WINDOW];
	t->count++;
	e->kind = kind;
	e->db = t->cur_db;
	e->keykept = 0;
	e->keylen = 0;
	if (c && kind == SENT_RESTORE) {
		memcpy(e->key, c->key, c->keykept);
		e->keykept = c->keykept;
		e->keylen = c->keylen;
	}
	if (t->fail)
		return t->fail_rc;
	return 0;
}

/* Every reply still due; the first failure stays the one reported. */
int
target_drain(struct target *t)
{
	while (t->count > 0 && !t->broken)
		target_reply(t);
	return t->fail ? t->fail_rc : 0;
}

static const char *
how_to_force(void)
{
	return "restore into an empty server, or add --force (keys of the same name are replaced; flush = yes empties each database the backup writes into)";
}

/* Before anything is written: refuse a target holding keys. */
int
target_check_empty(struct target *t, int force)
{
	struct redis *r = t->r;
	uint64_t *db_keys = NULL;
	size_t ndb = 0, nonempty = 0, first = 0;
	int rc;
	redisReply *rep;

	if (force)
		return 0;
	rep = redis_command(r, t->c, t->name, 1, &rc, "INFO keyspace");
	if (!rep)
		return rc;
	if (rep->type == REDIS_REPLY_ERROR) {
		redis_log(
		        r, CAIRN_LOG_INFO,
		        "%s: INFO refused (%s); checking each database with DBSIZE as it is entered",
		        t->name, rep->str);
		freeReplyObject(rep);
		t->check_each = 1;
		return 0;
	}
	rc = rep->type == REDIS_REPLY_STRING ? redis_keyspace_parse(rep->str, &db_keys, &ndb) : 0;
	freeReplyObject(rep);
	if (rc)
		return rc;
	for (size_t i = 0; i < ndb; i++)
		if (db_keys[i] && !nonempty++)
			first = i;
	if (nonempty) {
		redis_error(r, "%s is not empty: db%zu holds %" PRIu64 " keys%s; %s", t->name,
		            first, db_keys[first],
		            nonempty > 1 ? " (and more databases hold keys)" : "", how_to_force());
		free(db_keys);
		return CAIRN_E_EXISTS;
	}
	free(db_keys);
	return 0;
}

/* The first write into database db (just SELECTed, or 0 at the start):
 * the lazy emptiness check and flush = yes. */
int
target_enter(struct target *t, long db, int force)
{
	int rc;

	if ((size_t)db < t->nentered && t->entered[db])
		return 0;
	if ((size_t)db >= t->nentered) {
		size_t n = (size_t)db + 1;
		unsigned char *e = realloc(t->entered, n);
		if (!e)
			return CAIRN_E_NOMEM;
		memset(e + t->nentered, 0, n - t->nentered);
		t->entered = e;
		t->nentered = n;
	}
	t->entered[db] = 1;
	if (t->check_each && !force) {
		redisReply *rep;
		if ((rc = target_drain(t)))
			return rc;
		rep = redis_command(t->r, t->c, t->name, 0, &rc, "DBSIZE");
		if (!rep)
			return rc;
		if (rep->type == REDIS_REPLY_INTEGER && rep->integer > 0) {
			/* INFO was refused, so this is found only now. */
			char before[96] = "";
			if (t->written)
				snprintf(
				        before, sizeof(before),
				        " (%" PRIu64
				        " keys were written into other databases before it was checked)",
				        t->written);
			redis_error(t->r, "%s is not empty: db%ld holds %lld keys%s; %s", t->name,
			            db, rep->integer, before, how_to_force());
			freeReplyObject(rep);
			return CAIRN_E_EXISTS;
		}
		freeReplyObject(rep);
	}
	if (t->flush && force) {
		if ((rc = target_cmd(t, "FLUSHDB", NULL)))
			return rc;
		return target_sent(t, SENT_FLUSHDB, NULL);
	}
	return 0;
}

/* Does the target take RESTORE ... ABSTTL (Redis 5.0 and later)?  A
 * server that hides its version from INFO is taken to be a current one. */
void
target_probe_version(struct target *t)
{
	int rc, major = 5;
	redisReply *rep = redis_command(t->r, t->c, t->name, 1, &rc, "INFO server");
	const char *v;

	if (rep && rep->type == REDIS_REPLY_STRING && (v = strstr(rep->str, "redis_version:")))
		major = atoi(v + 14);
	if (rep)
		freeReplyObject(rep);
	t->absttl = major >= 5;
}

/* The error of a restore that stopped, with what it wrote. */
int
target_report(struct target *t, int rc, const char *what)
{
	struct redis *r = t->r;

	char dbs[512], n[32], of[64] = "";

	target_drain(t);
	target_written_dbs(t, dbs, sizeof(dbs));
	if (t->total)
		snprintf(of, sizeof(of), " of %s", fmt_count(t->total, n, sizeof(n)));
	if (rc == CAIRN_E_CANCELLED && t->written == 0 && !t->fail) {
		redis_error(r, "%s: stopped before any key was written; the target is as it was",
		            t->name);
	} else if (rc == CAIRN_E_CANCELLED && !t->fail) {
		/* a live server cannot be staged: say exactly what it holds */
		redis_error(
		        r,
		        "%s: stopped after restoring %s%s keys: %s; the target holds them (restore again with --force and flush = yes to replace them)",
		        t->name, fmt_count(t->written, n, sizeof(n)), of, dbs);
	} else if (t->fail) {
		rc = t->fail_rc ? t->fail_rc : CAIRN_E_IO;
		redis_error(
		        r,
		        "%s; %" PRIu64
		        " keys were written before the %s stopped%s%s%s (fix the cause, then restore again with --force and flush = yes)",
		        t->fail, t->written, what, dbs[0] ? ": " : "", dbs,
		        t->broken && t->count ? " (some more may have been)" : "");
	} else if (rc != CAIRN_E_EXISTS && t->written > 0) {
		/* The detail is already set by whoever failed; the count is
		 * logged beside it. */
		redis_log(r, CAIRN_LOG_ERROR,
		          "%s: %" PRIu64
		          " keys were written before the %s stopped: %s; the target holds them",
		          t->name, t->written, what, dbs);
	}
	return rc;
}
