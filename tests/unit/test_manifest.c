/*
 * test_manifest.c - unit tests of src/manifest.c: manifest.json written
 * and read back, its documented keys, and the errors for damaged files.
 *
 * The error cases start from a good manifest as jansson sees it and break
 * one thing, so each test shows exactly which defect is refused.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "manifest.h"
#include "util.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define T_STARTED ((time_t)1795658400)  /* 2026-11-26T02:00:00Z */
#define T_FINISHED ((time_t)1795658537) /* 2026-11-26T02:02:17Z */

/* Two sources; the first has nested stats, the second none. */
static void
fill(struct manifest *m)
{
	struct manifest_source *s;

	memset(m, 0, sizeof(*m));
	m->format = MANIFEST_FORMAT;
	m->cairn_version = strdup("1.2.3");
	m->job = strdup("nightly");
	m->id = strdup("20261126T020000Z");
	m->host = strdup("plato");
	m->sink = strdup("offsite");
	m->started = T_STARTED;
	m->finished = T_FINISHED;

	s = manifest_add_source(m);
	s->name = strdup("plato_db");
	s->plugin = strdup("mongo");
	s->plugin_version = strdup("0.9.1");
	s->object = strdup("nightly/20261126T020000Z/plato_db.archive.zst");
	s->compression = strdup("zstd");
	s->raw_bytes = 5ULL << 32; /* past 32 bits */
	s->stored_bytes = 123456789;
	memcpy(s->sha256, SHA_A, 65);
	s->stats = json_pack("{s:I, s:I, s:{s:{s:I, s:I}}, s:[i,i]}", "files", (json_int_t)12,
	                     "bytes", (json_int_t)3456, "documents", "db", "menu", (json_int_t)7,
	                     "orders", (json_int_t)0, "list", 1, 2);
	assert_non_null(s->stats);

	s = manifest_add_source(m);
	s->name = strdup("uploads");
	s->plugin = strdup("files");
	s->plugin_version = strdup("1.0");
	s->object = strdup("nightly/20261126T020000Z/uploads.tar");
	s->compression = strdup("none");
	s->raw_bytes = 0;
	s->stored_bytes = 0;
	memcpy(s->sha256, SHA_B, 65);
	s->stats = NULL;
}

static int
setup(void **state)
{
	struct manifest *m = malloc(sizeof(*m));
	assert_non_null(m);
	fill(m);
	*state = m;
	return 0;
}

static int
teardown(void **state)
{
	manifest_free(*state);
	return 0;
}

static void
manifest_round_trips_every_field(void **state)
{
	struct manifest *m = *state, *back;
	char *json = manifest_to_json(m), *err = NULL;

	assert_non_null(json);
	back = manifest_parse(json, strlen(json), &err);
	if (!back)
		fail_msg("parse: %s", err);
	assert_int_equal(back->format, MANIFEST_FORMAT);
	assert_string_equal(back->cairn_version, "1.2.3");
	assert_string_equal(back->job, "nightly");
	assert_string_equal(back->id, "20261126T020000Z");
	assert_string_equal(back->host, "plato");
	assert_string_equal(back->sink, "offsite");
	assert_int_equal(back->started, T_STARTED);
	assert_int_equal(back->finished, T_FINISHED);
	assert_int_equal(back->nsources, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct manifest_source *a = &m->sources[i], *b = &back->sources[i];
		assert_string_equal(b->name, a->name);
		assert_string_equal(b->plugin, a->plugin);
		assert_string_equal(b->plugin_version, a->plugin_version);
		assert_string_equal(b->object, a->object);
		assert_string_equal(b->compression, a->compression);
		assert_int_equal(b->raw_bytes, a->raw_bytes);
		assert_int_equal(b->stored_bytes, a->stored_bytes);
		assert_string_equal(b->sha256, a->sha256);
	}
	assert_int_equal(back->sources[0].raw_bytes, 5ULL << 32);
	assert_true(json_equal(back->sources[0].stats, m->sources[0].stats));
	/* no stats are written as {} */
	assert_true(json_is_object(back->sources[1].stats));
	assert_int_equal(json_object_size(back->sources[1].stats), 0);

	/* and once more: the second serialisation is byte for byte the same */
	char *again = manifest_to_json(back);
	assert_string_equal(again, json);
	free(again);
	manifest_free(back);
	free(json);
}

