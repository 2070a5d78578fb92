/*
 * backup.c - a backup run of the redis source: what it writes (through
 * out->write(), counted), whether it is being stopped, what it learns of
 * the server (INFO) and the stats it records.  redis.c's backup() runs
 * one of the two modes over it: backup_rdb.c or backup_dump.c.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "backup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- plumbing */

int
rb_write(struct rbackup *b, const void *buf, size_t len)
{
	int rc;
	if (len == 0)
		return 0;
	if (b->out_rc < 0)
		return b->out_rc;
	rc = b->out->write(b->out, buf, len);
	if (rc < 0) {
		/* The core or the sink set the message (or the run was
		 * stopped); ours would only hide it. */
		b->out_rc = rc;
		return rc;
	}
	b->bytes += len;
	return 0;
}

int
rb_cancelled(struct rbackup *b)
{
	if (redis_host->cancelled(b->r->ctx)) {
		b->out_rc = CAIRN_E_CANCELLED;
		return 1;
	}
	return 0;
}

int
rb_stop(void *arg)
{
	return rb_cancelled(arg);
}

int
rb_parse_version(const char *v)
{
	int maj = 0, min = 0, pat = 0;
	if (sscanf(v, "%d.%d.%d", &maj, &min, &pat) < 2)
		return 0;
	return maj * 10000 + min * 100 + pat;
}

void
rb_server_info(struct rbackup *b, redisContext *ctx)
{
	struct redis *r = b->r;
	redisReply *rep;
	char val[64];
	int rc;

	rep = redis_command(r, ctx, r->name, 1, &rc, "INFO server");
	if (rep != NULL && rep->type == REDIS_REPLY_STRING &&
	    redis_info_field(rep->str, "redis_version", val, sizeof(val)) == 0)
		b->server_version = rb_parse_version(val);
	else if (rep != NULL)
		redis_log(r, CAIRN_LOG_DEBUG, "%s: INFO server gave no version", r->name);
	freeReplyObject(rep);
	rep = redis_command(r, ctx, r->name, 1, &rc, "INFO memory");
	if (rep != NULL && rep->type == REDIS_REPLY_STRING &&
	    redis_info_field(rep->str, "used_memory", val, sizeof(val)) == 0)
		b->used_memory = strtoll(val, NULL, 10);
	freeReplyObject(rep);
}

void
rb_stats(struct rbackup *b)
{
	cairn_ctx *ctx = b->r->ctx;
	char key[48];
	redis_host->stat(ctx, "keys", (int64_t)b->keys);
	for (size_t d = 0; d < b->ndb; d++) {
		if (b->db_keys[d] == 0)
			continue;
		snprintf(key, sizeof(key), "keys.db%zu", d);
		redis_host->stat(ctx, key, (int64_t)b->db_keys[d]);
	}
	redis_host->stat(ctx, "expires", (int64_t)b->expires);
	if (b->server_version > 0)
		redis_host->stat(ctx, "redis_version", b->server_version);
	if (b->used_memory >= 0)
		redis_host->stat(ctx, "used_memory", b->used_memory);
	redis_host->stat(ctx, "bytes", (int64_t)b->bytes);
}
