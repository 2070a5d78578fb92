/* test_pipeline.c - fan-out and every abort path of the backup pipeline,
 * and the checks on the way back (restore, verify), with in-memory plugins. */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "age_kat.h"
#include "cairn.h"
#include "crypt.h"
#include "log.h"
#include "manifest.h"
#include "memplug.h"
#include "pipeline.h"
#include "progress.h"
#include "sets.h"
#include "testutil.h"

#define ID "20261126T020000Z"

struct fixture {
	struct memsink a, b;
	struct memsrc s1, s2;
	struct instance *sinks[2], *sources[2];
	struct cfg_job job;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->a.fail_write_at = f->b.fail_write_at = -1;
	f->a.store = f->b.store = 1;
	f->s1 = (struct memsrc){
	        .bytes = 300000, .fail_at = -1, .cancel_at = -1, .keep_restored = 1};
	f->s2 = (struct memsrc){.bytes = 70000, .fail_at = -1, .cancel_at = -1, .keep_restored = 1};
	f->sinks[0] = memsink_instance("a", &f->a);
	f->sinks[1] = memsink_instance("b", &f->b);
	f->sources[0] = memsrc_instance("one", &f->s1);
	f->sources[1] = memsrc_instance("two", &f->s2);
	f->job.name = "nightly";
	f->job.compression = COMP_ZSTD;
	f->job.level = -1;
	f->job.crypt.manifest_stats = 1; /* config_crypt_defaults' */
	cancel_signal = 0;
	memsrc_set_staged(0);
	log_level = CAIRN_LOG_ERROR - 1; /* the tests provoke errors on purpose */
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 2; i++) {
		instance_destroy(f->sinks[i]);
		instance_destroy(f->sources[i]);
	}
	memsink_clear(&f->a);
	memsink_clear(&f->b);
	free(f->s1.restored);
	free(f->s2.restored);
	free(f);
	cancel_signal = 0;
	return 0;
}

/* The recipients of an encrypted job's backup (run_age), NULL: none. */
static const struct age_recipients *recipients;

static int
run(struct fixture *f, size_t nsources, struct backup_outcome *out)
{
	struct backup_request rq = {.job = &f->job,
	                            .id = ID,
	                            .sources = f->sources,
	                            .nsources = nsources,
	                            .sinks = f->sinks,
	                            .nsinks = 2,
	                            .host = "test",
	                            .recipients = recipients};
	return pipeline_backup(&rq, out);
}

static struct manifest *
manifest_of(struct memsink *ms)
{
	struct memobj *o = memsink_get(ms, "nightly/" ID "/manifest.json");
	char *err = NULL;
	if (!o)
		return NULL;
	struct manifest *m = manifest_parse((char *)o->data, o->len, &err);
	assert_non_null(m);
	return m;
}

static void
sha256_of(const unsigned char *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int n;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
one_read_of_each_source_reaches_every_sink(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	assert_int_equal(run(f, 2, &out), 0);
	assert_true(out.sinks[0].ok && out.sinks[1].ok);
	assert_int_equal(out.raw_bytes, 370000);
	backup_outcome_free(&out, 2);
	for (int s = 0; s < 2; s++) {
		struct memsink *ms = s ? &f->b : &f->a;
		struct memobj *o1 = memsink_get(ms, "nightly/" ID "/one.bin.zst");
		assert_non_null(o1);
		assert_non_null(memsink_get(ms, "nightly/" ID "/two.bin.zst"));
		assert_int_equal(ms->nobjs, 3);
		assert_int_equal(ms->open_writers, 0);
		struct manifest *m = manifest_of(ms);
		assert_non_null(m);
		assert_string_equal(m->sink, s ? "b" : "a");
		assert_int_equal(m->nsources, 2);
		assert_string_equal(m->sources[0].name, "one");
		assert_string_equal(m->sources[0].object, "nightly/" ID "/one.bin.zst");
		assert_int_equal(m->sources[0].raw_bytes, 300000);
		assert_int_equal(m->sources[0].stored_bytes, o1->len);
		assert_true(o1->len < 300000 / 4); /* it was compressed */
		char hex[65];
		sha256_of(o1->data, o1->len, hex);
		assert_string_equal(m->sources[0].sha256, hex);
		manifest_free(m);
	}
	/* both sinks hold the same bytes */
	struct memobj *x = memsink_get(&f->a, "nightly/" ID "/one.bin.zst");
	struct memobj *y = memsink_get(&f->b, "nightly/" ID "/one.bin.zst");
	assert_int_equal(x->len, y->len);
	assert_memory_equal(x->data, y->data, x->len);
}

static void
restore_gives_back_the_source_bytes(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char *err = NULL;
	static const enum compression comps[] = {COMP_ZSTD, COMP_GZIP, COMP_XZ, COMP_NONE};
	for (int c = 0; c < 4; c++) {
		f->job.compression = comps[c];
		f->job.threads = c % 2 ? 0 : 1; /* zstd with a worker, gzip in-thread, ... */
		memsink_clear(&f->a);
		memsink_clear(&f->b);
		assert_int_equal(run(f, 1, &out), 0);
		backup_outcome_free(&out, 2);
		struct manifest *m = manifest_of(&f->b);
		assert_string_equal(m->sources[0].compression, compression_name(comps[c]));
		assert_int_equal(
		        pipeline_restore(f->sinks[1], &m->sources[0], f->sources[0], 0, &err), 0);
		assert_int_equal(f->s1.restored_len, 300000);
		for (size_t i = 0; i < f->s1.restored_len; i++)
			if (f->s1.restored[i] != memsrc_byte(i))
				fail_msg("byte %zu differs after %s", i,
				         compression_name(comps[c]));
		assert_int_equal(pipeline_verify(f->sinks[1], &m->sources[0], NULL, &err), 0);
		assert_int_equal(pipeline_verify(f->sinks[1], &m->sources[0], f->sources[0], &err),
		                 0);
		manifest_free(m);
	}
}

static void
a_sink_failing_mid_stream_is_aborted_and_the_other_completes(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->job.compression = COMP_NONE; /* so writes reach the sinks as they come */
	f->b.fail_write_at = 100000;    /* inside source one's stream */
	assert_int_not_equal(run(f, 2, &out), 0);
	assert_true(out.sinks[0].ok);
	assert_false(out.sinks[1].ok);
	assert_non_null(strstr(out.sinks[1].error, "sink b (memsink)"));
	assert_non_null(strstr(out.sinks[1].error, "nightly/" ID "/one.bin"));
	assert_null(out.source_error);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.nobjs, 3);
	assert_int_equal(f->b.nobjs, 0);
	assert_int_equal(f->b.aborts, 1);
	assert_int_equal(f->b.open_writers, 0);
	/* it did not go on with the second source after failing */
	assert_int_equal(f->b.commits, 0);
}