static void
manifest_json_has_the_documented_keys(void **state)
{
	struct manifest *m = *state;
	char *json = manifest_to_json(m);
	json_error_t je;
	json_t *root = json_loads(json, 0, &je), *srcs, *s;
	static const char *const top[] = {"format", "cairn_version", "job",      "id",      "host",
	                                  "sink",   "started",       "finished", "sources", NULL};
	static const char *const per[] = {"name",        "plugin",    "plugin_version", "object",
	                                  "compression", "raw_bytes", "stored_bytes",   "sha256",
	                                  "stats",       NULL};

	if (!root)
		fail_msg("not JSON for jansson: %s", je.text);
	assert_true(json_is_object(root));
	for (int i = 0; top[i]; i++)
		if (!json_object_get(root, top[i]))
			fail_msg("no top-level key %s", top[i]);
	assert_int_equal(json_object_size(root), 9);
	assert_int_equal(json_integer_value(json_object_get(root, "format")), 1);
	assert_string_equal(json_string_value(json_object_get(root, "cairn_version")), "1.2.3");
	assert_string_equal(json_string_value(json_object_get(root, "job")), "nightly");
	assert_string_equal(json_string_value(json_object_get(root, "id")), "20261126T020000Z");
	assert_string_equal(json_string_value(json_object_get(root, "host")), "plato");
	assert_string_equal(json_string_value(json_object_get(root, "sink")), "offsite");
	assert_string_equal(json_string_value(json_object_get(root, "started")),
	                    "2026-11-26T02:00:00Z");
	assert_string_equal(json_string_value(json_object_get(root, "finished")),
	                    "2026-11-26T02:02:17Z");
	srcs = json_object_get(root, "sources");
	assert_true(json_is_array(srcs));
	assert_int_equal(json_array_size(srcs), 2);
	s = json_array_get(srcs, 0);
	for (int i = 0; per[i]; i++)
		if (!json_object_get(s, per[i]))
			fail_msg("no source key %s", per[i]);
	assert_string_equal(json_string_value(json_object_get(s, "name")), "plato_db");
	assert_string_equal(json_string_value(json_object_get(s, "plugin")), "mongo");
	assert_string_equal(json_string_value(json_object_get(s, "plugin_version")), "0.9.1");
	assert_string_equal(json_string_value(json_object_get(s, "compression")), "zstd");
	assert_int_equal(json_integer_value(json_object_get(s, "raw_bytes")),
	                 (json_int_t)(5ULL << 32));
	assert_int_equal(json_integer_value(json_object_get(s, "stored_bytes")), 123456789);
	assert_string_equal(json_string_value(json_object_get(s, "sha256")), SHA_A);
	assert_int_equal(
	        json_integer_value(json_object_get(
	                json_object_get(json_object_get(json_object_get(s, "stats"), "documents"),
	                                "db"),
	                "menu")),
	        7);
	/* one trailing newline, so `cat manifest.json` looks right */
	assert_int_equal(json[strlen(json) - 1], '\n');
	assert_int_not_equal(json[strlen(json) - 2], '\n');
	json_decref(root);
	free(json);
}

static void
manifest_without_host_and_sink_writes_empty_strings(void **state)
{
	struct manifest *m = *state;
	json_t *j;

	free(m->host);
	free(m->sink);
	m->host = m->sink = NULL;
	m->format = 0; /* unset: the current format is written */
	j = manifest_to_jansson(m);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "host")), "");
	assert_string_equal(json_string_value(json_object_get(j, "sink")), "");
	assert_int_equal(json_integer_value(json_object_get(j, "format")), MANIFEST_FORMAT);
	json_decref(j);
}

