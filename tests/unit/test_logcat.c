/*
 * test_logcat.c - unit tests of src/logcat*.c: segment names, positions
 * in JSON, segment manifests and gap records checked against their
 * place, a sink's logs listed (with an in-memory sink), and chains.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "cairn.h"
#include "log.h"
#include "logcat.h"
#include "memplug.h"
#include "sets.h"

#define T0 INT64_C(1796653680123) /* 2026-12-07T14:28:00.123Z */
#define NAME0 "20261207T142800.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005"
#define ID1 "20261207T020000Z"

static struct cairn_log_pos
pos(uint64_t lsn, int64_t ms)
{
	struct cairn_log_pos p = {.lsn = lsn, .time_ms = ms};
	snprintf(p.text, sizeof(p.text), "%llu:%llu", (unsigned long long)(lsn >> 32),
	         (unsigned long long)(lsn & 0xffffffffu));
	return p;
}

/* --- names --- */

static void
test_name_round_trip(void **state)
{
	(void)state;
	struct cairn_log_pos a = pos(0x18d2f3a0001, T0), b = pos(0x18d2f3b0005, T0 + 59877), c, d;
	char name[LOGSEG_NAME_MAX];
	logseg_name(&a, &b, name);
	assert_string_equal(name, NAME0);
	assert_int_equal(strlen(name), LOGSEG_NAME_LEN);
	assert_int_equal(logseg_name_parse(name, &c, &d), 0);
	assert_true(c.lsn == a.lsn && d.lsn == b.lsn);
	assert_true(c.time_ms == a.time_ms && d.time_ms == b.time_ms);
	assert_string_equal(c.text, "");
	/* the extremes of both fields; a leap day */
	a = pos(0, 0);
	b = pos(UINT64_MAX, INT64_C(1835481599999));
	logseg_name(&a, &b, name);
	assert_string_equal(
	        name,
	        "19700101T000000.000Z-20280229T235959.999Z-0000000000000000-ffffffffffffffff");
	assert_int_equal(logseg_name_parse(name, &c, &d), 0);
	assert_true(d.lsn == UINT64_MAX && d.time_ms == INT64_C(1835481599999) && c.time_ms == 0);
}

static void
test_name_hostile(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "x",
	        NAME0 "0",
	        "2026120T142800.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b00050",
	        "20261307T142800.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "20270229T142800.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "20261231T242800.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "20261207T142860.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "20261207T142800.123X-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "20261207T142800,123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "20261207T142800.123Z_20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "20261207T142800.123Z-20261207T142900.000Z-0000018D2F3A0001-0000018d2f3b0005",
	        "20261207T142800.123Z-20261207T142900.000Z-0000018d2f3a000g-0000018d2f3b0005",
	        "20261207T142800.123Z-20261207T142900.000Z-0000018d2f3a0001/0000018d2f3b0005",
	        "19691231T235959.999Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	        "../../../../../../etc/passwd-20261207T142900.000Z-00000-0000018d2f3b0005ab",
	        " 0261207T142800.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005",
	};
	struct cairn_log_pos a = pos(7, 7), b = pos(7, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (logseg_name_parse(bad[i], &a, &b) == 0)
			fail_msg("parsed: %s", bad[i]);
		assert_true(a.lsn == 7 && b.time_ms == 7); /* untouched */
	}
}

/* --- positions --- */

static void
test_pos_json(void **state)
{
	(void)state;
	struct cairn_log_pos a = pos(0x18d2f3a0001, T0), b;
	char when[32];
	json_t *j = log_pos_to_json(&a);
	assert_string_equal(json_string_value(json_object_get(j, "lsn")), "0000018d2f3a0001");
	assert_string_equal(json_string_value(json_object_get(j, "time")),
	                    "2026-12-07T14:28:00.123Z");
	assert_string_equal(json_string_value(json_object_get(j, "pos")), "397:792330241");
	assert_int_equal(log_pos_from_json(j, &b), 0);
	assert_true(b.lsn == a.lsn && b.time_ms == a.time_ms);
	assert_string_equal(b.text, a.text);
	json_decref(j);
	/* a 64-bit lsn survives: it is text, never a JSON number */
	a = pos(UINT64_MAX - 1, T0);
	j = log_pos_to_json(&a);
	assert_int_equal(log_pos_from_json(j, &b), 0);
	assert_true(b.lsn == UINT64_MAX - 1);
	json_decref(j);
	log_time_format(T0, when, sizeof(when));
	assert_string_equal(when, "2026-12-07T14:28:00.123Z");

	static const char *const bad[] = {
	        "{\"lsn\": 123, \"time\": \"2026-12-07T14:28:00.123Z\", \"pos\": \"a\"}",
	        "{\"lsn\": \"0000018D2F3A0001\", \"time\": \"2026-12-07T14:28:00.123Z\", \"pos\": \"a\"}",
	        "{\"lsn\": \"000018d2f3a0001\", \"time\": \"2026-12-07T14:28:00.123Z\", \"pos\": \"a\"}",
	        "{\"lsn\": \"0000018d2f3a0001\", \"time\": \"2026-12-07T14:28:00Z\", \"pos\": \"a\"}",
	        "{\"lsn\": \"0000018d2f3a0001\", \"time\": \"2026-02-30T14:28:00.123Z\", \"pos\": \"a\"}",
	        "{\"lsn\": \"0000018d2f3a0001\", \"time\": \"2026-12-07T14:28:00.123Z\", \"pos\": \"a b\"}",
	        "{\"lsn\": \"0000018d2f3a0001\", \"time\": \"2026-12-07T14:28:00.123Z\", \"pos\": \"\\u001b[2J\"}",
	        "{\"lsn\": \"0000018d2f3a0001\", \"time\": \"2026-12-07T14:28:00.123Z\"}",
	        "[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		if (log_pos_from_json(j, &b) == 0)
			fail_msg("accepted: %s", bad[i]);
		json_decref(j);
	}
	/* a text of CAIRN_LOG_POS_MAX characters is too long */
	char longtext[CAIRN_LOG_POS_MAX + 1];
	memset(longtext, 'a', CAIRN_LOG_POS_MAX);
	longtext[CAIRN_LOG_POS_MAX] = '\0';
	j = json_pack("{s:s, s:s, s:s}", "lsn", "0000000000000001", "time",
	              "2026-12-07T14:28:00.123Z", "pos", longtext);
	assert_int_not_equal(log_pos_from_json(j, &b), 0);
	json_decref(j);
}

