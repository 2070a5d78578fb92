/* test_logwriter.c - src/logwriter.c: segments cut by size (never inside
 * a record) and by commit, empty ones only when they cover time, stored
 * data then manifest in every sink (manifests that logcat believes), a
 * sink that fails costs only itself and gets a gap record when it is back,
 * no sink at all drops the segment, positions that go back are refused,
 * a record older than its segment's start is listed at the start, and the
 * manifest's (time, lsn) index holds the first record of each second,
 * thinned to fit LOGSEG_INDEX_MAX; host->stat inside follow() counts in
 * the segment of the next record (across a cut), from zero in each
 * segment, at most LOGSTATS_KEYS keys, outside follow() not at all. */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "age_kat.h"
#include "crypt.h"
#include "host.h"
#include "log.h"
#include "logcat.h"
#include "logstats.h"
#include "logwriter.h"
#include "memplug.h"
#include "pipeline.h"
#include "replay.h"
#include "util.h"

#define BASE "20261126T020000Z"
#define DIR "nightly/log/one/"

struct fixture {
	struct memsink a, b;
	struct memsrc s;
	struct loaded_plugin lp; /* memsrc's, with a log extension */
	struct instance *sinks[2], *src;
	struct cfg_job job;
	struct logwriter *lw;
};

static const char *
ext_log(void *instance)
{
	(void)instance;
	return "log";
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *err = NULL;
	f->a.fail_write_at = f->b.fail_write_at = -1;
	f->a.store = f->b.store = 1;
	f->s = (struct memsrc){.fail_at = -1, .cancel_at = -1};
	f->sinks[0] = memsink_instance("a", &f->a);
	f->sinks[1] = memsink_instance("b", &f->b);
	f->src = memsrc_instance("one", &f->s);
	f->lp = *f->src->lp;
	f->lp.source.log_extension = ext_log;
	f->src->lp = &f->lp;
	f->job.name = "nightly";
	f->job.compression = COMP_NONE;
	f->job.level = -1;
	f->job.log.segment_span = 3600;
	f->job.log.segment_size = 100;
	config_crypt_defaults(&f->job.crypt);
	cancel_signal = 0;
	log_level = CAIRN_LOG_ERROR - 1; /* the tests provoke errors on purpose */
	struct logwriter_conf conf = {
	        .job = &f->job, .source = f->src, .sinks = f->sinks, .nsinks = 2, .host = "h"};
	f->lw = logwriter_new(&conf, &err);
	assert_non_null(f->lw);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	logwriter_free(f->lw);
	for (int i = 0; i < 2; i++)
		instance_destroy(f->sinks[i]);
	instance_destroy(f->src);
	memsink_clear(&f->a);
	memsink_clear(&f->b);
	free(f);
	return 0;
}

static struct cairn_log_pos
pos(uint64_t lsn, int64_t ms)
{
	struct cairn_log_pos p = {.lsn = lsn, .time_ms = ms};
	snprintf(p.text, sizeof(p.text), "p:%llu", (unsigned long long)lsn);
	return p;
}

static void
start(struct fixture *f, uint64_t lsn, int64_t ms)
{
	struct cairn_log_pos p = pos(lsn, ms);
	logwriter_start(f->lw, &p, BASE);
}

/* a record of 40 bytes at lsn, time ms */
static int
rec(struct fixture *f, uint64_t lsn, int64_t ms)
{
	char buf[41];
	struct cairn_log_pos p = pos(lsn, ms);
	struct cairn_log_out *o = logwriter_out(f->lw);
	snprintf(buf, sizeof(buf), "%039llu\n", (unsigned long long)lsn);
	return o->record(o, buf, 40, &p);
}

/* The manifests of sink ms, parsed (as logcat believes them), in key
 * order; n of them. */
