/*
 * backup.c - a MongoDB deployment into one `mongodump --archive` stream.
 *
 * First every selected collection's options and indexes (listCollections,
 * listIndexes) become the prelude; the list is kept in memory, a few
 * hundred bytes per collection.  Then each collection's documents stream
 * from a cursor into out->write() as the bytes the server sent: never
 * decoded, never re-encoded, one batch in memory at a time.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "dumparchive.h"
#include "mongo_internal.h"

/* What one cursor batch should hold when batch_size is 0. */
#define BACKUP_BATCH_BYTES (2 * 1024 * 1024)

struct coll_info {
	char *db;
	char *name;
	char *type;     /* as listCollections says: "collection", "view" */
	char *metadata; /* canonical Extended JSON */
	int view;
	int64_t docs, bytes;
};

struct backup_list {
	struct coll_info *v;
	size_t n;
};

static void
backup_list_free(struct backup_list *l)
{
	for (size_t k = 0; k < l->n; k++) {
		free(l->v[k].db);
		free(l->v[k].name);
		free(l->v[k].type);
		bson_free(l->v[k].metadata);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
backup_server_version(struct mongo_inst *mi, mongoc_client_t *client, char **version)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	bson_iter_t it;
	int ok;

	BSON_APPEND_INT32(&cmd, "buildInfo", 1);
	ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &err);
	bson_destroy(&cmd);
	if (!ok) {
		bson_destroy(&reply);
		mongo_err(mi, "server %s: buildInfo failed: %s", mi->server, err.message);
		return mongo_code(&err);
	}
	*version = NULL;
	if (bson_iter_init_find(&it, &reply, "version") && BSON_ITER_HOLDS_UTF8(&it))
		*version = strdup(bson_iter_utf8(&it, NULL));
	bson_destroy(&reply);
	if (!*version) {
		mongo_err(mi, "server %s: buildInfo has no version", mi->server);
		return CAIRN_E_IO;
	}
	return 0;
}

/* The databases to dump: the configured ones, else the URI's, else all
 * but admin, local and config. */
static int
backup_databases(struct mongo_inst *mi, mongoc_client_t *client, char ***dbs, size_t *n)
{
	bson_error_t err;
	char **names;
	const char *uri_db = mongoc_uri_get_database(mi->uri);

	*dbs = NULL;
	*n = 0;
	if (mi->ndatabases || uri_db) {
		size_t want = mi->ndatabases ? mi->ndatabases : 1;
		*dbs = calloc(want, sizeof(char *));
		if (!*dbs)
			return CAIRN_E_NOMEM;
		for (size_t k = 0; k < want; k++) {
			(*dbs)[k] = strdup(mi->ndatabases ? mi->databases[k] : uri_db);
			if (!(*dbs)[k])
				return CAIRN_E_NOMEM;
			(*n)++;
		}
		return 0;
	}
	names = mongoc_client_get_database_names_with_opts(client, NULL, &err);
	if (!names) {
		mongo_err(mi, "server %s: listDatabases failed: %s", mi->server, err.message);
		return mongo_code(&err);
	}
	for (size_t k = 0; names[k]; k++) {
		char **grown;
		if (!strcmp(names[k], "admin") || !strcmp(names[k], "local") ||
		    !strcmp(names[k], "config"))
			continue;
		if (mongo_bad_db_name(names[k])) {
			mongo_err(
			        mi,
			        "server %s: listDatabases names a database \"%s\" that is not a valid name",
			        mi->server, names[k]);
			bson_strfreev(names);
			return CAIRN_E_CORRUPT;
		}
		grown = realloc(*dbs, (*n + 1) * sizeof(char *));
		if (!grown || !(grown[*n] = strdup(names[k]))) {
			if (grown)
				*dbs = grown;
			bson_strfreev(names);
			return CAIRN_E_NOMEM;
		}
		*dbs = grown;
		(*n)++;
	}
	bson_strfreev(names);
	return 0;
}

/* libbson writes `{ "k" : v }`; Go's MarshalExtJSON, which mongodump
 * uses, writes `{"k":v}`.  Outside string literals the blanks are
 * layout only, so dropping them there gives mongodump's text. */
static void
backup_squeeze(char *json)
{
	char *o = json;
	int in_str = 0, esc = 0;
	for (const char *p = json; *p; p++) {
		if (in_str) {
			if (esc)
				esc = 0;
			else if (*p == '\\')
				esc = 1;
			else if (*p == '"')
				in_str = 0;
		} else if (*p == '"')
			in_str = 1;
		else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
			continue;
		*o++ = *p;
	}
	*o = '\0';
}