/* --- manifests --- */

/* A segment of source src of job "j" with its positions; the caller
 * clears it. */
static void
make_seg(struct log_segment *s, const char *src, struct cairn_log_pos from, struct cairn_log_pos to,
         uint64_t records, const char *comp, size_t stored)
{
	const char *cext = strcmp(comp, "zstd") == 0   ? ".zst"
	                   : strcmp(comp, "none") == 0 ? ""
	                                               : ".gz";
	memset(s, 0, sizeof(*s));
	logseg_name(&from, &to, s->name);
	s->source = xstrdup(src);
	s->plugin = xstrdup("mongo");
	s->plugin_version = xstrdup("1.0");
	s->host = xstrdup("web1");
	s->object = xasprintf("j/log/%s/%s.bson%s", src, s->name, cext);
	s->compression = xstrdup(comp);
	s->raw_bytes = stored * 3;
	s->stored_bytes = stored;
	s->records = records;
	memset(s->sha256, 'a', 64);
	s->from = from;
	s->to = to;
	if (records) {
		s->first = pos(from.lsn + 1, from.time_ms);
		s->last = to;
	}
	memcpy(s->base, ID1, sizeof(ID1));
	s->created = (time_t)(to.time_ms / 1000 + 1);
	s->stats = json_pack("{s:i}", "records", (int)records);
}

static void
test_manifest_round_trip(void **state)
{
	(void)state;
	struct log_segment s, r;
	char *err = NULL;
	make_seg(&s, "db", pos(0x100000001, T0), pos(0x100000009, T0 + 60000), 8, "zstd", 1234);
	char *text = logseg_to_json("j", &s);
	assert_contains(text, "\"lsn\": \"0000000100000009\"");
	assert_contains(text, "\"kind\": \"cairn-log-segment\"");
	assert_int_equal(logseg_parse(text, strlen(text), "j", "db", s.name, &r, &err), 0);
	assert_null(err);
	assert_string_equal(r.name, s.name);
	assert_string_equal(r.source, "db");
	assert_string_equal(r.plugin, "mongo");
	assert_string_equal(r.host, "web1");
	assert_string_equal(r.object, s.object);
	assert_string_equal(r.compression, "zstd");
	assert_true(r.raw_bytes == s.raw_bytes && r.stored_bytes == 1234 && r.records == 8);
	assert_string_equal(r.sha256, s.sha256);
	assert_string_equal(r.base, ID1);
	assert_true(r.from.lsn == s.from.lsn && r.to.lsn == s.to.lsn);
	assert_true(r.first.lsn == s.first.lsn && r.last.time_ms == s.last.time_ms);
	assert_string_equal(r.to.text, s.to.text);
	assert_true(r.created == s.created);
	assert_true(r.has_manifest && r.manifest_read);
	assert_non_null(r.stats);
	assert_int_equal(r.nindex, 0); /* none written, none read */
	logseg_clear(&r);
	free(text);
	/* an index: written, read back; at its largest it fits a manifest */
	struct log_index_entry ix[2] = {{T0 + 1, 0x100000002}, {T0 + 1000, 0x100000005}};
	s.index = ix;
	s.nindex = 2;
	text = logseg_to_json("j", &s);
	assert_int_equal(logseg_parse(text, strlen(text), "j", "db", s.name, &r, &err), 0);
	assert_int_equal(r.nindex, 2);
	assert_true(r.index[0].time_ms == T0 + 1 && r.index[0].lsn == 0x100000002);
	assert_true(r.index[1].time_ms == T0 + 1000 && r.index[1].lsn == 0x100000005);
	logseg_clear(&r);
	free(text);
	struct log_index_entry *big = xcalloc(LOGSEG_INDEX_MAX, sizeof(*big));
	for (size_t i = 0; i < LOGSEG_INDEX_MAX; i++)
		big[i] = (struct log_index_entry){INT64_C(253402300799000) - 1, UINT64_MAX};
	s.index = big;
	s.nindex = LOGSEG_INDEX_MAX;
	text = logseg_to_json("j", &s);
	assert_true(strlen(text) < LOGSEG_MAX_BYTES / 2);
	free(text);
	free(big);
	s.index = NULL;
	s.nindex = 0;
	/* an empty segment: no first, no last */
	logseg_clear(&s);
	make_seg(&s, "db", pos(9, T0), pos(9, T0 + 60000), 0, "none", 0);
	text = logseg_to_json("j", &s);
	assert_null(strstr(text, "\"first\""));
	assert_int_equal(logseg_parse(text, strlen(text), "j", "db", s.name, &r, &err), 0);
	assert_true(r.records == 0 && r.first.lsn == 0);
	logseg_clear(&r);
	free(text);
	logseg_clear(&s);
}

