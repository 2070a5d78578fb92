/*
 * restore.c - a `mongodump --archive` stream back into a deployment.
 *
 * The core checks the whole stored object (size, SHA-256) before it calls
 * restore(), and restore reads it a second time.  Before anything is
 * written, every target is planned and checked (plan.c): a non-empty one
 * is refused (CAIRN_E_EXISTS) unless --force or drop = yes.  Then each
 * namespace is loaded under a temporary name in its target database
 * (load.c, stage.c).  Only when every namespace is loaded does stage.c
 * rename them into place and create the views; a failure or a signal
 * before that drops the temporary collections.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

int
mongo_restore(void *instance, struct cairn_in *in, unsigned flags)
{
	struct mongo_inst *mi = instance;
	struct rs rs;
	int rc = rs_open(&rs, mi, in);

	rs.force = (flags & CAIRN_RESTORE_FORCE) != 0;
	if (rc == 0 && (rc = rs_plan(&rs)) == 0 && (rs.client = mongo_connect(mi, 1, &rc)) &&
	    (rc = stage_sweep(&rs)) == 0 && (rc = rs_check_targets(&rs)) == 0 &&
	    (rc = rs_random_hex(&rs, rs.run, sizeof(rs.run))) == 0 && (rc = stage_plan(&rs)) == 0) {
		rs_limits(&rs);
		rc = rs_walk(&rs);
		/* every collection is loaded and checked: put them in place */
		if (rc == 0 && mongo_host->cancelled(mi->ctx))
			rc = CAIRN_E_CANCELLED;
		if (rc == 0)
			rc = stage_commit(&rs);
		if (rc < 0)
			stage_abort(&rs, rc);
		/* mongorestore --oplogReplay: the dump made consistent */
		else if (rs.want_oplog)
			rc = rs_oplog_apply(&rs);
	}
	if (rc == 0)
		mongo_log(mi, CAIRN_LOG_INFO, "restored %lld collections, %lld documents to %s",
		          (long long)rs.collections, (long long)rs.docs, mi->server);
	rs_free(&rs);
	return rc;
}