static size_t
manifests(struct memsink *ms, struct log_segment *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < ms->nobjs && n < max; i++) {
		const char *k = ms->objs[i].key, *name;
		size_t kl = strlen(k);
		char *err = NULL, *nm;
		if (kl < 5 || strcmp(k + kl - 5, ".json") != 0)
			continue;
		name = k + strlen(DIR);
		nm = xstrndup(name, strlen(name) - 5);
		memset(&out[n], 0, sizeof(out[n]));
		if (logseg_parse((const char *)ms->objs[i].data, ms->objs[i].len, "nightly", "one",
		                 nm, &out[n], &err))
			fail_msg("%s: %s", k, err);
		free(nm);
		n++;
	}
	return n;
}

static int
count_suffix(struct memsink *ms, const char *suffix)
{
	int n = 0;
	for (size_t i = 0; i < ms->nobjs; i++) {
		size_t kl = strlen(ms->objs[i].key), sl = strlen(suffix);
		n += kl > sl && strcmp(ms->objs[i].key + kl - sl, suffix) == 0;
	}
	return n;
}

static void
test_cut_by_size(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[8];
	start(f, 10, 1000);
	for (uint64_t l = 11; l <= 15; l++)
		assert_int_equal(rec(f, l, 1000 + (int64_t)l), 0);
	/* 40 + 40 fit in 100, a third would not: two segments of two so far */
	assert_int_equal(logwriter_segments(f->lw), 2);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(logwriter_segments(f->lw), 3);
	assert_int_equal(manifests(&f->a, m, 8), 3);
	assert_int_equal(m[0].records, 2);
	assert_int_equal(m[1].records, 2);
	assert_int_equal(m[2].records, 1);
	assert_int_equal(m[0].from.lsn, 10);
	assert_int_equal(m[1].from.lsn, m[0].to.lsn);
	assert_int_equal(m[2].from.lsn, m[1].to.lsn);
	assert_int_equal(m[2].to.lsn, 15);
	assert_string_equal(m[1].from.text, m[0].to.text);
	assert_string_equal(m[0].base, BASE);
	for (int i = 0; i < 3; i++) {
		struct memobj *o = memsink_get(&f->a, m[i].object);
		assert_non_null(o);
		assert_int_equal(o->len, m[i].records * 40);
		assert_int_equal(o->data[o->len - 1], '\n'); /* whole records */
		logseg_clear(&m[i]);
	}
	assert_int_equal(count_suffix(&f->b, ".json"), 3);
	assert_int_equal(count_suffix(&f->a, ".gap"), 0);
}

