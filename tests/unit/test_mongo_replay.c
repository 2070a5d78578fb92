/*
 * test_mongo_replay.c - unit tests of the mongo source's replay of an
 * oplog log, without a server: hand-built oplog entries in segments fed
 * through a fake cairn_log_replay (short reads), parsed (PARSE) or given
 * to the applier, whose commands to the server are recorded by a fake
 * send instead (batches, renames, include/exclude, transactions, nested
 * applyOps, the cut at until_ms, the skip at after, a refusal's message,
 * the test's counts).
 *
 * The plugin's .c files are included to reach their statics; the core is
 * replaced by tests/unit/fakehost.c.
 */
#include "../../plugins/mongo/common.c"
#include "../../plugins/mongo/namespace.c"
#include "../../plugins/mongo/mongo.c"
#include "../../plugins/mongo/probe.c"
#include "../../plugins/mongo/dumpwrite.c"
#include "../../plugins/mongo/dumpread.c"
#include "../../plugins/mongo/backup.c"
#include "../../plugins/mongo/target.c"
#include "../../plugins/mongo/plan.c"
#include "../../plugins/mongo/load.c"
#include "../../plugins/mongo/stage.c"
#include "../../plugins/mongo/restore.c"
#include "../../plugins/mongo/verify.c"
#include "../../plugins/mongo/restore_test.c"
#include "../../plugins/mongo/indexes.c"
#include "../../plugins/mongo/oplogentry.c"
#include "../../plugins/mongo/oplogmap.c"
#include "../../plugins/mongo/applyops.c"
#include "../../plugins/mongo/replay.c"
#include "../../plugins/mongo/oplog.c"
#include "../../plugins/mongo/follow.c"
#include "../../plugins/mongo/backup_oplog.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakehost.h"

#define T0 1733580000u

/* ------------------------------------------------------------- entries */

static const uint8_t uuid16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* An oplog entry as mongod 6.0 writes it: op, ns, ui, o, o2, ts, t, v,
 * wall.  o and o2 are JSON (NULL: none). */
static bson_t *
entry(const char *op, const char *ns, uint32_t t, uint32_t i, const char *o, const char *o2)
{
	bson_t *e = bson_new(), *od;
	bson_error_t err;
	BSON_APPEND_UTF8(e, "op", op);
	BSON_APPEND_UTF8(e, "ns", ns);
	bson_append_binary(e, "ui", -1, BSON_SUBTYPE_UUID, uuid16, 16);
	od = bson_new_from_json((const uint8_t *)o, -1, &err);
	assert_non_null(od);
	BSON_APPEND_DOCUMENT(e, "o", od);
	bson_destroy(od);
	if (o2) {
		od = bson_new_from_json((const uint8_t *)o2, -1, &err);
		assert_non_null(od);
		BSON_APPEND_DOCUMENT(e, "o2", od);
		bson_destroy(od);
	}
	bson_append_timestamp(e, "ts", -1, t, i);
	BSON_APPEND_INT64(e, "t", 1);
	BSON_APPEND_INT64(e, "v", 2);
	BSON_APPEND_DATE_TIME(e, "wall", (int64_t)t * 1000);
	return e;
}

/* A transaction's entry (lsid, txnNumber) at ts t:5, o in JSON. */
static bson_t *
txn_entry(uint32_t t, int64_t txn, const char *o)
{
	bson_t *e = bson_new(), *od, lsid;
	bson_error_t err;
	BSON_APPEND_UTF8(e, "op", "c");
	BSON_APPEND_UTF8(e, "ns", "admin.$cmd");
	od = bson_new_from_json((const uint8_t *)o, -1, &err);
	assert_non_null(od);
	BSON_APPEND_DOCUMENT(e, "o", od);
	bson_destroy(od);
	BSON_APPEND_DOCUMENT_BEGIN(e, "lsid", &lsid);
	bson_append_binary(&lsid, "id", -1, BSON_SUBTYPE_UUID, uuid16, 16);
	bson_append_document_end(e, &lsid);
	BSON_APPEND_INT64(e, "txnNumber", txn);
	bson_append_timestamp(e, "ts", -1, t, 5);
	BSON_APPEND_INT64(e, "t", 1);
	return e;
}

/* A segment: entries' bytes concatenated (each destroyed). */
struct seg {
	uint8_t *data;
	size_t len;
};

