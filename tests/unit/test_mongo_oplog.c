/*
 * test_mongo_oplog.c - unit tests of the mongo source's oplog filter and
 * positions (plugins/mongo/oplog.c) and of how follow.c names libmongoc's
 * errors, without a server.  The plugin's .c files are included to reach
 * their statics; the core is tests/unit/fakehost.c.
 */
#include "../../plugins/mongo/common.c"
#include "../../plugins/mongo/namespace.c"
#include "../../plugins/mongo/oplog.c"
#include "../../plugins/mongo/follow.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakehost.h"

/* An instance with databases, include and exclude as given (NULL: none). */
static struct mongo_inst *
inst(const char *uri, const char *dbs, const char *include, const char *exclude)
{
	struct mongo_inst *mi = calloc(1, sizeof(*mi));
	const char *lists[3] = {dbs, include, exclude};
	char ***vec[3] = {&mi->databases, &mi->include, &mi->exclude};
	size_t *n[3] = {&mi->ndatabases, &mi->ninclude, &mi->nexclude};

	mongo_host = &fake_host;
	mi->ctx = fake_ctx_new();
	mi->uri = mongoc_uri_new(uri);
	mi->server = strdup("h:27017");
	assert_non_null(mi->uri);
	for (int k = 0; k < 3; k++) {
		char *copy, *save = NULL, *w;
		if (!lists[k])
			continue;
		copy = strdup(lists[k]);
		*vec[k] = calloc(16, sizeof(char *));
		for (w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
			(*vec[k])[(*n[k])++] = strdup(w);
		free(copy);
	}
	return mi;
}

static void
inst_free(struct mongo_inst *mi)
{
	char **vec[3] = {mi->databases, mi->include, mi->exclude};
	size_t n[3] = {mi->ndatabases, mi->ninclude, mi->nexclude};
	for (int k = 0; k < 3; k++) {
		for (size_t j = 0; j < n[k]; j++)
			free(vec[k][j]);
		free(vec[k]);
	}
	mongoc_uri_destroy(mi->uri);
	free(mi->server);
	free(mi->ctx);
	free(mi);
}

static bson_t *
crud(const char *op, const char *ns)
{
	return BCON_NEW("op", BCON_UTF8(op), "ns", BCON_UTF8(ns), "ui", BCON_INT32(0), "o", "{",
	                "_id", BCON_INT32(1), "}", "ts", BCON_TIMESTAMP(100, 1), "t",
	                BCON_INT64(1));
}

static bson_t *
cmd(const char *db_cmd, const char *name, const char *value)
{
	return BCON_NEW("op", "c", "ns", BCON_UTF8(db_cmd), "o", "{", name, BCON_UTF8(value), "}",
	                "ts", BCON_TIMESTAMP(100, 2));
}

static int
scope(struct mongo_inst *mi, bson_t *entry)
{
	bson_t part;
	int rc = mongo_oplog_scope(mi, entry, &part);
	if (rc == MONGO_OPLOG_PART)
		bson_destroy(&part);
	bson_destroy(entry);
	return rc;
}

static void
test_positions(void **state)
{
	struct cairn_log_pos pos;
	uint32_t t = 0, i = 0;
	bson_t *e = crud("i", "shop.orders");
	(void)state;

	mongo_ts_pos(1733580000u, 12, &pos);
	assert_int_equal(pos.lsn, ((uint64_t)1733580000u << 32) | 12);
	assert_int_equal(pos.time_ms, 1733580000000LL);
	assert_string_equal(pos.text, "1733580000:12");
	mongo_ts_pos(UINT32_MAX, UINT32_MAX, &pos);
	assert_string_equal(pos.text, "4294967295:4294967295");
	assert_int_equal(pos.lsn, UINT64_MAX);
	assert_true(mongo_entry_ts(e, &t, &i));
	assert_int_equal(t, 100);
	assert_int_equal(i, 1);
	bson_destroy(e);
	e = BCON_NEW("op", "n");
	assert_false(mongo_entry_ts(e, &t, &i));
	bson_destroy(e);
}

/* CRUD entries: the source's databases (the default leaves out admin,
 * local and config), include and exclude, system collections. */
static void
test_crud_scope(void **state)
{
	struct mongo_inst *all = inst("mongodb://h/", NULL, NULL, NULL);
	struct mongo_inst *shop = inst("mongodb://h/", "shop", NULL, "shop.secret*");
	struct mongo_inst *uridb = inst("mongodb://h/shop", NULL, "*.orders", NULL);
	(void)state;

	assert_int_equal(scope(all, crud("i", "shop.orders")), MONGO_OPLOG_KEEP);
	assert_int_equal(scope(all, crud("u", "other.x")), MONGO_OPLOG_KEEP);
	assert_int_equal(scope(all, crud("d", "admin.x")), MONGO_OPLOG_SKIP);
	assert_int_equal(scope(all, crud("i", "config.system.sessions")), MONGO_OPLOG_SKIP);
	assert_int_equal(scope(all, crud("i", "local.x")), MONGO_OPLOG_SKIP);
	assert_int_equal(scope(all, crud("i", "shop.system.views")), MONGO_OPLOG_SKIP);
	assert_int_equal(scope(all, crud("i", "shop.system.js")), MONGO_OPLOG_KEEP);
	assert_int_equal(scope(shop, crud("i", "shop.orders")), MONGO_OPLOG_KEEP);
	assert_int_equal(scope(shop, crud("i", "shop.secrets")), MONGO_OPLOG_SKIP);
	assert_int_equal(scope(shop, crud("i", "shopx.orders")), MONGO_OPLOG_SKIP);
	assert_int_equal(scope(shop, crud("i", "other.orders")), MONGO_OPLOG_SKIP);
	/* a collection name with dots: the database is before the first */
	assert_int_equal(scope(shop, crud("i", "shop.a.b")), MONGO_OPLOG_KEEP);
	assert_int_equal(scope(uridb, crud("i", "shop.orders")), MONGO_OPLOG_KEEP);
	assert_int_equal(scope(uridb, crud("i", "shop.users")), MONGO_OPLOG_SKIP);
	assert_int_equal(scope(uridb, crud("i", "other.orders")), MONGO_OPLOG_SKIP);
	/* no-ops are never the source's; a no-op without ns is fine */
	assert_int_equal(
	        scope(all, BCON_NEW("op", "n", "ns", "", "o", "{", "msg", "periodic noop", "}")),
	        MONGO_OPLOG_SKIP);
	assert_int_equal(scope(all, BCON_NEW("op", "n")), MONGO_OPLOG_SKIP);
	inst_free(all);
	inst_free(shop);
	inst_free(uridb);
}

/* Commands: by the collection they change, the database they drop, either
 * side of a rename; transactions' commits always. */
static void
test_cmd_scope(void **state)
{
	struct mongo_inst *mi = inst("mongodb://h/", "shop", NULL, "shop.tmp");
	const char *coll_cmds[] = {"create",      "drop",    "createIndexes",
	                           "dropIndexes", "collMod", "commitIndexBuild",
	                           NULL};
	(void)state;

	for (int k = 0; coll_cmds[k]; k++) {
		assert_int_equal(scope(mi, cmd("shop.$cmd", coll_cmds[k], "orders")),
		                 MONGO_OPLOG_KEEP);
		assert_int_equal(scope(mi, cmd("shop.$cmd", coll_cmds[k], "tmp")),
		                 MONGO_OPLOG_SKIP);
		assert_int_equal(scope(mi, cmd("other.$cmd", coll_cmds[k], "orders")),
		                 MONGO_OPLOG_SKIP);
	}
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{", "dropDatabase",
	                                    BCON_INT32(1), "}")),
	                 MONGO_OPLOG_KEEP);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "other.$cmd", "o", "{", "dropDatabase",
	                                    BCON_INT32(1), "}")),
	                 MONGO_OPLOG_SKIP);
	/* renames: in, out, within, elsewhere */
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{",
	                                    "renameCollection", "other.a", "to", "shop.a", "}")),
	                 MONGO_OPLOG_KEEP);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{",
	                                    "renameCollection", "shop.a", "to", "other.a", "}")),
	                 MONGO_OPLOG_KEEP);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{",
	                                    "renameCollection", "shop.a", "to", "shop.tmp", "}")),
	                 MONGO_OPLOG_KEEP);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "other.$cmd", "o", "{",
	                                    "renameCollection", "other.a", "to", "other.b", "}")),
	                 MONGO_OPLOG_SKIP);
	assert_int_equal(
	        scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{", "renameCollection",
	                           "shop.tmp", "to", "other.tmp2", "}")),
	        MONGO_OPLOG_SKIP);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "admin.$cmd", "o", "{",
	                                    "commitTransaction", BCON_INT32(1), "}")),
	                 MONGO_OPLOG_KEEP);
	/* a command that changes nothing of the source's */
	assert_int_equal(scope(mi, cmd("shop.$cmd", "somethingNew", "orders")), MONGO_OPLOG_SKIP);
	inst_free(mi);
}