static void
manifest_parse_fills_optional_fields(void **state)
{
	static const char text[] =
	        "{\"format\": 1, \"cairn_version\": \"1.0\", \"job\": \"j\", "
	        "\"id\": \"20261126T020000Z\", \"started\": \"2026-11-26T02:00:00Z\", "
	        "\"finished\": \"2026-11-26T03:00:00+01:00\", \"sources\": [{\"name\": \"a\", "
	        "\"plugin\": \"files\", \"object\": \"j/20261126T020000Z/a.tar\", "
	        "\"compression\": \"none\", \"raw_bytes\": 1, \"stored_bytes\": 1, "
	        "\"sha256\": \"" SHA_B "\"}], \"future_key\": true}";
	char *err = NULL;
	struct manifest *m = manifest_parse(text, strlen(text), &err);
	(void)state;

	if (!m)
		fail_msg("parse: %s", err);
	assert_string_equal(m->host, "");
	assert_string_equal(m->sink, "");
	assert_int_equal(m->finished, T_STARTED); /* the zone is honoured */
	assert_int_equal(m->nsources, 1);
	assert_string_equal(m->sources[0].plugin_version, "");
	assert_null(m->sources[0].stats);
	manifest_free(m);
}

/* A one-off run's fields: overrides per source and run_sinks round-trip,
 * and overrides make a set partial even when "partial" is missing (the
 * sink is untrusted: a set narrowed by --set never passes for a full
 * one). */
static void
manifest_one_off_fields_round_trip(void **state)
{
	struct manifest *m = *state, *back;
	char *text, *err = NULL;
	json_t *j;

	strvec_push(&m->sources[0].overrides, "exclude=cache");
	strvec_push(&m->sources[0].overrides, "password=(secret)");
	strvec_push(&m->run_sinks, "local");
	text = manifest_to_json(m);
	back = manifest_parse(text, strlen(text), &err);
	if (!back)
		fail_msg("parse: %s", err);
	assert_int_equal(back->sources[0].overrides.n, 2);
	assert_string_equal(back->sources[0].overrides.v[1], "password=(secret)");
	assert_int_equal(back->run_sinks.n, 1);
	assert_string_equal(back->run_sinks.v[0], "local");
	manifest_free(back);
	free(text);

	j = manifest_to_jansson(m);
	json_object_del(j, "partial");
	text = json_dumps(j, 0);
	back = manifest_parse(text, strlen(text), &err);
	if (!back)
		fail_msg("parse: %s", err);
	assert_true(back->partial);
	manifest_free(back);
	free(text);

	json_object_set_new(j, "run_sinks", json_string("local"));
	text = json_dumps(j, 0);
	assert_null(manifest_parse(text, strlen(text), &err));
	assert_non_null(strstr(err, "run_sinks"));
	free(err);
	free(text);
	json_decref(j);
}

/* A set written by cairn copy says where it came from; a malformed
 * "copied_from" is only shown, so it is left out, not an error. */
static void
manifest_copied_from(void **state)
{
	static const char head[] =
	        "{\"format\": 1, \"cairn_version\": \"1.0\", \"job\": \"j\", "
	        "\"id\": \"20261126T020000Z\", \"sink\": \"s3\", "
	        "\"started\": \"2026-11-26T02:00:00Z\", "
	        "\"finished\": \"2026-11-26T02:00:00Z\", \"sources\": [{\"name\": \"a\", "
	        "\"plugin\": \"files\", \"object\": \"j/20261126T020000Z/a.tar\", "
	        "\"compression\": \"none\", \"raw_bytes\": 1, \"stored_bytes\": 1, "
	        "\"sha256\": \"" SHA_B "\"}], \"copied_from\": ";
	static const char *const bad[] = {"\"local\"}",
	                                  "{\"sink\": 3, \"at\": "
	                                  "\"2026-11-26T09:00:00Z\"}}",
	                                  "{\"sink\": \"local\", \"at\": \"soon\"}}"};
	char *err = NULL, *text = xasprintf("%s%s", head,
	                                    "{\"sink\": \"local\", \"at\": "
	                                    "\"2026-11-26T09:00:00Z\"}}");
	struct manifest *m = manifest_parse(text, strlen(text), &err), *back;
	(void)state;
	free(text);
	if (!m)
		fail_msg("parse: %s", err);
	assert_string_equal(m->sink, "s3");
	assert_string_equal(m->copied_from, "local");
	assert_int_equal(m->copied_at, T_STARTED + 7 * 3600);
	text = manifest_to_json(m);
	back = manifest_parse(text, strlen(text), &err);
	assert_non_null(back);
	assert_string_equal(back->copied_from, "local");
	assert_int_equal(back->copied_at, m->copied_at);
	free(text);
	manifest_free(back);
	manifest_free(m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = xasprintf("%s%s", head, bad[i]);
		m = manifest_parse(text, strlen(text), &err);
		free(text);
		if (!m)
			fail_msg("parse %zu: %s", i, err);
		assert_null(m->copied_from);
		manifest_free(m);
	}
}