static void
a_sink_failing_on_the_second_source_loses_its_first_object_too(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->b.fail_open_key = "two";
	assert_int_not_equal(run(f, 2, &out), 0);
	assert_true(out.sinks[0].ok);
	assert_false(out.sinks[1].ok);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->b.nobjs, 0); /* one.bin.zst was committed, then removed */
	assert_int_equal(f->b.commits, 1);
	assert_int_equal(f->a.nobjs, 3);
}

static void
a_failed_source_leaves_no_set_in_any_sink(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->s2.fail_at = 5000; /* the second source breaks after the first committed */
	assert_int_not_equal(run(f, 2, &out), 0);
	assert_non_null(out.source_error);
	assert_non_null(strstr(out.source_error, "source two (memsrc)"));
	assert_false(out.sinks[0].ok);
	assert_false(out.sinks[1].ok);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.nobjs, 0);
	assert_int_equal(f->b.nobjs, 0);
	assert_int_equal(f->a.open_writers + f->b.open_writers, 0);
	assert_int_equal(f->a.aborts, 1);
	assert_int_equal(f->b.aborts, 1);
}

static void
when_every_sink_fails_the_source_is_stopped(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->job.compression = COMP_NONE;
	f->a.fail_write_at = 0;
	f->b.fail_write_at = 0;
	f->s1.bytes = 50u << 20; /* it must not run to the end */
	assert_int_not_equal(run(f, 2, &out), 0);
	assert_false(out.sinks[0].ok || out.sinks[1].ok);
	assert_int_equal(f->s1.write_rc, CAIRN_E_IO);
	assert_true(out.raw_bytes < (50u << 20));
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.nobjs + f->b.nobjs, 0);
}

static void
a_failed_commit_leaves_that_sink_without_a_set(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->a.fail_commit_key = "one";
	assert_int_not_equal(run(f, 2, &out), 0);
	assert_false(out.sinks[0].ok);
	assert_true(out.sinks[1].ok);
	assert_non_null(strstr(out.sinks[0].error, "committing"));
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.nobjs, 0);
	assert_int_equal(f->b.nobjs, 3);
}

static void
a_failed_manifest_write_removes_the_sets_objects(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->b.fail_open_key = "manifest.json";
	assert_int_not_equal(run(f, 2, &out), 0);
	assert_true(out.sinks[0].ok);
	assert_false(out.sinks[1].ok);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->b.nobjs, 0);
	assert_int_equal(f->a.nobjs, 3);
}

static void
cancelling_aborts_everything(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->s2.cancel_at = 100;
	assert_int_equal(run(f, 2, &out), CAIRN_E_CANCELLED);
	assert_true(out.cancelled);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.nobjs + f->b.nobjs, 0);
	assert_int_equal(f->a.open_writers + f->b.open_writers, 0);
}