static void
seg_add(struct seg *s, bson_t *e)
{
	s->data = realloc(s->data, s->len + e->len);
	assert_non_null(s->data);
	memcpy(s->data + s->len, bson_get_data(e), e->len);
	s->len += e->len;
	bson_destroy(e);
}

/* ------------------------------------------------- the core's replay */

struct mem_in {
	struct cairn_in in;
	const uint8_t *data;
	size_t len, pos;
};

static ssize_t
mem_read(struct cairn_in *self, void *buf, size_t len)
{
	struct mem_in *m = (struct mem_in *)self;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	if (n > 7)
		n = 7; /* short reads: every entry straddles reads */
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

struct fake_rp {
	struct cairn_log_replay rp;
	struct seg *segs;
	size_t nsegs, at;
	struct mem_in in;
};

static int
fake_next(struct cairn_log_replay *self, struct cairn_in **in)
{
	struct fake_rp *f = (struct fake_rp *)self;
	if (f->at == f->nsegs)
		return 0;
	memset(&f->in, 0, sizeof(f->in));
	f->in.in.struct_size = sizeof(f->in.in);
	f->in.in.read = mem_read;
	f->in.data = f->segs[f->at].data;
	f->in.len = f->segs[f->at].len;
	f->at++;
	*in = &f->in.in;
	return 1;
}

static void
fake_rp_init(struct fake_rp *f, struct seg *segs, size_t n, unsigned flags)
{
	memset(f, 0, sizeof(*f));
	f->rp.struct_size = sizeof(f->rp);
	f->rp.flags = flags;
	f->rp.until_ms = INT64_MAX;
	f->rp.next = fake_next;
	f->segs = segs;
	f->nsegs = n;
}

/* --------------------------------------------------- the fake server */

struct sent {
	char db[64];
	char *json;
};
static struct sent sent[64];
static int nsent;
/* the calls (bit k: the k-th, from 1) the server refuses; the reply's
 * results for a refused call */
static unsigned refuse_calls;
static int refuse_results = -1; /* -1: no results in the reply */

static int
fake_send(struct mongo_apply *ap, const char *db, const bson_t *cmd, bson_t *reply,
          bson_error_t *err)
{
	(void)ap;
	assert_true(nsent < 64);
	snprintf(sent[nsent].db, sizeof(sent[nsent].db), "%s", db);
	sent[nsent].json = bson_as_relaxed_extended_json(cmd, NULL);
	nsent++;
	bson_init(reply);
	if (!(refuse_calls & (1u << nsent))) {
		BSON_APPEND_DOUBLE(reply, "ok", 1.0);
		return 1;
	}
	if (refuse_results >= 0) {
		bson_t arr;
		BSON_APPEND_ARRAY_BEGIN(reply, "results", &arr);
		for (int k = 0; k <= refuse_results; k++)
			BSON_APPEND_BOOL(&arr, k ? "1" : "0", k < refuse_results);
		bson_append_array_end(reply, &arr);
	}
	bson_set_error(err, MONGOC_ERROR_SERVER, 26,
	               "Failed to apply operation due to missing collection");
	return 0;
}

static void
sent_clear(void)
{
	for (int k = 0; k < nsent; k++)
		bson_free(sent[k].json);
	nsent = 0;
	refuse_calls = 0;
	refuse_results = -1;
}

/* How often needle occurs in the k-th command sent. */
static int
sent_has(int k, const char *needle)
{
	int n = 0;
	assert_true(k < nsent);
	for (const char *p = sent[k].json; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* --------------------------------------------------------------- setup */

static struct mongo_inst *
make_inst(cairn_ctx *ctx, ...)
{
	const char *kv[16];
	va_list ap;
	int n = 0;
	struct cairn_config *cfg;
	void *inst = NULL;

	va_start(ap, ctx);
	while ((kv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	for (int k = n; k < 16; k++)
		kv[k] = NULL;
	cfg = fake_config(mongo_keys, "uri", "mongodb://127.0.0.1:1", kv[0], kv[1], kv[2], kv[3],
	                  kv[4], kv[5], kv[6], kv[7], kv[8], kv[9], kv[10], kv[11], NULL);
	assert_int_equal(mongo_ops.create(ctx, cfg, &inst), 0);
	fake_config_free(cfg);
	return inst;
}

static struct mongo_apply *
make_ap(struct mongo_inst *mi)
{
	struct mongo_apply *ap = mongo_oplog_apply_new(mi, NULL);
	assert_non_null(ap);
	ap->send = fake_send;
	return ap;
}

/* Run the walk of mongo_replay over segs with the applier ap (NULL:
 * PARSE), as rp_restore does after the base. */
static int
walk(struct mongo_inst *mi, struct mongo_apply *ap, struct seg *segs, size_t n, uint64_t after,
     int64_t until, int64_t *records)
{
	struct fake_rp f;
	struct rp_walk w;
	int rc;
	fake_rp_init(&f, segs, n, ap ? 0 : CAIRN_REPLAY_PARSE);
	f.rp.after.lsn = after;
	f.rp.until_ms = until;
	memset(&w, 0, sizeof(w));
	w.mi = mi;
	w.rp = &f.rp;
	w.ap = ap;
	rc = rp_walk(&w);
	if (rc == 0 && ap)
		rc = mongo_oplog_apply_end(ap);
	*records = w.records;
	free(w.buf);
	return rc;
}

static int
setup(void **state)
{
	cairn_plugin_entry(&fake_host);
	*state = fake_ctx_new();
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	sent_clear();
	return 0;
}

static void
segs_free(struct seg *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(s[k].data);
}

/* ---------------------------------------------------------------- tests */

/* Two segments of every kind of entry: PARSE reads them all. */
static void
test_parse_good(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, NULL);
	struct seg s[2] = {{0}};
	struct fake_rp f;
	int rc;

	seg_add(&s[0], entry("n", "", T0, 1, "{\"msg\": \"periodic noop\"}", NULL));
	seg_add(&s[0], entry("i", "shop.orders", T0, 2, "{\"_id\": 1, \"a\": 1}", "{\"_id\": 1}"));
	seg_add(&s[0], entry("u", "shop.orders", T0 + 1, 1,
	                     "{\"$v\": 2, \"diff\": {\"u\": {\"a\": 2}}}", "{\"_id\": 1}"));
	seg_add(&s[1], entry("d", "shop.orders", T0 + 2, 1, "{\"_id\": 1}", NULL));
	seg_add(&s[1], entry("c", "shop.$cmd", T0 + 2, 2, "{\"drop\": \"orders\"}", NULL));
	fake_rp_init(&f, s, 2, CAIRN_REPLAY_PARSE);
	rc = mongo_replay(mi, &f.rp);
	assert_int_equal(rc, 0);
	assert_int_equal(fake_stat(ctx, "records"), 5);
	segs_free(s, 2);
	mongo_destroy(mi);
}

/* Damage of each kind: CAIRN_E_CORRUPT naming the segment and entry. */
static void
test_parse_damaged(void **state)
{
	static const struct {
		const char *why;
	} cases[] = {{"ends inside it"}, {"length passes 16 MiB"}, {"no ts"}, {"op is none of"},
	             {"not after"},      {"not well-formed"}};
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, NULL);

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct seg s[2] = {{0}};
		int64_t records;
		bson_t *e, o;
		seg_add(&s[0], entry("i", "a.b", T0, 1, "{\"_id\": 1}", NULL));
		seg_add(&s[1], entry("i", "a.b", T0, 2, "{\"_id\": 2}", NULL));
		switch (c) {
		case 0: /* cut short */
			seg_add(&s[1], entry("i", "a.b", T0, 3, "{\"_id\": 3}", NULL));
			s[1].len -= 3;
			break;
		case 1: /* a length no entry has */
			seg_add(&s[1], entry("i", "a.b", T0, 3, "{\"_id\": 3}", NULL));
			{
				/* the third entry's length: its first 4 bytes */
				bson_t *x = entry("i", "a.b", T0, 3, "{\"_id\": 3}", NULL);
				s[1].data[s[1].len - x->len + 3] = 0x7f;
				bson_destroy(x);
			}
			break;
		case 2:
			e = bson_new();
			BSON_APPEND_UTF8(e, "op", "i");
			BSON_APPEND_UTF8(e, "ns", "a.b");
			BSON_APPEND_DOCUMENT_BEGIN(e, "o", &o);
			bson_append_document_end(e, &o);
			seg_add(&s[1], e);
			break;
		case 3: seg_add(&s[1], entry("x", "a.b", T0, 3, "{\"_id\": 3}", NULL)); break;
		case 4: seg_add(&s[1], entry("i", "a.b", T0, 2, "{\"_id\": 3}", NULL)); break;
		case 5:
			seg_add(&s[1], entry("i", "a.b", T0, 3, "{\"_id\": 3}", NULL));
			s[1].data[s[1].len - 1] = 1; /* the terminator */
			break;
		}
		ctx->error[0] = '\0';
		assert_int_equal(walk(mi, NULL, s, 2, 0, INT64_MAX, &records), CAIRN_E_CORRUPT);
		assert_non_null(strstr(ctx->error, "log segment 2 of the chain, entry 2"));
		if (!strstr(ctx->error, cases[c].why))
			print_message("case %zu: %s\n", c, ctx->error);
		assert_non_null(strstr(ctx->error, cases[c].why));
		segs_free(s, 2);
	}
	mongo_destroy(mi);
}

/* CRUD entries in one applyOps batch: ui left out, ns renamed, entries
 * outside include/exclude and no-ops skipped. */
static void
test_batch_renames_selection(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, "ns_from", "shop.*", "ns_to", "copy.*", "exclude",
	                                  "shop.secret", NULL);
	struct mongo_apply *ap = make_ap(mi);
	struct seg s = {0};
	int64_t records;

	seg_add(&s, entry("i", "shop.orders", T0, 1, "{\"_id\": 1}", "{\"_id\": 1}"));
	seg_add(&s, entry("i", "shop.secret", T0, 2, "{\"_id\": 1}", "{\"_id\": 1}"));
	seg_add(&s, entry("n", "", T0, 3, "{\"msg\": \"periodic noop\"}", NULL));
	seg_add(&s, entry("u", "shop.orders", T0, 4, "{\"$set\": {\"a\": 1}}", "{\"_id\": 1}"));
	seg_add(&s, entry("d", "shop.orders", T0, 5, "{\"_id\": 1}", NULL));
	seg_add(&s, entry("i", "local.x", T0, 6, "{\"_id\": 1}", NULL));
	seg_add(&s, entry("i", "shop.system.profile", T0, 7, "{\"_id\": 1}", NULL));
	assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), 0);
	assert_int_equal(records, 7);
	assert_int_equal(nsent, 1);
	assert_string_equal(sent[0].db, "admin");
	assert_int_equal(sent_has(0, "\"applyOps\""), 1);
	assert_int_equal(sent_has(0, "\"ns\" : \"copy.orders\""), 3);
	assert_int_equal(sent_has(0, "shop."), 0);
	assert_int_equal(sent_has(0, "\"ui\""), 0);
	assert_int_equal(sent_has(0, "\"$set\""), 1);
	assert_int_equal(mongo_oplog_applied(ap), 3);
	assert_int_equal(ap->skipped, 4);
	mongo_oplog_apply_free(ap);
	free(s.data);
	mongo_destroy(mi);
}

