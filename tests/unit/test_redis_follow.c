/*
 * test_redis_follow.c - the redis source's change log format: one RESP
 * command parsed in place (aof.c) and the replication stream cut into
 * records (follow_cut.c).
 *
 * The stream is cut only between commands and never inside MULTI ...
 * EXEC, whatever size the reads come in; heartbeats and GETACKs are no
 * records; each record carries its marks and the SELECT a replay on a
 * new connection needs; positions are the master's offsets.
 */
#define _GNU_SOURCE
#include "../../plugins/redis/aof.c"
#include "../../plugins/redis/follow_cut.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* One command as RESP from its words. */
static size_t
cmdv(struct buf *b, int argc, ...)
{
	char head[32];
	size_t start = b->len;
	va_list ap;
	snprintf(head, sizeof(head), "*%d\r\n", argc);
	buf_str(b, head);
	va_start(ap, argc);
	for (int i = 0; i < argc; i++) {
		const char *p = va_arg(ap, const char *);
		snprintf(head, sizeof(head), "$%zu\r\n", strlen(p));
		buf_str(b, head);
		buf_str(b, p);
		buf_str(b, "\r\n");
	}
	va_end(ap);
	return b->len - start;
}

/* ------------------------------------------------------------ aof_parse */

static void
test_parse_whole_and_cut(void **state)
{
	struct buf b = {0};
	struct aof_cmd c;
	size_t n;
	(void)state;

	n = cmdv(&b, 3, "set", "key", "value");
	assert_int_equal(aof_parse((unsigned char *)b.p, b.len, &c), 1);
	assert_int_equal(c.len, n);
	assert_int_equal(c.argc, 3);
	assert_string_equal(c.name, "SET");
	assert_int_equal(c.arglen[0], 3);
	assert_memory_equal(c.arg[0], "key", 3);
	assert_memory_equal(c.arg[1], "value", 5);
	/* every cut short asks for more, never past the command's end */
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(aof_parse((unsigned char *)b.p, k, &c), 0);
		assert_true(c.need > k);
		assert_true(c.need <= n);
	}
	free(b.p);
}

static void
test_parse_damage(void **state)
{
	static const char *const bad[] = {
	        "+OK\r\n",
	        "*x\r\n",
	        "*1\r\n+PING\r\n",
	        "*1\r\n$4\r\nPINGxx",
	        "*01\r\n$4\r\nPING\r\n",
	        "*1\r\n$99999999999\r\n",
	        "*0\r\n*0\r\n",
	        "*-\r\n",
	        "*1\r\n$-1\r\n",
	};
	struct aof_cmd c;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int rc = aof_parse((const unsigned char *)bad[i], strlen(bad[i]), &c);
		if (rc != CAIRN_E_CORRUPT)
			fail_msg("'%s' parsed as %d", bad[i], rc);
		assert_true(c.err[0] != '\0');
	}
}

static void
test_marks(void **state)
{
	unsigned char m[AOF_MARKS_MAX];
	struct aof_cmd c;
	size_t n = aof_marks(m, 1, 1733580000123, 4711);
	(void)state;

	assert_int_equal(aof_parse(m, n, &c), 1);
	assert_int_equal(c.kind, AOF_MARK_TIME);
	assert_int_equal(c.mark, 1733580000123);
	assert_int_equal(aof_parse(m + c.len, n - c.len, &c), 1);
	assert_int_equal(c.kind, AOF_MARK_LSN);
	assert_int_equal(c.mark, 4711);
	n = aof_marks(m, 0, 0, 99);
	assert_int_equal(n, strlen("*-99\r\n"));
	assert_memory_equal(m, "*-99\r\n", n);
}

static void
test_select_and_pos(void **state)
{
	unsigned char s[AOF_SELECT_MAX];
	struct aof_cmd c;
	char id[41];
	uint64_t off;
	long db;
	size_t n = aof_select(12, s);
	(void)state;

	assert_int_equal(aof_parse(s, n, &c), 1);
	assert_int_equal(aof_select_db(&c, &db), 0);
	assert_int_equal(db, 12);
	assert_int_equal(
	        aof_pos_parse("0123456789abcdef0123456789abcdef01234567:42", id, &off, &db), 0);
	assert_int_equal(off, 42);
	assert_int_equal(db, -1);
	assert_int_equal(
	        aof_pos_parse("0123456789abcdef0123456789abcdef01234567:42:3", id, &off, &db), 0);
	assert_int_equal(db, 3);
	assert_int_equal(aof_pos_parse("0123456789abcdef:42", id, &off, &db), -1);
	assert_int_equal(aof_pos_parse("0123456789abcdef0123456789abcdef01234567:x", id, &off, &db),
	                 -1);
	assert_int_equal(
	        aof_pos_parse("0123456789abcdef0123456789abcdef01234567:1:2:3", id, &off, &db), -1);
}