/* An applyOps: kept whole, rewritten with the source's inner entries in
 * the server's field order, or left out; a transaction's stays, empty. */
static void
test_applyops_scope(void **state)
{
	struct mongo_inst *mi = inst("mongodb://h/", "shop", NULL, NULL);
	bson_t *e, part, o, list;
	bson_iter_t it;
	char *json;
	(void)state;

	e = BCON_NEW("op", "c", "ns", "admin.$cmd", "o", "{", "applyOps", "[", "{", "op", "i", "ns",
	             "shop.a", "o", "{", "_id", BCON_INT32(1), "}", "}", "{", "op", "i", "ns",
	             "shop.b", "o", "{", "_id", BCON_INT32(2), "}", "}", "]", "}", "ts",
	             BCON_TIMESTAMP(5, 1));
	assert_int_equal(scope(mi, e), MONGO_OPLOG_KEEP);

	e = BCON_NEW("op", "c", "ns", "admin.$cmd", "o", "{", "applyOps", "[", "{", "op", "i", "ns",
	             "other.a", "o", "{", "_id", BCON_INT32(1), "}", "}", "{", "op", "d", "ns",
	             "shop.b", "o", "{", "_id", BCON_INT32(2), "}", "}", "]", "lsid", "{", "id",
	             BCON_INT32(9), "}", "}", "ts", BCON_TIMESTAMP(5, 2), "wall",
	             BCON_DATE_TIME(5000));
	assert_int_equal(mongo_oplog_scope(mi, e, &part), MONGO_OPLOG_PART);
	json = bson_as_relaxed_extended_json(&part, NULL);
	assert_string_equal(
	        json,
	        "{ \"op\" : \"c\", \"ns\" : \"admin.$cmd\", \"o\" : { \"applyOps\" : [ { \"op\" : \"d\", \"ns\" : \"shop.b\", \"o\" : { \"_id\" : 2 } } ], \"lsid\" : { \"id\" : 9 } }, \"ts\" : { \"$timestamp\" : { \"t\" : 5, \"i\" : 2 } }, \"wall\" : { \"$date\" : \"1970-01-01T00:00:05Z\" } }");
	bson_free(json);
	bson_destroy(&part);
	bson_destroy(e);

	e = BCON_NEW("op", "c", "ns", "admin.$cmd", "o", "{", "applyOps", "[", "{", "op", "i", "ns",
	             "other.a", "o", "{", "_id", BCON_INT32(1), "}", "}", "]", "}");
	assert_int_equal(scope(mi, e), MONGO_OPLOG_SKIP);

	/* a transaction's entry stays, with nothing of another database */
	e = BCON_NEW("lsid", "{", "id", BCON_INT32(1), "}", "txnNumber", BCON_INT64(3), "op", "c",
	             "ns", "admin.$cmd", "o", "{", "applyOps", "[", "{", "op", "i", "ns", "other.a",
	             "o", "{", "_id", BCON_INT32(1), "}", "}", "]", "partialTxn", BCON_BOOL(true),
	             "}");
	assert_int_equal(mongo_oplog_scope(mi, e, &part), MONGO_OPLOG_PART);
	assert_true(mongo_bson_sub(&part, "o", 0, &o));
	assert_true(mongo_bson_sub(&o, "applyOps", 1, &list));
	assert_true(bson_empty(&list));
	assert_true(bson_iter_init_find(&it, &o, "partialTxn"));
	bson_destroy(&part);
	bson_destroy(e);

	/* nested: the inner applyOps is filtered too */
	e = BCON_NEW("op", "c", "ns", "admin.$cmd", "o", "{", "applyOps", "[", "{", "op", "c", "ns",
	             "admin.$cmd", "o", "{", "applyOps", "[", "{", "op", "i", "ns", "shop.a", "o",
	             "{", "_id", BCON_INT32(1), "}", "}", "{", "op", "i", "ns", "other.a", "o", "{",
	             "_id", BCON_INT32(1), "}", "}", "]", "}", "}", "]", "}");
	assert_int_equal(mongo_oplog_scope(mi, e, &part), MONGO_OPLOG_PART);
	json = bson_as_relaxed_extended_json(&part, NULL);
	assert_non_null(strstr(json, "shop.a"));
	assert_null(strstr(json, "other.a"));
	bson_free(json);
	bson_destroy(&part);
	bson_destroy(e);
	inst_free(mi);
}

