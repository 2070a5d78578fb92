/*
 * load.c - the archive's blocks into the server, as the walk meets
 * them: each namespace, at its first block, dropped (drop = yes) and
 * created with its options under its temporary name (stage.c's plan);
 * its documents in unordered bulk inserts that stay within the server's
 * limits; at its EOF block its indexes built and the count of documents
 * the server took held against the archive's.  Every write error names
 * the namespace and fails the restore.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

/* Drop (drop = yes) and create the target with the archive's options. */
static int
rs_prepare(struct rs *rs, struct arc_ns *ns)
{
	struct rs_ns *st = rs_st(rs, ns);
	int rc;

	if (st->prepared || !st->selected)
		return 0;
	st->prepared = 1;
	rs->cur = ns;
	if (st->view)
		return 0; /* created after the renames (stage.c) */
	/* a staged target is replaced by the rename, never dropped here */
	if (st->exists && rs->mi->drop && !st->scoll) {
		bson_t drop = BSON_INITIALIZER;
		BSON_APPEND_UTF8(&drop, "drop", st->tcoll);
		rc = rs_command(rs, st, "dropping", &drop);
		bson_destroy(&drop);
		if (rc < 0)
			return rc;
		st->exists = 0;
	}
	if (st->exists && !st->scoll) {
		/* --force: add to what is there, as mongorestore does */
		mongo_log(
		        rs->mi, CAIRN_LOG_WARN,
		        "restoring into the existing %s.%s in place (--force): a failure or signal leaves part of the archive in it",
		        st->tdb, st->tcoll);
		return 0;
	}
	return rs_create(rs, ns, rs_wcoll(st));
}

static int
rs_indexes(struct rs *rs, struct arc_ns *ns)
{
	struct rs_ns *st = rs_st(rs, ns);
	bson_t *meta = NULL, list, cmd = BSON_INITIALIZER, arr;
	bson_iter_t it;
	uint32_t n = 0;
	int rc;

	if ((rc = rs_metadata(rs, ns, &meta)) < 0)
		return rc;
	BSON_APPEND_UTF8(&cmd, "createIndexes", rs_wcoll(st));
	BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
	if (mongo_bson_sub(meta, "indexes", 1, &list) && bson_iter_init(&it, &list)) {
		while (bson_iter_next(&it)) {
			bson_iter_t f, name;
			bson_t spec, archived;
			uint32_t len;
			const uint8_t *data;
			char key[16];
			const char *k;
			if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &f))
				continue;
			/* the _id index comes with the collection */
			name = f;
			if (bson_iter_find(&name, "name") && BSON_ITER_HOLDS_UTF8(&name) &&
			    !strcmp(bson_iter_utf8(&name, NULL), "_id_"))
				continue;
			bson_uint32_to_string(n++, &k, key, sizeof(key));
			bson_append_document_begin(&arr, k, -1, &spec);
			bson_iter_document(&it, &len, &data);
			if (bson_init_static(&archived, data, len) && rc == 0)
				rc = idx_restore_spec(&archived, &spec);
			bson_append_document_end(&arr, &spec);
		}
	}
	bson_append_array_end(&cmd, &arr);
	bson_destroy(meta);
	if (rc < 0)
		rs_nomem(rs);
	else if (n > 0)
		rc = rs_command(rs, st, "creating the indexes of", &cmd);
	bson_destroy(&cmd);
	return rc;
}

static int
rs_flush(struct rs *rs)
{
	struct rs_ns *st;
	bson_t reply;
	bson_error_t err;
	bson_iter_t it;
	int64_t took = 0;
	int rc = 0;

	if (!rs->bulk)
		return 0;
	st = rs_st(rs, rs->bulk_ns);
	if (!mongoc_bulk_operation_execute(rs->bulk, &reply, &err)) {
		int64_t nerr = 0;
		const char *first = NULL;
		bson_iter_t w, e, f;
		/* libmongoc joins all write errors into one cut message:
		 * name the first from the reply instead */
		if (bson_iter_init_find(&w, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&w) &&
		    bson_iter_recurse(&w, &e)) {
			while (bson_iter_next(&e)) {
				if (nerr++ == 0 && BSON_ITER_HOLDS_DOCUMENT(&e) &&
				    bson_iter_recurse(&e, &f) && bson_iter_find(&f, "errmsg") &&
				    BSON_ITER_HOLDS_UTF8(&f))
					first = bson_iter_utf8(&f, NULL);
			}
		}
		if (nerr > 0)
			mongo_err(
			        rs->mi,
			        "server %s: restoring %s.%s: %lld of %zu documents were refused; the first: %s",
			        rs->mi->server, st->tdb, st->tcoll, (long long)nerr, rs->bulk_docs,
			        first ? first : err.message);
		else
			mongo_err(rs->mi, "server %s: restoring %s.%s failed: %s", rs->mi->server,
			          st->tdb, st->tcoll, err.message);
		rc = mongo_code(&err);
		if (rc == CAIRN_E_CORRUPT)
			rc = CAIRN_E_IO;
	}
	if (bson_iter_init_find(&it, &reply, "nInserted") &&
	    (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)))
		took = bson_iter_as_int64(&it);
	st->inserted += took;
	bson_destroy(&reply);
	mongoc_bulk_operation_destroy(rs->bulk);
	mongoc_collection_destroy(rs->bulk_coll);
	rs->bulk = NULL;
	rs->bulk_coll = NULL;
	rs->bulk_ns = NULL;
	rs->bulk_docs = rs->bulk_bytes = 0;
	return rc;
}

