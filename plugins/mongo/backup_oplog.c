/*
 * backup_oplog.c - where a backup stands in the oplog, and the oplog
 * captured with it (oplog = yes), as `mongodump --oplog` does.
 *
 * On a replica-set member, the newest oplog entry when the dump starts is
 * its CAIRN_LOG_AT_START position: replaying the oplog after it makes the
 * dump consistent.  With oplog = yes the backup then, once every
 * collection is written, takes the newest entry again (the end), writes
 * every entry of the source from the start to the end (ts >= start and
 * <= end, as mongodump's query) into the archive's oplog namespace (db
 * "", collection "oplog", last, as mongodump writes it), checks that the
 * oplog still reaches back to the start (else it rolled over during the
 * dump and entries are missing: the backup fails), and records the end
 * as CAIRN_LOG_AT_END: restored with its oplog applied (mongorestore
 * --oplogReplay, or cairn's restore) the dump is consistent there.
 *
 * Unlike mongodump, which refuses --oplog with a database selection, the
 * captured entries are those of the source's databases and namespaces
 * only (oplog.c's filter), so a replay never touches what the dump does
 * not hold.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "dumparchive.h"
#include "mongo_internal.h"

static void
boplog_position(struct mongo_inst *mi, int which, uint32_t t, uint32_t i)
{
	struct cairn_log_pos pos;
	if (!CAIRN_HOST_HAS(mongo_host, log_position) || !mongo_host->log_position)
		return;
	mongo_ts_pos(t, i, &pos);
	mongo_host->log_position(mi->ctx, which, &pos);
}

int
mongo_boplog_start(struct mongo_inst *mi, mongoc_client_t *client, struct mongo_boplog *b)
{
	bson_error_t err;
	int rc;

	memset(b, 0, sizeof(*b));
	if ((rc = mongo_is_replset(mi, client, &b->replset)) < 0)
		return rc;
	if (!b->replset) {
		if (!mi->oplog)
			return 0;
		mongo_err(
		        mi,
		        "key oplog: server %s is not a replica set member (a standalone mongod has no oplog); set oplog = no, or point uri at a replica set",
		        mi->server);
		return CAIRN_E_CONFIG;
	}
	rc = mongo_oplog_edge(mi, client, 1, &b->start_t, &b->start_i, &err);
	if (rc == CAIRN_E_IO)
		mongo_err(mi, "server %s: reading the newest entry of local.oplog.rs failed: %s",
		          mi->server, err.message);
	if (rc < 0 && !mi->oplog) {
		/* the dump itself does not need it: go on without a position */
		mongo_log(mi, CAIRN_LOG_WARN,
		          "server %s: this backup records no oplog position: %s", mi->server,
		          rc == CAIRN_E_IO ? err.message : "local.oplog.rs has no entry");
		b->replset = 0;
		return 0;
	}
	if (rc < 0)
		return rc == CAIRN_E_IO ? mongo_code(&err) : rc;
	boplog_position(mi, CAIRN_LOG_AT_START, b->start_t, b->start_i);
	return 0;
}

/* The entries from start to end, the source's only, into the archive. */
static int
boplog_copy(struct mongo_inst *mi, mongoc_client_t *client, struct arc_writer *w,
            struct mongo_boplog *b)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, ts;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	int rc = 0;

	BSON_APPEND_DOCUMENT_BEGIN(&filter, "ts", &ts);
	BSON_APPEND_TIMESTAMP(&ts, "$gte", b->start_t, b->start_i);
	BSON_APPEND_TIMESTAMP(&ts, "$lte", b->end_t, b->end_i);
	bson_append_document_end(&filter, &ts);
	if (mi->batch_size > 0)
		BSON_APPEND_INT32(&opts, "batchSize", (int32_t)mi->batch_size);
	cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	while (rc >= 0 && mongoc_cursor_next(cur, &doc)) {
		bson_t part;
		rc = mongo_oplog_scope(mi, doc, &part);
		if (rc == MONGO_OPLOG_KEEP) {
			rc = arc_write_doc(w, bson_get_data(doc), doc->len);
			b->entries++;
		} else if (rc == MONGO_OPLOG_PART) {
			rc = arc_write_doc(w, bson_get_data(&part), part.len);
			bson_destroy(&part);
			b->entries++;
		} else if (rc == CAIRN_E_NOMEM)
			mongo_err(mi, "out of memory");
		else if (rc < 0)
			mongo_err(mi, "server %s: an entry of local.oplog.rs is not an oplog entry",
			          mi->server);
		if (rc >= 0 && mongo_host->cancelled(mi->ctx))
			rc = CAIRN_E_CANCELLED;
	}
	if (rc >= 0 && mongoc_cursor_error(cur, &err)) {
		mongo_err(
		        mi,
		        "server %s: reading the oplog from %u:%u to %u:%u failed: %s; if the oplog rolled over, make it larger or the backup faster",
		        mi->server, b->start_t, b->start_i, b->end_t, b->end_i, err.message);
		rc = mongo_code(&err);
	}
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return rc < 0 ? rc : 0;
}

int
mongo_boplog_end(struct mongo_inst *mi, mongoc_client_t *client, struct arc_writer *w,
                 struct mongo_boplog *b)
{
	bson_error_t err = {0};
	uint32_t t, i;
	int rc;

	if (!mi->oplog)
		return 0;
	if ((rc = mongo_oplog_edge(mi, client, 1, &b->end_t, &b->end_i, &err)) < 0 ||
	    (rc = arc_begin_ns(w, "", "oplog")) < 0 || (rc = boplog_copy(mi, client, w, b)) < 0 ||
	    (rc = mongo_oplog_edge(mi, client, 0, &t, &i, &err)) < 0) {
		if (rc == CAIRN_E_IO && err.message[0]) {
			mongo_err(mi, "server %s: reading local.oplog.rs failed: %s", mi->server,
			          err.message);
			rc = mongo_code(&err);
		}
		return rc;
	}
	if (t > b->start_t || (t == b->start_t && i > b->start_i)) {
		mongo_err(
		        mi,
		        "server %s: the oplog rolled over during the backup (its oldest entry %u:%u is after the dump's start %u:%u), so the captured oplog misses changes; make the oplog larger or the backup faster",
		        mi->server, t, i, b->start_t, b->start_i);
		return CAIRN_E_IO;
	}
	if ((rc = arc_end_ns(w, "", "oplog")) < 0)
		return rc;
	mongo_host->stat(mi->ctx, "oplog_entries", b->entries);
	mongo_log(mi, CAIRN_LOG_INFO, "captured %lld oplog entries from %u:%u to %u:%u",
	          (long long)b->entries, b->start_t, b->start_i, b->end_t, b->end_i);
	boplog_position(mi, CAIRN_LOG_AT_END, b->end_t, b->end_i);
	return 0;
}
