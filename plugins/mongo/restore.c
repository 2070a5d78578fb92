/*
 * restore.c - a `mongodump --archive` stream back into a deployment, its
 * deep verify, and the test restore into databases of its own.
 *
 * The core checks the whole stored object (size, SHA-256) before it calls
 * restore(), and restore reads it a second time.  Before anything is
 * written, every target collection is checked: a non-empty one is refused
 * (CAIRN_E_EXISTS) unless --force or drop = yes.  Then each namespace, as
 * its first block arrives, is created with its options (capped, validator,
 * collation) under a temporary name in its target database (stage.c); its
 * documents go in unordered bulk inserts that stay within the server's
 * limits; at its EOF block its indexes are built and the count of
 * documents the server took is checked against the archive's.  Only when
 * every namespace is loaded does stage.c rename them into place and
 * create the views; a failure or a signal before that drops the temporary
 * collections.  Every write error names the namespace and fails the
 * restore.  The test
 * restore then holds each collection's count, options and indexes against
 * the archive's (indexes.c).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

static struct rs_ns *
rs_st(struct rs *rs, const struct arc_ns *ns)
{
	return &rs->st[ns - rs->pre.ns];
}

static int
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
static int
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
		mongo_log(rs->mi, CAIRN_LOG_WARN,
		          "restoring into the existing %s.%s in place (--force): a failure or "
		          "signal leaves part of the archive in it",
		          st->tdb, st->tcoll);
		return 0;
	}
	return rs_create(rs, ns, rs_wcoll(st));
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
			mongo_err(rs->mi,
			          "server %s: restoring %s.%s: %lld of %zu documents were "
			          "refused; the first: %s",
			          rs->mi->server, st->tdb, st->tcoll, (long long)nerr,
			          rs->bulk_docs, first ? first : err.message);
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
		return 0;
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
		mongo_err(rs->mi,
		          "server %s: restoring %s.%s: the archive holds %lld documents "
		          "but the server took %lld",
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

/* ------------------------------------------------------------ planning */

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

static int
rs_random_prefix(struct rs *rs)
{
	char hex[13];
	int rc = rs_random_hex(rs, hex, sizeof(hex));
	if (rc == 0)
		snprintf(rs->rt, sizeof(rs->rt), "cairn_rt_%s", hex);
	return rc;
}

/* Is ns left out of the restore (an oplog, users and roles, a system
 * collection, or not selected by include/exclude)?  loud: say why. */
static int
rs_left_out(struct rs *rs, const struct arc_ns *ns, int loud)
{
	struct mongo_inst *mi = rs->mi;

	if (!ns->db[0]) {
		if (loud)
			mongo_log(mi, CAIRN_LOG_WARN, "the archive's %s (an oplog) is not restored",
			          ns->coll);
		return 1;
	}
	if (ns->coll[0] == '$') {
		/* mongodump --dumpDbUsersAndRoles: $admin.system.users... */
		if (loud)
			mongo_log(mi, CAIRN_LOG_WARN,
			          "the archive's %s.%s (users or roles) is not restored", ns->db,
			          ns->coll);
		return 1;
	}
	if (!mongo_selected(mi, ns->db, ns->coll))
		return 1;
	if (!strncmp(ns->coll, "system.", 7) && strcmp(ns->coll, "system.js") != 0) {
		if (loud)
			mongo_log(mi, CAIRN_LOG_WARN,
			          "%s.%s is a system collection and is not restored", ns->db,
			          ns->coll);
		return 1;
	}
	return 0;
}

/* The target of the k-th namespace: st->tdb and st->tcoll, or, when the
 * renames leave no database part, the whole name in st->tdb alone. */
static int
rs_target(struct rs *rs, size_t k)
{
	struct arc_ns *ns = &rs->pre.ns[k];
	struct rs_ns *st = &rs->st[k];
	char *t, *dot;

	if (rs->test) {
		if (asprintf(&t, "%s_%s.%s", rs->rt, ns->db, ns->coll) < 0)
			return rs_nomem(rs);
		if (strlen(rs->rt) + 1 + strlen(ns->db) > 63) {
			free(t);
			if (asprintf(&t, "%s_%zu.%s", rs->rt, k, ns->coll) < 0)
				return rs_nomem(rs);
		}
	} else if (!(t = mongo_rename_ns(rs->mi, ns->db, ns->coll)))
		return rs_nomem(rs);
	st->tdb = t;
	if (!(dot = strchr(t, '.')))
		return 0;
	*dot = '\0';
	return (st->tcoll = strdup(dot + 1)) ? 0 : rs_nomem(rs);
}