/* metadata as mongodump's Metadata struct marshals it: options (when not
 * empty), indexes (always, [] for views), uuid (hex, when there is one),
 * collectionName, type (when not empty). */
static int
backup_metadata(struct mongo_inst *mi, mongoc_database_t *db, const char *dbname,
                const bson_t *info, struct coll_info *ci)
{
	bson_t meta = BSON_INITIALIZER, indexes;
	bson_iter_t it, sub;
	char uuid[33] = "";
	int rc = 0;

	if (bson_iter_init_find(&it, info, "options") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		uint32_t len;
		const uint8_t *data;
		bson_t opts;
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&opts, data, len) && !bson_empty(&opts))
			BSON_APPEND_DOCUMENT(&meta, "options", &opts);
	}
	if (bson_iter_init_find(&it, info, "info") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	    bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "uuid") &&
	    BSON_ITER_HOLDS_BINARY(&sub)) {
		bson_subtype_t st;
		uint32_t len;
		const uint8_t *data;
		bson_iter_binary(&sub, &st, &len, &data);
		if (st == BSON_SUBTYPE_UUID && len == 16)
			for (int k = 0; k < 16; k++)
				snprintf(uuid + 2 * k, 3, "%02x", data[k]);
	}

	BSON_APPEND_ARRAY_BEGIN(&meta, "indexes", &indexes);
	if (!ci->view) {
		mongoc_collection_t *coll = mongoc_database_get_collection(db, ci->name);
		mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
		const bson_t *ix;
		bson_error_t err;
		uint32_t i = 0;
		while (mongoc_cursor_next(cur, &ix)) {
			char key[16];
			const char *k;
			bson_uint32_to_string(i++, &k, key, sizeof(key));
			bson_append_document(&indexes, k, -1, ix);
		}
		if (mongoc_cursor_error(cur, &err)) {
			mongo_err(mi, "server %s: listIndexes of %s.%s failed: %s", mi->server,
			          dbname, ci->name, err.message);
			rc = mongo_code(&err);
		}
		mongoc_cursor_destroy(cur);
		mongoc_collection_destroy(coll);
	}
	bson_append_array_end(&meta, &indexes);
	if (uuid[0])
		BSON_APPEND_UTF8(&meta, "uuid", uuid);
	BSON_APPEND_UTF8(&meta, "collectionName", ci->name);
	if (ci->type[0])
		BSON_APPEND_UTF8(&meta, "type", ci->type);
	if (rc == 0) {
		ci->metadata = bson_as_canonical_extended_json(&meta, NULL);
		if (ci->metadata)
			backup_squeeze(ci->metadata);
		else {
			mongo_err(
			        mi,
			        "%s.%s: its options or indexes cannot be written as Extended JSON",
			        dbname, ci->name);
			rc = CAIRN_E_CORRUPT;
		}
	}
	bson_destroy(&meta);
	return rc;
}

static int
backup_list_db(struct mongo_inst *mi, mongoc_client_t *client, const char *dbname,
               struct backup_list *l)
{
	mongoc_database_t *db = mongoc_client_get_database(client, dbname);
	mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(db, NULL);
	const bson_t *info;
	bson_error_t err;
	int rc = 0;

	while (rc == 0 && mongoc_cursor_next(cur, &info)) {
		bson_iter_t it;
		const char *name = NULL, *type = "collection";
		struct coll_info *ci, *grown;

		if (bson_iter_init_find(&it, info, "name") && BSON_ITER_HOLDS_UTF8(&it))
			name = bson_iter_utf8(&it, NULL);
		if (bson_iter_init_find(&it, info, "type") && BSON_ITER_HOLDS_UTF8(&it))
			type = bson_iter_utf8(&it, NULL);
		if (!name || !*name) {
			mongo_err(mi,
			          "server %s: listCollections of %s gave an entry without a name",
			          mi->server, dbname);
			rc = CAIRN_E_CORRUPT;
			break;
		}
		if (mongo_system_ns(dbname, name) || !mongo_selected(mi, dbname, name))
			continue;
		if (!strcmp(type, "timeseries")) {
			mongo_log(
			        mi, CAIRN_LOG_WARN,
			        "%s.%s is a timeseries collection, which this plugin does not back up; left out",
			        dbname, name);
			continue;
		}
		grown = realloc(l->v, (l->n + 1) * sizeof(*l->v));
		if (!grown) {
			rc = CAIRN_E_NOMEM;
			break;
		}
		l->v = grown;
		ci = &l->v[l->n++];
		memset(ci, 0, sizeof(*ci));
		ci->db = strdup(dbname);
		ci->name = strdup(name);
		ci->type = strdup(type);
		if (!ci->db || !ci->name || !ci->type) {
			rc = CAIRN_E_NOMEM;
			break;
		}
		ci->view = !strcmp(type, "view");
		rc = backup_metadata(mi, db, dbname, info, ci);
	}
	if (rc == 0 && mongoc_cursor_error(cur, &err)) {
		mongo_err(mi, "server %s: listCollections of %s failed: %s", mi->server, dbname,
		          err.message);
		rc = mongo_code(&err);
	}
	if (rc == CAIRN_E_NOMEM)
		mongo_err(mi, "out of memory");
	mongoc_cursor_destroy(cur);
	mongoc_database_destroy(db);
	return rc;
}