static void
damaged_objects_fail_restore_and_verify(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char *err = NULL;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	struct manifest *m = manifest_of(&f->a);
	struct memobj *o = memsink_get(&f->a, m->sources[0].object);

	o->data[o->len / 2] ^= 0x01; /* one bit */
	assert_int_equal(pipeline_verify(f->sinks[0], &m->sources[0], NULL, &err), CAIRN_E_CORRUPT);
	assert_non_null(strstr(err, "SHA-256"));
	free(err);
	err = NULL;
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err),
	                 CAIRN_E_CORRUPT);
	free(err);
	err = NULL;
	o->data[o->len / 2] ^= 0x01;

	o->len -= 10; /* truncated */
	assert_int_equal(pipeline_verify(f->sinks[0], &m->sources[0], NULL, &err), CAIRN_E_CORRUPT);
	assert_non_null(strstr(err, "bytes"));
	free(err);
	err = NULL;
	assert_int_equal(pipeline_verify(f->sinks[0], &m->sources[0], f->sources[0], &err),
	                 CAIRN_E_CORRUPT);
	free(err);
	err = NULL;
	o->len += 10;

	/* the untouched copy in the other sink is fine */
	assert_int_equal(pipeline_verify(f->sinks[1], &m->sources[0], f->sources[0], &err), 0);
	manifest_free(m);
}

/* cairn copy (issue 15): an object reaches the target only once all of it
 * was read and matched the manifest; a damaged, cut or unwritable one is
 * aborted there and leaves nothing. */
static void
copy_commits_only_checked_objects(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char *err = NULL;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	struct manifest *m = manifest_of(&f->a);
	const char *key = m->sources[0].object;
	struct memobj *o = memsink_get(&f->a, key);
	memsink_clear(&f->b);

	assert_int_equal(pipeline_copy(f->sinks[0], f->sinks[1], &m->sources[0], &err), 0);
	struct memobj *c = memsink_get(&f->b, key);
	assert_non_null(c);
	assert_int_equal(c->len, o->len);
	assert_memory_equal(c->data, o->data, o->len);
	memsink_clear(&f->b);

	int aborts = f->b.aborts;
	o->data[o->len - 1] ^= 0x01; /* the last byte: seen only at the end */
	assert_int_equal(pipeline_copy(f->sinks[0], f->sinks[1], &m->sources[0], &err),
	                 CAIRN_E_CORRUPT);
	assert_non_null(strstr(err, "SHA-256"));
	assert_non_null(strstr(err, key));
	free(err);
	err = NULL;
	assert_null(memsink_get(&f->b, key));
	assert_int_equal(f->b.aborts, aborts + 1);
	o->data[o->len - 1] ^= 0x01;

	o->len -= 10; /* cut */
	assert_int_equal(pipeline_copy(f->sinks[0], f->sinks[1], &m->sources[0], &err),
	                 CAIRN_E_CORRUPT);
	assert_non_null(strstr(err, "bytes"));
	free(err);
	err = NULL;
	assert_null(memsink_get(&f->b, key));
	o->len += 10;

	f->b.fail_write_at = 10; /* the target fails */
	int rc = pipeline_copy(f->sinks[0], f->sinks[1], &m->sources[0], &err);
	if (rc == 0 || rc == CAIRN_E_CORRUPT)
		fail_msg("rc %d: %s", rc, err ? err : "");
	assert_non_null(strstr(err, "writing"));
	free(err);
	assert_null(memsink_get(&f->b, key));
	assert_int_equal(f->b.open_writers, 0);
	manifest_free(m);
}

/* verify --restore-test: the source's restore_test reads the object once,
 * checked on the way; damage is reported as damage even when the source
 * gives up on it before the end, and a source's own failure as its own. */
static void
restore_test_checks_the_object(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char *err = NULL;
	/* uncompressed, so that only the SHA-256 at the end can tell */
	f->job.compression = COMP_NONE;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	struct manifest *m = manifest_of(&f->a);
	struct memobj *o = memsink_get(&f->a, m->sources[0].object);
	struct memsrc *src = f->sources[0]->inst;

	assert_int_equal(pipeline_restore_test(f->sinks[0], &m->sources[0], f->sources[0], &err),
	                 0);
	assert_null(err);
	assert_int_equal(src->rt_calls, 1);
	assert_int_equal(src->rt_read, m->sources[0].raw_bytes);

	o->data[o->len / 2] ^= 0x01; /* one bit */
	assert_int_equal(pipeline_restore_test(f->sinks[0], &m->sources[0], f->sources[0], &err),
	                 CAIRN_E_CORRUPT);
	assert_non_null(strstr(err, "SHA-256"));  /* the stream's error, */
	assert_null(strstr(err, "cannot parse")); /* not the source's */
	free(err);
	err = NULL;
	o->data[o->len / 2] ^= 0x01;

	o->len -= 10; /* truncated: only the end tells */
	assert_int_equal(pipeline_restore_test(f->sinks[0], &m->sources[0], f->sources[0], &err),
	                 CAIRN_E_CORRUPT);
	free(err);
	err = NULL;
	o->len += 10;

	src->rt_fail = 1;
	assert_int_equal(pipeline_restore_test(f->sinks[0], &m->sources[0], f->sources[0], &err),
	                 CAIRN_E_IO);
	assert_non_null(strstr(err, "scratch server did not start"));
	free(err);
	src->rt_fail = 0;
	manifest_free(m);
}

/* A source that cannot stage must never see a byte of a damaged object:
 * the core checks the whole object first. */
