/* test_replay.c - src/replay.c, the replay driver: every segment of the
 * chain (and a non-staged base) checked before the source's replay() is
 * called, segments handed over in order through next(), damage named,
 * the "records" statistic compared with the segments' manifests; with an
 * in-memory sink and a replaying source whose records are 8-byte lsns. */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "cairn.h"
#include "host.h"
#include "log.h"
#include "memplug.h"
#include "replay.h"

#define NSEG 3
#define PER_SEG 10 /* records per segment; lsn k made at k seconds */

/* The replaying source: what replay() saw and did. */
struct rsrc {
	int calls;
	uint64_t base_bytes;
	uint64_t applied[64];
	size_t napplied;
	int64_t records; /* recorded as "records" */
	unsigned flags;
	cairn_ctx *ctx;
	int stop_early; /* stop at the first record after until_ms */
};

static int
rs_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	(void)c;
	(void)cfg;
	(void)i;
	return 0;
}

static void
rs_destroy(void *i)
{
	(void)i;
}

static const char *
rs_ext(void *i)
{
	(void)i;
	return "bin";
}

static int
rs_backup(void *i, struct cairn_out *out)
{
	(void)i;
	(void)out;
	return CAIRN_E_UNSUPPORTED;
}

static int
rs_restore(void *i, struct cairn_in *in, unsigned flags)
{
	(void)i;
	(void)in;
	(void)flags;
	return CAIRN_E_UNSUPPORTED;
}

/* Apply one segment: 1 when a record after until_ms stopped it. */
static int
rs_segment(struct rsrc *s, struct cairn_log_replay *rp, struct cairn_in *in, int *rc)
{
	unsigned char rec[8];
	ssize_t n;
	while ((n = in->read(in, rec, sizeof(rec))) == (ssize_t)sizeof(rec)) {
		uint64_t lsn = 0;
		for (int b = 0; b < 8; b++)
			lsn = lsn << 8 | rec[b];
		s->records++;
		if (lsn <= rp->after.lsn)
			continue;
		if ((int64_t)lsn * 1000 > rp->until_ms && s->stop_early)
			return 1;
		if ((int64_t)lsn * 1000 <= rp->until_ms && s->napplied < 64)
			s->applied[s->napplied++] = lsn;
	}
	*rc = n < 0 ? (int)n : 0;
	return 0;
}

static int
rs_replay(void *i, struct cairn_log_replay *rp)
{
	struct rsrc *s = i;
	struct cairn_in *in;
	char buf[4096];
	ssize_t n;
	int rc = 0, more;
	s->calls++;
	s->flags = rp->flags;
	if (rp->base) {
		while ((n = rp->base->read(rp->base, buf, sizeof(buf))) > 0)
			s->base_bytes += (uint64_t)n;
		if (n < 0)
			return (int)n;
	}
	while (!rc && (more = rp->next(rp, &in)) == 1)
		if (rs_segment(s, rp, in, &rc))
			break;
	if (!rc && more < 0)
		rc = more;
	cairn_host_table.stat(s->ctx, "records", s->records);
	return rc;
}

static const struct cairn_key no_keys[] = {{.name = NULL}};

static struct loaded_plugin rs_plugin = {
        .name = "rsrc",
        .desc = {.name = "rsrc", .version = "1", .kind = CAIRN_KIND_SOURCE, .keys = no_keys},
        .source = {.create = rs_create,
                   .destroy = rs_destroy,
                   .file_extension = rs_ext,
                   .backup = rs_backup,
                   .restore = rs_restore,
                   .replay = rs_replay},
};

struct fixture {
	struct memsink sink;
	struct instance *si, *src;
	struct rsrc rs;
	struct manifest_source base;
	struct log_segment segs[NSEG];
	const struct log_segment *chain[NSEG];
	struct replay_request rq;
	char *err;
};