static void
manifest_parse_accepts_no_sources(void **state)
{
	struct manifest *m = *state, *back;
	json_t *j = manifest_to_jansson(m);
	char *text, *err = NULL;

	json_object_set_new(j, "sources", json_array());
	text = json_dumps(j, 0);
	back = manifest_parse(text, strlen(text), &err);
	if (!back)
		fail_msg("parse: %s", err);
	assert_int_equal(back->nsources, 0);
	manifest_free(back);
	free(text);
	json_decref(j);
}

/* ------------------------------------------------------------ errors */

/* Serialise j (taking it), parse it, expect failure; return the error. */
static char *
parse_fails(json_t *j)
{
	char *text = json_dumps(j, 0), *err = NULL;
	struct manifest *m;

	assert_non_null(text);
	m = manifest_parse(text, strlen(text), &err);
	if (m)
		fail_msg("accepted: %s", text);
	assert_non_null(err);
	free(text);
	json_decref(j);
	return err;
}

static json_t *
first_source(json_t *j)
{
	return json_array_get(json_object_get(j, "sources"), 0);
}

static void
manifest_parse_refuses_invalid_json(void **state)
{
	static const char *const bad[] = {"", "{", "{\"format\": 1,}", "[1, 2]x", "null"};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = NULL;
		assert_null(manifest_parse(bad[i], strlen(bad[i]), &err));
		assert_non_null(err);
		assert_contains(err, "not valid JSON");
		free(err);
	}
}

static void
manifest_parse_refuses_a_json_array(void **state)
{
	char *err = NULL;
	(void)state;

	assert_null(manifest_parse("[]", 2, &err));
	assert_contains(err, "not a cairn manifest");
	free(err);
}

static void
manifest_parse_refuses_missing_fields(void **state)
{
	static const char *const top[] = {"format",  "cairn_version", "job",    "id",
	                                  "started", "finished",      "sources"};
	static const char *const per[] = {"name",      "plugin",       "object", "compression",
	                                  "raw_bytes", "stored_bytes", "sha256"};
	struct manifest *m = *state;

	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
		json_t *j = manifest_to_jansson(m);
		json_object_del(j, top[i]);
		char *err = parse_fails(j);
		assert_contains(err, "not a cairn manifest");
		assert_contains(err, top[i]);
		free(err);
	}
	for (size_t i = 0; i < sizeof(per) / sizeof(per[0]); i++) {
		json_t *j = manifest_to_jansson(m);
		json_object_del(first_source(j), per[i]);
		char *err = parse_fails(j);
		assert_contains(err, "not a cairn manifest: source 0");
		assert_contains(err, per[i]);
		free(err);
	}
}

static void
manifest_parse_refuses_wrong_types(void **state)
{
	struct manifest *m = *state;
	json_t *j;
	char *err;

	j = manifest_to_jansson(m);
	json_object_set_new(j, "format", json_string("1"));
	err = parse_fails(j);
	assert_contains(err, "not a cairn manifest");
	assert_contains(err, "integer");
	free(err);

	j = manifest_to_jansson(m);
	json_object_set_new(j, "sources", json_object());
	err = parse_fails(j);
	assert_contains(err, "not a cairn manifest");
	assert_contains(err, "sources");
	free(err);

	j = manifest_to_jansson(m);
	json_object_set_new(first_source(j), "raw_bytes", json_string("12"));
	err = parse_fails(j);
	assert_contains(err, "source 0");
	assert_contains(err, "integer");
	free(err);

	j = manifest_to_jansson(m);
	json_array_append_new(json_object_get(j, "sources"), json_string("not an object"));
	err = parse_fails(j);
	assert_contains(err, "source 2");
	free(err);
}

