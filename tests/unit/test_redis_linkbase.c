/*
 * test_redis_linkbase.c - a +FULLRESYNC while following (follow_base.c):
 * the RDB that comes on the follower's own link goes into the out
 * base_begin() gives, byte for byte, without the diskless form's end mark;
 * what the master sent after it in the same reads stays in the link's
 * buffer as the replication stream's start; base_end() gets the
 * +FULLRESYNC's REPLID:OFFSET, or the failure of a snapshot cut short; a
 * base_begin() that refuses is returned as the core's word.
 *
 * The master is the other end of a socketpair, written by the test.
 */
#define _GNU_SOURCE
#include "../../plugins/redis/backup.h"
#include "../../plugins/redis/follow.h"
#include "../../plugins/redis/repl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "fakehost.h"

#define REPLID "0123456789abcdef0123456789abcdef01234567"
#define MARK "fedcba9876543210fedcba9876543210fedcba98"

/* A small RDB: db 0, "k" = "v", no CRC (rdbchecksum no). */
static const unsigned char rdb[] = {'R',  'E',  'D',  'I',  'S', '0',  '0', '0',  '9',
                                    0xfe, 0x00, 0x00, 0x01, 'k', 0x01, 'v', 0xff, 0,
                                    0,    0,    0,    0,    0,   0,    0};
static const char stream[] = "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n";

/* The core's side: base_begin/base_end around a writer that keeps it all. */
struct core {
	struct cairn_log_out lo;
	struct cairn_out o;
	unsigned char got[4096];
	size_t len;
	int began, ended, end_rc, begin_rc;
	struct cairn_log_pos pos;
};

static int
core_write(struct cairn_out *o, const void *buf, size_t len)
{
	struct core *k = (struct core *)((char *)o - offsetof(struct core, o));
	assert_true(k->began && !k->ended);
	assert_true(k->len + len <= sizeof(k->got));
	memcpy(k->got + k->len, buf, len);
	k->len += len;
	return 0;
}

static int
core_begin(struct cairn_log_out *lo, struct cairn_out **out)
{
	struct core *k = (struct core *)lo;
	if (k->begin_rc)
		return k->begin_rc;
	k->began = 1;
	*out = &k->o;
	return 0;
}

static int
core_end(struct cairn_log_out *lo, int rc, const struct cairn_log_pos *pos)
{
	struct core *k = (struct core *)lo;
	k->ended = 1;
	k->end_rc = rc;
	if (pos)
		k->pos = *pos;
	return 0;
}

struct link {
	struct redis r;
	struct rconn c;
	struct core k;
	int master; /* the test's end */
};

static void
link_open(struct link *l)
{
	int sv[2];
	memset(l, 0, sizeof(*l));
	redis_host = &fake_host;
	l->r.ctx = fake_ctx_new();
	l->r.name = "redis test";
	l->r.timeout_ms = 5000;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	l->master = sv[1];
	l->c = (struct rconn){.r = &l->r, .fd = sv[0], .cap = RB_BUF};
	l->c.buf = malloc(RB_BUF);
	assert_non_null(l->c.buf);
	l->k.lo = (struct cairn_log_out){
	        .struct_size = sizeof(l->k.lo), .base_begin = core_begin, .base_end = core_end};
	l->k.o = (struct cairn_out){.struct_size = sizeof(l->k.o), .write = core_write};
}

static void
link_close(struct link *l)
{
	close(l->c.fd);
	if (l->master >= 0)
		close(l->master);
	free(l->c.buf);
	free(l->r.ctx);
}

static void
send_bytes(struct link *l, const void *p, size_t n)
{
	assert_int_equal(write(l->master, p, n), (ssize_t)n);
}

static void
send_str(struct link *l, const char *s)
{
	send_bytes(l, s, strlen(s));
}

/* The RDB went out whole, the stream stayed in the link, base_end at the
 * +FULLRESYNC's position with the counts of a backup. */
