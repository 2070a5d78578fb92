/*
 * test_mongo_archive.c - unit tests of the mongo source's archive format,
 * namespace patterns and configuration, without a server.
 *
 * The plugin's .c files are included to reach their statics; the core is
 * replaced by tests/unit/fakehost.c.  Archives are written into memory
 * through a cairn_out and read back through a cairn_in that returns short
 * reads, so every item straddles reads somewhere.
 */
#include "../../plugins/mongo/common.c"
#include "../../plugins/mongo/namespace.c"
#include "../../plugins/mongo/mongo.c"
#include "../../plugins/mongo/probe.c"
/* Every strcmp() of dumpread.c and of the restore's plan, stage and test
 * restore is counted: matching namespaces must not compare each one with
 * every other (test_many_namespaces, test_plan_many_namespaces,
 * test_rt_drop_many_namespaces). */
static unsigned long long arc_strcmps;
static int
counted_strcmp(const char *a, const char *b)
{
	arc_strcmps++;
	return strcmp(a, b);
}
#include "../../plugins/mongo/dumpwrite.c"
#define strcmp counted_strcmp
#include "../../plugins/mongo/dumpread.c"
#undef strcmp
#include "../../plugins/mongo/backup.c"
#include "../../plugins/mongo/target.c"
#define strcmp counted_strcmp
#include "../../plugins/mongo/plan.c"
#undef strcmp
#include "../../plugins/mongo/load.c"
#define strcmp counted_strcmp
#include "../../plugins/mongo/stage.c"
#undef strcmp
#include "../../plugins/mongo/restore.c"
#include "../../plugins/mongo/verify.c"
#define strcmp counted_strcmp
#include "../../plugins/mongo/restore_test.c"
#undef strcmp
#include "../../plugins/mongo/indexes.c"
#include "../../plugins/mongo/oplog.c"
#include "../../plugins/mongo/follow.c"
#include "../../plugins/mongo/backup_oplog.c"
#include "../../plugins/mongo/oplogentry.c"
#include "../../plugins/mongo/oplogmap.c"
#include "../../plugins/mongo/applyops.c"
#include "../../plugins/mongo/replay.c"
#include "../../plugins/mongo/restore_oplog.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakehost.h"

/* ------------------------------------------------------- memory streams */

struct mem_out {
	struct cairn_out out;
	uint8_t *data;
	size_t len, cap;
	size_t writes;
};

static int
mem_write(struct cairn_out *self, const void *buf, size_t len)
{
	struct mem_out *m = (struct mem_out *)self;
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->data = realloc(m->data, m->cap);
		assert_non_null(m->data);
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	m->writes++;
	return 0;
}

static void
mem_out_init(struct mem_out *m)
{
	memset(m, 0, sizeof(*m));
	m->out.struct_size = sizeof(m->out);
	m->out.write = mem_write;
}

struct mem_in {
	struct cairn_in in;
	const uint8_t *data;
	size_t len, pos, chunk;
};

