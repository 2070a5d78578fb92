/*
 * restore_test.c - the test restore: the archive restored into databases
 * of its own (cairn_rt_<12 hex>_DB), each collection's count, options and
 * indexes held against the archive's (indexes.c), the statistics backup.c
 * records given to the core, and the databases dropped again.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

/* Record a per-collection statistic under the key backup.c gives it. */
static void
rt_stat(struct rs *rs, const char *what, const struct arc_ns *ns, int64_t v)
{
	char *key;
	if (asprintf(&key, "%s.%s.%s", what, ns->db, ns->coll) >= 0) {
		mongo_host->stat(rs->mi->ctx, key, v);
		free(key);
	}
}

/* One restored namespace against the archive: there, as many documents,
 * the same indexes.  *nidx: how many indexes the server lists. */
static int
rt_compare_one(struct rs *rs, size_t k, int64_t *count, int64_t *nidx)
{
	struct rs_ns *st = &rs->st[k];
	struct arc_ns *ns = &rs->pre.ns[k];
	bson_t *meta = NULL, got = BSON_INITIALIZER, want;
	char *label = NULL, *why = NULL;
	int exists, rc;

	*nidx = 0;
	rc = rs_target_state(rs, st, &exists, count, &got);
	if (rc == 0 && !exists) {
		mongo_err(rs->mi, "test restore: %s.%s is missing from %s after the restore",
		          ns->db, ns->coll, st->tdb);
		rc = CAIRN_E_IO;
	}
	if (rc == 0 && (rc = rs_metadata(rs, ns, &meta)) == 0) {
		if (!mongo_bson_sub(meta, "options", 0, &want))
			bson_init(&want);
		if ((rc = idx_options_diff(&want, &got, &why)) > 0)
			mongo_err(rs->mi, "test restore: %s.%s: %s", ns->db, ns->coll, why);
		rc = rc > 0 ? CAIRN_E_CORRUPT : rc < 0 ? rs_nomem(rs) : 0;
		free(why);
	}
	bson_destroy(&got);
	if (rc == 0 && *count >= 0 && *count != ns->docs) {
		mongo_err(
		        rs->mi,
		        "test restore: %s.%s holds %lld documents in the archive but %lld after restoring it",
		        ns->db, ns->coll, (long long)ns->docs, (long long)*count);
		rc = CAIRN_E_IO;
	}
	/* a view: its definition is all there is to compare */
	if (rc == 0 && *count >= 0) {
		if (asprintf(&label, "%s.%s", ns->db, ns->coll) < 0)
			rc = rs_nomem(rs);
		else
			rc = idx_compare(rs->mi, rs->client, st->tdb, st->tcoll, label, meta, nidx);
	}
	free(label);
	if (meta)
		bson_destroy(meta);
	return rc;
}

/* The test restore's check: every restored collection holds what the
 * archive holds, with its indexes as the archive's metadata has them,
 * every view is there.  One line per collection at info level (a
 * terminal or -v shows them, cron's mail does not), and the statistics
 * backup.c records, so that the core can hold them against the
 * manifest's. */
static int
rt_compare(struct rs *rs)
{
	int64_t verified = 0, views = 0, docs = 0, bytes = 0;
	int all = 1;
	for (size_t k = 0; k < rs->pre.nns; k++) {
		struct arc_ns *ns = &rs->pre.ns[k];
		int64_t count, nidx;
		int rc;
		if (!rs->st[k].selected) {
			all = 0;
			continue;
		}
		if ((rc = rt_compare_one(rs, k, &count, &nidx)) < 0)
			return rc;
		if (count < 0) {
			views++;
			mongo_log(rs->mi, CAIRN_LOG_INFO, "%s.%s: a view, as in the backup", ns->db,
			          ns->coll);
			continue;
		}
		verified++;
		docs += count;
		bytes += ns->bytes;
		rt_stat(rs, "documents", ns, count);
		rt_stat(rs, "bytes", ns, ns->bytes);
		mongo_log(rs->mi, CAIRN_LOG_INFO,
		          "%s.%s: %lld documents, %lld indexes, as in the backup", ns->db, ns->coll,
		          (long long)count, (long long)nidx);
	}
	if (all) {
		/* the totals are the backup's only when nothing was left out */
		mongo_host->stat(rs->mi->ctx, "collections", verified);
		mongo_host->stat(rs->mi->ctx, "views", views);
		mongo_host->stat(rs->mi->ctx, "documents", docs);
		mongo_host->stat(rs->mi->ctx, "bytes", bytes);
	}
	mongo_log(rs->mi, CAIRN_LOG_INFO, "collectionsVerified: %lld", (long long)verified);
	rs->verified = verified;
	rs->views = views;
	return 0;
}

/* Drop every test database, whatever happened before. */
static void
rt_drop(struct rs *rs)
{
	if (!rs->client)
		return;
	for (size_t k = 0; k < rs->pre.nns; k++) {
		struct rs_ns *st = &rs->st[k];
		mongoc_database_t *db;
		bson_error_t err;
		if (!st->selected || !st->prepared)
			continue; /* never created: nothing to drop */
		/* each database once, at its first namespace created */
		if (rs->st[st->db_first].db_dropped)
			continue;
		rs->st[st->db_first].db_dropped = 1;
		db = mongoc_client_get_database(rs->client, st->tdb);
		if (!mongoc_database_drop_with_opts(db, NULL, &err))
			mongo_log(
			        rs->mi, CAIRN_LOG_WARN,
			        "server %s: cannot drop the test database %s: %s; drop it by hand",
			        rs->mi->server, st->tdb, err.message);
		mongoc_database_destroy(db);
	}
}

int
rt_restore(struct rs *rs, struct mongo_inst *mi, struct cairn_in *in)
{
	int rc = rs_open(rs, mi, in);

	rs->test = 1;
	if (rc == 0 && (rc = rs_random_prefix(rs)) == 0 && (rc = rs_plan(rs)) == 0 &&
	    (rs->client = mongo_connect(mi, 1, &rc)) && (rc = rs_check_targets(rs)) == 0) {
		rs_limits(rs);
		rc = rs_walk(rs);
		if (rc == 0)
			rc = rt_compare(rs);
	}
	return rc;
}

void
rt_finish(struct rs *rs)
{
	if (rs->bulk) {
		mongoc_bulk_operation_destroy(rs->bulk);
		mongoc_collection_destroy(rs->bulk_coll);
		rs->bulk = NULL;
		rs->bulk_coll = NULL;
	}
	rt_drop(rs);
}

int
mongo_restore_test(void *instance, struct cairn_in *in)
{
	struct mongo_inst *mi = instance;
	struct rs rs;
	int rc = rt_restore(&rs, mi, in);

	rt_finish(&rs);
	if (rc == 0)
		mongo_log(
		        mi, CAIRN_LOG_INFO,
		        "test restore: %lld collections and %lld views, %lld documents restored into %s_* on %s, counts, options and indexes as in the backup; dropped again",
		        (long long)rs.verified, (long long)rs.views, (long long)rs.docs, rs.rt,
		        mi->server);
	rs_free(&rs);
	return rc;
}