static void
check_base(struct link *l, const char *rest)
{
	assert_true(l->k.began && l->k.ended);
	assert_int_equal(l->k.end_rc, 0);
	assert_int_equal(l->k.len, sizeof(rdb));
	assert_memory_equal(l->k.got, rdb, sizeof(rdb));
	assert_string_equal(l->k.pos.text, REPLID ":1234");
	assert_int_equal(l->k.pos.lsn, 1234);
	assert_int_equal(l->c.len - l->c.pos, strlen(rest));
	assert_memory_equal(l->c.buf + l->c.pos, rest, strlen(rest));
	assert_int_equal(fake_stat(l->r.ctx, "keys"), 1);
	assert_int_equal(fake_stat(l->r.ctx, "bytes"), (int64_t)sizeof(rdb));
}

/* $LENGTH (a disk-based sync): the stream follows at once, in the same
 * read as the RDB's end. */
static void
test_length_form_stream_after(void **state)
{
	struct link l;
	char head[32];
	int core = -1;
	(void)state;
	link_open(&l);
	snprintf(head, sizeof(head), "\n$%zu\r\n", sizeof(rdb));
	send_str(&l, head);
	send_bytes(&l, rdb, sizeof(rdb));
	send_str(&l, stream);
	assert_int_equal(follow_rdb_base(&l.r, &l.c, &l.k.lo, REPLID, 1234, &core), 0);
	assert_int_equal(core, 0);
	check_base(&l, stream);
	link_close(&l);
}

/* $EOF:<mark> (diskless): the mark never reaches the set; what came
 * after it stays in the link. */
static void
test_eof_form_mark_held_back(void **state)
{
	struct link l;
	int core = -1;
	(void)state;
	link_open(&l);
	send_str(&l, "$EOF:" MARK "\r\n");
	send_bytes(&l, rdb, sizeof(rdb));
	send_str(&l, MARK);
	send_str(&l, stream);
	assert_int_equal(follow_rdb_base(&l.r, &l.c, &l.k.lo, REPLID, 1234, &core), 0);
	check_base(&l, stream);
	link_close(&l);

	/* the mark alone at the end: nothing left over */
	link_open(&l);
	send_str(&l, "$EOF:" MARK "\r\n");
	send_bytes(&l, rdb, sizeof(rdb));
	send_str(&l, MARK);
	assert_int_equal(follow_rdb_base(&l.r, &l.c, &l.k.lo, REPLID, 1234, &core), 0);
	check_base(&l, "");
	link_close(&l);
}

/* A snapshot cut short: base_end hears of it, the code is the link's. */
static void
test_cut_snapshot_aborts(void **state)
{
	struct link l;
	char head[32];
	int core = -1;
	(void)state;
	link_open(&l);
	snprintf(head, sizeof(head), "$%zu\r\n", sizeof(rdb) + 10);
	send_str(&l, head);
	send_bytes(&l, rdb, 12);
	close(l.master);
	l.master = -1;
	assert_true(follow_rdb_base(&l.r, &l.c, &l.k.lo, REPLID, 1234, &core) < 0);
	assert_int_equal(core, 0);
	assert_true(l.k.began && l.k.ended);
	assert_true(l.k.end_rc < 0);
	link_close(&l);
}

/* base_begin refuses (the job's lock is busy): its code, as the core's. */
static void
test_begin_refused(void **state)
{
	struct link l;
	int core = -1;
	(void)state;
	link_open(&l);
	l.k.begin_rc = CAIRN_E_LOGLOST;
	send_str(&l, "$EOF:" MARK "\r\n");
	assert_int_equal(follow_rdb_base(&l.r, &l.c, &l.k.lo, REPLID, 1234, &core),
	                 CAIRN_E_LOGLOST);
	assert_int_equal(core, 1);
	assert_false(l.k.ended);
	link_close(&l);
}

/* A core of ABI 1.4 has no base_begin: the old way (CAIRN_E_LOGLOST). */
static void
test_old_core(void **state)
{
	struct cairn_log_out old = {.struct_size = offsetof(struct cairn_log_out, base_begin)};
	struct cairn_log_out none = {.struct_size = sizeof(none)};
	struct link l;
	(void)state;
	link_open(&l);
	assert_false(follow_can_base(&old));
	assert_false(follow_can_base(&none));
	assert_true(follow_can_base(&l.k.lo));
	link_close(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_length_form_stream_after),
	        cmocka_unit_test(test_eof_form_mark_held_back),
	        cmocka_unit_test(test_cut_snapshot_aborts),
	        cmocka_unit_test(test_begin_refused),
	        cmocka_unit_test(test_old_core),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
