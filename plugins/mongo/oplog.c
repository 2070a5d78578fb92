/*
 * oplog.c - the oplog as the follower and the backup read it: positions
 * (an entry's ts as a cairn_log_pos), which entries belong to the source
 * (its databases, include and exclude, and the commands that change
 * them), and the server's side (is it a replica-set member, the oldest
 * and newest entry).
 *
 * An entry is kept whole when it is the source's, left out when it is
 * not; an applyOps entry (a transaction's too) is kept with only the
 * inner entries that are the source's, rewritten field for field in the
 * server's order, so a segment never holds another database's changes.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo_internal.h"

/* How deep applyOps entries may nest before an entry is called damaged. */
#define OPLOG_MAX_DEPTH 8

void
mongo_ts_pos(uint32_t t, uint32_t i, struct cairn_log_pos *pos)
{
	memset(pos, 0, sizeof(*pos));
	pos->lsn = (uint64_t)t << 32 | i;
	pos->time_ms = (int64_t)t * 1000;
	snprintf(pos->text, sizeof(pos->text), "%u:%u", (unsigned)t, (unsigned)i);
}

int
mongo_entry_ts(const bson_t *entry, uint32_t *t, uint32_t *i)
{
	bson_iter_t it;
	if (!bson_iter_init_find(&it, entry, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it))
		return 0;
	bson_iter_timestamp(&it, t, i);
	return 1;
}

/* Is db one of the databases backup() reads? */
int
mongo_db_in_scope(const struct mongo_inst *mi, const char *db)
{
	const char *uri_db = mongoc_uri_get_database(mi->uri);
	if (mi->ndatabases) {
		for (size_t k = 0; k < mi->ndatabases; k++)
			if (!strcmp(mi->databases[k], db))
				return 1;
		return 0;
	}
	if (uri_db)
		return !strcmp(uri_db, db);
	return strcmp(db, "admin") && strcmp(db, "local") && strcmp(db, "config");
}

/* Is the namespace "db.coll" (len bytes of ns) one backup() reads? */
static int
oplog_ns_in_scope(const struct mongo_inst *mi, const char *ns, size_t len)
{
	char *copy = strndup(ns, len), *dot;
	int yes = 0;
	if (!copy)
		return -1;
	if ((dot = strchr(copy, '.')) != NULL && dot != copy && dot[1]) {
		*dot = '\0';
		yes = mongo_db_in_scope(mi, copy) && !mongo_system_ns(copy, dot + 1) &&
		      mongo_selected(mi, copy, dot + 1);
	}
	free(copy);
	return yes;
}

/* A command's database: the part of ns before ".$cmd". */
static char *
oplog_cmd_db(const char *ns)
{
	const char *dot = strchr(ns, '.');
	return dot ? strndup(ns, (size_t)(dot - ns)) : NULL;
}

/* Commands whose value is the name of the collection they change. */
static const char *const oplog_coll_cmds[] = {
        "create",          "drop",
        "createIndexes",   "dropIndexes",
        "deleteIndexes",   "collMod",
        "startIndexBuild", "commitIndexBuild",
        "abortIndexBuild", "convertToCapped",
        "emptycapped",     NULL,
};

static int oplog_scope(const struct mongo_inst *mi, const bson_t *entry, bson_t *out, int depth);

/* The entry with o.applyOps replaced by the inner entries kept. */
static int
oplog_rewrite(const bson_t *entry, const bson_t *kept, bson_t *out)
{
	bson_iter_t it, o;
	bson_init(out);
	if (!bson_iter_init(&it, entry))
		return CAIRN_E_CORRUPT;
	while (bson_iter_next(&it)) {
		bson_t sub;
		if (strcmp(bson_iter_key(&it), "o") != 0 || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
			bson_append_iter(out, NULL, 0, &it);
			continue;
		}
		bson_append_document_begin(out, "o", 1, &sub);
		bson_iter_recurse(&it, &o);
		while (bson_iter_next(&o)) {
			if (!strcmp(bson_iter_key(&o), "applyOps"))
				bson_append_array(&sub, "applyOps", 8, kept);
			else
				bson_append_iter(&sub, NULL, 0, &o);
		}
		bson_append_document_end(out, &sub);
	}
	return 0;
}

/* Is the entry part of a transaction (kept, if only as an empty frame,
 * so a replay can follow its chain)? */