/* ------------------------------------------------------ walk callbacks */

static int
rs_cb_block(void *u, struct arc_ns *ns)
{
	((struct rs *)u)->cur = ns;
	return rs_prepare(u, ns);
}

static int
rs_cb_doc(void *u, struct arc_ns *ns, const uint8_t *doc, uint32_t len)
{
	struct rs *rs = u;
	struct rs_ns *st = rs_st(rs, ns);
	bson_t b;
	bson_error_t err;
	int rc;

	if (!st->selected)
		return rs->want_oplog && rs_is_oplog(ns) ? rs_oplog_spool(rs, doc, len) : 0;
	if (rs->bulk && (rs->bulk_ns != ns || rs->bulk_docs >= rs->max_docs ||
	                 rs->bulk_bytes + len > rs->max_bytes)) {
		if ((rc = rs_flush(rs)) < 0)
			return rc;
	}
	if (!rs->bulk) {
		bson_t opts = BSON_INITIALIZER;
		BSON_APPEND_BOOL(&opts, "ordered", false);
		rs->bulk_coll = mongoc_client_get_collection(rs->client, st->tdb, rs_wcoll(st));
		rs->bulk = mongoc_collection_create_bulk_operation_with_opts(rs->bulk_coll, &opts);
		bson_destroy(&opts);
		rs->bulk_ns = ns;
	}
	if (!bson_init_static(&b, doc, len))
		return CAIRN_E_CORRUPT; /* cannot be: the reader checked the length */
	if (!mongoc_bulk_operation_insert_with_opts(rs->bulk, &b, &rs->insert_opts, &err)) {
		mongo_err(rs->mi, "restoring %s.%s: document %lld refused by libmongoc: %s",
		          st->tdb, st->tcoll, (long long)ns->docs, err.message);
		return CAIRN_E_IO;
	}
	rs->bulk_docs++;
	rs->bulk_bytes += len;
	return 0;
}

static int
rs_cb_block_end(void *u, struct arc_ns *ns)
{
	struct rs *rs = u;
	(void)ns;
	/* blocks of another namespace may follow */
	return rs_flush(rs);
}

static int
rs_cb_eof(void *u, struct arc_ns *ns)
{
	struct rs *rs = u;
	struct rs_ns *st = rs_st(rs, ns);
	int rc;

	if (!st->selected)
		return 0;
	if ((rc = rs_flush(rs)) < 0 || (rc = rs_prepare(rs, ns)) < 0)
		return rc;
	if (strcmp(ns->type, "view") != 0 && !st->view && (rc = rs_indexes(rs, ns)) < 0)
		return rc;
	/* a signal stops the restore on the collection it was on */
	if (!rs->test && mongo_host->cancelled(rs->mi->ctx))
		return CAIRN_E_CANCELLED;
	if (st->inserted != ns->docs) {
		mongo_err(
		        rs->mi,
		        "server %s: restoring %s.%s: the archive holds %lld documents but the server took %lld",
		        rs->mi->server, st->tdb, st->tcoll, (long long)ns->docs,
		        (long long)st->inserted);
		return CAIRN_E_IO;
	}
	rs->docs += ns->docs;
	rs->collections++;
	mongo_log(rs->mi, CAIRN_LOG_DEBUG, "restored %s.%s into %s.%s: %lld documents", ns->db,
	          ns->coll, st->tdb, st->tcoll, (long long)ns->docs);
	return 0;
}

void
rs_limits(struct rs *rs)
{
	mongoc_server_description_t *sd;
	bson_error_t err;
	rs->max_docs = 100000;
	rs->max_bytes = RS_BULK_BYTES;
	sd = mongoc_client_select_server(rs->client, true, NULL, &err);
	if (sd) {
		const bson_t *hello = mongoc_server_description_hello_response(sd);
		bson_iter_t it;
		if (bson_iter_init_find(&it, hello, "maxWriteBatchSize") &&
		    BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_int64(&it) > 0)
			rs->max_docs = (size_t)bson_iter_as_int64(&it);
		if (bson_iter_init_find(&it, hello, "maxMessageSizeBytes") &&
		    BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_int64(&it) > 65536 &&
		    (size_t)bson_iter_as_int64(&it) - 65536 < rs->max_bytes)
			rs->max_bytes = (size_t)bson_iter_as_int64(&it) - 65536;
		mongoc_server_description_destroy(sd);
	}
}

int
rs_walk(struct rs *rs)
{
	struct arc_walk cb = {
	        .block = rs_cb_block,
	        .doc = rs_cb_doc,
	        .block_end = rs_cb_block_end,
	        .eof = rs_cb_eof,
	        .u = rs,
	        .ctx = rs->mi->ctx,
	};
	return arc_walk(&rs->rd, &rs->pre, &cb, 0);
}