/* Parse s's manifest (as changed by edit: a key set to a JSON value)
 * where it lies at job/src/name; expect a failure whose message holds
 * want. */
static void
expect_refused(struct log_segment *s, const char *key, const char *value, const char *job,
               const char *src, const char *name, const char *want)
{
	char *text = logseg_to_json("j", s), *err = NULL;
	struct log_segment r;
	if (key) {
		json_t *root = json_loads(text, 0, NULL);
		json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		json_object_set_new(root, key, v);
		free(text);
		text = json_dumps(root, 0);
		json_decref(root);
	}
	if (logseg_parse(text, strlen(text), job, src, name, &r, &err) == 0)
		fail_msg("accepted (%s = %s at %s/%s/%s)", key ? key : "-", value ? value : "-",
		         job, src, name);
	assert_contains(err, want);
	free(err);
	free(text);
}

static void
test_manifest_planted(void **state)
{
	(void)state;
	struct log_segment s, o;
	make_seg(&s, "db", pos(0x100000001, T0), pos(0x100000009, T0 + 60000), 8, "zstd", 10);
	make_seg(&o, "db", pos(0x100000009, T0 + 60000), pos(0x100000010, T0 + 120000), 2, "zstd",
	         10);
	/* another job's, another source's, another segment's manifest */
	expect_refused(&s, NULL, NULL, "k", "db", s.name, "of job j, not");
	expect_refused(&s, NULL, NULL, "j", "other", s.name, "of source db");
	expect_refused(&s, NULL, NULL, "j", "db", o.name, "describes segment");
	/* an object that is not this segment's */
	char *v = xasprintf("\"j/log/db/%s.bson.zst\"", o.name);
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	v = xasprintf("\"k/log/db/%s.bson.zst\"", s.name);
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	v = xasprintf("\"j/log/db/%s.bson.gz\"", s.name); /* says zstd */
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	v = xasprintf("\"j/log/db/%s.bson\"", s.name);
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	v = xasprintf("\"j/log/db/%s.json.zst/../../../x\"", s.name);
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	v = xasprintf("\"j/log/db/%s.json\"", s.name);
	expect_refused(&s, "compression", "\"none\"", "j", "db", s.name, "not this segment's");
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	expect_refused(&s, "compression", "\"lz4\"", "j", "db", s.name, "not this segment's");
	/* positions that disagree with the name, or lie outside */
	expect_refused(
	        &s, "to",
	        "{\"lsn\": \"0000000100000008\", \"time\": \"2026-12-07T14:29:00.123Z\", \"pos\": \"1:8\"}",
	        "j", "db", s.name, "disagree with its name");
	expect_refused(
	        &s, "first",
	        "{\"lsn\": \"0000000100000001\", \"time\": \"2026-12-07T14:28:00.123Z\", \"pos\": \"1:1\"}",
	        "j", "db", s.name, "outside (from, to]");
	expect_refused(&s, "last", "{\"lsn\": 5}", "j", "db", s.name, "bad first or last");
	/* the rest of what it says */
	expect_refused(&s, "sha256", "\"ABC\"", "j", "db", s.name, "bad sha256");
	expect_refused(&s, "raw_bytes", "-1", "j", "db", s.name, "bad sha256");
	expect_refused(&s, "base", "\"../x\"", "j", "db", s.name, "base");
	/* a time it could not write back (found by fuzz_logseg) */
	expect_refused(&s, "created", "\"0858-12-07T14:29:01Z\"", "j", "db", s.name, "created");
	expect_refused(&s, "format", "2", "j", "db", s.name, "upgrade cairn");
	expect_refused(&s, "kind", "\"cairn-log-gap\"", "j", "db", s.name,
	               "not a cairn-log-segment");
	expect_refused(&s, "job", "7", "j", "db", s.name, "lacks job");
	/* an index that is not one, or lies outside (from, to], or goes back */
	expect_refused(&s, "index", "{}", "j", "db", s.name, "not a list");
	expect_refused(
	        &s, "index",
	        "[[1, \"0000000100000002\"], [2, \"0000000100000003\"], [3, \"0000000100000004\"], [4, \"0000000100000005\"], [5, \"0000000100000006\"], [6, \"0000000100000007\"], [7, \"0000000100000008\"], [8, \"0000000100000009\"], [9, \"0000000100000009\"]]",
	        "j", "db", s.name, "not a list");
	expect_refused(&s, "index", "[[1765117680123]]", "j", "db", s.name, "entry 0 is not");
	expect_refused(&s, "index", "[[1765117680123, \"0000000100000002\", 3]]", "j", "db", s.name,
	               "entry 0 is not");
	expect_refused(&s, "index", "[[\"x\", \"0000000100000002\"]]", "j", "db", s.name,
	               "entry 0 is not");
	expect_refused(&s, "index", "[[1765117680123, \"100000002\"]]", "j", "db", s.name,
	               "entry 0 is not");
	v = xasprintf("[[%lld, \"0000000100000001\"]]", (long long)T0); /* = from */
	expect_refused(&s, "index", v, "j", "db", s.name, "entry 0 lies outside");
	free(v);
	v = xasprintf("[[%lld, \"0000000100000002\"]]", (long long)T0 - 1);
	expect_refused(&s, "index", v, "j", "db", s.name, "entry 0 lies outside");
	free(v);
	v = xasprintf("[[%lld, \"000000010000000a\"]]", (long long)T0); /* after to */
	expect_refused(&s, "index", v, "j", "db", s.name, "entry 0 lies outside");
	free(v);
	v = xasprintf("[[%lld, \"0000000100000002\"], [%lld, \"0000000100000003\"]]",
	              (long long)T0 + 2000, (long long)T0 + 1000); /* time goes back */
	expect_refused(&s, "index", v, "j", "db", s.name, "entry 1 lies outside");
	free(v);
	v = xasprintf("[[%lld, \"0000000100000003\"], [%lld, \"0000000100000003\"]]",
	              (long long)T0 + 1000, (long long)T0 + 2000); /* lsn stands still */
	expect_refused(&s, "index", v, "j", "db", s.name, "entry 1 lies outside");
	free(v);
	/* too large to be ours */
	char *big = xmalloc(LOGSEG_MAX_BYTES + 2), *err = NULL;
	struct log_segment r;
	memset(big, ' ', LOGSEG_MAX_BYTES + 1);
	big[LOGSEG_MAX_BYTES + 1] = '\0';
	assert_int_equal(logseg_parse(big, LOGSEG_MAX_BYTES + 1, "j", "db", s.name, &r, &err), -1);
	assert_contains(err, "more than the limit");
	free(err);
	free(big);
	logseg_clear(&s);
	logseg_clear(&o);
}