/* Batches are bounded by OPLOG_BATCH_OPS; a command goes alone, after
 * the batch before it. */
static void
test_batch_bounds_commands(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, NULL);
	struct mongo_apply *ap = make_ap(mi);
	struct seg s = {0};
	int64_t records;
	uint32_t i = 1;

	for (int k = 0; k < OPLOG_BATCH_OPS + 5; k++)
		seg_add(&s, entry("i", "a.b", T0, i++, "{\"_id\": 1}", NULL));
	seg_add(&s, entry("c", "a.$cmd", T0, i++, "{\"create\": \"c\", \"capped\": true}", NULL));
	seg_add(&s,
	        entry("c", "a.$cmd", T0, i++,
	              "{\"createIndexes\": \"b\", \"v\": 2, \"key\": {\"x\": 1}, \"name\": \"x_1\"}",
	              NULL));
	seg_add(&s, entry("c", "a.$cmd", T0, i++, "{\"dropIndexes\": \"b\", \"index\": \"x_1\"}",
	                  "{\"v\": 2, \"key\": {\"x\": 1}, \"name\": \"x_1\"}"));
	seg_add(&s, entry("i", "a.b", T0, i++, "{\"_id\": 2}", NULL));
	seg_add(&s, entry("c", "a.$cmd", T0, i++, "{\"startIndexBuild\": \"b\"}", NULL));
	assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), 0);
	assert_int_equal(nsent, 6);
	assert_int_equal(sent_has(0, "\"op\" : \"i\""), OPLOG_BATCH_OPS);
	assert_int_equal(sent_has(1, "\"op\" : \"i\""), 5);
	assert_int_equal(sent_has(2, "\"create\" : \"c\""), 1);
	/* createIndexes: a command of its own, as mongorestore sends it */
	assert_string_equal(sent[3].db, "a");
	assert_int_equal(sent_has(3, "\"createIndexes\" : \"b\", \"indexes\" : [ { \"v\""), 1);
	assert_int_equal(sent_has(4, "\"dropIndexes\" : \"b\""), 1);
	assert_int_equal(sent_has(5, "\"_id\" : 2"), 1);
	assert_int_equal(mongo_oplog_applied(ap), OPLOG_BATCH_OPS + 9);
	mongo_oplog_apply_free(ap);
	free(s.data);
	mongo_destroy(mi);
}