/* An estimate for the progress line: the databases' dataSize (the BSON
 * bytes of their documents; more than a selection of them holds). */
static void
backup_progress(struct mongo_inst *mi, mongoc_client_t *client, char **dbs, size_t ndbs)
{
	uint64_t total = 0;
	if (!CAIRN_HOST_HAS(mongo_host, progress_total) || !mongo_host->progress_total)
		return;
	for (size_t k = 0; k < ndbs; k++) {
		bson_t cmd = BSON_INITIALIZER, reply;
		bson_iter_t it;
		BSON_APPEND_INT32(&cmd, "dbStats", 1);
		if (mongoc_client_command_simple(client, dbs[k], &cmd, NULL, &reply, NULL) &&
		    bson_iter_init_find(&it, &reply, "dataSize") && BSON_ITER_HOLDS_NUMBER(&it) &&
		    bson_iter_as_int64(&it) > 0)
			total += (uint64_t)bson_iter_as_int64(&it);
		bson_destroy(&cmd);
		bson_destroy(&reply);
	}
	if (total > 0)
		mongo_host->progress_total(mi->ctx, total);
}

static int
backup_collection(struct mongo_inst *mi, mongoc_client_t *client, struct arc_writer *w,
                  struct coll_info *ci)
{
	mongoc_collection_t *coll;
	mongoc_cursor_t *cur;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	const bson_t *doc;
	bson_error_t err;
	int rc = arc_begin_ns(w, ci->db, ci->name);

	if (rc < 0 || ci->view) {
		/* a view is metadata only; mongodump still opens and closes it */
		bson_destroy(&filter);
		bson_destroy(&opts);
		return rc < 0 ? rc : arc_end_ns(w, ci->db, ci->name);
	}
	if (mi->batch_size > 0)
		BSON_APPEND_INT32(&opts, "batchSize", (int32_t)mi->batch_size);
	coll = mongoc_client_get_collection(client, ci->db, ci->name);
	cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		/* the bytes of the server's reply, as they came */
		rc = arc_write_doc(w, bson_get_data(doc), doc->len);
		if (rc < 0)
			break;
		ci->docs++;
		ci->bytes += doc->len;
		if ((ci->docs == 1 || ci->docs % 1024 == 0) && mi->batch_size == 0) {
			/* The server fills a batch up to 16 MiB, and libmongoc
			 * holds the whole reply: ask for about BACKUP_BATCH_BYTES
			 * of documents instead, by their size so far. */
			int64_t n = BACKUP_BATCH_BYTES / (ci->bytes / ci->docs + 1);
			mongoc_cursor_set_batch_size(cur, (uint32_t)(n < 101      ? 101
			                                             : n > 100000 ? 100000
			                                                          : n));
		}
		if (ci->docs % 4096 == 0 && mongo_host->cancelled(mi->ctx)) {
			rc = CAIRN_E_CANCELLED;
			break;
		}
	}
	if (rc == 0 && mongoc_cursor_error(cur, &err)) {
		mongo_err(mi, "server %s: reading %s.%s failed after %lld documents: %s",
		          mi->server, ci->db, ci->name, (long long)ci->docs, err.message);
		rc = mongo_code(&err);
	}
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	bson_destroy(&filter);
	bson_destroy(&opts);
	if (rc == 0)
		rc = arc_end_ns(w, ci->db, ci->name);
	return rc;
}