/* An encrypted segment (issue 20): SEG.EXT[.COMP].age, "encryption":
 * "age" in its manifest; the name and the word must agree. */
static void
test_manifest_encrypted(void **state)
{
	(void)state;
	struct log_segment s, r;
	char *err = NULL, *text, *v;
	make_seg(&s, "db", pos(0x100000001, T0), pos(0x100000009, T0 + 60000), 8, "zstd", 10);
	text = logseg_to_json("j", &s);
	assert_null(strstr(text, "encryption"));
	free(text);
	free(s.object);
	s.object = xasprintf("j/log/db/%s.bson.zst.age", s.name);
	s.encryption = xstrdup("age");
	strvec_push(&s.recipients,
	            "age1xfgzzk36cjzgw662tv28v04cu32g5e0c5fjgyxc5skjk3dr5mglqaakjy8");
	text = logseg_to_json("j", &s);
	assert_contains(text, "\"encryption\": \"age\"");
	assert_int_equal(logseg_parse(text, strlen(text), "j", "db", s.name, &r, &err), 0);
	assert_string_equal(r.encryption, "age");
	assert_string_equal(r.object, s.object);
	assert_int_equal(r.recipients.n, 1);
	assert_string_equal(r.recipients.v[0], s.recipients.v[0]);
	logseg_clear(&r);
	free(text);
	/* whom it was written to: a bounded list of public keys */
	expect_refused(&s, "recipients", "\"age1\"", "j", "db", s.name, "recipients are not");
	expect_refused(&s, "recipients", "[7]", "j", "db", s.name, "recipient 0 is not");
	expect_refused(&s, "recipients", "[\"\"]", "j", "db", s.name, "recipient 0 is not");
	char *many = xstrdup("[\"scrypt\"");
	for (int i = 0; i < LOGSEG_MAX_RECIPIENTS; i++) {
		char *more = xasprintf("%s, \"scrypt\"", many);
		free(many);
		many = more;
	}
	v = xasprintf("%s]", many);
	expect_refused(&s, "recipients", v, "j", "db", s.name, "at most 64");
	free(v);
	free(many);
	/* uncompressed and encrypted: SEG.EXT.age */
	v = xasprintf("\"j/log/db/%s.bson.age\"", s.name);
	text = logseg_to_json("j", &s);
	json_t *root = json_loads(text, 0, NULL);
	json_object_set_new(root, "object", json_loads(v, JSON_DECODE_ANY, NULL));
	json_object_set_new(root, "compression", json_string("none"));
	free(text);
	text = json_dumps(root, 0);
	json_decref(root);
	assert_int_equal(logseg_parse(text, strlen(text), "j", "db", s.name, &r, &err), 0);
	logseg_clear(&r);
	free(text);
	free(v);
	/* the word without the suffix, the suffix without the word, the
	 * suffix in the wrong place, a word this cairn does not know */
	v = xasprintf("\"j/log/db/%s.bson.zst\"", s.name);
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	v = xasprintf("\"j/log/db/%s.bson.age.zst\"", s.name);
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	v = xasprintf("\"j/log/db/%s.bson.zst.age.age\"", s.name);
	expect_refused(&s, "object", v, "j", "db", s.name, "not this segment's");
	free(v);
	expect_refused(&s, "encryption", "\"rot13\"", "j", "db", s.name, "rot13");
	expect_refused(&s, "encryption", "7", "j", "db", s.name, "not a cairn-log-segment");
	free(s.encryption);
	s.encryption = NULL;
	expect_refused(&s, NULL, NULL, "j", "db", s.name, "not this segment's");
	logseg_clear(&s);
}