/* renameCollection and dropDatabase under ns_from/ns_to. */
static void
test_rename_dropdatabase(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, "ns_from", "shop.*", "ns_to", "copy.*", NULL);
	struct mongo_apply *ap = make_ap(mi);
	struct seg s = {0};
	int64_t records;
	bson_t *e = entry("c", "shop.$cmd", T0, 1,
	                  "{\"renameCollection\": \"shop.a\", \"to\": \"shop.b\", \"stayTemp\": "
	                  "false, \"dropTarget\": {\"$binary\": {\"base64\": "
	                  "\"AQIDBAUGBwgJCgsMDQ4PEA==\", \"subType\": \"04\"}}}",
	                  NULL);

	seg_add(&s, e);
	seg_add(&s, entry("c", "shop.$cmd", T0, 2, "{\"dropDatabase\": 1}", NULL));
	assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), 0);
	assert_int_equal(nsent, 2);
	assert_int_equal(sent_has(0, "\"renameCollection\" : \"copy.a\""), 1);
	assert_int_equal(sent_has(0, "\"to\" : \"copy.b\""), 1);
	assert_int_equal(sent_has(0, "\"dropTarget\" : true"), 1);
	assert_int_equal(sent_has(0, "\"ns\" : \"copy.$cmd\""), 1);
	assert_int_equal(sent_has(1, "\"ns\" : \"copy.$cmd\", \"o\" : { \"dropDatabase\""), 1);
	mongo_oplog_apply_free(ap);
	free(s.data);
	mongo_destroy(mi);

	/* include takes part of shop: its dropDatabase is not applied, and a
	 * rename out of what is restored drops the source's target */
	mi = make_inst(ctx, "include", "shop.a", NULL);
	ap = make_ap(mi);
	sent_clear();
	s.data = NULL;
	s.len = 0;
	seg_add(&s, entry("c", "shop.$cmd", T0, 1,
	                  "{\"renameCollection\": \"shop.a\", \"to\": \"shop.z\"}", NULL));
	seg_add(&s, entry("c", "shop.$cmd", T0, 2, "{\"dropDatabase\": 1}", NULL));
	assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), 0);
	assert_int_equal(nsent, 1);
	assert_int_equal(sent_has(0, "\"ns\" : \"shop.$cmd\", \"o\" : { \"drop\" : \"a\" }"), 1);
	mongo_oplog_apply_free(ap);
	free(s.data);
	mongo_destroy(mi);
}