static int
oplog_is_txn(const bson_t *entry, const bson_t *o)
{
	bson_iter_t it;
	return (bson_iter_init_find(&it, entry, "lsid") &&
	        bson_iter_init_find(&it, entry, "txnNumber")) ||
	       bson_iter_init_find(&it, o, "prepare") || bson_iter_init_find(&it, o, "partialTxn");
}

/* An applyOps command: its inner entries, each through oplog_scope. */
static int
oplog_scope_applyops(const struct mongo_inst *mi, const bson_t *entry, const bson_t *o, bson_t *out,
                     int depth)
{
	bson_t list, kept = BSON_INITIALIZER;
	bson_iter_t it;
	uint32_t n = 0, all = 0;
	int rc = 0, changed = 0;

	if (!mongo_bson_sub(o, "applyOps", 1, &list) || !bson_iter_init(&it, &list))
		return CAIRN_E_CORRUPT;
	while (rc >= 0 && bson_iter_next(&it)) {
		bson_t inner, part;
		uint32_t len;
		const uint8_t *data;
		char key[16];
		const char *k;
		if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
			rc = CAIRN_E_CORRUPT;
			break;
		}
		all++;
		bson_iter_document(&it, &len, &data);
		if (!bson_init_static(&inner, data, len)) {
			rc = CAIRN_E_CORRUPT;
			break;
		}
		rc = oplog_scope(mi, &inner, &part, depth + 1);
		if (rc == MONGO_OPLOG_SKIP)
			continue;
		bson_uint32_to_string(n++, &k, key, sizeof(key));
		if (rc == MONGO_OPLOG_KEEP)
			bson_append_document(&kept, k, -1, &inner);
		else if (rc == MONGO_OPLOG_PART) {
			bson_append_document(&kept, k, -1, &part);
			bson_destroy(&part);
			changed = 1;
		}
	}
	if (rc >= 0) {
		if (n == all && n > 0 && !changed)
			rc = MONGO_OPLOG_KEEP;
		else if (n == 0 && !oplog_is_txn(entry, o))
			rc = MONGO_OPLOG_SKIP;
		else if ((rc = oplog_rewrite(entry, &kept, out)) == 0)
			rc = MONGO_OPLOG_PART;
		else
			bson_destroy(out);
	}
	bson_destroy(&kept);
	return rc;
}

/* A renameCollection: kept when either side is the source's. */
static int
oplog_scope_rename(const struct mongo_inst *mi, const bson_t *o)
{
	bson_iter_t from, to;
	const char *f, *t;
	uint32_t flen, tlen;
	int a, b;

	if (!bson_iter_init_find(&from, o, "renameCollection") || !BSON_ITER_HOLDS_UTF8(&from) ||
	    !bson_iter_init_find(&to, o, "to") || !BSON_ITER_HOLDS_UTF8(&to))
		return CAIRN_E_CORRUPT;
	f = bson_iter_utf8(&from, &flen);
	t = bson_iter_utf8(&to, &tlen);
	if ((a = oplog_ns_in_scope(mi, f, flen)) < 0 || (b = oplog_ns_in_scope(mi, t, tlen)) < 0)
		return CAIRN_E_NOMEM;
	return a || b ? MONGO_OPLOG_KEEP : MONGO_OPLOG_SKIP;
}

/* A command entry ("c"): which collection or database it changes. */
static int
oplog_scope_cmd(const struct mongo_inst *mi, const bson_t *entry, const char *ns, bson_t *out,
                int depth)
{
	bson_t o;
	bson_iter_t it;
	const char *name;
	char *db;
	int rc = MONGO_OPLOG_SKIP;

	if (!mongo_bson_sub(entry, "o", 0, &o) || !bson_iter_init(&it, &o) || !bson_iter_next(&it))
		return CAIRN_E_CORRUPT;
	name = bson_iter_key(&it);
	if (!strcmp(name, "applyOps"))
		return oplog_scope_applyops(mi, entry, &o, out, depth);
	if (!strcmp(name, "commitTransaction") || !strcmp(name, "abortTransaction"))
		return MONGO_OPLOG_KEEP;
	if (!strcmp(name, "renameCollection"))
		return oplog_scope_rename(mi, &o);
	if (!(db = oplog_cmd_db(ns)))
		return CAIRN_E_NOMEM;
	if (!strcmp(name, "dropDatabase"))
		rc = mongo_db_in_scope(mi, db) ? MONGO_OPLOG_KEEP : MONGO_OPLOG_SKIP;
	for (size_t k = 0; oplog_coll_cmds[k] && rc == MONGO_OPLOG_SKIP; k++) {
		if (strcmp(name, oplog_coll_cmds[k]) != 0)
			continue;
		if (!BSON_ITER_HOLDS_UTF8(&it))
			rc = CAIRN_E_CORRUPT;
		else if (mongo_db_in_scope(mi, db) &&
		         !mongo_system_ns(db, bson_iter_utf8(&it, NULL)) &&
		         mongo_selected(mi, db, bson_iter_utf8(&it, NULL)))
			rc = MONGO_OPLOG_KEEP;
		break;
	}
	free(db);
	return rc;
}