static void
a_source_that_cannot_stage_never_sees_a_damaged_object(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char *err = NULL;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	struct manifest *m = manifest_of(&f->a);
	struct memobj *o = memsink_get(&f->a, m->sources[0].object);

	o->data[o->len - 1] ^= 0x01; /* the very last byte */
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err),
	                 CAIRN_E_CORRUPT);
	assert_non_null(err);
	assert_int_equal(f->s1.restore_calls, 0);
	free(err);
	err = NULL;
	o->data[o->len - 1] ^= 0x01;
	/* and an intact one is restored whole */
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err), 0);
	assert_int_equal(f->s1.restore_calls, 1);
	assert_int_equal(f->s1.restored_len, f->s1.bytes);
	manifest_free(m);
}

/* A staging source publishes on the end of the stream, so the end must
 * never be reported for a damaged object: the damage shows up as the
 * read's error, before any 0. */
static void
the_end_of_the_stream_proves_the_object_good(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char *err = NULL;
	memsrc_set_staged(1);
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	struct manifest *m = manifest_of(&f->a);
	struct memobj *o = memsink_get(&f->a, m->sources[0].object);

	/* trailing garbage after an intact zstd stream (the decompressor
	 * or the size check catches it) */
	o->data = realloc(o->data, o->len + 7);
	memcpy(o->data + o->len, "garbage", 7);
	o->len += 7;
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err),
	                 CAIRN_E_CORRUPT);
	assert_int_equal(f->s1.restore_calls, 1);
	assert_int_equal(f->s1.last_read_rc, CAIRN_E_CORRUPT);
	assert_non_null(err);
	free(err);
	err = NULL;
	o->len -= 7;

	/* the manifest lies about the SHA-256 of an otherwise fine object */
	m->sources[0].sha256[0] = m->sources[0].sha256[0] == '0' ? '1' : '0';
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err),
	                 CAIRN_E_CORRUPT);
	assert_int_equal(f->s1.last_read_rc, CAIRN_E_CORRUPT);
	assert_non_null(strstr(err, "SHA-256"));
	free(err);
	err = NULL;
	manifest_free(m);

	/* intact: the final read is a clean 0 */
	m = manifest_of(&f->a);
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err), 0);
	assert_int_equal(f->s1.last_read_rc, 0);
	assert_int_equal(f->s1.restored_len, f->s1.bytes);
	manifest_free(m);
}

static void
a_missing_object_is_damage(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char *err = NULL;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	struct manifest *m = manifest_of(&f->a);
	struct memobj *o = memsink_get(&f->a, m->sources[0].object);
	char *key = strdup(o->key);
	assert_int_equal(f->sinks[0]->lp->sink.remove(&f->a, key), 0);
	assert_int_equal(pipeline_verify(f->sinks[0], &m->sources[0], NULL, &err), CAIRN_E_CORRUPT);
	assert_non_null(strstr(err, "missing"));
	free(err);
	err = NULL;
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err),
	                 CAIRN_E_CORRUPT);
	free(err);
	free(key);
	manifest_free(m);
}

/* Another run (another host, another state_dir) removing an object of
 * this set while it is written: the backup must not report success. */
static void
an_object_gone_after_commit_fails_that_sink(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->a.vanish_key = "/one.";
	assert_int_equal(run(f, 2, &out), CAIRN_E_IO);
	assert_int_equal(out.sinks[0].ok, 0);
	assert_non_null(strstr(out.sinks[0].error, "gone from the sink"));
	assert_int_equal(out.sinks[1].ok, 1);
	backup_outcome_free(&out, 2);
	/* nothing of the set is left in the sink that lost the object */
	assert_int_equal(f->a.nobjs, 0);
}

/* Issue 16: another run that took the same id in the same sink (two
 * hosts in one second, no lock) and wrote an object of its own there: the
 * clash is found before the manifest is committed, that sink gets no set,
 * and the other run's object is left alone. */
static void
another_runs_object_under_the_id_fails_that_sink(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->a.plant_after = "/two.";
	f->a.plant_key = "nightly/" ID "/other.tar";
	f->a.plant_data = "theirs";
	assert_int_equal(run(f, 2, &out), CAIRN_E_IO);
	assert_int_equal(out.sinks[0].ok, 0);
	assert_non_null(strstr(out.sinks[0].error, "set nightly/" ID " holds nightly/" ID
	                                           "/other.tar, which this run did not write"));
	assert_int_equal(out.sinks[1].ok, 1);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.nobjs, 1); /* only theirs */
	assert_non_null(memsink_get(&f->a, "nightly/" ID "/other.tar"));
	assert_null(memsink_get(&f->a, "nightly/" ID "/manifest.json"));
}

/* The same when the other run replaced one of this run's objects (a store
 * that overwrites, as S3 does): the replaced object is theirs now and
 * stays; this run's others go. */