static void
test_gap_round_trip_and_planted(void **state)
{
	(void)state;
	struct log_gap g = {.from = pos(0x500000001, T0), .to = pos(0x900000001, T0 + 3600000)}, r;
	char *err = NULL, other[LOGSEG_NAME_MAX];
	logseg_name(&g.from, &g.to, g.name);
	memcpy(g.base, ID1, sizeof(ID1));
	g.reason = xstrdup("the oplog rolled over while nobody followed it");
	g.created = 1796653690;
	char *text = loggap_to_json("j", "db", &g);
	assert_int_equal(loggap_parse(text, strlen(text), "j", "db", g.name, &r, &err), 0);
	assert_string_equal(r.reason, g.reason);
	assert_string_equal(r.base, ID1);
	assert_true(r.from.lsn == g.from.lsn && r.to.time_ms == g.to.time_ms);
	loggap_clear(&r);
	assert_int_equal(loggap_parse(text, strlen(text), "k", "db", g.name, &r, &err), -1);
	assert_contains(err, "not");
	free(err);
	err = NULL;
	assert_int_equal(loggap_parse(text, strlen(text), "j", "cache", g.name, &r, &err), -1);
	free(err);
	err = NULL;
	struct cairn_log_pos x = pos(1, T0);
	logseg_name(&x, &g.to, other);
	assert_int_equal(loggap_parse(text, strlen(text), "j", "db", other, &r, &err), -1);
	free(err);
	err = NULL;
	/* a segment manifest is no gap record */
	const char *seg = "{\"format\":1,\"kind\":\"cairn-log-segment\"}";
	assert_int_equal(loggap_parse(seg, strlen(seg), "j", "db", g.name, &r, &err), -1);
	free(err);
	free(text);
	loggap_clear(&g);
}

/* --- a sink's logs --- */

struct fixture {
	struct memsink ms;
	struct instance *sink;
	struct log_catalog c;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->ms.fail_write_at = -1;
	f->ms.store = 1;
	f->sink = memsink_instance("mem", &f->ms);
	log_level = CAIRN_LOG_ERROR - 1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	logcat_free(&f->c);
	instance_destroy(f->sink);
	memsink_clear(&f->ms);
	free(f);
	return 0;
}

static void
put(struct fixture *f, const char *key, const char *data, size_t len)
{
	char *err = NULL;
	assert_int_equal(sink_write_all(f->sink, key, data, len, &err), 0);
}

/* A committed segment of source src (its data, then its manifest). */
static void
put_seg(struct fixture *f, const char *src, struct cairn_log_pos from, struct cairn_log_pos to)
{
	struct log_segment s;
	make_seg(&s, src, from, to, to.lsn > from.lsn, "zstd", 5);
	put(f, s.object, "abcde", 5);
	char *key = xasprintf("j/log/%s/%s.json", src, s.name), *text = logseg_to_json("j", &s);
	put(f, key, text, strlen(text));
	free(key);
	free(text);
	logseg_clear(&s);
}

static void
put_gap(struct fixture *f, const char *src, struct cairn_log_pos from, struct cairn_log_pos to)
{
	struct log_gap g = {.from = from, .to = to};
	logseg_name(&from, &to, g.name);
	g.reason = xstrdup("the oplog rolled over");
	char *key = xasprintf("j/log/%s/%s.gap", src, g.name), *text = loggap_to_json("j", src, &g);
	put(f, key, text, strlen(text));
	free(key);
	free(text);
	loggap_clear(&g);
}