/* A nested applyOps and transactions are unwound into their entries; a
 * partial transaction waits for its commit, an aborted one is dropped. */
static void
test_nested_and_transactions(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, "ns_from", "shop.*", "ns_to", "copy.*", NULL);
	struct mongo_apply *ap = make_ap(mi);
	struct seg s = {0};
	int64_t records;

	seg_add(&s,
	        entry("c", "admin.$cmd", T0, 1,
	              "{\"applyOps\": [{\"op\": \"i\", \"ns\": \"shop.a\", \"o\": {\"_id\": 1}}, "
	              "{\"op\": \"d\", \"ns\": \"shop.a\", \"o\": {\"_id\": 7}}]}",
	              NULL));
	/* one-entry transaction */
	seg_add(&s,
	        txn_entry(T0 + 1, 1,
	                  "{\"applyOps\": [{\"op\": \"i\", \"ns\": \"shop.t1\", \"o\": {\"_id\": "
	                  "1}}]}"));
	/* a large one: partial, partial, then its last entry */
	seg_add(&s,
	        txn_entry(T0 + 2, 2,
	                  "{\"applyOps\": [{\"op\": \"i\", \"ns\": \"shop.t2\", \"o\": {\"_id\": "
	                  "1}}], \"partialTxn\": true}"));
	seg_add(&s,
	        txn_entry(T0 + 3, 3,
	                  "{\"applyOps\": [{\"op\": \"i\", \"ns\": \"shop.t3\", \"o\": {\"_id\": "
	                  "1}}], \"prepare\": true}"));
	seg_add(&s,
	        txn_entry(T0 + 4, 2,
	                  "{\"applyOps\": [{\"op\": \"i\", \"ns\": \"shop.t2\", \"o\": {\"_id\": "
	                  "2}}]}"));
	seg_add(&s, txn_entry(T0 + 5, 3, "{\"abortTransaction\": 1}"));
	assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), 0);
	assert_int_equal(nsent, 1);
	assert_int_equal(sent_has(0, "\"ns\" : \"copy.a\""), 2);
	assert_int_equal(sent_has(0, "\"ns\" : \"copy.t1\""), 1);
	assert_int_equal(sent_has(0, "\"ns\" : \"copy.t2\""), 2);
	assert_int_equal(sent_has(0, "t3"), 0);
	assert_int_equal(sent_has(0, "lsid"), 0);
	assert_int_equal(mongo_oplog_applied(ap), 5);
	assert_int_equal(ap->ntxns, 0);
	mongo_oplog_apply_free(ap);
	free(s.data);
	mongo_destroy(mi);
}