static void
an_object_replaced_under_the_id_fails_that_sink(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	f->a.plant_after = "/two.";
	f->a.plant_key = "nightly/" ID "/one.bin.zst";
	f->a.plant_data = "theirs";
	assert_int_equal(run(f, 2, &out), CAIRN_E_IO);
	assert_int_equal(out.sinks[0].ok, 0);
	assert_non_null(strstr(out.sinks[0].error, "which this run did not write"));
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.nobjs, 1);
	struct memobj *o = memsink_get(&f->a, "nightly/" ID "/one.bin.zst");
	assert_non_null(o);
	assert_int_equal(o->len, 6);
}

static void
check_place_fails(const char *job, const char *id, const char *object, const char *want)
{
	struct manifest m = {0};
	char *why = NULL;
	m.job = (char *)"nightly";
	m.id = (char *)ID;
	struct manifest_source ms = {.name = (char *)"one", .object = (char *)object};
	m.sources = &ms;
	m.nsources = object ? 1 : 0;
	assert_int_equal(manifest_check_place(&m, job, id, &why), -1);
	assert_non_null(why);
	if (!strstr(why, want))
		fail_msg("\"%s\" does not say \"%s\"", why, want);
	free(why);
}

static void
a_manifest_must_match_where_it_lies(void **state)
{
	struct manifest m = {0};
	char *why = NULL;
	struct manifest_source ms[2] = {
	        {.name = (char *)"one", .object = (char *)"nightly/" ID "/one.tar.zst"},
	        {.name = (char *)"two", .object = (char *)"nightly/" ID "/two.rdb"}};
	(void)state;
	m.job = (char *)"nightly";
	m.id = (char *)ID;
	m.sources = ms;
	m.nsources = 2;
	assert_int_equal(manifest_check_place(&m, "nightly", ID, &why), 0);
	/* copied from another set, or another job */
	check_place_fails("nightly", "20261127T020000Z", "nightly/" ID "/one.tar.zst",
	                  "not the set");
	check_place_fails("weekly", ID, "nightly/" ID "/one.tar.zst", "not the set");
	/* objects outside the set */
	check_place_fails("nightly", ID, "nightly/20200101T000000Z/one.tar.zst",
	                  "not an object of");
	check_place_fails("nightly", ID, "nightly/" ID "/../../etc/passwd", "not an object of");
	check_place_fails("nightly", ID, "/etc/passwd", "not an object of");
	check_place_fails("nightly", ID, "nightly/" ID "/", "not an object of");
	check_place_fails("nightly", ID, "nightly/" ID "/manifest.json", "not an object of");
	check_place_fails("nightly", ID, "nightly/" ID "/.hidden", "not an object of");
	/* the pin is no object a manifest may name (sets.h) */
	check_place_fails("nightly", ID, "nightly/" ID "/pin", "not an object of");
	/* a set without sources */
	check_place_fails("nightly", ID, NULL, "no sources");
	/* twice */
	ms[1].name = (char *)"one";
	assert_int_equal(manifest_check_place(&m, "nightly", ID, &why), -1);
	free(why);
}

static void
memory_stays_flat_for_a_large_stream(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	struct rusage before, after;
	if (getenv("CAIRN_UNDER_VALGRIND"))
		skip(); /* valgrind's own memory hides ours, and it is slow */
	f->a.store = f->b.store = 0;
	f->s1.bytes = 512u << 20;
	getrusage(RUSAGE_SELF, &before);
	assert_int_equal(run(f, 1, &out), 0);
	getrusage(RUSAGE_SELF, &after);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.written, f->b.written);
	/* 512 MiB went through; the peak grew by far less than that */
	assert_true(after.ru_maxrss - before.ru_maxrss < 48 * 1024);
	memsink_clear(&f->a);
	memsink_clear(&f->b);
}

static void
a_failure_without_a_detail_never_shows_an_earlier_one(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	/* open_write leaves a detail and succeeds; the commit that fails
	 * later says nothing, so the generic word must show, not the old
	 * detail (which would blame the wrong thing) */
	f->a.stale_detail = "stale detail from open_write";
	f->a.fail_commit_key = "one";
	assert_int_not_equal(run(f, 1, &out), 0);
	assert_false(out.sinks[0].ok);
	assert_non_null(strstr(out.sinks[0].error, "committing"));
	assert_non_null(strstr(out.sinks[0].error, "input/output error"));
	assert_null(strstr(out.sinks[0].error, "stale detail"));
	backup_outcome_free(&out, 2);
}

static void
nor_does_a_failed_write(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	/* the write fails after open_write set a detail: the detail is not
	 * the write's, so it must not show either */
	f->a.stale_detail = "stale detail from open_write";
	f->a.fail_write_at = 10; /* zstd makes the stream small */
	assert_int_not_equal(run(f, 1, &out), 0);
	assert_non_null(strstr(out.sinks[0].error, "writing"));
	assert_null(strstr(out.sinks[0].error, "stale detail"));
	backup_outcome_free(&out, 2);
}