static void
manifest_parse_refuses_bad_times(void **state)
{
	static const char *const keys[] = {"started", "finished"};
	struct manifest *m = *state;

	for (int i = 0; i < 2; i++) {
		json_t *j = manifest_to_jansson(m);
		json_object_set_new(j, keys[i], json_string("last tuesday"));
		char *err = parse_fails(j);
		assert_contains(err, "bad started, finished or sources");
		free(err);

		j = manifest_to_jansson(m);
		json_object_set_new(j, keys[i], json_integer(T_STARTED));
		err = parse_fails(j);
		assert_contains(err, "not a cairn manifest");
		free(err);
	}
}

static void
manifest_parse_refuses_bad_sha256_length(void **state)
{
	static const char *const bad[] = {"", "abc", SHA_A "0",
	                                  "0123456789abcdef0123456789abcdef0123456789abcdef"
	                                  "0123456789abcde"};
	struct manifest *m = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = manifest_to_jansson(m);
		/* the second source, to see the index is right */
		json_object_set_new(json_array_get(json_object_get(j, "sources"), 1), "sha256",
		                    json_string(bad[i]));
		char *err = parse_fails(j);
		assert_contains(err, "source 1");
		assert_contains(err, "sha256");
		free(err);
	}
}

static void
manifest_parse_refuses_negative_sizes(void **state)
{
	static const char *const keys[] = {"raw_bytes", "stored_bytes"};
	struct manifest *m = *state;

	for (int i = 0; i < 2; i++) {
		json_t *j = manifest_to_jansson(m);
		json_object_set_new(first_source(j), keys[i], json_integer(-1));
		char *err = parse_fails(j);
		assert_contains(err, "source 0");
		assert_contains(err, "size");
		free(err);
	}
}

static void
manifest_parse_refuses_a_newer_format(void **state)
{
	struct manifest *m = *state;
	json_t *j = manifest_to_jansson(m);
	char *err;

	json_object_set_new(j, "format", json_integer(MANIFEST_FORMAT + 1));
	err = parse_fails(j);
	assert_contains(err, "format 2");
	assert_contains(err, "upgrade cairn");
	free(err);
}

/* j's "sources" (or "failed_sources") grown to n entries, copies of the
 * first (failed ones named fN). */
static void
grow(json_t *j, const char *key, size_t n)
{
	json_t *a = json_object_get(j, key);
	if (!a) {
		a = json_array();
		json_object_set_new(j, key, a);
		json_object_set_new(j, "partial", json_true());
	}
	while (json_array_size(a) < n) {
		char name[32];
		snprintf(name, sizeof(name), "f%zu", json_array_size(a));
		json_array_append_new(a, json_array_size(a) && strcmp(key, "sources") == 0
		                                 ? json_deep_copy(json_array_get(a, 0))
		                                 : json_pack("{s:s}", "name", name));
	}
}

/* Bounded work for untrusted manifests: more sources, failed sources or
 * bytes than the limits is refused, naming the limit; the limits
 * themselves are allowed. */
static void
manifest_parse_refuses_beyond_the_limits(void **state)
{
	struct manifest *m = *state, *ok;
	json_t *j = manifest_to_jansson(m);
	char *err = NULL, *text, *big;

	grow(j, "sources", MANIFEST_MAX_SOURCES);
	grow(j, "failed_sources", MANIFEST_MAX_FAILED);
	text = json_dumps(j, 0);
	ok = manifest_parse(text, strlen(text), &err);
	assert_non_null(ok);
	assert_int_equal(ok->nsources, MANIFEST_MAX_SOURCES);
	assert_int_equal(ok->nfailed, MANIFEST_MAX_FAILED);
	manifest_free(ok);
	free(text);

	grow(j, "failed_sources", MANIFEST_MAX_FAILED + 1);
	err = parse_fails(json_deep_copy(j));
	assert_contains(err, "1025 failed sources, more than the limit of 1024");
	free(err);

	json_object_del(j, "failed_sources");
	grow(j, "sources", MANIFEST_MAX_SOURCES + 1);
	err = parse_fails(j);
	assert_contains(err, "1025 sources, more than the limit of 1024");
	free(err);

	big = xmalloc((size_t)MANIFEST_MAX_BYTES + 2);
	memset(big, ' ', (size_t)MANIFEST_MAX_BYTES + 1);
	big[0] = '{';
	big[MANIFEST_MAX_BYTES] = '}';
	assert_null(manifest_parse(big, (size_t)MANIFEST_MAX_BYTES + 1, &err));
	assert_contains(err, "16777217 bytes, more than the limit of 16777216");
	free(err);
	free(big);
}