static int
oplog_scope(const struct mongo_inst *mi, const bson_t *entry, bson_t *out, int depth)
{
	bson_iter_t it;
	const char *op, *ns;
	uint32_t nslen;

	if (depth > OPLOG_MAX_DEPTH)
		return CAIRN_E_CORRUPT;
	if (!bson_iter_init_find(&it, entry, "op") || !BSON_ITER_HOLDS_UTF8(&it))
		return CAIRN_E_CORRUPT;
	op = bson_iter_utf8(&it, NULL);
	if (!bson_iter_init_find(&it, entry, "ns") || !BSON_ITER_HOLDS_UTF8(&it))
		return !strcmp(op, "n") ? MONGO_OPLOG_SKIP : CAIRN_E_CORRUPT;
	ns = bson_iter_utf8(&it, &nslen);
	if (!strcmp(op, "n"))
		return MONGO_OPLOG_SKIP;
	if (!strcmp(op, "c"))
		return oplog_scope_cmd(mi, entry, ns, out, depth);
	if (strcmp(op, "i") && strcmp(op, "u") && strcmp(op, "d"))
		return CAIRN_E_CORRUPT;
	switch (oplog_ns_in_scope(mi, ns, nslen)) {
	case 1: return MONGO_OPLOG_KEEP;
	case 0: return MONGO_OPLOG_SKIP;
	default: return CAIRN_E_NOMEM;
	}
}

int
mongo_oplog_scope(const struct mongo_inst *mi, const bson_t *entry, bson_t *out)
{
	return oplog_scope(mi, entry, out, 0);
}

/* ------------------------------------------------------------ the server */

int
mongo_is_replset(struct mongo_inst *mi, mongoc_client_t *client, int *yes)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	bson_iter_t it;
	int ok;

	BSON_APPEND_INT32(&cmd, "hello", 1);
	ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &err);
	bson_destroy(&cmd);
	if (!ok && err.code == 59) {
		/* before 4.4.2 (hello is unknown): isMaster says the same */
		bson_destroy(&reply);
		bson_init(&cmd);
		BSON_APPEND_INT32(&cmd, "isMaster", 1);
		ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &err);
		bson_destroy(&cmd);
	}
	if (!ok) {
		bson_destroy(&reply);
		mongo_err(mi, "server %s: hello failed: %s", mi->server, err.message);
		return mongo_code(&err);
	}
	*yes = bson_iter_init_find(&it, &reply, "setName") && BSON_ITER_HOLDS_UTF8(&it);
	bson_destroy(&reply);
	return 0;
}

int
mongo_oplog_edge(struct mongo_inst *mi, mongoc_client_t *client, int newest, uint32_t *t,
                 uint32_t *i, bson_error_t *err)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, "local", "oplog.rs");
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	int rc = CAIRN_E_NOTFOUND;

	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "$natural", newest ? -1 : 1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_BOOL(&opts, "singleBatch", true);
	cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	if (mongoc_cursor_next(cur, &doc))
		rc = mongo_entry_ts(doc, t, i) ? 0 : CAIRN_E_CORRUPT;
	if (rc == CAIRN_E_CORRUPT)
		mongo_err(mi, "server %s: the %s entry of local.oplog.rs has no ts", mi->server,
		          newest ? "newest" : "oldest");
	else if (mongoc_cursor_error(cur, err))
		rc = CAIRN_E_IO;
	else if (rc == CAIRN_E_NOTFOUND)
		mongo_err(mi, "server %s: local.oplog.rs is empty", mi->server);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return rc;
}
