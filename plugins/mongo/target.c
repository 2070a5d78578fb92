/*
 * target.c - the floor under a restore's steps: its state (struct rs,
 * opened over the archive's prelude and freed), the archive's metadata
 * of a namespace, and what a restore asks the server about one target or
 * does to it: its state, a command, creating it with the archive's
 * options.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

int
rs_nomem(struct rs *rs)
{
	mongo_err(rs->mi, "out of memory");
	return CAIRN_E_NOMEM;
}

/* The metadata of ns as BSON ({} when the archive has none). */
int
rs_metadata(struct rs *rs, const struct arc_ns *ns, bson_t **meta)
{
	bson_error_t err;
	if (!ns->metadata[0]) {
		*meta = bson_new();
		return *meta ? 0 : rs_nomem(rs);
	}
	*meta = bson_new_from_json((const uint8_t *)ns->metadata, -1, &err);
	if (!*meta) {
		mongo_err(rs->mi, "%s.%s: the archive's metadata is not Extended JSON: %s", ns->db,
		          ns->coll, err.message);
		return CAIRN_E_CORRUPT;
	}
	return 0;
}

static int
rs_fail_cmd(struct rs *rs, struct rs_ns *st, const char *what, const bson_error_t *err)
{
	mongo_err(rs->mi, "server %s: %s %s.%s failed: %s", rs->mi->server, what, st->tdb,
	          st->tcoll, err->message);
	return mongo_code(err);
}

/* Does tdb.tcoll exist, and how many documents does it hold (-1: a view)?
 * options, when not NULL, gets a copy of its listCollections options. */
int
rs_target_state(struct rs *rs, struct rs_ns *st, int *exists, int64_t *count, bson_t *options)
{
	mongoc_database_t *db = mongoc_client_get_database(rs->client, st->tdb);
	bson_t opts = BSON_INITIALIZER, filter, sub;
	mongoc_cursor_t *cur;
	const bson_t *info;
	bson_error_t err;
	int rc = 0, view = 0;

	*exists = 0;
	*count = 0;
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "filter", &filter);
	BSON_APPEND_UTF8(&filter, "name", st->tcoll);
	bson_append_document_end(&opts, &filter);
	cur = mongoc_database_find_collections_with_opts(db, &opts);
	while (mongoc_cursor_next(cur, &info)) {
		bson_iter_t it;
		if (!bson_iter_init_find(&it, info, "name") || !BSON_ITER_HOLDS_UTF8(&it) ||
		    strcmp(bson_iter_utf8(&it, NULL), st->tcoll) != 0)
			continue;
		*exists = 1;
		if (bson_iter_init_find(&it, info, "type") && BSON_ITER_HOLDS_UTF8(&it))
			view = !strcmp(bson_iter_utf8(&it, NULL), "view");
		if (options && mongo_bson_sub(info, "options", 0, &sub))
			bson_copy_to_excluding_noinit(&sub, options, "", NULL);
	}
	if (mongoc_cursor_error(cur, &err))
		rc = rs_fail_cmd(rs, st, "listCollections for", &err);
	mongoc_cursor_destroy(cur);
	mongoc_database_destroy(db);
	bson_destroy(&opts);
	if (rc < 0 || !*exists)
		return rc;
	if (view) {
		*count = -1;
		return 0;
	}
	mongoc_collection_t *coll = mongoc_client_get_collection(rs->client, st->tdb, st->tcoll);
	*count = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &err);
	mongoc_collection_destroy(coll);
	if (*count < 0)
		return rs_fail_cmd(rs, st, "counting", &err);
	return 0;
}

int
rs_command(struct rs *rs, struct rs_ns *st, const char *what, const bson_t *cmd)
{
	mongoc_database_t *db = mongoc_client_get_database(rs->client, st->tdb);
	bson_t reply;
	bson_error_t err;
	int ok = mongoc_database_write_command_with_opts(db, cmd, NULL, &reply, &err);
	bson_destroy(&reply);
	mongoc_database_destroy(db);
	return ok ? 0 : rs_fail_cmd(rs, st, what, &err);
}

/* Create db.coll with the options ns has in the archive. */
int
rs_create(struct rs *rs, struct arc_ns *ns, const char *coll)
{
	struct rs_ns *st = rs_st(rs, ns);
	bson_t *meta = NULL, opts, cmd = BSON_INITIALIZER;
	int rc;

	if ((rc = rs_metadata(rs, ns, &meta)) < 0)
		return rc;
	BSON_APPEND_UTF8(&cmd, "create", coll);
	if (mongo_bson_sub(meta, "options", 0, &opts)) {
		bson_iter_t it;
		bson_iter_init(&it, &opts);
		while (bson_iter_next(&it)) {
			const char *k = bson_iter_key(&it);
			/* as mongorestore: options a create no longer takes */
			if (!strcmp(k, "autoIndexId") || !strcmp(k, "recordIdsReplicated"))
				continue;
			bson_append_iter(&cmd, k, -1, &it);
		}
	}
	rc = rs_command(rs, st, st->scoll ? "creating the temporary collection for" : "creating",
	                &cmd);
	if (rc == 0)
		st->created = 1;
	bson_destroy(&cmd);
	bson_destroy(meta);
	return rc;
}

/* 12 random hex digits into out (n > 12). */
int
rs_random_hex(struct rs *rs, char *out, size_t n)
{
	uint8_t r[6];
	size_t got = 0;
	while (got < sizeof(r)) {
		ssize_t k = getrandom(r + got, sizeof(r) - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			mongo_err(rs->mi, "no random bytes for a temporary collection's name: %s",
			          strerror(errno));
			return CAIRN_E_IO;
		}
		got += (size_t)k;
	}
	snprintf(out, n, "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
	return 0;
}

void
rs_free(struct rs *rs)
{
	if (rs->bulk)
		mongoc_bulk_operation_destroy(rs->bulk);
	if (rs->bulk_coll)
		mongoc_collection_destroy(rs->bulk_coll);
	if (rs->st)
		for (size_t k = 0; k < rs->pre.nns; k++) {
			free(rs->st[k].tdb);
			free(rs->st[k].tcoll);
			free(rs->st[k].scoll);
		}
	free(rs->st);
	if (rs->client)
		mongoc_client_destroy(rs->client);
	bson_destroy(&rs->insert_opts);
	if (rs->oplog_spool) /* restore_oplog.c's */
		fclose(rs->oplog_spool);
	arc_prelude_free(&rs->pre);
	arc_reader_free(&rs->rd);
}

int
rs_open(struct rs *rs, struct mongo_inst *mi, struct cairn_in *in)
{
	int rc;
	memset(rs, 0, sizeof(*rs));
	rs->mi = mi;
	bson_init(&rs->insert_opts);
	/* the documents are the server's own: no client-side key checks */
	BSON_APPEND_BOOL(&rs->insert_opts, "validate", false);
	if (arc_reader_init(&rs->rd, in, mi->ctx) < 0)
		return rs_nomem(rs);
	if ((rc = arc_read_prelude(&rs->rd, &rs->pre)) < 0)
		return rc;
	rs->st = calloc(rs->pre.nns + 1, sizeof(*rs->st));
	return rs->st ? 0 : rs_nomem(rs);
}