/* The "log" of a source entry (ABI 1.4): where its change log stood,
 * START and END each only when given, written as logcat's positions
 * (lsn as 16 hex digits of text) and read back; a source without one
 * writes no "log". */
static void
manifest_log_positions_round_trip(void **state)
{
	struct manifest *m = *state, *back;
	struct manifest_source *s = &m->sources[0];
	char *json, *err = NULL;
	s->has_log_start = s->has_log_end = 1;
	s->log_start =
	        (struct cairn_log_pos){.lsn = 0xfffffffe00000001ull, .time_ms = 1795658400000};
	strcpy(s->log_start.text, "4294967294:1");
	s->log_end = (struct cairn_log_pos){.lsn = 0xfffffffe00000009ull, .time_ms = 1795658537000};
	strcpy(s->log_end.text, "4294967294:9");
	m->sources[1].has_log_end = 1; /* END only */
	m->sources[1].log_end = s->log_end;
	json = manifest_to_json(m);
	assert_contains(json, "\"lsn\": \"fffffffe00000001\"");
	assert_contains(json, "\"time\": \"2026-11-26T02:00:00.000Z\"");
	back = manifest_parse(json, strlen(json), &err);
	if (!back)
		fail_msg("parse: %s", err);
	assert_true(back->sources[0].has_log_start && back->sources[0].has_log_end);
	assert_true(back->sources[0].log_start.lsn == 0xfffffffe00000001ull);
	assert_true(back->sources[0].log_start.time_ms == 1795658400000);
	assert_string_equal(back->sources[0].log_start.text, "4294967294:1");
	assert_true(back->sources[0].log_end.lsn == 0xfffffffe00000009ull);
	assert_false(back->sources[1].has_log_start);
	assert_true(back->sources[1].has_log_end);
	char *again = manifest_to_json(back);
	assert_string_equal(again, json);
	free(again);
	manifest_free(back);
	free(json);

	/* without positions: no "log" key at all */
	m->sources[0].has_log_start = m->sources[0].has_log_end = 0;
	m->sources[1].has_log_end = 0;
	json = manifest_to_json(m);
	assert_null(strstr(json, "\"log\""));
	back = manifest_parse(json, strlen(json), &err);
	assert_non_null(back);
	assert_false(back->sources[0].has_log_start || back->sources[0].has_log_end);
	manifest_free(back);
	free(json);
}

/* A malformed "log" is damage: the manifest is refused naming it. */
static void
manifest_parse_refuses_a_bad_log(void **state)
{
	static const char *const bad[] = {
	        "[]",
	        "\"1:1\"",
	        "{\"start\": {\"lsn\": 5, \"time\": \"2026-11-26T02:00:00.000Z\", \"pos\": \"1:1\"}}",
	        "{\"end\": {\"lsn\": \"0000000100000001\", \"time\": \"2026-11-26T02:00:00Z\", \"pos\": \"1:1\"}}",
	        "{\"start\": {\"lsn\": \"0000000100000001\", \"time\": \"2026-11-26T02:00:00.000Z\", \"pos\": \"1 1\"}}",
	        "{\"start\": null}",
	};
	struct manifest *m = *state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *j = manifest_to_jansson(m);
		json_t *log = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_non_null(log);
		json_object_set_new(json_array_get(json_object_get(j, "sources"), 1), "log", log);
		char *err = parse_fails(j);
		assert_contains(err, "source uploads: bad log position");
		free(err);
	}
}

/* "encryption" per source and "recipients" per set (issue 20): written
 * only when there are any, read back as written. */