/* What is not an oplog entry is CAIRN_E_CORRUPT, never kept or skipped. */
static void
test_damaged_entries(void **state)
{
	struct mongo_inst *mi = inst("mongodb://h/", NULL, NULL, NULL);
	bson_t *deep = BCON_NEW("op", "i", "ns", "shop.a", "o", "{", "}");
	(void)state;

	assert_int_equal(scope(mi, BCON_NEW("ns", "shop.a")), CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", BCON_INT32(1), "ns", "shop.a")), CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "x", "ns", "shop.a")), CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "i")), CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd")), CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{", "}")),
	                 CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{", "applyOps",
	                                    BCON_INT32(1), "}")),
	                 CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{", "applyOps", "[",
	                                    BCON_INT32(1), "]", "}")),
	                 CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{", "create",
	                                    BCON_INT32(1), "}")),
	                 CAIRN_E_CORRUPT);
	assert_int_equal(scope(mi, BCON_NEW("op", "c", "ns", "shop.$cmd", "o", "{",
	                                    "renameCollection", "shop.a", "}")),
	                 CAIRN_E_CORRUPT);
	/* applyOps nested past OPLOG_MAX_DEPTH */
	for (int k = 0; k <= OPLOG_MAX_DEPTH + 1; k++) {
		bson_t *outer = bson_new(), o, list;
		BSON_APPEND_UTF8(outer, "op", "c");
		BSON_APPEND_UTF8(outer, "ns", "admin.$cmd");
		BSON_APPEND_DOCUMENT_BEGIN(outer, "o", &o);
		BSON_APPEND_ARRAY_BEGIN(&o, "applyOps", &list);
		BSON_APPEND_DOCUMENT(&list, "0", deep);
		bson_append_array_end(&o, &list);
		bson_append_document_end(outer, &o);
		bson_destroy(deep);
		deep = outer;
	}
	assert_int_equal(scope(mi, deep), CAIRN_E_CORRUPT);
	inst_free(mi);
}

