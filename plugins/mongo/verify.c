/*
 * verify.c - verify --deep: the whole archive read, every document's
 * BSON and every namespace's CRC checked, and its metadata parsed, with
 * no server.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

static int
rs_cb_verify_eof(void *u, struct arc_ns *ns)
{
	struct rs *rs = u;
	bson_t *meta;
	int rc = rs_metadata(rs, ns, &meta);
	if (rc == 0)
		bson_destroy(meta);
	mongo_log(rs->mi, CAIRN_LOG_DEBUG, "%s.%s: %lld documents, CRC good", ns->db, ns->coll,
	          (long long)ns->docs);
	return rc;
}

int
mongo_verify(void *instance, struct cairn_in *in)
{
	struct mongo_inst *mi = instance;
	struct rs rs;
	int rc = rs_open(&rs, mi, in);
	if (rc == 0) {
		struct arc_walk cb = {.eof = rs_cb_verify_eof, .u = &rs, .ctx = mi->ctx};
		rc = arc_walk(&rs.rd, &rs.pre, &cb, 1);
	}
	rs_free(&rs);
	return rc;
}