/* Targets in the order of (db, collection, place in the archive). */
static int
rs_target_cmp(const void *a, const void *b)
{
	const struct rs_ns *x = *(const struct rs_ns *const *)a;
	const struct rs_ns *y = *(const struct rs_ns *const *)b;
	int c = strcmp(x->tdb, y->tdb);
	if (!c)
		c = strcmp(x->tcoll, y->tcoll);
	return c ? c : (x > y) - (x < y);
}

/* first[k]: the first namespace of the archive restored into the same
 * target as the k-th (k itself when none before it is), by sorting the
 * targets: n log n, where holding each with every earlier one was
 * quadratic in an archive's thousands of namespaces. */
static int
rs_first_of_target(struct rs *rs, size_t *first)
{
	struct rs_ns **by = malloc((rs->pre.nns ? rs->pre.nns : 1) * sizeof(*by));
	size_t n = 0;

	if (!by)
		return rs_nomem(rs);
	for (size_t k = 0; k < rs->pre.nns; k++) {
		first[k] = k;
		if (rs->st[k].tcoll)
			by[n++] = &rs->st[k];
	}
	qsort(by, n, sizeof(*by), rs_target_cmp);
	for (size_t i = 1, head = 0; i < n; i++) {
		if (strcmp(by[head]->tdb, by[i]->tdb) != 0 ||
		    strcmp(by[head]->tcoll, by[i]->tcoll) != 0)
			head = i;
		first[by[i] - rs->st] = (size_t)(by[head] - rs->st);
	}
	free(by);
	return 0;
}

/* The checks of the k-th namespace, whose target is set. */
static int
rs_check_target(struct rs *rs, size_t k, size_t first)
{
	struct mongo_inst *mi = rs->mi;
	struct arc_ns *ns = &rs->pre.ns[k];
	struct rs_ns *st = &rs->st[k];
	const char *why;

	if (!strcmp(ns->type, "timeseries")) {
		mongo_err(mi,
		          "%s.%s is a timeseries collection, which this plugin cannot "
		          "restore; leave it out with exclude = %s.%s",
		          ns->db, ns->coll, ns->db, ns->coll);
		return CAIRN_E_UNSUPPORTED;
	}
	if (!st->tcoll) {
		mongo_err(mi, "%s.%s: ns_to makes it \"%s\", which has no database part", ns->db,
		          ns->coll, st->tdb);
		free(st->tdb);
		st->tdb = NULL;
		return CAIRN_E_CONFIG;
	}
	if ((why = mongo_bad_db_name(st->tdb)) || (why = mongo_bad_coll_name(st->tcoll))) {
		mongo_err(mi,
		          "%s.%s: the target %s.%s is not a valid namespace (%s); "
		          "check ns_from/ns_to",
		          ns->db, ns->coll, st->tdb, st->tcoll, why);
		return CAIRN_E_CONFIG;
	}
	if (first != k) {
		mongo_err(mi,
		          "%s.%s and %s.%s would both be restored into %s.%s; "
		          "check ns_from/ns_to",
		          rs->pre.ns[first].db, rs->pre.ns[first].coll, ns->db, ns->coll, st->tdb,
		          st->tcoll);
		return CAIRN_E_CONFIG;
	}
	return 0;
}

/* Where each selected namespace goes, checked before anything is written.
 * The targets are made first, so that two sources of one target are found
 * by sorting; the checks then run in the archive's order and name the
 * first fault, as when each namespace was held against the earlier ones. */
static int
rs_plan(struct rs *rs)
{
	size_t selected = 0, *first;
	int rc = 0;

	for (size_t k = 0; k < rs->pre.nns && rc == 0; k++)
		if (!rs_left_out(rs, &rs->pre.ns[k], 0))
			rc = rs_target(rs, k);
	if (rc < 0)
		return rc;
	if (!(first = malloc((rs->pre.nns ? rs->pre.nns : 1) * sizeof(*first))))
		return rs_nomem(rs);
	rc = rs_first_of_target(rs, first);
	for (size_t k = 0; k < rs->pre.nns && rc == 0; k++) {
		if (rs_left_out(rs, &rs->pre.ns[k], 1))
			continue;
		if ((rc = rs_check_target(rs, k, first[k])) == 0) {
			rs->st[k].selected = 1;
			selected++;
		}
	}
	free(first);
	if (rc < 0)
		return rc;
	if (selected == 0 && rs->pre.nns > 0) {
		mongo_err(rs->mi,
		          "no collection of the archive is selected by include/exclude (it "
		          "holds %zu, e.g. %s.%s)",
		          rs->pre.nns, rs->pre.ns[0].db, rs->pre.ns[0].coll);
		return CAIRN_E_NOTFOUND;
	}
	return 0;
}