static void
the_scratch_directory_lives_as_long_as_the_op(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char dir[] = "/tmp/cairn-scratch-XXXXXX", *err = NULL, *scratch;
	struct stat st;
	struct manifest *m;
	assert_non_null(mkdtemp(dir));
	f->sinks[0]->ctx.state_dir = xasprintf("%s/state", dir);
	f->sources[0]->ctx.state_dir = xasprintf("%s/state", dir);
	f->a.use_scratch = 1;
	f->s1.use_scratch = 1;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	/* a sink's writer spans calls: its scratch outlives each write */
	assert_int_equal(f->a.scratch_gone_in_write, 0);
	assert_non_null(strstr(f->a.scratch, "/state/scratch/sink-a."));
	scratch = path_dirname(f->a.scratch);
	assert_int_equal(stat(scratch, &st), -1); /* gone after the commit */
	free(scratch);

	m = manifest_of(&f->a);
	assert_int_equal(pipeline_restore(f->sinks[0], &m->sources[0], f->sources[0], 0, &err), 0);
	assert_non_null(strstr(f->s1.scratch, "/state/scratch/source-one."));
	scratch = path_dirname(f->s1.scratch);
	assert_int_equal(stat(scratch, &st), -1); /* gone once restore() returned */
	free(scratch);
	/* the parent stays, private */
	char *parent = xasprintf("%s/state/scratch", dir);
	assert_int_equal(stat(parent, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(rmdir(parent), 0);
	free(parent);
	parent = xasprintf("%s/state", dir);
	assert_int_equal(rmdir(parent), 0);
	free(parent);
	assert_int_equal(rmdir(dir), 0);
	manifest_free(m);
}

static void
a_known_total_shows_percent_and_time_left(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	char path[] = "/tmp/cairn-progress-XXXXXX", buf[4096] = "";
	int fd = mkstemp(path), saved = dup(2);
	FILE *fp;
	assert_true(fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	progress_enabled = 1;
	progress_begin("one");
	progress_total(1000);
	usleep(300000); /* the line is redrawn at most every 0.25 s */
	progress_add(250);
	usleep(300000);
	progress_add(1000); /* past the estimate: no percent above 100 */
	progress_end();
	/* a source announces its total through the host during backup() */
	f->s1.announced = 1;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	progress_enabled = 0;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fp = fopen(path, "r");
	assert_non_null(fp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	close(fd);
	unlink(path);
	assert_non_null(strstr(buf, "one: 250 B of 1000 B (25%)"));
	assert_non_null(strstr(buf, " left"));
	assert_non_null(strstr(buf, "one: 1.2 KiB, "));
	assert_null(strstr(buf, "125%"));
}

/* ------------------------------------------------- encryption (issue 20) */

/* Back up source one with the job encrypting to kat_pub1: the set's
 * manifest in sink a. */
static struct manifest *
run_age(struct fixture *f)
{
	struct backup_outcome out;
	struct age_recipients *r = kat_recipients(kat_pub1);
	recipients = r;
	assert_int_equal(run(f, 1, &out), 0);
	recipients = NULL;
	backup_outcome_free(&out, 2);
	age_recipients_free(r);
	return manifest_of(&f->a);
}

static int
teardown_age(void **state)
{
	crypt_set_identities(NULL);
	return teardown(state);
}

/* Compression, then age, then the SHA-256 and the sinks: the object is an
 * age file named .age, the manifest says so and whom to, its size and
 * SHA-256 are of the encrypted bytes, raw_bytes the source's. */
static void
an_encrypted_backup_stores_age_files(void **state)
{
	struct fixture *f = *state;
	struct age_identities *ids = kat_identities(kat_key1);
	char hex[65], *err = NULL;
	f->s1.stats = 1;
	struct manifest *m = run_age(f);
	const struct manifest_source *ms = &m->sources[0];
	struct memobj *o = memsink_get(&f->a, "nightly/" ID "/one.bin.zst.age");
	assert_non_null(o);
	assert_string_equal(ms->object, "nightly/" ID "/one.bin.zst.age");
	assert_string_equal(ms->encryption, "age");
	assert_string_equal(ms->compression, "zstd");
	assert_int_equal(m->recipients.n, 1);
	assert_string_equal(m->recipients.v[0], kat_pub1);
	assert_int_equal(ms->raw_bytes, 300000);
	assert_int_equal(ms->stored_bytes, o->len);
	sha256_of(o->data, o->len, hex);
	assert_string_equal(ms->sha256, hex);
	assert_memory_equal(o->data, "age-encryption.org/v1\n", 22);
	assert_true(o->len < 300000 / 4); /* compressed before it was encrypted */
	assert_non_null(json_object_get(ms->stats, "bytes"));
	/* both sinks got the same bytes: encrypted once */
	struct memobj *ob = memsink_get(&f->b, ms->object);
	assert_non_null(ob);
	assert_int_equal(ob->len, o->len);
	assert_memory_equal(ob->data, o->data, o->len);

	/* restore, verify deep and restore_test with the identity */
	crypt_set_identities(ids);
	assert_int_equal(pipeline_restore(f->sinks[0], ms, f->sources[0], 0, &err), 0);
	assert_int_equal(f->s1.restored_len, 300000);
	for (size_t i = 0; i < f->s1.restored_len; i++)
		if (f->s1.restored[i] != memsrc_byte(i))
			fail_msg("byte %zu differs", i);
	assert_int_equal(pipeline_verify(f->sinks[0], ms, f->sources[0], &err), 0);
	assert_int_equal(pipeline_restore_test(f->sinks[0], ms, f->sources[0], &err), 0);
	assert_int_equal(f->s1.rt_read, 300000);
	assert_int_equal(pipeline_object_scan(f->sinks[0], ms, &err), 0);
	assert_null(err);
	manifest_free(m);
	age_identities_free(ids);
}

/* manifest_stats = no: the sources' statistics stay out of the clear
 * manifest. */
static void
manifest_stats_no_leaves_the_stats_out(void **state)
{
	struct fixture *f = *state;
	f->s1.stats = 1;
	f->job.crypt.manifest_stats = 0;
	struct manifest *m = run_age(f);
	assert_int_equal(json_object_size(m->sources[0].stats), 0);
	struct memobj *o = memsink_get(&f->a, "nightly/" ID "/manifest.json");
	char *text = strndup((char *)o->data, o->len);
	assert_null(strstr(text, "\"bytes\""));
	free(text);
	manifest_free(m);
}

/* What needs no key works without one; what reads the data says which
 * key to give, or that the one given does not open it. */
static void
reading_needs_the_identity_and_nothing_else_does(void **state)
{
	struct fixture *f = *state;
	struct age_identities *wrong = kat_identities(kat_key2);
	char *err = NULL;
	struct manifest *m = run_age(f);
	const struct manifest_source *ms = &m->sources[0];
	crypt_set_identities(NULL);
	/* shallow verify and copy: size and SHA-256 of the stored bytes */
	assert_int_equal(pipeline_verify(f->sinks[0], ms, NULL, &err), 0);
	memsink_clear(&f->b);
	assert_int_equal(pipeline_copy(f->sinks[0], f->sinks[1], ms, &err), 0);
	assert_null(err);
	assert_non_null(memsink_get(&f->b, ms->object));
	/* deep verify, restore, restore_test: CAIRN_E_CONFIG naming the keys */
	assert_int_equal(pipeline_verify(f->sinks[0], ms, f->sources[0], &err), CAIRN_E_CONFIG);
	assert_contains(err, ms->object);
	assert_contains(err, "age_identity_file");
	free(err);
	err = NULL;
	assert_int_equal(pipeline_restore(f->sinks[0], ms, f->sources[0], 0, &err), CAIRN_E_CONFIG);
	assert_int_equal(f->s1.restore_calls, 0); /* checked before it was given a byte */
	free(err);
	err = NULL;
	assert_int_equal(pipeline_restore_test(f->sinks[0], ms, f->sources[0], &err),
	                 CAIRN_E_CONFIG);
	free(err);
	err = NULL;
	/* a key it was not written to: CAIRN_E_AUTH, naming whom it was */
	crypt_set_identities(wrong);
	assert_int_equal(pipeline_restore(f->sinks[0], ms, f->sources[0], 0, &err), CAIRN_E_AUTH);
	assert_contains(err, "none of the identities in /etc/cairn/age.key opens");
	assert_contains(err, "it was encrypted to age1xfgzzk36...aakjy8");
	assert_int_equal(f->s1.restore_calls, 0);
	free(err);
	manifest_free(m);
	age_identities_free(wrong);
}

/* A tampered chunk is damage naming the object, and the source that
 * reads as it restores never gets a byte of it: only authenticated
 * chunks reach the decompressor. */
static void
a_tampered_chunk_never_reaches_the_source(void **state)
{
	struct fixture *f = *state;
	struct age_identities *ids = kat_identities(kat_key1);
	char *err = NULL;
	memsrc_set_staged(1); /* it reads as it restores: no check first */
	f->job.compression = COMP_NONE;
	struct manifest *m = run_age(f);
	struct manifest_source *ms = &m->sources[0];
	struct memobj *o = memsink_get(&f->a, ms->object);
	const char *mac = memmem(o->data, o->len, "\n---", 4);
	size_t c0 = (size_t)((const unsigned char *)memchr(mac + 1, '\n', 100) - o->data) + 1 + 16;
	crypt_set_identities(ids);
	assert_string_equal(ms->compression, "none");
	o->data[c0 + 2 * (AGE_CHUNK + 16) + 100] ^= 0x01; /* chunk 2 */
	assert_int_equal(pipeline_restore(f->sinks[0], ms, f->sources[0], 0, &err),
	                 CAIRN_E_CORRUPT);
	assert_contains(err, ms->object);
	assert_contains(err, "age chunk 2 fails authentication");
	assert_true(f->s1.restored_len <= 2 * AGE_CHUNK);
	for (size_t i = 0; i < f->s1.restored_len; i++)
		assert_int_equal(f->s1.restored[i], memsrc_byte(i));
	free(err);
	err = NULL;
	assert_int_equal(pipeline_verify(f->sinks[0], ms, f->sources[0], &err), CAIRN_E_CORRUPT);
	free(err);
	err = NULL;
	/* shallow verify sees it too, by the SHA-256 of the stored bytes */
	assert_int_equal(pipeline_verify(f->sinks[0], ms, NULL, &err), CAIRN_E_CORRUPT);
	assert_contains(err, "SHA-256");
	free(err);
	err = NULL;
	o->data[c0 + 2 * (AGE_CHUNK + 16) + 100] ^= 0x01;

	/* the manifest promises age and the object is something else, with
	 * a size and SHA-256 to match: damage, not a plain read */
	free(ms->encryption);
	ms->encryption = NULL;
	memsink_clear(&f->a);
	memsink_clear(&f->b);
	struct backup_outcome out;
	assert_int_equal(run(f, 1, &out), 0);
	backup_outcome_free(&out, 2);
	struct manifest *plain = manifest_of(&f->a);
	plain->sources[0].encryption = strdup("age");
	assert_int_equal(pipeline_restore(f->sinks[0], &plain->sources[0], f->sources[0], 0, &err),
	                 CAIRN_E_CORRUPT);
	assert_contains(err, "is not an age file");
	assert_int_equal(f->s1.restored_len, 0);
	free(err);
	err = NULL;
	/* and an encryption this cairn does not know is refused in one line */
	free(plain->sources[0].encryption);
	plain->sources[0].encryption = strdup("rot13");
	assert_int_equal(pipeline_verify(f->sinks[0], &plain->sources[0], NULL, &err),
	                 CAIRN_E_CORRUPT);
	assert_contains(err, "unknown encryption \"rot13\"");
	free(err);
	manifest_free(plain);
	manifest_free(m);
	age_identities_free(ids);
}

static void
memory_stays_flat_when_encrypting(void **state)
{
	struct fixture *f = *state;
	struct backup_outcome out;
	struct rusage before, after;
	struct age_recipients *r;
	if (getenv("CAIRN_UNDER_VALGRIND"))
		skip(); /* valgrind's own memory hides ours, and it is slow */
	r = kat_recipients(kat_pub1);
	f->a.store = f->b.store = 0;
	f->s1.bytes = 256u << 20;
	f->job.compression = COMP_NONE; /* every byte through the age stage */
	recipients = r;
	getrusage(RUSAGE_SELF, &before);
	assert_int_equal(run(f, 1, &out), 0);
	getrusage(RUSAGE_SELF, &after);
	recipients = NULL;
	/* 256 MiB and its chunks' tags went through */
	assert_true(out.stored_bytes > out.raw_bytes + 4096 * 16);
	backup_outcome_free(&out, 2);
	assert_int_equal(f->a.written, f->b.written);
	assert_true(after.ru_maxrss - before.ru_maxrss < 32 * 1024);
	memsink_clear(&f->a);
	memsink_clear(&f->b);
	age_recipients_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(one_read_of_each_source_reaches_every_sink, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(restore_gives_back_the_source_bytes, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                a_sink_failing_mid_stream_is_aborted_and_the_other_completes, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                a_sink_failing_on_the_second_source_loses_its_first_object_too, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(a_failed_source_leaves_no_set_in_any_sink, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(when_every_sink_fails_the_source_is_stopped, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(a_failed_commit_leaves_that_sink_without_a_set,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(a_failed_manifest_write_removes_the_sets_objects,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(cancelling_aborts_everything, setup, teardown),
	        cmocka_unit_test_setup_teardown(restore_test_checks_the_object, setup, teardown),
	        cmocka_unit_test_setup_teardown(copy_commits_only_checked_objects, setup, teardown),
	        cmocka_unit_test_setup_teardown(damaged_objects_fail_restore_and_verify, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                a_source_that_cannot_stage_never_sees_a_damaged_object, setup, teardown),
	        cmocka_unit_test_setup_teardown(the_end_of_the_stream_proves_the_object_good, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(a_missing_object_is_damage, setup, teardown),
	        cmocka_unit_test_setup_teardown(an_object_gone_after_commit_fails_that_sink, setup,
	                                        teardown),
	        cmocka_unit_test(a_manifest_must_match_where_it_lies),
	        cmocka_unit_test_setup_teardown(memory_stays_flat_for_a_large_stream, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                a_failure_without_a_detail_never_shows_an_earlier_one, setup, teardown),
	        cmocka_unit_test_setup_teardown(nor_does_a_failed_write, setup, teardown),
	        cmocka_unit_test_setup_teardown(another_runs_object_under_the_id_fails_that_sink,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(an_object_replaced_under_the_id_fails_that_sink,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(the_scratch_directory_lives_as_long_as_the_op,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(a_known_total_shows_percent_and_time_left, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(an_encrypted_backup_stores_age_files, setup,
	                                        teardown_age),
	        cmocka_unit_test_setup_teardown(manifest_stats_no_leaves_the_stats_out, setup,
	                                        teardown_age),
	        cmocka_unit_test_setup_teardown(reading_needs_the_identity_and_nothing_else_does,
	                                        setup, teardown_age),
	        cmocka_unit_test_setup_teardown(a_tampered_chunk_never_reaches_the_source, setup,
	                                        teardown_age),
	        cmocka_unit_test_setup_teardown(memory_stays_flat_when_encrypting, setup,
	                                        teardown_age),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
