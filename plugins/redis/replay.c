/*
 * replay.c - a dump stream (mode = dump) replayed into a target as it is read,
 * pipelined with at most TARGET_WINDOW commands in flight; payloads pass
 * through the reader's fixed buffer.  The whole-stream checks (counts per
 * database, the end mark) run on the way.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <stdlib.h>
#include <string.h>

static int
replay_begin(void *arg, const struct resp_cmd *c)
{
	struct replay *p = arg;
	int rc;

	if (p->t->r->host->cancelled(p->t->r->ctx))
		return CAIRN_E_CANCELLED;
	if (p->t->fail)
		return p->t->fail_rc;
	if (c->kind == RESP_ECHO)
		return 0; /* the end mark is for us, not the server */
	if (c->kind == RESP_RESTORE && (rc = target_enter(p->t, p->t->cur_db, p->force)))
		return rc;
	return 1;
}

static int
replay_out(void *arg, const void *buf, size_t n)
{
	struct replay *p = arg;
	return target_out(p->t, buf, n);
}

static int
note_maybe_gone(struct replay *p, long db)
{
	if ((size_t)db >= p->nmaybe) {
		size_t n = (size_t)db + 1;
		uint64_t *m = realloc(p->maybe_gone, n * sizeof(*m));
		if (!m)
			return CAIRN_E_NOMEM;
		memset(m + p->nmaybe, 0, (n - p->nmaybe) * sizeof(*m));
		p->maybe_gone = m;
		p->nmaybe = n;
	}
	p->maybe_gone[db]++;
	return 0;
}

/* Replay a whole dump stream into p->t.  The parse error, if any, is
 * set as the error here. */
int
replay_stream(struct redis *r, struct cairn_in *in, struct replay *p)
{
	struct resp_in rd;
	struct resp_cmd c = {0};
	struct resp_cb cb = {replay_begin, replay_out, p};
	int rc;

	if ((rc = resp_in_init_cairn(&rd, in)))
		return rc;
	dump_count_init(&p->count);
	for (;;) {
		rc = resp_next(&rd, &c, &cb);
		if (rc <= 0)
			break;
		if ((rc = dump_count_add(&p->count, &c))) {
			redis_error(r, "dump stream, %s; the stored object is damaged",
			            p->count.err);
			break;
		}
		if (c.kind == RESP_SELECT) {
			p->t->cur_db = c.db;
			if ((rc = target_sent(p->t, SENT_SELECT, &c)))
				break;
			if ((rc = target_enter(p->t, c.db, p->force)))
				break;
		} else if (c.kind == RESP_RESTORE) {
			if ((rc = target_sent(p->t, SENT_RESTORE, &c)))
				break;
			if (p->horizon_ms && c.absttl && c.ttl > 0 && c.ttl <= p->horizon_ms &&
			    (rc = note_maybe_gone(p, p->t->cur_db)))
				break;
		}
	}
	if (rc == CAIRN_E_CORRUPT && rd.err[0])
		redis_error(r, "dump stream, %s; the stored object is damaged", rd.err);
	if (rc == 0 && (rc = dump_count_end(&p->count, &rd)))
		redis_error(r, "dump stream, %s; the stored object is damaged", p->count.err);
	if (rc == 0)
		rc = target_send(p->t);
	if (rc == 0)
		rc = target_drain(p->t);
	resp_cmd_free(&c);
	resp_in_free(&rd);
	return rc;
}