static void
backup_stats(struct mongo_inst *mi, const struct backup_list *l, const char *version)
{
	int64_t docs = 0, bytes = 0, views = 0;
	int major = 0, minor = 0, patch = 0;
	for (size_t k = 0; k < l->n; k++) {
		char *key;
		const struct coll_info *ci = &l->v[k];
		if (ci->view) {
			views++;
			continue;
		}
		docs += ci->docs;
		bytes += ci->bytes;
		if (asprintf(&key, "documents.%s.%s", ci->db, ci->name) >= 0) {
			mongo_host->stat(mi->ctx, key, ci->docs);
			free(key);
		}
		if (asprintf(&key, "bytes.%s.%s", ci->db, ci->name) >= 0) {
			mongo_host->stat(mi->ctx, key, ci->bytes);
			free(key);
		}
	}
	mongo_host->stat(mi->ctx, "collections", (int64_t)l->n - views);
	mongo_host->stat(mi->ctx, "views", views);
	mongo_host->stat(mi->ctx, "documents", docs);
	mongo_host->stat(mi->ctx, "bytes", bytes);
	/* stats are numbers: the version as its three parts */
	if (sscanf(version, "%d.%d.%d", &major, &minor, &patch) >= 2) {
		mongo_host->stat(mi->ctx, "server_version.major", major);
		mongo_host->stat(mi->ctx, "server_version.minor", minor);
		mongo_host->stat(mi->ctx, "server_version.patch", patch);
	}
}

int
mongo_backup(void *instance, struct cairn_out *out)
{
	struct mongo_inst *mi = instance;
	struct backup_list l = {0};
	struct mongo_boplog bo;
	struct arc_writer w;
	mongoc_client_t *client;
	char *version = NULL, **dbs = NULL;
	size_t ndbs = 0;
	int rc;

	if (arc_writer_init(&w, out) < 0) {
		mongo_err(mi, "out of memory");
		return CAIRN_E_NOMEM;
	}
	client = mongo_connect(mi, 0, &rc);
	if (!client)
		goto out;
	if ((rc = backup_server_version(mi, client, &version)) < 0 ||
	    (rc = mongo_boplog_start(mi, client, &bo)) < 0)
		goto out;
	if ((rc = backup_databases(mi, client, &dbs, &ndbs)) < 0) {
		if (rc == CAIRN_E_NOMEM)
			mongo_err(mi, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < ndbs; k++) {
		size_t had = l.n;
		if ((rc = backup_list_db(mi, client, dbs[k], &l)) < 0)
			goto out;
		/* a database named in the configuration that gives nothing
		 * is more likely a typing error than an empty database */
		if (l.n == had && (mi->ndatabases || mongoc_uri_get_database(mi->uri)))
			mongo_log(mi, CAIRN_LOG_WARN,
			          "server %s: database %s has no collection to back up", mi->server,
			          dbs[k]);
	}
	backup_progress(mi, client, dbs, ndbs);
	if (l.n == 0)
		mongo_log(mi, CAIRN_LOG_WARN,
		          "server %s: no collection matches; the archive is empty", mi->server);

	if ((rc = arc_write_header(&w, version)) < 0)
		goto out;
	for (size_t k = 0; k < l.n; k++)
		if ((rc = arc_write_meta(&w, l.v[k].db, l.v[k].name, l.v[k].metadata,
		                         l.v[k].type)) < 0)
			goto out;
	/* mongodump --oplog: the oplog's entry, last, without metadata */
	if (mi->oplog && (rc = arc_write_meta(&w, "", "oplog", "", "")) < 0)
		goto out;
	if ((rc = arc_write_terminator(&w)) < 0)
		goto out;
	for (size_t k = 0; k < l.n; k++) {
		if (mongo_host->cancelled(mi->ctx)) {
			rc = CAIRN_E_CANCELLED;
			goto out;
		}
		if ((rc = backup_collection(mi, client, &w, &l.v[k])) < 0)
			goto out;
		mongo_log(mi, CAIRN_LOG_DEBUG, "%s.%s: %lld documents, %lld bytes", l.v[k].db,
		          l.v[k].name, (long long)l.v[k].docs, (long long)l.v[k].bytes);
	}
	if ((rc = mongo_boplog_end(mi, client, &w, &bo)) < 0 || (rc = arc_flush(&w)) < 0)
		goto out;
	backup_stats(mi, &l, version);
	rc = 0;
out:
	if (client)
		mongoc_client_destroy(client);
	for (size_t k = 0; k < ndbs; k++)
		free(dbs[k]);
	free(dbs);
	free(version);
	backup_list_free(&l);
	arc_writer_free(&w);
	return rc;
}