/* Refuse non-empty targets unless --force or drop = yes. */
static int
rs_check_targets(struct rs *rs)
{
	for (size_t k = 0; k < rs->pre.nns; k++) {
		struct rs_ns *st = &rs->st[k];
		int64_t count;
		int rc;
		if (!st->selected)
			continue;
		if ((rc = rs_target_state(rs, st, &st->exists, &count, NULL)) < 0)
			return rc;
		st->count = count;
		if (!st->exists || count == 0 || rs->force || rs->mi->drop)
			continue;
		if (count < 0)
			mongo_err(rs->mi,
			          "server %s: the target %s.%s exists (a view); use --force, "
			          "or --set drop=yes to replace it, or restore elsewhere with "
			          "ns_from/ns_to",
			          rs->mi->server, st->tdb, st->tcoll);
		else
			mongo_err(rs->mi,
			          "server %s: the target %s.%s holds %lld documents; use "
			          "--force to add to it, --set drop=yes to replace it, or "
			          "restore elsewhere with ns_from/ns_to",
			          rs->mi->server, st->tdb, st->tcoll, (long long)count);
		return CAIRN_E_EXISTS;
	}
	return 0;
}

static void
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

/* --------------------------------------------------------- the engine */

static void
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
	arc_prelude_free(&rs->pre);
	arc_reader_free(&rs->rd);
}

static int
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

static int
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
	}
	if (rc == 0)
		mongo_log(mi, CAIRN_LOG_INFO, "restored %lld collections, %lld documents to %s",
		          (long long)rs.collections, (long long)rs.docs, mi->server);
	rs_free(&rs);
	return rc;
}

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
		mongo_err(rs->mi,
		          "test restore: %s.%s holds %lld documents in the archive but %lld after "
		          "restoring it",
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
		int seen = 0;
		if (!st->selected || !st->prepared)
			continue; /* never created: nothing to drop */
		for (size_t j = 0; j < k; j++)
			seen |= rs->st[j].prepared && !strcmp(rs->st[j].tdb, st->tdb);
		if (seen)
			continue;
		db = mongoc_client_get_database(rs->client, st->tdb);
		if (!mongoc_database_drop_with_opts(db, NULL, &err))
			mongo_log(rs->mi, CAIRN_LOG_WARN,
			          "server %s: cannot drop the test database "
			          "%s: %s; drop it by hand",
			          rs->mi->server, st->tdb, err.message);
		mongoc_database_destroy(db);
	}
}

int
mongo_restore_test(void *instance, struct cairn_in *in)
{
	struct mongo_inst *mi = instance;
	struct rs rs;
	int rc = rs_open(&rs, mi, in);

	rs.test = 1;
	if (rc == 0 && (rc = rs_random_prefix(&rs)) == 0 && (rc = rs_plan(&rs)) == 0 &&
	    (rs.client = mongo_connect(mi, 1, &rc)) && (rc = rs_check_targets(&rs)) == 0) {
		rs_limits(&rs);
		rc = rs_walk(&rs);
		if (rc == 0)
			rc = rt_compare(&rs);
	}
	if (rs.bulk) {
		mongoc_bulk_operation_destroy(rs.bulk);
		mongoc_collection_destroy(rs.bulk_coll);
		rs.bulk = NULL;
		rs.bulk_coll = NULL;
	}
	rt_drop(&rs);
	if (rc == 0)
		mongo_log(mi, CAIRN_LOG_INFO,
		          "test restore: %lld collections and %lld views, %lld documents restored "
		          "into %s_* on %s, counts, options and indexes as in the backup; dropped "
		          "again",
		          (long long)rs.verified, (long long)rs.views, (long long)rs.docs, rs.rt,
		          mi->server);
	rs_free(&rs);
	return rc;
}