static void
sha_hex(const unsigned char *d, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned n;
	EVP_Digest(d, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Store data under key, uncompressed; its size and SHA-256 out. */
static void
put(struct fixture *f, const char *key, const unsigned char *d, size_t len, char sha[65])
{
	cairn_sink_writer *w;
	assert_int_equal(op_open_write(f->si, key, &w), 0);
	assert_int_equal(op_write(f->si, w, d, len), 0);
	assert_int_equal(op_commit(f->si, w), 0);
	sha_hex(d, len, sha);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	unsigned char base[1000], rec[PER_SEG * 8];
	f->sink.fail_write_at = -1;
	f->sink.store = 1;
	f->si = memsink_instance("a", &f->sink);
	f->src = xcalloc(1, sizeof(*f->src));
	f->src->lp = &rs_plugin;
	f->src->name = "db";
	f->src->kind = SECTION_SOURCE;
	f->src->inst = &f->rs;
	f->src->ctx.label = xstrdup("source db (rsrc)");
	f->src->ctx.scratch_tag = xstrdup("source-db");
	f->rs.ctx = &f->src->ctx;
	memset(base, 'b', sizeof(base));
	f->base = (struct manifest_source){.name = "db",
	                                   .object = "j/20261126T020000Z/db.bin",
	                                   .compression = "none",
	                                   .raw_bytes = sizeof(base),
	                                   .stored_bytes = sizeof(base)};
	put(f, f->base.object, base, sizeof(base), f->base.sha256);
	for (int s = 0; s < NSEG; s++) {
		struct log_segment *g = &f->segs[s];
		for (int r = 0; r < PER_SEG; r++) {
			uint64_t lsn = (uint64_t)(s * PER_SEG + r + 1);
			for (int b = 0; b < 8; b++)
				rec[r * 8 + b] = (unsigned char)(lsn >> (56 - 8 * b));
		}
		g->from.lsn = (uint64_t)(s * PER_SEG);
		g->from.time_ms = (int64_t)g->from.lsn * 1000;
		g->to.lsn = (uint64_t)((s + 1) * PER_SEG);
		g->to.time_ms = (int64_t)g->to.lsn * 1000;
		snprintf(g->name, sizeof(g->name), "seg%d", s);
		g->object = xasprintf("j/log/db/%s.bin", g->name);
		g->compression = xstrdup("none");
		g->raw_bytes = g->stored_bytes = sizeof(rec);
		g->records = PER_SEG;
		put(f, g->object, rec, sizeof(rec), g->sha256);
		f->chain[s] = g;
	}
	f->rq = (struct replay_request){.sink = f->si,
	                                .source = f->src,
	                                .base = &f->base,
	                                .segs = f->chain,
	                                .nsegs = NSEG,
	                                .after = {.lsn = 4, .time_ms = 4000},
	                                .until_ms = INT64_MAX};
	cancel_signal = 0;
	log_level = CAIRN_LOG_ERROR - 1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	for (int s = 0; s < NSEG; s++) {
		free(f->segs[s].object);
		free(f->segs[s].compression);
	}
	instance_destroy(f->src);
	instance_destroy(f->si);
	memsink_clear(&f->sink);
	free(f->err);
	free(f);
	return 0;
}

/* The whole chain, in order, after the base: the records after `after`,
 * every record counted. */
static void
whole_chain(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(pipeline_replay(&f->rq, &f->err), 0);
	assert_int_equal(f->rs.calls, 1);
	assert_int_equal(f->rs.base_bytes, 1000);
	assert_int_equal(f->rs.napplied, NSEG * PER_SEG - 4);
	for (size_t i = 0; i < f->rs.napplied; i++)
		assert_int_equal(f->rs.applied[i], i + 5);
	assert_int_equal(f->rs.records, NSEG * PER_SEG);
}

/* until_ms inside the last segment: the source stops there, and reading
 * only part of the last segment is no damage. */
static void
until_inside_last(void **state)
{
	struct fixture *f = *state;
	f->rs.stop_early = 1;
	f->rq.until_ms = 25 * 1000 + 999;
	assert_int_equal(pipeline_replay(&f->rq, &f->err), 0);
	assert_int_equal(f->rs.napplied, 25 - 4);
	assert_int_equal(f->rs.applied[f->rs.napplied - 1], 25);
}

/* A damaged segment (the last one): refused before replay() is called,
 * naming its object. */
static void
damaged_segment_before_any_write(void **state)
{
	struct fixture *f = *state;
	struct memobj *o = memsink_get(&f->sink, f->segs[2].object);
	o->data[3] ^= 1;
	assert_int_equal(pipeline_replay(&f->rq, &f->err), CAIRN_E_CORRUPT);
	assert_int_equal(f->rs.calls, 0);
	assert_non_null(strstr(f->err, f->segs[2].object));
	assert_non_null(strstr(f->err, "SHA-256"));
}

/* A segment whose object is gone: the same. */
static void
missing_segment_before_any_write(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(op_remove(f->si, f->segs[1].object), 0);
	assert_int_equal(pipeline_replay(&f->rq, &f->err), CAIRN_E_CORRUPT);
	assert_int_equal(f->rs.calls, 0);
	assert_non_null(strstr(f->err, f->segs[1].object));
	assert_non_null(strstr(f->err, "missing"));
}

/* A damaged base of a source that does not stage its restore: refused
 * before replay(). */
static void
damaged_base_before_any_write(void **state)
{
	struct fixture *f = *state;
	memsink_get(&f->sink, f->base.object)->data[999] ^= 1;
	assert_int_equal(pipeline_replay(&f->rq, &f->err), CAIRN_E_CORRUPT);
	assert_int_equal(f->rs.calls, 0);
	assert_non_null(strstr(f->err, f->base.object));
}

/* The segment changed between the check and the replay: the driver's
 * second check catches it while the source reads. */
static void
records_disagree_with_manifests(void **state)
{
	struct fixture *f = *state;
	f->segs[1].records = PER_SEG + 1;
	assert_int_equal(pipeline_replay(&f->rq, &f->err), CAIRN_E_CORRUPT);
	assert_non_null(strstr(f->err, "records"));
	assert_non_null(strstr(f->err, f->segs[0].name));
}

/* verify --deep: no base given, every segment parsed; a damaged one is
 * damage found while reading (no check beforehand: nothing is written). */
static void
parse_reads_every_segment(void **state)
{
	struct fixture *f = *state;
	f->rq.flags = CAIRN_REPLAY_PARSE;
	f->rq.base = NULL;
	assert_int_equal(pipeline_replay(&f->rq, &f->err), 0);
	assert_int_equal(f->rs.flags, CAIRN_REPLAY_PARSE);
	assert_int_equal(f->rs.base_bytes, 0);
	assert_int_equal(f->rs.records, NSEG * PER_SEG);
	memsink_get(&f->sink, f->segs[1].object)->data[0] ^= 1;
	f->rs = (struct rsrc){.ctx = &f->src->ctx};
	assert_int_equal(pipeline_replay(&f->rq, &f->err), CAIRN_E_CORRUPT);
	assert_int_equal(f->rs.calls, 1);
	assert_non_null(strstr(f->err, f->segs[1].object));
}

/* replay_check_segment (verify): size and SHA-256 of one segment. */
static void
check_one_segment(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(replay_check_segment(f->si, &f->segs[0], &f->err), 0);
	f->segs[0].stored_bytes++;
	assert_int_equal(replay_check_segment(f->si, &f->segs[0], &f->err), CAIRN_E_CORRUPT);
	assert_non_null(strstr(f->err, "bytes"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(whole_chain, setup, teardown),
	        cmocka_unit_test_setup_teardown(until_inside_last, setup, teardown),
	        cmocka_unit_test_setup_teardown(damaged_segment_before_any_write, setup, teardown),
	        cmocka_unit_test_setup_teardown(missing_segment_before_any_write, setup, teardown),
	        cmocka_unit_test_setup_teardown(damaged_base_before_any_write, setup, teardown),
	        cmocka_unit_test_setup_teardown(records_disagree_with_manifests, setup, teardown),
	        cmocka_unit_test_setup_teardown(parse_reads_every_segment, setup, teardown),
	        cmocka_unit_test_setup_teardown(check_one_segment, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