/* ------------------------------------------------------------- the cutter */

#define MAXREC 16
struct rec_out {
	struct cairn_log_out out;
	struct buf rec[MAXREC];
	struct cairn_log_pos pos[MAXREC];
	int n;
	char stats[MAXREC][96]; /* what fcut's stat gave before each record */
	char cur[96];
};

static void
rec_stat(void *ud, const char *key, int64_t value)
{
	struct rec_out *o = ud;
	size_t l = strlen(o->cur);
	snprintf(o->cur + l, sizeof(o->cur) - l, "%s=%lld ", key, (long long)value);
}

static int
rec_record(struct cairn_log_out *self, const void *buf, size_t len, const struct cairn_log_pos *pos)
{
	struct rec_out *o = (struct rec_out *)self;
	assert_true(o->n < MAXREC);
	buf_add(&o->rec[o->n], buf, len);
	memcpy(o->stats[o->n], o->cur, sizeof(o->cur));
	o->cur[0] = '\0';
	o->pos[o->n++] = *pos;
	return 0;
}

static int
rec_idle(struct cairn_log_out *self, const struct cairn_log_pos *pos)
{
	(void)self;
	(void)pos;
	return 0;
}

#define ID "0123456789abcdef0123456789abcdef01234567"

/* A master's stream and where each record of it must end. */
static void
master_stream(struct buf *b, uint64_t ends[6])
{
	cmdv(b, 2, "SELECT", "0");
	cmdv(b, 3, "SET", "a", "1");
	ends[0] = 1000 + b->len;
	cmdv(b, 1, "PING");
	cmdv(b, 2, "SELECT", "3");
	cmdv(b, 2, "INCR", "c");
	ends[1] = 1000 + b->len;
	cmdv(b, 1, "MULTI");
	cmdv(b, 3, "SET", "x", "1");
	cmdv(b, 2, "SELECT", "5");
	cmdv(b, 3, "SET", "y", "2");
	cmdv(b, 1, "EXEC");
	ends[2] = 1000 + b->len;
	cmdv(b, 3, "REPLCONF", "GETACK", "*");
	cmdv(b, 3, "SET", "z", "3");
	ends[3] = 1000 + b->len;
	cmdv(b, 2, "SELECT", "0");
	cmdv(b, 2, "DEL", "a");
	ends[4] = 1000 + b->len;
	cmdv(b, 2, "DEL", "b");
	ends[5] = 1000 + b->len;
}

/* What a replay on a new connection runs, record by record: marks
 * dropped, SELECTs followed.  "db:NAME" per command. */
static void
replayed(const struct buf *rec, char *out, size_t size, long *db)
{
	struct aof_cmd c;
	size_t at = 0, o = strlen(out);
	while (at < rec->len) {
		long d;
		assert_int_equal(aof_parse((unsigned char *)rec->p + at, rec->len - at, &c), 1);
		if (c.kind == AOF_CMD && aof_select_db(&c, &d) == 0)
			*db = d;
		else if (c.kind == AOF_CMD)
			o += (size_t)snprintf(out + o, size - o, "%ld:%s ", *db, c.name);
		at += c.len;
	}
}