/* after: entries at or before it skipped (a prepared transaction's
 * entries kept for its commit after it); until_ms: the first entry after
 * it ends what is applied, and the rest is still read and counted. */
static void
test_after_until(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, NULL);
	struct mongo_apply *ap = make_ap(mi);
	struct seg s[2] = {{0}};
	int64_t records;
	int rc;

	seg_add(&s[0], entry("i", "a.b", T0, 1, "{\"_id\": 1}", NULL));
	seg_add(&s[0],
	        txn_entry(T0, 9,
	                  "{\"applyOps\": [{\"op\": \"i\", \"ns\": \"a.p\", \"o\": {\"_id\": "
	                  "1}}], \"prepare\": true}"));
	seg_add(&s[0], entry("i", "a.b", T0 + 1, 1, "{\"_id\": 2}", NULL));
	seg_add(&s[1], txn_entry(T0 + 2, 9, "{\"commitTransaction\": 1}"));
	seg_add(&s[1], entry("i", "a.b", T0 + 3, 1, "{\"_id\": 3}", NULL));
	seg_add(&s[1], entry("i", "a.b", T0 + 4, 1, "{\"_id\": 4}", NULL));
	/* after: the first two; until: T0 + 3's last millisecond */
	rc = walk(mi, ap, s, 2, (uint64_t)T0 << 32 | 5, (int64_t)(T0 + 3) * 1000 + 999, &records);
	if (rc)
		print_message("%s\n", ctx->error);
	assert_int_equal(rc, 0);
	assert_int_equal(records, 6);
	assert_int_equal(nsent, 1);
	assert_int_equal(sent_has(0, "\"_id\" : 1"), 1); /* a.p's, from the commit */
	assert_int_equal(sent_has(0, "\"ns\" : \"a.p\""), 1);
	assert_int_equal(sent_has(0, "\"_id\" : 2"), 1);
	assert_int_equal(sent_has(0, "\"_id\" : 3"), 1);
	assert_int_equal(sent_has(0, "\"_id\" : 4"), 0);
	assert_int_equal(mongo_oplog_applied(ap), 3);
	mongo_oplog_apply_free(ap);
	segs_free(s, 2);
	mongo_destroy(mi);
}

/* A refused entry: the namespace, its time in ISO form and how many
 * entries were applied, whether the reply says where the batch stopped
 * or each entry is tried alone to find it. */
