/*
 * verify.c - verify --deep of the redis source's objects: an RDB walked to
 * its end (nothing may follow), a dump stream parsed to its end mark.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <inttypes.h>
#include <stdlib.h>

struct rdb_in {
	struct cairn_in *in;
	int rc; /* in->read()'s failure */
};

static int
rdb_in_fill(struct rdb_walk *w)
{
	struct rdb_in *ri = w->arg;
	ssize_t n;

	n = ri->in->read(ri->in, w->buf, w->bufsize);
	if (n < 0) {
		ri->rc = (int)n;
		return (int)n;
	}
	w->pos = 0;
	w->len = (size_t)n;
	return n > 0;
}

#define RDB_VERIFY_BUF (256 * 1024)

int
redis_verify_rdb(struct redis *r, struct cairn_in *in)
{
	struct rdb_walk *w;
	struct rdb_in ri = {.in = in};
	int rc;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return CAIRN_E_NOMEM;
	w->buf = malloc(RDB_VERIFY_BUF);
	if (w->buf == NULL) {
		free(w);
		return CAIRN_E_NOMEM;
	}
	w->bufsize = RDB_VERIFY_BUF;
	w->fill = rdb_in_fill;
	w->arg = &ri;
	rdb_walk_init(w);
	rc = rdb_walk(w);
	if (rc == 0) {
		/* A stored RDB is exactly the snapshot: nothing may follow. */
		int more = w->pos < w->len;
		while (!more) {
			unsigned char extra[512];
			ssize_t n = in->read(in, extra, sizeof(extra));
			if (n < 0) {
				ri.rc = (int)n;
				rc = (int)n;
				break;
			}
			if (n == 0)
				break;
			more = 1;
		}
		if (rc == 0 && more) {
			redis_error(r,
			            "the stored RDB has bytes after its end (at byte %" PRIu64
			            "); it is damaged: take a new backup",
			            rdb_walk_offset(w));
			rc = CAIRN_E_CORRUPT;
		}
	} else if (rc != CAIRN_E_NOMEM && (ri.rc == 0 || rc != ri.rc)) {
		redis_error(r, "the stored RDB is %s: %s; take a new backup",
		            rc == CAIRN_E_UNSUPPORTED ? "not readable by this cairn" : "damaged",
		            w->err);
	}
	/* ri.rc: the core's own message (size, SHA-256, sink) stands */
	if (rc == 0)
		redis_log(r, CAIRN_LOG_INFO, "RDB version %d, %" PRIu64 " keys, CRC-64 %s",
		          w->version, w->keys,
		          w->crc_checked ? "checked" : "absent (rdbchecksum no)");
	rdb_walk_free(w);
	free(w->buf);
	free(w);
	return rc;
}

int
redis_verify_dump(struct redis *r, struct cairn_in *in)
{
	struct resp_in rd;
	struct resp_cmd c = {0};
	struct dump_count d;
	int rc;

	if ((rc = resp_in_init_cairn(&rd, in)))
		return rc;
	dump_count_init(&d);
	while ((rc = resp_next(&rd, &c, NULL)) > 0) {
		if ((rc = dump_count_add(&d, &c))) {
			redis_error(r, "dump stream, %s", d.err);
			break;
		}
		if (r->host->cancelled(r->ctx)) {
			rc = CAIRN_E_CANCELLED;
			break;
		}
	}
	if (rc == CAIRN_E_CORRUPT && rd.err[0])
		redis_error(r, "dump stream, %s", rd.err);
	if (rc == 0 && (rc = dump_count_end(&d, &rd)))
		redis_error(r, "dump stream, %s", d.err);
	if (rc == 0)
		redis_log(r, CAIRN_LOG_INFO, "dump stream: %" PRIu64 " keys, complete", d.keys);
	dump_count_free(&d);
	resp_cmd_free(&c);
	resp_in_free(&rd);
	return rc;
}