static void
test_follow_codes(void **state)
{
	bson_error_t e = {0};
	(void)state;

	e.domain = MONGOC_ERROR_SERVER;
	e.code = 136;
	assert_int_equal(mongo_follow_code(&e), CAIRN_E_LOGLOST);
	e.code = 43; /* CursorNotFound: the server restarted */
	assert_int_equal(mongo_follow_code(&e), CAIRN_E_RETRYABLE);
	e.code = 91;
	assert_int_equal(mongo_follow_code(&e), CAIRN_E_RETRYABLE);
	e.code = 18;
	assert_int_equal(mongo_follow_code(&e), CAIRN_E_AUTH);
	e.code = 2;
	assert_int_equal(mongo_follow_code(&e), CAIRN_E_IO);
	e.domain = MONGOC_ERROR_STREAM;
	e.code = MONGOC_ERROR_STREAM_SOCKET;
	assert_int_equal(mongo_follow_code(&e), CAIRN_E_RETRYABLE);
	e.domain = MONGOC_ERROR_SERVER_SELECTION;
	e.code = MONGOC_ERROR_SERVER_SELECTION_FAILURE;
	assert_int_equal(mongo_follow_code(&e), CAIRN_E_RETRYABLE);
	assert_string_equal(mongo_log_extension(NULL), "bson");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_positions),       cmocka_unit_test(test_crud_scope),
	        cmocka_unit_test(test_cmd_scope),       cmocka_unit_test(test_applyops_scope),
	        cmocka_unit_test(test_damaged_entries), cmocka_unit_test(test_follow_codes),
	};
	mongo_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