static void
load(struct fixture *f, int read_manifests)
{
	char *err = NULL;
	logcat_free(&f->c);
	int rc = logcat_load(f->sink, "j", NULL, read_manifests, &f->c, &err);
	if (rc)
		fail_msg("logcat_load: %s", err);
}

#define S(k) (T0 + (int64_t)(k)*60000) /* minute k */
#define L(k) ((uint64_t)0x100000000 * (uint64_t)(k) + 1)

static void
test_load(void **state)
{
	struct fixture *f = *state;
	char name[LOGSEG_NAME_MAX], *key;
	struct cairn_log_pos a = pos(L(3), S(3)), b = pos(L(4), S(4));
	put_seg(f, "db", pos(L(1), S(1)), pos(L(2), S(2)));
	put_seg(f, "db", pos(L(0), S(0)), pos(L(1), S(1)));
	put_seg(f, "cache", pos(L(0), S(0)), pos(L(1), S(1)));
	put_gap(f, "db", pos(L(2), S(2)), pos(L(3), S(3)));
	/* an orphan: data without a manifest */
	logseg_name(&a, &b, name);
	key = xasprintf("j/log/db/%s.bson.zst", name);
	put(f, key, "xx", 2);
	free(key);
	/* not ours: ignored */
	put(f, "j/log/db/notaname.json", "{", 1);
	put(f, "j/log/db/deeper/x.json", "{", 1);
	put(f, "j/log/README", "x", 1);
	key = xasprintf("j/log/db/%s.bson..zst", name);
	put(f, key, "x", 1);
	free(key);
	key = xasprintf("j/log/bad name/%s.json", name);
	put(f, key, "x", 1);
	free(key);
	key = xasprintf("k/log/db/%s.json", name);
	put(f, key, "{", 1);
	free(key);

	for (int rm = 1; rm >= 0; rm--) {
		load(f, rm);
		assert_int_equal(f->c.n, 2);
		assert_string_equal(f->c.v[0].source, "cache");
		const struct log_source *ls = logcat_source(&f->c, "db");
		assert_non_null(ls);
		assert_null(logcat_source(&f->c, "nope"));
		assert_int_equal(ls->nsegs, 2);
		assert_true(ls->segs[0].from.lsn == L(0) && ls->segs[1].to.lsn == L(2));
		assert_true(ls->segs[0].has_manifest);
		assert_int_equal(ls->segs[0].manifest_read, rm);
		assert_string_equal(ls->segs[1].to.text, rm ? "2:1" : "");
		assert_non_null(ls->segs[0].object);
		assert_contains(ls->segs[0].object, ".bson.zst");
		assert_int_equal(ls->ngaps, 1);
		assert_string_equal(ls->gaps[0].reason, "the oplog rolled over");
		assert_int_equal(ls->orphans.n, 1);
		assert_contains(ls->orphans.v[0], name);
		assert_int_equal(ls->damage.n, 0);
		assert_ptr_equal(logcat_newest(ls), &ls->segs[1]);
	}
	/* only one source */
	char *err = NULL;
	logcat_free(&f->c);
	assert_int_equal(logcat_load(f->sink, "j", "cache", 1, &f->c, &err), 0);
	assert_int_equal(f->c.n, 1);
	assert_string_equal(f->c.v[0].source, "cache");
}

static void
test_load_damage(void **state)
{
	struct fixture *f = *state;
	struct log_segment s;
	char *key, *text;
	/* a segment whose object has another size than its manifest says */
	make_seg(&s, "db", pos(L(0), S(0)), pos(L(1), S(1)), 1, "zstd", 5);
	put(f, s.object, "abc", 3);
	key = xasprintf("j/log/db/%s.json", s.name);
	text = logseg_to_json("j", &s);
	put(f, key, text, strlen(text));
	free(key);
	free(text);
	logseg_clear(&s);
	/* a manifest without its object */
	make_seg(&s, "db", pos(L(1), S(1)), pos(L(2), S(2)), 1, "zstd", 5);
	key = xasprintf("j/log/db/%s.json", s.name);
	text = logseg_to_json("j", &s);
	put(f, key, text, strlen(text));
	free(key);
	free(text);
	logseg_clear(&s);
	/* a manifest planted from another source, with data beside it */
	make_seg(&s, "cache", pos(L(2), S(2)), pos(L(3), S(3)), 1, "zstd", 5);
	text = logseg_to_json("j", &s);
	key = xasprintf("j/log/db/%s.json", s.name);
	put(f, key, text, strlen(text));
	free(key);
	key = xasprintf("j/log/db/%s.bson.zst", s.name);
	put(f, key, "abcde", 5);
	free(key);
	free(text);
	logseg_clear(&s);
	/* a gap record that is not JSON */
	make_seg(&s, "db", pos(L(3), S(3)), pos(L(4), S(4)), 1, "zstd", 5);
	key = xasprintf("j/log/db/%s.gap", s.name);
	put(f, key, "{{", 2);
	free(key);
	logseg_clear(&s);

	load(f, 1);
	const struct log_source *ls = logcat_source(&f->c, "db");
	assert_non_null(ls);
	assert_int_equal(ls->nsegs, 0);
	assert_int_equal(ls->ngaps, 0);
	assert_int_equal(ls->damage.n, 4);
	assert_int_equal(ls->damage_keys.n, 4);
	assert_contains(ls->damage.v[0], "is 3 bytes, but the manifest says 5");
	assert_contains(ls->damage.v[1], "is missing");
	assert_contains(ls->damage.v[2], "of source cache");
	assert_contains(ls->damage.v[3], "not valid JSON");
	assert_contains(ls->damage_keys.v[3], ".gap");
	/* the objects of damaged manifests are left to prune as orphans */
	assert_int_equal(ls->orphans.n, 2);

	/* a listing alone sees only what lacks its object */
	load(f, 0);
	ls = logcat_source(&f->c, "db");
	assert_int_equal(ls->nsegs, 2);
	assert_int_equal(ls->damage.n, 2);
	assert_contains(ls->damage.v[0], "has no data object");
}