static ssize_t
mem_read(struct cairn_in *self, void *buf, size_t len)
{
	struct mem_in *m = (struct mem_in *)self;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	if (n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void
mem_in_init(struct mem_in *m, const uint8_t *data, size_t len, size_t chunk)
{
	memset(m, 0, sizeof(*m));
	m->in.struct_size = sizeof(m->in);
	m->in.read = mem_read;
	m->data = data;
	m->len = len;
	m->chunk = chunk;
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
	return 0;
}

/* ----------------------------------------------------------------- CRC */

static void
test_crc_ecma(void **state)
{
	struct arc_crc c;
	(void)state;
	arc_crc_init(&c);
	/* Go: crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ECMA)) */
	assert_true(arc_crc_update(&c, 0, "123456789", 9) == 0x995DC9BBDF1939FAULL);
	assert_true(arc_crc_update(&c, 0, "", 0) == 0);
	/* in pieces as in one */
	assert_true(arc_crc_update(&c, arc_crc_update(&c, 0, "1234", 4), "56789", 5) ==
	            0x995DC9BBDF1939FAULL);
}

/* ---------------------------------------------------------- the writer */

static bson_t *
doc_i(int i, size_t pad)
{
	bson_t *b = bson_new();
	char *s = malloc(pad + 1);
	memset(s, 'x', pad);
	s[pad] = '\0';
	BSON_APPEND_INT32(b, "_id", i);
	BSON_APPEND_DOUBLE(b, "neg0", -0.0);
	BSON_APPEND_UTF8(b, "s", s);
	free(s);
	return b;
}

/* An archive like backup() writes: shop.a with n documents (the one at
 * index big of size big_len), the empty shop.e, the view shop.v. */
static void
write_sample(struct mem_out *m, int n, int big, size_t big_len)
{
	struct arc_writer w;
	mem_out_init(m);
	assert_int_equal(arc_writer_init(&w, &m->out), 0);
	assert_int_equal(arc_write_header(&w, "6.0.8"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "a",
	                                "{\"indexes\":[],\"collectionName\":\"a\"}", "collection"),
	                 0);
	assert_int_equal(arc_write_meta(&w, "shop", "e", "", "collection"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "v",
	                                "{\"options\":{\"viewOn\":\"a\",\"pipeline\":[]},"
	                                "\"indexes\":[],\"collectionName\":\"v\",\"type\":"
	                                "\"view\"}",
	                                "view"),
	                 0);
	assert_int_equal(arc_write_terminator(&w), 0);
	assert_int_equal(arc_begin_ns(&w, "shop", "a"), 0);
	for (int i = 0; i < n; i++) {
		bson_t *b = doc_i(i, i == big ? big_len : (size_t)(i % 50));
		assert_int_equal(arc_write_doc(&w, bson_get_data(b), b->len), 0);
		bson_destroy(b);
	}
	assert_int_equal(arc_end_ns(&w, "shop", "a"), 0);
	assert_int_equal(arc_begin_ns(&w, "shop", "e"), 0);
	assert_int_equal(arc_end_ns(&w, "shop", "e"), 0);
	assert_int_equal(arc_begin_ns(&w, "shop", "v"), 0);
	assert_int_equal(arc_end_ns(&w, "shop", "v"), 0);
	assert_int_equal(arc_flush(&w), 0);
	assert_int_equal(w.written, m->len);
	arc_writer_free(&w);
}

/* The first bytes, field by field, as mongodump's Go code writes them. */
static void
test_layout(void **state)
{
	struct mem_out m;
	bson_t b;
	bson_iter_t it;
	const uint8_t *p;
	uint32_t len;
	(void)state;

	write_sample(&m, 0, -1, 0);
	p = m.data;
	assert_int_equal(le32(p), ARC_MAGIC);
	assert_memory_equal(p, "\x6d\xe2\x99\x81", 4);
	p += 4;
	len = le32(p);
	assert_true(bson_init_static(&b, p, len));
	assert_true(bson_iter_init(&it, &b));
	assert_true(bson_iter_next(&it));
	assert_string_equal(bson_iter_key(&it), "concurrent_collections");
	assert_true(BSON_ITER_HOLDS_INT32(&it));
	assert_true(bson_iter_next(&it));
	assert_string_equal(bson_iter_key(&it), "version");
	assert_string_equal(bson_iter_utf8(&it, NULL), "0.1");
	assert_true(bson_iter_next(&it));
	assert_string_equal(bson_iter_key(&it), "server_version");
	assert_string_equal(bson_iter_utf8(&it, NULL), "6.0.8");
	assert_true(bson_iter_next(&it));
	assert_string_equal(bson_iter_key(&it), "tool_version");
	assert_false(bson_iter_next(&it));
	p += len;
	/* the prelude entry: db, collection, metadata, size (int32 0), type */
	len = le32(p);
	assert_true(bson_init_static(&b, p, len));
	const char *keys[] = {"db", "collection", "metadata", "size", "type"};
	assert_true(bson_iter_init(&it, &b));
	for (int k = 0; k < 5; k++) {
		assert_true(bson_iter_next(&it));
		assert_string_equal(bson_iter_key(&it), keys[k]);
	}
	assert_false(bson_iter_next(&it));
	assert_true(bson_iter_init_find(&it, &b, "size") && BSON_ITER_HOLDS_INT32(&it));
	assert_int_equal(bson_iter_int32(&it), 0);
	p += len;
	p += le32(p);
	p += le32(p);
	assert_int_equal(le32(p), ARC_TERMINATOR);
	p += 4;
	/* each namespace: {db, collection, EOF: false, CRC: 0}, terminator,
	 * {db, collection, EOF: true, CRC}, terminator */
	for (int ns = 0; ns < 3; ns++) {
		for (int eof = 0; eof < 2; eof++) {
			len = le32(p);
			assert_true(bson_init_static(&b, p, len));
			const char *hk[] = {"db", "collection", "EOF", "CRC"};
			assert_true(bson_iter_init(&it, &b));
			for (int k = 0; k < 4; k++) {
				assert_true(bson_iter_next(&it));
				assert_string_equal(bson_iter_key(&it), hk[k]);
			}
			assert_true(bson_iter_init_find(&it, &b, "EOF"));
			assert_int_equal(bson_iter_bool(&it), eof);
			assert_true(bson_iter_init_find(&it, &b, "CRC") &&
			            BSON_ITER_HOLDS_INT64(&it));
			assert_int_equal(bson_iter_int64(&it), 0);
			p += len;
			assert_int_equal(le32(p), ARC_TERMINATOR);
			p += 4;
		}
	}
	assert_ptr_equal(p, m.data + m.len);
	free(m.data);
}

/* ----------------------------------------------------- reading it back */

struct walk_count {
	int blocks, docs, eofs;
	int64_t bytes;
};

static int
wc_block(void *u, struct arc_ns *ns)
{
	(void)ns;
	((struct walk_count *)u)->blocks++;
	return 0;
}

static int
wc_doc(void *u, struct arc_ns *ns, const uint8_t *doc, uint32_t len)
{
	struct walk_count *wc = u;
	bson_t b;
	bson_iter_t it;
	(void)ns;
	assert_true(bson_init_static(&b, doc, len));
	assert_true(bson_iter_init_find(&it, &b, "_id"));
	assert_int_equal(bson_iter_int32(&it), wc->docs);
	wc->docs++;
	wc->bytes += len;
	return 0;
}

static int
wc_eof(void *u, struct arc_ns *ns)
{
	(void)ns;
	((struct walk_count *)u)->eofs++;
	return 0;
}

static int
read_archive(cairn_ctx *ctx, const uint8_t *data, size_t len, size_t chunk, struct walk_count *wc)
{
	struct mem_in in;
	struct arc_reader r;
	struct arc_prelude p = {0};
	struct arc_walk cb = {.block = wc_block, .doc = wc_doc, .eof = wc_eof, .u = wc, .ctx = ctx};
	int rc;

	memset(wc, 0, sizeof(*wc));
	mem_in_init(&in, data, len, chunk);
	assert_int_equal(arc_reader_init(&r, &in.in, ctx), 0);
	rc = arc_read_prelude(&r, &p);
	if (rc == 0) {
		assert_int_equal(p.nns, 3);
		assert_string_equal(p.header.server_version, "6.0.8");
		assert_string_equal(p.ns[2].type, "view");
		rc = arc_walk(&r, &p, &cb, 1);
	}
	arc_prelude_free(&p);
	arc_reader_free(&r);
	return rc;
}

static void
test_roundtrip(void **state)
{
	cairn_ctx *ctx = *state;
	struct mem_out m;
	struct walk_count wc;

	write_sample(&m, 3000, 1234, 300000);
	/* 300 KB is more than the writer's buffer: handed on in one write */
	assert_true(m.writes > 2);
	assert_int_equal(read_archive(ctx, m.data, m.len, 7, &wc), 0);
	assert_int_equal(wc.docs, 3000);
	assert_int_equal(wc.blocks, 3);
	assert_int_equal(wc.eofs, 3);
	assert_int_equal(read_archive(ctx, m.data, m.len, 1 << 20, &wc), 0);
	assert_int_equal(wc.docs, 3000);
	free(m.data);
}

/* A document of almost 16 MiB passes, in a reader that started small. */
static void
test_big_document(void **state)
{
	cairn_ctx *ctx = *state;
	struct mem_out m;
	struct walk_count wc;

	write_sample(&m, 3, 1, 16 * 1024 * 1024 - 200);
	assert_int_equal(read_archive(ctx, m.data, m.len, 100000, &wc), 0);
	assert_int_equal(wc.docs, 3);
	assert_true(wc.bytes > 16 * 1024 * 1024 - 200);
	free(m.data);
}

/* Where the first document of shop.a starts. */
static size_t
first_doc_offset(const struct mem_out *m)
{
	const uint8_t *p = m->data + 4;
	p += le32(p);               /* header */
	for (int k = 0; k < 3; k++) /* prelude */
		p += le32(p);
	p += 4;       /* terminator */
	p += le32(p); /* shop.a's block header */
	return (size_t)(p - m->data);
}

static void
test_damage(void **state)
{
	cairn_ctx *ctx = *state;
	struct mem_out m;
	struct walk_count wc;
	size_t off;

	write_sample(&m, 100, -1, 0);
	off = first_doc_offset(&m);

	/* a flipped byte in the value of neg0 (after the length, _id's 9
	 * bytes and neg0's type and name): well-formed BSON, wrong CRC */
	m.data[off + 4 + 9 + 6] ^= 0x01;
	assert_int_equal(read_archive(ctx, m.data, m.len, 4096, &wc), CAIRN_E_CORRUPT);
	assert_non_null(strstr(ctx->error, "shop.a: CRC mismatch"));
	m.data[off + 4 + 9 + 6] ^= 0x01;
	assert_int_equal(read_archive(ctx, m.data, m.len, 4096, &wc), 0);

	/* a broken element type: bson_validate refuses the document */
	uint8_t keep = m.data[off + 4];
	m.data[off + 4] = 0x77;
	assert_int_equal(read_archive(ctx, m.data, m.len, 4096, &wc), CAIRN_E_CORRUPT);
	assert_non_null(strstr(ctx->error, "document 1 is not well-formed BSON"));
	m.data[off + 4] = keep;

	/* a length beyond 16 MiB */
	m.data[off + 3] = 0x7f;
	assert_int_equal(read_archive(ctx, m.data, m.len, 4096, &wc), CAIRN_E_CORRUPT);
	assert_non_null(strstr(ctx->error, "neither a BSON document length nor a terminator"));
	m.data[off + 3] = 0;

	/* cut anywhere: never a success */
	for (size_t cut = 0; cut < m.len; cut += 97) {
		int rc = read_archive(ctx, m.data, cut, 4096, &wc);
		assert_int_equal(rc, CAIRN_E_CORRUPT);
	}
	/* cut after the last but one terminator: shop.v never closed */
	assert_int_equal(read_archive(ctx, m.data, m.len - 4, 4096, &wc), CAIRN_E_CORRUPT);

	/* not an archive */
	m.data[0] ^= 0xff;
	assert_int_equal(read_archive(ctx, m.data, m.len, 4096, &wc), CAIRN_E_CORRUPT);
	assert_non_null(strstr(ctx->error, "not a mongodump archive"));
	free(m.data);
}

/* A namespace header with a field Go's decoder refuses, and one for a
 * namespace the prelude does not know. */
static void
test_bad_headers(void **state)
{
	cairn_ctx *ctx = *state;
	struct walk_count wc;
	struct mem_out m;
	struct arc_writer w;
	bson_t h = BSON_INITIALIZER;

	mem_out_init(&m);
	assert_int_equal(arc_writer_init(&w, &m.out), 0);
	assert_int_equal(arc_write_header(&w, "6.0.8"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "a", "", "collection"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "e", "", "collection"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "v", "", "view"), 0);
	assert_int_equal(arc_write_terminator(&w), 0);
	BSON_APPEND_UTF8(&h, "db", "shop");
	BSON_APPEND_UTF8(&h, "collection", "a");
	BSON_APPEND_BOOL(&h, "EOF", false);
	BSON_APPEND_INT64(&h, "CRC", 0);
	BSON_APPEND_INT32(&h, "extra", 1);
	assert_int_equal(arc_put_bson(&w, &h), 0);
	assert_int_equal(arc_flush(&w), 0);
	assert_int_equal(read_archive(ctx, m.data, m.len, 4096, &wc), CAIRN_E_CORRUPT);
	assert_non_null(strstr(ctx->error, "unknown field"));
	bson_destroy(&h);
	arc_writer_free(&w);
	free(m.data);

	mem_out_init(&m);
	assert_int_equal(arc_writer_init(&w, &m.out), 0);
	assert_int_equal(arc_write_header(&w, "6.0.8"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "a", "", "collection"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "e", "", "collection"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "v", "", "view"), 0);
	assert_int_equal(arc_write_terminator(&w), 0);
	assert_int_equal(arc_begin_ns(&w, "shop", "zzz"), 0);
	assert_int_equal(arc_end_ns(&w, "shop", "zzz"), 0);
	assert_int_equal(arc_flush(&w), 0);
	assert_int_equal(read_archive(ctx, m.data, m.len, 4096, &wc), CAIRN_E_CORRUPT);
	assert_non_null(strstr(ctx->error, "shop.zzz has no entry"));
	arc_writer_free(&w);
	free(m.data);
}

/* Interleaved blocks, as mongodump with several collections at once
 * writes them, read as one namespace each. */
static void
test_interleaved(void **state)
{
	cairn_ctx *ctx = *state;
	struct mem_out m;
	struct arc_writer w;
	struct walk_count wc;
	struct arc_crc crc;
	uint64_t ca = 0;

	arc_crc_init(&crc);
	mem_out_init(&m);
	assert_int_equal(arc_writer_init(&w, &m.out), 0);
	assert_int_equal(arc_write_header(&w, "6.0.8"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "a", "", "collection"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "e", "", "collection"), 0);
	assert_int_equal(arc_write_meta(&w, "shop", "v", "", "view"), 0);
	assert_int_equal(arc_write_terminator(&w), 0);
	for (int part = 0; part < 2; part++) {
		/* half of shop.a, then the other namespaces, then the rest */
		assert_int_equal(arc_ns_header(&w, "shop", "a", 0, 0), 0);
		for (int i = part * 5; i < part * 5 + 5; i++) {
			bson_t *b = doc_i(i, 3);
			ca = arc_crc_update(&crc, ca, bson_get_data(b), b->len);
			assert_int_equal(arc_put_bson(&w, b), 0);
			bson_destroy(b);
		}
		assert_int_equal(arc_write_terminator(&w), 0);
		if (part == 0) {
			assert_int_equal(arc_ns_header(&w, "shop", "e", 1, 0), 0);
			assert_int_equal(arc_write_terminator(&w), 0);
			assert_int_equal(arc_begin_ns(&w, "shop", "v"), 0);
			assert_int_equal(arc_end_ns(&w, "shop", "v"), 0);
		}
	}
	assert_int_equal(arc_ns_header(&w, "shop", "a", 1, ca), 0);
	assert_int_equal(arc_write_terminator(&w), 0);
	assert_int_equal(arc_flush(&w), 0);
	assert_int_equal(read_archive(ctx, m.data, m.len, 13, &wc), 0);
	assert_int_equal(wc.docs, 10);
	assert_int_equal(wc.eofs, 3);
	arc_writer_free(&w);
	free(m.data);
}

/* ------------------------------------------------------------ patterns */

static void
test_patterns(void **state)
{
	(void)state;
	assert_true(mongo_glob("shop.*", "shop.orders"));
	assert_true(mongo_glob("shop.*", "shop.a.b"));
	assert_false(mongo_glob("shop.*", "shop2.orders"));
	assert_true(mongo_glob("*.orders", "x.orders"));
	assert_true(mongo_glob("*", "a.b"));
	assert_true(mongo_glob("a*b*c", "aXXbYYc"));
	assert_false(mongo_glob("a*b*c", "aXXbYY"));
	assert_true(mongo_glob("shop.orders", "shop.orders"));
	assert_false(mongo_glob("shop.orders", "shop.orders2"));
}

static struct mongo_inst *
make_inst(cairn_ctx *ctx, int expect, ...)
{
	va_list ap;
	const char *kv[16];
	int n = 0;
	struct cairn_config *cfg;
	void *inst = NULL;

	va_start(ap, expect);
	while ((kv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	for (int k = n; k < 16; k++)
		kv[k] = NULL;
	cfg = fake_config(mongo_keys, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8],
	                  kv[9], kv[10], kv[11], kv[12], kv[13], NULL);
	ctx->error[0] = '\0';
	assert_int_equal(mongo_ops.create(ctx, cfg, &inst), expect);
	fake_config_free(cfg);
	return inst;
}

static void
test_renames(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi;
	char *t;

	mi = make_inst(ctx, 0, "uri", "mongodb://127.0.0.1:1", "ns_from", "plato_menu.* a*.x*",
	               "ns_to", "plato_restore.* b*.y*", NULL);
	assert_non_null(mi);
	t = mongo_rename_ns(mi, "plato_menu", "dishes");
	assert_string_equal(t, "plato_restore.dishes");
	free(t);
	t = mongo_rename_ns(mi, "abc", "xyz");
	assert_string_equal(t, "bbc.yyz");
	free(t);
	t = mongo_rename_ns(mi, "other", "coll");
	assert_string_equal(t, "other.coll");
	free(t);
	mongo_destroy(mi);

	mi = make_inst(ctx, 0, "uri", "mongodb://127.0.0.1:1", "include", "shop.* *.keep",
	               "exclude", "shop.tmp*", NULL);
	assert_true(mongo_selected(mi, "shop", "orders"));
	assert_false(mongo_selected(mi, "shop", "tmp1"));
	assert_true(mongo_selected(mi, "x", "keep"));
	assert_false(mongo_selected(mi, "x", "other"));
	mongo_destroy(mi);
}

static void
test_config(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi;

	/* the secret replaces the uri's password and is never in a message */
	mi = make_inst(ctx, 0, "uri", "mongodb://bob:old@127.0.0.1:1/?authSource=admin", "password",
	               "n3w-s3cret", NULL);
	assert_string_equal(mongoc_uri_get_password(mi->uri), "n3w-s3cret");
	assert_string_equal(mi->server, "127.0.0.1:1");
	assert_int_equal(mi->read_mode, MONGOC_READ_SECONDARY_PREFERRED);
	mongo_destroy(mi);

	make_inst(ctx, CAIRN_E_CONFIG, "uri", "mongodb://127.0.0.1:1", "password", "pw", NULL);
	assert_non_null(strstr(ctx->error, "names no user"));
	assert_null(strstr(ctx->error, "pw"));

	make_inst(ctx, CAIRN_E_CONFIG, "uri", "http://x", NULL);
	assert_non_null(strstr(ctx->error, "key uri"));

	make_inst(ctx, CAIRN_E_CONFIG, "uri", "mongodb://h", "include", "noDot", NULL);
	assert_non_null(strstr(ctx->error, "key include: \"noDot\""));

	make_inst(ctx, CAIRN_E_CONFIG, "uri", "mongodb://h", "ns_from", "a.* b.*", "ns_to", "c.*",
	          NULL);
	assert_non_null(strstr(ctx->error, "ns_from and ns_to"));

	make_inst(ctx, CAIRN_E_CONFIG, "uri", "mongodb://h", "ns_from", "a.*", "ns_to", "c.x",
	          NULL);
	assert_non_null(strstr(ctx->error, "different numbers of *"));

	make_inst(ctx, CAIRN_E_CONFIG, "uri", "mongodb://h", "read_preference", "fastest", NULL);
	assert_non_null(strstr(ctx->error, "read_preference"));

	make_inst(ctx, CAIRN_E_CONFIG, "uri", "mongodb://h", "databases", "a.b", NULL);
	assert_non_null(strstr(ctx->error, "key databases"));

	/* the uri's readPreference counts when the key is not set */
	mi = make_inst(ctx, 0, "uri", "mongodb://h/?readPreference=nearest", NULL);
	assert_int_equal(mi->read_mode, MONGOC_READ_NEAREST);
	mongo_destroy(mi);
	mi = make_inst(ctx, 0, "uri", "mongodb://h/?readPreference=nearest", "read_preference",
	               "primary", NULL);
	assert_int_equal(mi->read_mode, MONGOC_READ_PRIMARY);
	mongo_destroy(mi);
}

static void
test_squeeze(void **state)
{
	char s[] = "{ \"a b\" : { \"$numberInt\" : \"1\" }, \"c\" : [  ], \"q\" : \"x \\\" y\" }";
	(void)state;
	backup_squeeze(s);
	assert_string_equal(s, "{\"a b\":{\"$numberInt\":\"1\"},\"c\":[],\"q\":\"x \\\" y\"}");
}

/* Restore and verify refuse what is not an archive before they connect. */
static void
test_verify_op(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi = make_inst(ctx, 0, "uri", "mongodb://127.0.0.1:1", NULL);
	struct mem_out m;
	struct mem_in in;

	write_sample(&m, 50, -1, 0);
	mem_in_init(&in, m.data, m.len, 333);
	assert_int_equal(mongo_verify(mi, &in.in), 0);
	mem_in_init(&in, m.data, m.len - 1, 333);
	assert_int_equal(mongo_verify(mi, &in.in), CAIRN_E_CORRUPT);
	mem_in_init(&in, (const uint8_t *)"garbage!", 8, 333);
	assert_int_equal(mongo_restore(mi, &in.in, 0), CAIRN_E_CORRUPT);
	assert_non_null(strstr(ctx->error, "not a mongodump archive"));
	mongo_destroy(mi);
	free(m.data);
}

/* 50,000 namespaces: reading the prelude and finding each block's entry
 * must not compare every namespace with every other (2.5 billion string
 * comparisons, minutes): n log n is about 4 million here.  The alarm only
 * turns a hang into a failure; nothing here is timed. */
static void
test_many_namespaces(void **state)
{
	cairn_ctx *ctx = *state;
	enum {
		N = 50000
	};
	struct arc_walk cb = {.ctx = ctx};
	struct arc_prelude p = {0};
	struct arc_reader r;
	struct arc_writer w;
	struct mem_out m;
	struct mem_in in;
	char coll[32];

	for (int dup = 0; dup < 2; dup++) {
		mem_out_init(&m);
		assert_int_equal(arc_writer_init(&w, &m.out), 0);
		assert_int_equal(arc_write_header(&w, "6.0.8"), 0);
		for (int i = 0; i < N; i++) {
			/* the duplicate: the last entry names the first again */
			snprintf(coll, sizeof(coll), "orders_%05d", dup && i == N - 1 ? 0 : i);
			assert_int_equal(arc_write_meta(&w, "shop", coll, "", "collection"), 0);
		}
		assert_int_equal(arc_write_terminator(&w), 0);
		for (int i = N - 1; i >= 0; i--) {
			snprintf(coll, sizeof(coll), "orders_%05d", i);
			assert_int_equal(arc_begin_ns(&w, "shop", coll), 0);
			assert_int_equal(arc_end_ns(&w, "shop", coll), 0);
		}
		assert_int_equal(arc_flush(&w), 0);
		arc_writer_free(&w);

		alarm(300);
		arc_strcmps = 0;
		mem_in_init(&in, m.data, m.len, 4096);
		assert_int_equal(arc_reader_init(&r, &in.in, ctx), 0);
		if (dup) {
			assert_int_equal(arc_read_prelude(&r, &p), CAIRN_E_CORRUPT);
			assert_non_null(strstr(
			        ctx->error, "namespace shop.orders_00000 is in the prelude twice"));
		} else {
			assert_int_equal(arc_read_prelude(&r, &p), 0);
			assert_int_equal(p.nns, N);
			assert_int_equal(arc_walk(&r, &p, &cb, 1), 0);
		}
		alarm(0);
		/* about 80 per namespace; quadratic would be 50,000 */
		assert_true(arc_strcmps < 400ull * N);
		arc_prelude_free(&p);
		arc_reader_free(&r);
		free(m.data);
	}
}

/* Where a restore and a test restore put each namespace, before anything
 * is written: renames, names the server would refuse, two sources into one
 * target, and the test restore's databases of its own. */
static void
plan_with(struct rs *rs, struct mongo_inst *mi, const char *const *ns, size_t n, int test)
{
	memset(rs, 0, sizeof(*rs));
	rs->mi = mi;
	rs->test = test;
	bson_init(&rs->insert_opts);
	rs->pre.ns = calloc(n, sizeof(*rs->pre.ns));
	rs->pre.nns = n;
	for (size_t k = 0; k < n; k++) {
		const char *dot = strchr(ns[k], '.');
		rs->pre.ns[k].db = strndup(ns[k], (size_t)(dot - ns[k]));
		rs->pre.ns[k].coll = strdup(dot + 1);
		rs->pre.ns[k].data_coll = strdup(dot + 1);
		rs->pre.ns[k].metadata = strdup("");
		rs->pre.ns[k].type = strdup("collection");
	}
	rs->st = calloc(n + 1, sizeof(*rs->st));
	if (test)
		assert_int_equal(rs_random_prefix(rs), 0);
}

static void
test_plan(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi;
	struct rs rs;
	char longdb[64];
	const char *two[] = {"plato_menu.dishes", "other.x"};

	mi = make_inst(ctx, 0, "uri", "mongodb://h", "ns_from", "plato_menu.*", "ns_to",
	               "plato_restore.*", NULL);
	plan_with(&rs, mi, two, 2, 0);
	assert_int_equal(rs_plan(&rs), 0);
	assert_string_equal(rs.st[0].tdb, "plato_restore");
	assert_string_equal(rs.st[0].tcoll, "dishes");
	assert_string_equal(rs.st[1].tdb, "other");
	rs_free(&rs);
	mongo_destroy(mi);

	/* a rename into an invalid name, and two into one */
	mi = make_inst(ctx, 0, "uri", "mongodb://h", "ns_from", "plato_menu.*", "ns_to", "bad$db.*",
	               NULL);
	plan_with(&rs, mi, two, 2, 0);
	assert_int_equal(rs_plan(&rs), CAIRN_E_CONFIG);
	assert_non_null(strstr(ctx->error, "bad$db.dishes is not a valid namespace"));
	rs_free(&rs);
	mongo_destroy(mi);
	const char *clash[] = {"a.x", "b.x"};
	mi = make_inst(ctx, 0, "uri", "mongodb://h", "ns_from", "a.* b.*", "ns_to", "c.* c.*",
	               NULL);
	plan_with(&rs, mi, clash, 2, 0);
	assert_int_equal(rs_plan(&rs), CAIRN_E_CONFIG);
	assert_non_null(strstr(ctx->error, "would both be restored into c.x"));
	rs_free(&rs);
	mongo_destroy(mi);

	/* the test restore: cairn_rt_<12 hex>_DB, or _INDEX for a long DB;
	 * renames play no part */
	memset(longdb, 'd', 60);
	strcpy(longdb + 60, ".c");
	const char *rt[] = {"plato_menu.dishes", longdb};
	mi = make_inst(ctx, 0, "uri", "mongodb://h", "ns_from", "plato_menu.*", "ns_to",
	               "plato_restore.*", NULL);
	plan_with(&rs, mi, rt, 2, 1);
	assert_int_equal(rs_plan(&rs), 0);
	assert_int_equal(strlen(rs.rt), strlen("cairn_rt_") + 12);
	assert_memory_equal(rs.st[0].tdb, rs.rt, strlen(rs.rt));
	assert_string_equal(rs.st[0].tdb + strlen(rs.rt), "_plato_menu");
	assert_string_equal(rs.st[0].tcoll, "dishes");
	assert_string_equal(rs.st[1].tdb + strlen(rs.rt), "_1");
	assert_null(mongo_bad_db_name(rs.st[1].tdb));
	rs_free(&rs);
	mongo_destroy(mi);

	/* users and roles of mongodump --dumpDbUsersAndRoles and system
	 * collections are left out, with a warning each; the oplog of
	 * mongodump --oplog (or oplog = yes) is no collection either, but
	 * applied after them */
	const char *skip[] = {"shop.$admin.system.users", ".oplog", "shop.system.profile",
	                      "shop.system.js"};
	mi = make_inst(ctx, 0, "uri", "mongodb://h", NULL);
	plan_with(&rs, mi, skip, 4, 0);
	ctx->warnings = 0;
	assert_int_equal(rs_plan(&rs), 0);
	assert_int_equal(ctx->warnings, 2);
	assert_false(rs.st[0].selected || rs.st[1].selected || rs.st[2].selected);
	assert_true(rs.st[3].selected);
	assert_true(rs.want_oplog);
	rs_free(&rs);
	mongo_destroy(mi);

	/* nothing selected is an error naming what the archive holds */
	mi = make_inst(ctx, 0, "uri", "mongodb://h", "include", "nope.*", NULL);
	plan_with(&rs, mi, two, 2, 0);
	assert_int_equal(rs_plan(&rs), CAIRN_E_NOTFOUND);
	assert_non_null(strstr(ctx->error, "e.g. plato_menu.dishes"));
	rs_free(&rs);
	mongo_destroy(mi);
}

/* 50,000 namespaces: the restore's plan must not compare each target with
 * every earlier one (over a billion comparisons) to find two sources
 * restored into one target; n log n is about a million here.  The alarm
 * only turns a hang into a failure; nothing here is timed. */
static void
test_plan_many_namespaces(void **state)
{
	cairn_ctx *ctx = *state;
	enum {
		N = 50000
	};
	struct mongo_inst *mi;
	struct rs rs;
	char **names = calloc(N, sizeof(*names));

	assert_non_null(names);
	for (int dup = 0; dup < 2; dup++) {
		for (int i = 0; i < N; i++) {
			/* the clash: b.c_00000 goes where a.c_00000 goes */
			free(names[i]);
			assert_true(asprintf(&names[i], "%s.c_%05d", i < N / 2 ? "a" : "b",
			                     i % (N / 2)) > 0);
		}
		mi = make_inst(ctx, 0, "uri", "mongodb://h", "ns_from", "a.* b.*", "ns_to",
		               dup ? "c.* c.*" : "c.* d.*", NULL);
		plan_with(&rs, mi, (const char *const *)names, N, 0);
		alarm(300);
		arc_strcmps = 0;
		if (dup) {
			assert_int_equal(rs_plan(&rs), CAIRN_E_CONFIG);
			assert_non_null(strstr(ctx->error, "a.c_00000 and b.c_00000 would both be "
			                                   "restored into c.c_00000"));
		} else {
			assert_int_equal(rs_plan(&rs), 0);
			assert_true(rs.st[N - 1].selected);
			assert_string_equal(rs.st[N - 1].tdb, "d");
		}
		alarm(0);
		/* about 18 per namespace; quadratic would be 25,000 and more */
		assert_true(arc_strcmps < 200ull * N);
		rs_free(&rs);
		mongo_destroy(mi);
	}
	for (int i = 0; i < N; i++)
		free(names[i]);
	free(names);
}

/* 50,000 namespaces in two databases: the test restore drops each of its
 * databases once, without holding each namespace against every earlier
 * one (over a billion comparisons).  The server is not there: each drop
 * fails with a warning naming the database. */
static void
test_rt_drop_many_namespaces(void **state)
{
	cairn_ctx *ctx = *state;
	enum {
		N = 50000
	};
	struct mongo_inst *mi;
	struct rs rs;
	char **names = calloc(N, sizeof(*names));

	assert_non_null(names);
	for (int i = 0; i < N; i++)
		assert_true(asprintf(&names[i], "%s.c_%05d", i < N / 2 ? "shop" : "other", i) > 0);
	mi = make_inst(ctx, 0, "uri", "mongodb://h", NULL);
	plan_with(&rs, mi, (const char *const *)names, N, 1);
	assert_int_equal(rs_plan(&rs), 0);
	for (int i = 0; i < N; i++)
		rs.st[i].prepared = 1;
	rs.client = mongoc_client_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500&"
	                              "connectTimeoutMS=500");
	assert_non_null(rs.client);
	alarm(300);
	ctx->warnings = 0;
	arc_strcmps = 0;
	rt_drop(&rs);
	alarm(0);
	assert_int_equal(ctx->warnings, 2);
	/* n log n; quadratic would be 25,000 per namespace */
	assert_true(arc_strcmps < 200ull * N);
	rs_free(&rs);
	mongo_destroy(mi);
	for (int i = 0; i < N; i++)
		free(names[i]);
	free(names);
}

/* Which of several faults the plan names: the first in the archive's
 * order, as when each namespace was held against every earlier one. */
static void
test_plan_first_fault(void **state)
{
	cairn_ctx *ctx = *state;
	struct mongo_inst *mi;
	struct rs rs;
	const char *clash_first[] = {"a.x", "a.y", "b.x", "a.x$y", "b.y"};
	const char *bad_first[] = {"a.x", "a.x$y", "b.x"};
	const char *three[] = {"a.x", "b.y", "b.x", "a.z", "c.x"};

	mi = make_inst(ctx, 0, "uri", "mongodb://h", "ns_from", "a.* b.*", "ns_to", "c.* c.*",
	               NULL);
	plan_with(&rs, mi, clash_first, 5, 0);
	assert_int_equal(rs_plan(&rs), CAIRN_E_CONFIG);
	assert_non_null(strstr(ctx->error, "a.x and b.x would both be restored into c.x"));
	rs_free(&rs);
	plan_with(&rs, mi, bad_first, 3, 0);
	assert_int_equal(rs_plan(&rs), CAIRN_E_CONFIG);
	assert_non_null(strstr(ctx->error, "not a valid namespace"));
	rs_free(&rs);
	mongo_destroy(mi);

	/* c.x clashes with a.x (the first of the three), b.x with a.x too,
	 * and b.x comes first */
	mi = make_inst(ctx, 0, "uri", "mongodb://h", "ns_from", "a.* b.* c.*", "ns_to",
	               "t.* t.* t.*", NULL);
	plan_with(&rs, mi, three, 5, 0);
	assert_int_equal(rs_plan(&rs), CAIRN_E_CONFIG);
	assert_non_null(strstr(ctx->error, "a.x and b.x would both be restored into t.x"));
	rs_free(&rs);
	mongo_destroy(mi);
}

static bson_t *
json(const char *js)
{
	bson_error_t err;
	bson_t *b = bson_new_from_json((const uint8_t *)js, -1, &err);
	if (!b)
		fail_msg("bad JSON in the test: %s: %s", js, err.message);
	return b;
}

/* The createIndexes spec a restore sends: ns and v gone, every other
 * option as archived, and the simple collation made explicit where the
 * archive (mongod's listIndexes, mongodump) shows none, so the index
 * does not inherit the collection's default collation (issue 15). */
static void
test_index_spec(void **state)
{
	(void)state;
	static const struct {
		const char *archived, *sent;
	} cases[] = {
	        {"{\"v\": 2, \"key\": {\"name\": 1}, \"name\": \"name_1\", \"unique\": true, "
	         "\"ns\": \"a.b\"}",
	         "{\"key\": {\"name\": 1}, \"name\": \"name_1\", \"unique\": true, "
	         "\"collation\": {\"locale\": \"simple\"}}"},
	        {"{\"v\": 2, \"key\": {\"f\": 1}, \"name\": \"f\", \"collation\": {\"locale\": "
	         "\"fr\", \"strength\": 1}}",
	         "{\"key\": {\"f\": 1}, \"name\": \"f\", \"collation\": {\"locale\": \"fr\", "
	         "\"strength\": 1}}"},
	        {"{\"key\": {\"t\": 1}, \"name\": \"t\", \"expireAfterSeconds\": 60, \"hidden\": "
	         "true, \"sparse\": true, \"partialFilterExpression\": {\"t\": {\"$gt\": 1}}}",
	         "{\"key\": {\"t\": 1}, \"name\": \"t\", \"expireAfterSeconds\": 60, \"hidden\": "
	         "true, \"sparse\": true, \"partialFilterExpression\": {\"t\": {\"$gt\": 1}}, "
	         "\"collation\": {\"locale\": \"simple\"}}"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		bson_t *a = json(cases[k].archived), *want = json(cases[k].sent);
		bson_t got = BSON_INITIALIZER;
		assert_int_equal(idx_restore_spec(a, &got), 0);
		if (!bson_equal(&got, want)) {
			char *g = bson_as_relaxed_extended_json(&got, NULL);
			fail_msg("case %zu: sent %s", k, g);
		}
		bson_destroy(&got);
		bson_destroy(a);
		bson_destroy(want);
	}
}

/* The test restore's comparison of one index: what must be equal, what
 * may differ (ns, v, background, false flags, numeric types, the
 * collation's defaults and version, what the server fills in), and the
 * words for what differs. */
static void
test_index_diff(void **state)
{
	(void)state;
	static const struct {
		const char *want, *got, *why; /* why NULL: equal */
	} cases[] = {
	        {"{\"v\": 1, \"key\": {\"a\": 1.0}, \"name\": \"a\", \"ns\": \"x.y\", "
	         "\"background\": true, \"sparse\": false}",
	         "{\"v\": 2, \"key\": {\"a\": {\"$numberLong\": \"1\"}}, \"name\": \"a\"}", NULL},
	        {"{\"key\": {\"a\": 1}, \"name\": \"a\", \"collation\": {\"locale\": \"en\", "
	         "\"strength\": 2}}",
	         "{\"key\": {\"a\": 1}, \"name\": \"a\", \"collation\": {\"locale\": \"en\", "
	         "\"caseLevel\": false, \"caseFirst\": \"off\", \"strength\": 2, \"version\": "
	         "\"57.1\"}}",
	         NULL},
	        {"{\"key\": {\"_fts\": \"text\", \"_ftsx\": 1}, \"name\": \"t\", \"weights\": "
	         "{\"b\": 1}}",
	         "{\"key\": {\"_fts\": \"text\", \"_ftsx\": 1}, \"name\": \"t\", \"weights\": "
	         "{\"b\": 1}, \"default_language\": \"english\", \"textIndexVersion\": 3}",
	         NULL},
	        {"{\"key\": {\"a\": 1}, \"name\": \"a\", \"collation\": {\"locale\": \"simple\"}}",
	         "{\"key\": {\"a\": 1}, \"name\": \"a\"}", NULL},
	        /* the bug: a simple index come back with the collection's */
	        {"{\"key\": {\"a\": 1}, \"name\": \"a\", \"unique\": true}",
	         "{\"key\": {\"a\": 1}, \"name\": \"a\", \"unique\": true, \"collation\": "
	         "{\"locale\": \"en\", \"strength\": 2}}",
	         "the backup has the simple collation, the restored index { \"collation\" : { "
	         "\"locale\" : \"en\", \"strength\" : 2 } }"},
	        {"{\"key\": {\"a\": 1}, \"name\": \"a\", \"collation\": {\"locale\": \"en\", "
	         "\"strength\": 2}}",
	         "{\"key\": {\"a\": 1}, \"name\": \"a\", \"collation\": {\"locale\": \"en\"}}",
	         "collation differs: the backup has { \"collation\" : { \"locale\" : \"en\", "
	         "\"strength\" : 2 } }, the restored index { \"collation\" : { \"locale\" : \"en\" "
	         "} }"},
	        {"{\"key\": {\"a\": 1, \"b\": -1}, \"name\": \"ab\"}",
	         "{\"key\": {\"b\": -1, \"a\": 1}, \"name\": \"ab\"}", "key differs"},
	        {"{\"key\": {\"a\": 1}, \"name\": \"a\", \"unique\": true}",
	         "{\"key\": {\"a\": 1}, \"name\": \"a\", \"unique\": false}",
	         "unique is missing after the restore (the backup has { \"unique\" : true })"},
	        {"{\"key\": {\"a\": 1}, \"name\": \"a\"}",
	         "{\"key\": {\"a\": 1}, \"name\": \"a\", \"hidden\": true}",
	         "the restored index has { \"hidden\" : true }, the backup does not"},
	        {"{\"key\": {\"a\": 1}, \"name\": \"a\", \"partialFilterExpression\": {\"a\": "
	         "{\"$gt\": 5}}}",
	         "{\"key\": {\"a\": 1}, \"name\": \"a\", \"partialFilterExpression\": {\"a\": "
	         "{\"$gte\": 5}}}",
	         "partialFilterExpression differs"},
	        {"{\"key\": {\"$**\": 1}, \"name\": \"w\", \"wildcardProjection\": {\"a\": 1}}",
	         "{\"key\": {\"$**\": 1}, \"name\": \"w\"}", "wildcardProjection is missing"},
	        {"{\"key\": {\"t\": 1}, \"name\": \"t\", \"expireAfterSeconds\": 60}",
	         "{\"key\": {\"t\": 1}, \"name\": \"t\", \"expireAfterSeconds\": 61}",
	         "expireAfterSeconds differs"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		bson_t *want = json(cases[k].want), *got = json(cases[k].got);
		char *why = NULL;
		int d = idx_spec_diff(want, got, &why);
		if (!cases[k].why && d != 0)
			fail_msg("case %zu: expected equal, got: %s", k, why ? why : "?");
		if (cases[k].why && (d != 1 || !why || !strstr(why, cases[k].why)))
			fail_msg("case %zu: expected \"%s\", got %d: %s", k, cases[k].why, d,
			         why ? why : "(none)");
		free(why);
		bson_destroy(want);
		bson_destroy(got);
	}
}

/* The test restore's comparison of a collection's or view's options. */
static void
test_options_diff(void **state)
{
	(void)state;
	static const struct {
		const char *want, *got, *why; /* why NULL: equal */
	} cases[] = {
	        {"{}", "{}", NULL},
	        /* the server rounds size and fills in the validator's defaults */
	        {"{\"capped\": true, \"size\": 1000, \"validator\": {\"a\": {\"$exists\": true}}}",
	         "{\"capped\": true, \"size\": 1024, \"validator\": {\"a\": {\"$exists\": true}}, "
	         "\"validationLevel\": \"strict\", \"validationAction\": \"error\"}",
	         NULL},
	        {"{\"collation\": {\"locale\": \"fr\", \"strength\": 2}}",
	         "{\"collation\": {\"locale\": \"fr\", \"strength\": 2, \"version\": \"57.1\"}}",
	         NULL},
	        {"{\"collation\": {\"locale\": \"fr\", \"strength\": 2}}", "{}",
	         "its option collation differs: the backup has { \"collation\" : { \"locale\" : "
	         "\"fr\", \"strength\" : 2 } }, the restored one none"},
	        {"{\"viewOn\": \"a\", \"pipeline\": [{\"$match\": {\"x\": 1}}]}",
	         "{\"viewOn\": \"a\", \"pipeline\": [{\"$match\": {\"x\": 2}}]}",
	         "its option pipeline differs"},
	        {"{\"capped\": true, \"size\": 4096, \"max\": 10}",
	         "{\"capped\": true, \"size\": 4096}", "its option max differs"},
	        {"{\"validator\": {\"a\": 1}, \"validationAction\": \"warn\"}",
	         "{\"validator\": {\"a\": 1}, \"validationAction\": \"error\"}",
	         "its option validationAction differs"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		bson_t *want = json(cases[k].want), *got = json(cases[k].got);
		char *why = NULL;
		int d = idx_options_diff(want, got, &why);
		if (!cases[k].why && d != 0)
			fail_msg("case %zu: expected equal, got: %s", k, why ? why : "?");
		if (cases[k].why && (d != 1 || !why || !strstr(why, cases[k].why)))
			fail_msg("case %zu: expected \"%s\", got %d: %s", k, cases[k].why, d,
			         why ? why : "(none)");
		free(why);
		bson_destroy(want);
		bson_destroy(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_crc_ecma, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_big_document, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_interleaved, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_patterns, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_renames, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_squeeze, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_verify_op, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_many_namespaces, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_plan, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_plan_many_namespaces, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_plan_first_fault, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rt_drop_many_namespaces, setup, teardown),
	        cmocka_unit_test(test_index_spec),
	        cmocka_unit_test(test_index_diff),
	        cmocka_unit_test(test_options_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