static void
run_cut(size_t chunk)
{
	struct buf b = {0};
	struct rec_out o = {.out = {sizeof(struct cairn_log_out), rec_record, rec_idle}};
	struct fcut f;
	uint64_t ends[6], need = 0;
	size_t have = 0, at = 0;
	char got[512] = "";
	long db = 0;

	master_stream(&b, ends);
	fcut_init(&f, ID, 1000, -1);
	f.stat = rec_stat;
	f.stat_ud = &o;
	while (at < b.len) {
		long long k;
		have = have + chunk > b.len ? b.len : have + chunk;
		k = fcut_feed(&f, (unsigned char *)b.p + at, have - at, 5000, &o.out, &need);
		assert_true(k >= 0);
		at += (size_t)k;
		if (at < have)
			assert_true(need > have - at);
	}
	assert_int_equal(o.n, 6);
	assert_int_equal(f.heartbeats, 1);
	assert_int_equal(f.getack, 1);
	for (int i = 0; i < o.n; i++) {
		assert_int_equal(o.pos[i].lsn, ends[i]);
		assert_int_equal(o.pos[i].time_ms, 5000);
	}
	snprintf(got, sizeof(got), ID ":%" PRIu64 ":5", ends[3]);
	assert_string_equal(o.pos[3].text, got);
	got[0] = '\0';
	/* on one connection, record after record */
	for (int i = 0; i < o.n; i++)
		replayed(&o.rec[i], got, sizeof(got), &db);
	assert_string_equal(got, "0:SET 3:INCR 3:MULTI 3:SET 5:SET 5:EXEC 5:SET 0:DEL 0:DEL ");
	/* and each on a new connection: the same databases */
	got[0] = '\0';
	for (int i = 0; i < o.n; i++) {
		db = 0;
		replayed(&o.rec[i], got, sizeof(got), &db);
	}
	assert_string_equal(got, "0:SET 3:INCR 3:MULTI 3:SET 5:SET 5:EXEC 5:SET 0:DEL 0:DEL ");
	/* each record's counts came just before it: its commands without
	 * MULTI, EXEC and SELECT, and per database */
	assert_string_equal(o.stats[0], "commands=1 db.0=1 ");
	assert_string_equal(o.stats[1], "commands=1 db.3=1 ");
	assert_string_equal(o.stats[2], "db.3=1 commands=2 db.5=1 ");
	assert_string_equal(o.stats[3], "commands=1 db.5=1 ");
	assert_string_equal(o.stats[4], "commands=1 db.0=1 ");
	assert_string_equal(o.stats[5], "commands=1 db.0=1 ");
	assert_string_equal(o.cur, "");
	/* the time mark only on the first record of the second; the last
	 * record, in db 0 after one in db 0, carries no SELECT */
	assert_memory_equal(o.rec[0].p, "*0\r\n*-5000\r\n", 12);
	assert_memory_equal(o.rec[1].p, "*-", 2);
	snprintf(got, sizeof(got), "*-%" PRIu64 "\r\n", ends[5]);
	assert_int_equal(o.rec[5].len, strlen(got) + (size_t)cmdv(&b, 2, "DEL", "b"));
	for (int i = 0; i < o.n; i++)
		free(o.rec[i].p);
	fcut_free(&f);
	free(b.p);
}

static void
test_cut_any_reads(void **state)
{
	(void)state;
	for (size_t chunk = 1; chunk <= 64; chunk++)
		run_cut(chunk);
	run_cut(1 << 20);
}

/* A position is given out only outside a transaction and when the
 * stream moved past the last one. */
static void
test_idle_positions(void **state)
{
	struct buf b = {0};
	struct rec_out o = {.out = {sizeof(struct cairn_log_out), rec_record, rec_idle}};
	struct cairn_log_pos pos;
	struct fcut f;
	uint64_t need;
	(void)state;

	fcut_init(&f, ID, 0, -1);
	assert_int_equal(fcut_pos(&f, &pos, 1), 0);
	cmdv(&b, 1, "PING");
	assert_int_equal(fcut_feed(&f, (unsigned char *)b.p, b.len, 1, &o.out, &need), b.len);
	assert_int_equal(fcut_pos(&f, &pos, 7), 1);
	assert_int_equal(pos.lsn, b.len);
	assert_int_equal(fcut_pos(&f, &pos, 8), 0);
	b.len = 0;
	cmdv(&b, 1, "MULTI");
	assert_int_equal(fcut_feed(&f, (unsigned char *)b.p, b.len, 9, &o.out, &need), b.len);
	assert_int_equal(fcut_pos(&f, &pos, 9), 0);
	assert_int_equal(o.n, 0);
	fcut_free(&f);
	free(b.p);
}

/* What the master never sends is damage. */
static void
test_cut_damage(void **state)
{
	struct rec_out o = {.out = {sizeof(struct cairn_log_out), rec_record, rec_idle}};
	struct fcut f;
	uint64_t need;
	(void)state;

	fcut_init(&f, ID, 0, -1);
	assert_int_equal(fcut_feed(&f, (const unsigned char *)"*0\r\n*-1\r\n", 9, 1, &o.out, &need),
	                 CAIRN_E_CORRUPT);
	assert_contains(f.err, "offset 1");
	fcut_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_whole_and_cut),
	        cmocka_unit_test(test_parse_damage),
	        cmocka_unit_test(test_marks),
	        cmocka_unit_test(test_select_and_pos),
	        cmocka_unit_test(test_cut_any_reads),
	        cmocka_unit_test(test_idle_positions),
	        cmocka_unit_test(test_cut_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