/* Two data objects of one segment's name: even a listing alone reads
 * the manifest to tell which is the segment's; the other is left over,
 * never the one the manifest names. */
static void
test_load_two_data_objects(void **state)
{
	struct fixture *f = *state;
	put_seg(f, "db", pos(L(0), S(0)), pos(L(1), S(1))); /* NAME.bson.zst, 5 bytes */
	struct cairn_log_pos a = pos(L(0), S(0)), b = pos(L(1), S(1));
	char name[LOGSEG_NAME_MAX];
	logseg_name(&a, &b, name);
	char *stale = xasprintf("j/log/db/%s.bson", name);
	put(f, stale, "x", 1);
	for (int rm = 0; rm < 2; rm++) {
		load(f, rm);
		const struct log_source *ls = logcat_source(&f->c, "db");
		assert_int_equal(ls->nsegs, 1);
		assert_contains(ls->segs[0].object, ".bson.zst");
		assert_int_equal(ls->orphans.n, 1);
		assert_string_equal(ls->orphans.v[0], stale);
	}
	free(stale);
}

/* --- chains --- */

/* A log of db: segments of minutes 0-1, 1-2, 2-3, an empty one 3-3
 * (a quiet stretch closed at once), 3-4; returns its source. */
static const struct log_source *
whole_log(struct fixture *f)
{
	for (int k = 0; k < 3; k++)
		put_seg(f, "db", pos(L(k), S(k)), pos(L(k + 1), S(k + 1)));
	put_seg(f, "db", pos(L(3), S(3)), pos(L(3), S(3) + 500));
	put_seg(f, "db", pos(L(3), S(3) + 500), pos(L(4), S(4)));
	load(f, 1);
	return logcat_source(&f->c, "db");
}

static void
expect_chain(const struct log_source *ls, struct cairn_log_pos after, int64_t until, size_t first,
             size_t n, int64_t reach)
{
	const struct log_segment **v;
	size_t got;
	int64_t r;
	char *why = NULL;
	if (logcat_chain(ls, &after, until, &v, &got, &r, &why))
		fail_msg("logcat_chain: %s", why);
	assert_null(why);
	assert_int_equal(got, n);
	assert_ptr_equal(v[0], &ls->segs[first]);
	for (size_t i = 1; i < got; i++)
		assert_true(v[i]->from.lsn == v[i - 1]->to.lsn);
	assert_true(r == reach);
	free(v);
}

static char *
expect_break(const struct log_source *ls, struct cairn_log_pos after, int64_t until, int64_t reach)
{
	const struct log_segment **v = (const struct log_segment **)1;
	size_t n = 9;
	int64_t r;
	char *why = NULL;
	assert_int_equal(logcat_chain(ls, &after, until, &v, &n, &r, &why), -1);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_true(r == reach);
	assert_non_null(why);
	assert_null(strchr(why, '\n'));
	return why;
}

static void
test_chain_whole(void **state)
{
	struct fixture *f = *state;
	const struct log_source *ls = whole_log(f);
	assert_int_equal(ls->nsegs, 5);
	/* after exactly at a FROM: from there on */
	expect_chain(ls, pos(L(0), S(0)), S(4), 0, 5, S(4));
	expect_chain(ls, pos(L(1), S(1)), S(2), 1, 1, S(2));
	/* after inside a segment: that segment first */
	expect_chain(ls, pos(L(1) + 5, S(1) + 100), S(2) + 1, 1, 2, S(3));
	/* stops once until is reached */
	expect_chain(ls, pos(L(0), S(0)), S(1) + 1, 0, 2, S(2));
	/* the empty segment is followed through */
	expect_chain(ls, pos(L(3), S(3)), S(4), 3, 2, S(4));
	/* as far as it goes */
	expect_chain(ls, pos(L(0), S(0)), INT64_MAX, 0, 5, S(4));
	assert_true(logcat_newest(ls)->to.time_ms == S(4));
}