static void
test_empty_only_when_it_covers_time(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[2];
	struct cairn_log_out *o = logwriter_out(f->lw);
	struct cairn_log_pos p = pos(10, 5000);
	start(f, 10, 1000);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(f->a.nobjs, 0); /* covers nothing: nothing stored */
	assert_int_equal(o->idle(o, &p), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(manifests(&f->a, m, 2), 1);
	assert_int_equal(m[0].records, 0);
	assert_int_equal(m[0].from.time_ms, 1000);
	assert_int_equal(m[0].to.time_ms, 5000);
	logseg_clear(&m[0]);
}

static void
test_failing_sink_gets_a_gap(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[4];
	struct log_gap g;
	char *err = NULL;
	start(f, 10, 1000);
	f->b.fail_open_key = "log/";
	assert_int_equal(rec(f, 11, 1100), 0);
	assert_int_equal(logwriter_commit(f->lw), 0); /* a took it */
	assert_int_equal(count_suffix(&f->b, ".json"), 0);
	f->b.fail_open_key = NULL;
	assert_int_equal(rec(f, 12, 1200), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(count_suffix(&f->a, ".json"), 2);
	assert_int_equal(count_suffix(&f->a, ".gap"), 0);
	assert_int_equal(manifests(&f->b, m, 4), 1);
	assert_int_equal(m[0].from.lsn, 11);
	for (size_t i = 0; i < f->b.nobjs; i++) {
		const char *k = f->b.objs[i].key;
		size_t kl = strlen(k);
		if (strcmp(k + kl - 4, ".gap") != 0)
			continue;
		char *nm = xstrndup(k + strlen(DIR), kl - strlen(DIR) - 4);
		assert_int_equal(loggap_parse((const char *)f->b.objs[i].data, f->b.objs[i].len,
		                              "nightly", "one", nm, &g, &err),
		                 0);
		free(nm);
		assert_int_equal(g.from.lsn, 10);
		assert_int_equal(g.to.lsn, 11);
		assert_non_null(strstr(g.reason, "sink b failed"));
		loggap_clear(&g);
	}
	assert_int_equal(count_suffix(&f->b, ".gap"), 1);
	logseg_clear(&m[0]);
}

static void
test_no_sink_drops_the_segment(void **state)
{
	struct fixture *f = *state;
	start(f, 10, 1000);
	f->a.fail_open_key = f->b.fail_open_key = "log/";
	assert_int_equal(rec(f, 11, 1100), 0);
	assert_int_equal(logwriter_commit(f->lw), CAIRN_E_IO);
	assert_int_equal(logwriter_committed(f->lw)->lsn, 10);
	/* the open segment is gone: what follows starts at 10 again, and
	 * no sink gets a gap for a stretch nobody has */
	f->a.fail_open_key = f->b.fail_open_key = NULL;
	assert_int_equal(rec(f, 11, 1100), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(count_suffix(&f->a, ".gap") + count_suffix(&f->b, ".gap"), 0);
	assert_int_equal(count_suffix(&f->b, ".json"), 1);
}

/* host->stat as the source's follow() calls it */
static void
stat(struct fixture *f, const char *key, int64_t value)
{
	cairn_host_table.stat(&f->src->ctx, key, value);
}

/* key's count in a parsed manifest, -1 when it has none */
static int64_t
stat_of(const struct log_segment *m, const char *key)
{
	json_t *v = m->stats ? json_object_get(m->stats, key) : NULL;
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static void
test_stats_per_segment(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[4];
	start(f, 10, 1000);
	ctx_follow(&f->src->ctx, 1);
	stat(f, "commands", 2);
	stat(f, "db.0", 2);
	assert_int_equal(rec(f, 11, 1100), 0);
	stat(f, "commands", 1);
	stat(f, "db.3", 1);
	assert_int_equal(rec(f, 12, 1200), 0);
	/* the third record does not fit: the writer cuts before it, and
	 * what was given for it goes into the segment it opens */
	stat(f, "commands", 5);
	stat(f, "db.3", 5);
	assert_int_equal(rec(f, 13, 1300), 0);
	assert_int_equal(logwriter_segments(f->lw), 1);
	assert_int_equal(logwriter_commit(f->lw), 0);
	/* a segment with no counts given has none: they start from zero */
	assert_int_equal(rec(f, 14, 1400), 0);
	/* given, but its record never came (follow() returned and is
	 * called again): forgotten */
	stat(f, "commands", 7);
	ctx_follow(&f->src->ctx, 0);
	ctx_follow(&f->src->ctx, 1);
	assert_int_equal(rec(f, 15, 1500), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	ctx_follow(&f->src->ctx, 0);
	assert_int_equal(manifests(&f->a, m, 4), 3);
	assert_int_equal(stat_of(&m[0], "commands"), 3);
	assert_int_equal(stat_of(&m[0], "db.0"), 2);
	assert_int_equal(stat_of(&m[0], "db.3"), 1);
	assert_int_equal(json_object_size(m[0].stats), 3);
	assert_int_equal(stat_of(&m[1], "commands"), 5);
	assert_int_equal(stat_of(&m[1], "db.3"), 5);
	assert_int_equal(json_object_size(m[1].stats), 2);
	assert_true(!m[2].stats || json_object_size(m[2].stats) == 0);
	for (int i = 0; i < 3; i++)
		logseg_clear(&m[i]);
	assert_null(f->src->ctx.stats); /* nothing went to a set's stats */
}

/* manifest_stats = no (issue 20): a segment's manifest, in clear like a
 * set's, keeps no counts of the source's. */
static void
test_stats_left_out_with_manifest_stats_no(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[2];
	f->job.crypt.manifest_stats = 0;
	start(f, 10, 1000);
	ctx_follow(&f->src->ctx, 1);
	stat(f, "commands", 2);
	stat(f, "db.0", 2);
	assert_int_equal(rec(f, 11, 1100), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	ctx_follow(&f->src->ctx, 0);
	assert_int_equal(manifests(&f->a, m, 2), 1);
	assert_int_equal(m[0].records, 1);
	assert_true(!m[0].stats || json_object_size(m[0].stats) == 0);
	logseg_clear(&m[0]);
}

static void
test_stats_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[2];
	char key[32];
	start(f, 10, 1000);
	ctx_follow(&f->src->ctx, 1);
	for (int i = 0; i < LOGSTATS_KEYS + 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		stat(f, key, i);
	}
	stat(f, "k0", 10); /* a key it has still adds up */
	stat(f, "no spaces", 1);
	stat(f, "", 1);
	stat(f, LOGSTATS_DROPPED, 1); /* the core's */
	stat(f, "x123456789x123456789x123456789x123456789x123456789x123456789xyzw", 1);
	assert_int_equal(rec(f, 11, 1100), 0);
	stat(f, "k1", INT64_MAX); /* sums saturate */
	assert_int_equal(rec(f, 12, 1200), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	ctx_follow(&f->src->ctx, 0);
	assert_int_equal(manifests(&f->a, m, 2), 1);
	assert_int_equal(json_object_size(m[0].stats), LOGSTATS_KEYS + 1);
	assert_int_equal(stat_of(&m[0], "k0"), 10);
	assert_int_equal(stat_of(&m[0], "k1"), INT64_MAX);
	assert_int_equal(stat_of(&m[0], "k63"), 63);
	assert_int_equal(stat_of(&m[0], "k64"), -1);
	assert_int_equal(stat_of(&m[0], LOGSTATS_DROPPED), 6 + 4);
	logseg_clear(&m[0]);
}

static void
test_stats_outside_follow_are_the_sets(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[2];
	start(f, 10, 1000);
	stat(f, "files", 3); /* backup(): the set's manifest, as before */
	/* and a new base written inside follow() (base_begin ... base_end
	 * set in_backup): the set's too */
	ctx_follow(&f->src->ctx, 1);
	f->src->ctx.in_backup = 1;
	stat(f, "keys.db0", 5);
	f->src->ctx.in_backup = 0;
	assert_int_equal(rec(f, 11, 1100), 0);
	ctx_follow(&f->src->ctx, 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(manifests(&f->a, m, 2), 1);
	assert_true(!m[0].stats || json_object_size(m[0].stats) == 0);
	assert_int_equal(json_integer_value(json_object_get(f->src->ctx.stats, "files")), 3);
	assert_int_equal(json_integer_value(json_object_get(f->src->ctx.stats, "keys.db0")), 5);
	logseg_clear(&m[0]);
}

static void
test_stats_text(void **state)
{
	json_t *o = json_pack("{s:I, s:s, s:I}", "commands", (json_int_t)14, "bad", "x",
	                      "we\x1bird", (json_int_t)2);
	char *t = logstats_text(o);
	(void)state;
	/* integers only, a key from the sink escaped */
	assert_string_equal(t, "commands 14, we\\x1bird 2");
	free(t);
	json_decref(o);
	assert_null(logstats_text(NULL));
	o = json_object();
	assert_null(logstats_text(o));
	json_decref(o);
}

static void
test_positions_that_go_back_are_refused(void **state)
{
	struct fixture *f = *state;
	struct cairn_log_out *o = logwriter_out(f->lw);
	struct cairn_log_pos bad = pos(20, 2000);
	start(f, 10, 1000);
	assert_int_equal(rec(f, 11, 1100), 0);
	assert_int_equal(rec(f, 11, 1200), CAIRN_E_CORRUPT);
	assert_int_equal(rec(f, 9, 1200), CAIRN_E_CORRUPT);
	bad.text[0] = '\0';
	assert_int_equal(o->record(o, "x", 1, &bad), CAIRN_E_CORRUPT);
	strcpy(bad.text, "a b");
	assert_int_equal(o->idle(o, &bad), CAIRN_E_CORRUPT);
}

static void
test_old_record_listed_at_start(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[2];
	start(f, 10, 5000);
	/* the server's clock is behind the time the log was idle to */
	assert_int_equal(rec(f, 11, 4000), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(manifests(&f->a, m, 2), 1);
	assert_int_equal(m[0].first.time_ms, 5000);
	assert_int_equal(m[0].to.time_ms, 5000);
	logseg_clear(&m[0]);
}

static void
test_index_first_record_of_each_second(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[2];
	f->job.log.segment_size = 1 << 30;
	start(f, 10, 1500);
	assert_int_equal(rec(f, 11, 1400), 0); /* before the start: listed at it */
	assert_int_equal(rec(f, 12, 1999), 0);
	assert_int_equal(rec(f, 13, 2000), 0);
	assert_int_equal(rec(f, 14, 2999), 0);
	assert_int_equal(rec(f, 15, 5001), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(manifests(&f->a, m, 2), 1);
	assert_int_equal(m[0].nindex, 3);
	assert_int_equal(m[0].index[0].time_ms, 1500);
	assert_int_equal(m[0].index[0].lsn, 11);
	assert_int_equal(m[0].index[1].time_ms, 2000);
	assert_int_equal(m[0].index[1].lsn, 13);
	assert_int_equal(m[0].index[2].time_ms, 5001);
	assert_int_equal(m[0].index[2].lsn, 15);
	logseg_clear(&m[0]);
	/* an empty segment that covers time has none */
	struct cairn_log_out *o = logwriter_out(f->lw);
	struct cairn_log_pos p = pos(20, 9000);
	assert_int_equal(o->idle(o, &p), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(manifests(&f->a, m, 2), 2);
	assert_int_equal(m[1].nindex, 0);
	assert_null(m[1].index);
	logseg_clear(&m[0]);
	logseg_clear(&m[1]);
}

static void
test_index_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct log_segment m[2];
	f->job.log.segment_size = 1 << 30;
	start(f, 10, 1000000);
	for (int i = 1; i <= 600; i++)
		assert_int_equal(rec(f, 10 + (uint64_t)i, 1000000 + i * 1000), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(manifests(&f->a, m, 2), 1);
	/* 600 seconds do not fit in LOGSEG_INDEX_MAX: every 2nd second's */
	assert_int_equal(m[0].nindex, 301);
	assert_int_equal(m[0].index[0].lsn, 11);
	for (size_t i = 1; i < m[0].nindex; i++) {
		assert_true(m[0].index[i].lsn > m[0].index[i - 1].lsn);
		assert_int_equal(m[0].index[i].time_ms / 2000,
		                 m[0].index[i - 1].time_ms / 2000 + 1);
	}
	logseg_clear(&m[0]);
}

static void
test_cancel_stops_follow(void **state)
{
	struct fixture *f = *state;
	struct cairn_log_out *o = logwriter_out(f->lw);
	start(f, 10, 1000);
	cancel_signal = 15;
	assert_int_equal(rec(f, 11, 1100), CAIRN_E_CANCELLED);
	assert_int_equal(o->idle(o, NULL), CAIRN_E_CANCELLED);
	/* what it took is committed after the stop */
	assert_int_equal(logwriter_commit(f->lw), 0);
	cancel_signal = 0;
	assert_int_equal(logwriter_committed(f->lw)->lsn, 11);
}

/* An encrypting job's segments (issue 20): SEG.log.zst.age, an age file
 * each with a header of its own, "encryption": "age" in the manifest,
 * size and SHA-256 of the stored bytes; read back (as replay reads them)
 * only with the identity. */
static void
test_encrypted_segments(void **state)
{
	struct fixture *f = *state;
	struct age_recipients *r = kat_recipients(kat_pub1);
	struct age_identities *ids = kat_identities(kat_key1);
	struct log_segment m[4];
	char *err = NULL;
	logwriter_free(f->lw);
	f->job.compression = COMP_ZSTD;
	struct logwriter_conf conf = {.job = &f->job,
	                              .source = f->src,
	                              .sinks = f->sinks,
	                              .nsinks = 2,
	                              .host = "h",
	                              .recipients = r};
	f->lw = logwriter_new(&conf, &err);
	assert_non_null(f->lw);
	start(f, 10, 1000);
	for (uint64_t l = 11; l <= 13; l++)
		assert_int_equal(rec(f, l, 1000 + (int64_t)l), 0);
	assert_int_equal(logwriter_commit(f->lw), 0);
	assert_int_equal(manifests(&f->a, m, 4), 2);
	assert_int_equal(count_suffix(&f->a, ".log.zst.age"), 2);
	assert_int_equal(count_suffix(&f->b, ".log.zst.age"), 2);
	for (int i = 0; i < 2; i++) {
		struct memobj *o = memsink_get(&f->a, m[i].object);
		assert_non_null(o);
		assert_string_equal(m[i].encryption, "age");
		assert_int_equal(m[i].recipients.n, 1);
		assert_string_equal(m[i].recipients.v[0], kat_pub1);
		assert_string_equal(m[i].compression, "zstd");
		assert_int_equal(m[i].stored_bytes, o->len);
		assert_int_equal(m[i].raw_bytes, m[i].records * 40);
		assert_memory_equal(o->data, "age-encryption.org/v1\n", 22);
		/* verify checks it without a key, by size and SHA-256 */
		crypt_set_identities(NULL);
		assert_int_equal(replay_check_segment(f->sinks[0], &m[i], &err), 0);
		o->data[o->len - 3] ^= 1;
		assert_int_equal(replay_check_segment(f->sinks[0], &m[i], &err), CAIRN_E_CORRUPT);
		assert_non_null(strstr(err, m[i].object));
		free(err);
		err = NULL;
		/* replay reads it decrypted: only with the identity */
		struct manifest_source ms = {.name = (char *)m[i].name,
		                             .object = m[i].object,
		                             .compression = m[i].compression,
		                             .encryption = m[i].encryption,
		                             .raw_bytes = m[i].raw_bytes,
		                             .stored_bytes = m[i].stored_bytes};
		memcpy(ms.sha256, m[i].sha256, sizeof(ms.sha256));
		o->data[o->len - 3] ^= 1;
		assert_int_equal(pipeline_object_scan(f->sinks[0], &ms, &err), CAIRN_E_CONFIG);
		free(err);
		err = NULL;
		crypt_set_identities(ids);
		assert_int_equal(pipeline_object_scan(f->sinks[0], &ms, &err), 0);
		assert_null(err);
		o->data[o->len - 3] ^= 1; /* the last chunk's tag */
		assert_int_equal(pipeline_object_scan(f->sinks[0], &ms, &err), CAIRN_E_CORRUPT);
		assert_non_null(strstr(err, "age chunk"));
		free(err);
		err = NULL;
		o->data[o->len - 3] ^= 1;
		/* a stanza that the key the manifest names does not open:
		 * damage, not a wrong key */
		ms.set_recipients = &m[i].recipients;
		o->data[40] ^= 0x20; /* the X25519 share */
		assert_int_equal(pipeline_object_scan(f->sinks[0], &ms, &err), CAIRN_E_CORRUPT);
		assert_non_null(strstr(err, m[i].object));
		free(err);
		err = NULL;
		o->data[40] ^= 0x20;
	}
	/* each segment has its own header (its own file key) */
	struct memobj *o0 = memsink_get(&f->a, m[0].object), *o1 = memsink_get(&f->a, m[1].object);
	assert_memory_not_equal(o0->data, o1->data, 60);
	for (int i = 0; i < 2; i++)
		logseg_clear(&m[i]);
	crypt_set_identities(NULL);
	age_identities_free(ids);
	logwriter_free(f->lw);
	f->lw = NULL;
	age_recipients_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_cut_by_size, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_empty_only_when_it_covers_time, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_failing_sink_gets_a_gap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_sink_drops_the_segment, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stats_per_segment, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stats_are_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stats_left_out_with_manifest_stats_no, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_stats_outside_follow_are_the_sets, setup,
	                                        teardown),
	        cmocka_unit_test(test_stats_text),
	        cmocka_unit_test_setup_teardown(test_positions_that_go_back_are_refused, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_old_record_listed_at_start, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_stops_follow, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_index_first_record_of_each_second, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_index_is_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_encrypted_segments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