static void
test_refused(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, NULL);

	for (int how = 0; how < 3; how++) {
		struct mongo_apply *ap = make_ap(mi);
		struct seg s = {0};
		int64_t records;
		sent_clear();
		seg_add(&s, entry("i", "a.one", T0, 1, "{\"_id\": 1}", NULL));
		seg_add(&s, entry("i", "a.one", T0, 2, "{\"_id\": 2}", NULL));
		seg_add(&s, entry("u", "a.two", T0 + 60, 1, "{\"$v\": 2, \"diff\": {}}",
		                  "{\"_id\": 1}"));
		seg_add(&s, entry("i", "a.one", T0 + 61, 1, "{\"_id\": 3}", NULL));
		/* 0: the reply says where; 1: it does not, and the third entry
		 * alone (the fourth call) is refused again; 2: each entry
		 * alone is applied, and so is the batch */
		refuse_calls = how == 1 ? 1u << 1 | 1u << 4 : 1u << 1;
		refuse_results = how == 0 ? 2 : -1;
		ctx->error[0] = '\0';
		if (how == 2) {
			assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), 0);
			assert_int_equal(nsent, 5);
			assert_int_equal(mongo_oplog_applied(ap), 4);
			mongo_oplog_apply_free(ap);
			free(s.data);
			continue;
		}
		assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), CAIRN_E_IO);
		assert_non_null(
		        strstr(ctx->error, "for a.two of 2024-12-07T14:01:00Z (ts 1733580060:1)"));
		assert_non_null(strstr(ctx->error, "2 entries were applied before it"));
		assert_int_equal(nsent, how == 0 ? 1 : 4);
		assert_int_equal(mongo_oplog_applied(ap), 2);
		assert_non_null(strstr(ctx->error, "missing collection"));
		mongo_oplog_apply_free(ap);
		free(s.data);
	}
	mongo_destroy(mi);
}

/* The test's counts: inserts and deletes, a drop, a rename, a capped
 * collection left uncounted; every database into the test's. */
static void
test_counts(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, NULL);
	struct mongo_apply *ap = make_ap(mi);
	struct oplog_count *c;
	struct seg s = {0};
	int64_t records;

	ap->prefix = "cairn_rt_0123456789ab";
	ap->counting = 1;
	assert_int_equal(oplog_map_add(ap, "shop", "cairn_rt_0123456789ab_shop"), 0);
	c = oplog_count_of(ap, "shop", "orders");
	c->base = c->expect = 10;
	c->exists = 1;
	seg_add(&s, entry("i", "shop.orders", T0, 1, "{\"_id\": 100}", NULL));
	seg_add(&s, entry("i", "shop.orders", T0, 2, "{\"_id\": 101}", NULL));
	seg_add(&s, entry("d", "shop.orders", T0, 3, "{\"_id\": 1}", NULL));
	seg_add(&s, entry("i", "shop.gone", T0, 4, "{\"_id\": 1}", NULL));
	seg_add(&s, entry("c", "shop.$cmd", T0, 5, "{\"drop\": \"gone\"}", NULL));
	seg_add(&s,
	        entry("c", "other.$cmd", T0, 6, "{\"create\": \"cap\", \"capped\": true}", NULL));
	seg_add(&s, entry("c", "shop.$cmd", T0, 7,
	                  "{\"renameCollection\": \"shop.orders\", \"to\": \"shop.old\"}", NULL));
	assert_int_equal(walk(mi, ap, &s, 1, 0, INT64_MAX, &records), 0);
	assert_int_equal(sent_has(0, "\"ns\" : \"cairn_rt_0123456789ab_shop.orders\""), 3);
	assert_int_equal(sent_has(2, "\"ns\" : \"cairn_rt_0123456789ab_other.$cmd\""), 1);
	c = oplog_count_of(ap, "shop", "old");
	assert_int_equal(c->expect, 11);
	assert_int_equal(c->inserts, 2);
	assert_int_equal(c->deletes, 1);
	assert_int_equal(oplog_count_of(ap, "shop", "orders")->expect, 0);
	assert_int_equal(oplog_count_of(ap, "shop", "orders")->exists, 0);
	assert_int_equal(oplog_count_of(ap, "shop", "gone")->expect, 0);
	assert_non_null(oplog_count_of(ap, "other", "cap")->uncounted);
	mongo_oplog_apply_free(ap);
	free(s.data);
	mongo_destroy(mi);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_parse_good, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_parse_damaged, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_batch_renames_selection, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_batch_bounds_commands, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rename_dropdatabase, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_nested_and_transactions, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_after_until, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