static void
test_chain_until_beyond_reach(void **state)
{
	struct fixture *f = *state;
	const struct log_source *ls = whole_log(f);
	char *why = expect_break(ls, pos(L(0), S(0)), S(4) + 1, S(4));
	assert_contains(why, "source db: the log ends at 2026-12-07T14:32:00.123Z");
	assert_contains(why, "the latest time that can be restored is 2026-12-07T14:32:00.123Z");
	free(why);
	/* a position no segment holds */
	why = expect_break(ls, pos(L(9), S(9)), INT64_MAX, INT64_MIN);
	assert_contains(why, "holds no segment at or after 2026-12-07T14:37:00.123Z");
	assert_contains(why, "no time after 2026-12-07T14:37:00.123Z (the base alone)");
	free(why);
}

static void
test_chain_gap(void **state)
{
	struct fixture *f = *state;
	put_seg(f, "db", pos(L(0), S(0)), pos(L(1), S(1)));
	put_gap(f, "db", pos(L(1), S(1)), pos(L(5), S(5)));
	put_seg(f, "db", pos(L(5), S(5)), pos(L(6), S(6)));
	load(f, 1);
	const struct log_source *ls = logcat_source(&f->c, "db");
	char *why = expect_break(ls, pos(L(0), S(0)), S(5) + 10, S(1));
	assert_contains(why, "source db: the log has a gap from 2026-12-07T14:29:00.123Z to "
	                     "2026-12-07T14:33:00.123Z (the oplog rolled over)");
	assert_contains(why, "the latest time that can be restored is 2026-12-07T14:29:00.123Z");
	free(why);
	/* up to the gap is fine; after it, from the new base, too */
	expect_chain(ls, pos(L(0), S(0)), S(1), 0, 1, S(1));
	expect_chain(ls, pos(L(5), S(5)), S(6), 1, 1, S(6));
	/* latest: as far as it goes unbroken */
	expect_chain(ls, pos(L(0), S(0)), INT64_MAX, 0, 1, S(1));
}

static void
test_chain_hole(void **state)
{
	struct fixture *f = *state;
	put_seg(f, "db", pos(L(0), S(0)), pos(L(1), S(1)));
	put_seg(f, "db", pos(L(2), S(2)), pos(L(3), S(3)));
	load(f, 1);
	const struct log_source *ls = logcat_source(&f->c, "db");
	char *why = expect_break(ls, pos(L(0), S(0)), S(3), S(1));
	assert_contains(why, "the log has no segment from 2026-12-07T14:29:00.123Z to "
	                     "2026-12-07T14:30:00.123Z");
	free(why);
	/* a position in the missing stretch */
	why = expect_break(ls, pos(L(1) + 1, S(1) + 1), S(3), INT64_MIN);
	assert_contains(why,
	                "no segment from 2026-12-07T14:29:00.124Z to 2026-12-07T14:30:00.123Z");
	free(why);
}

static void
test_chain_damaged(void **state)
{
	struct fixture *f = *state;
	struct log_segment s;
	put_seg(f, "db", pos(L(0), S(0)), pos(L(1), S(1)));
	make_seg(&s, "db", pos(L(1), S(1)), pos(L(2), S(2)), 1, "zstd", 5);
	put(f, s.object, "abcdef", 6); /* one byte more than its manifest says */
	char *key = xasprintf("j/log/db/%s.json", s.name), *text = logseg_to_json("j", &s);
	put(f, key, text, strlen(text));
	free(key);
	free(text);
	logseg_clear(&s);
	put_seg(f, "db", pos(L(2), S(2)), pos(L(3), S(3)));
	load(f, 1);
	const struct log_source *ls = logcat_source(&f->c, "db");
	assert_int_equal(ls->nsegs, 2);
	char *why = expect_break(ls, pos(L(0), S(0)), S(3), S(1));
	assert_contains(why, "the segment that follows 2026-12-07T14:29:00.123Z is damaged");
	assert_contains(why, "is 6 bytes, but the manifest says 5");
	assert_contains(why, "the latest time that can be restored is 2026-12-07T14:29:00.123Z");
	free(why);
	/* the damaged one first */
	why = expect_break(ls, pos(L(1) + 1, S(1) + 1), S(3), INT64_MIN);
	assert_contains(why, "is damaged");
	free(why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_name_round_trip),
	        cmocka_unit_test(test_name_hostile),
	        cmocka_unit_test(test_pos_json),
	        cmocka_unit_test(test_manifest_round_trip),
	        cmocka_unit_test(test_manifest_planted),
	        cmocka_unit_test(test_manifest_encrypted),
	        cmocka_unit_test(test_gap_round_trip_and_planted),
	        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_load_damage, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_load_two_data_objects, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chain_whole, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chain_until_beyond_reach, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chain_gap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chain_hole, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chain_damaged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