static void
manifest_encryption_round_trips(void **state)
{
	struct manifest *m = *state, *back;
	char *json, *err = NULL;
	json = manifest_to_json(m);
	assert_null(strstr(json, "encryption"));
	assert_null(strstr(json, "recipients"));
	back = manifest_parse(json, strlen(json), &err);
	assert_non_null(back);
	assert_null(back->sources[0].encryption);
	assert_int_equal(back->recipients.n, 0);
	manifest_free(back);
	free(json);

	m->sources[0].encryption = strdup("age");
	strvec_push(&m->recipients,
	            "age1xfgzzk36cjzgw662tv28v04cu32g5e0c5fjgyxc5skjk3dr5mglqaakjy8");
	strvec_push(&m->recipients, "scrypt");
	json = manifest_to_json(m);
	back = manifest_parse(json, strlen(json), &err);
	if (!back)
		fail_msg("parse: %s", err);
	assert_string_equal(back->sources[0].encryption, "age");
	assert_null(back->sources[1].encryption);
	assert_int_equal(back->recipients.n, 2);
	assert_string_equal(back->recipients.v[0],
	                    "age1xfgzzk36cjzgw662tv28v04cu32g5e0c5fjgyxc5skjk3dr5mglqaakjy8");
	assert_string_equal(back->recipients.v[1], "scrypt");
	/* each source sees its set's recipients */
	assert_ptr_equal(back->sources[1].set_recipients, &back->recipients);
	char *again = manifest_to_json(back);
	assert_string_equal(again, json);
	free(again);
	manifest_free(back);
	free(json);
}

/* The sink's content is untrusted: wrong types and unbounded values of
 * the two fields are refused, naming what is wrong. */
static void
manifest_parse_refuses_bad_encryption_fields(void **state)
{
	struct manifest *m = *state;
	char long_word[64], *long_key = malloc(300), *err;
	json_t *j, *many;
	memset(long_word, 'a', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	memset(long_key, 'k', 299);
	long_key[299] = '\0';

	json_t *bad_enc[] = {json_integer(1), json_string(""), json_string(long_word), json_true()};
	for (size_t i = 0; i < sizeof(bad_enc) / sizeof(bad_enc[0]); i++) {
		j = manifest_to_jansson(m);
		json_object_set_new(first_source(j), "encryption", bad_enc[i]);
		err = parse_fails(j);
		assert_contains(err, "source 0");
		free(err);
	}
	json_t *bad_rcpt[] = {json_string("age1..."), json_pack("[i]", 7), json_pack("[s]", ""),
	                      json_pack("[s]", long_key), json_object()};
	for (size_t i = 0; i < sizeof(bad_rcpt) / sizeof(bad_rcpt[0]); i++) {
		j = manifest_to_jansson(m);
		json_object_set_new(j, "recipients", bad_rcpt[i]);
		err = parse_fails(j);
		assert_contains(err, "recipient");
		free(err);
	}
	many = json_array();
	for (int i = 0; i < 1025; i++)
		json_array_append_new(many, json_string("scrypt"));
	j = manifest_to_jansson(m);
	json_object_set_new(j, "recipients", many);
	err = parse_fails(j);
	assert_contains(err, "at most 1024");
	free(err);
	free(long_key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(manifest_round_trips_every_field, setup, teardown),
	        cmocka_unit_test_setup_teardown(manifest_json_has_the_documented_keys, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_without_host_and_sink_writes_empty_strings,
	                                        setup, teardown),
	        cmocka_unit_test(manifest_parse_fills_optional_fields),
	        cmocka_unit_test(manifest_copied_from),
	        cmocka_unit_test_setup_teardown(manifest_parse_accepts_no_sources, setup, teardown),
	        cmocka_unit_test(manifest_parse_refuses_invalid_json),
	        cmocka_unit_test(manifest_parse_refuses_a_json_array),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_missing_fields, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_wrong_types, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_bad_times, setup, teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_bad_sha256_length, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_negative_sizes, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_one_off_fields_round_trip, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_a_newer_format, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_beyond_the_limits, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(manifest_log_positions_round_trip, setup, teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_a_bad_log, setup, teardown),
	        cmocka_unit_test_setup_teardown(manifest_encryption_round_trips, setup, teardown),
	        cmocka_unit_test_setup_teardown(manifest_parse_refuses_bad_encryption_fields, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
