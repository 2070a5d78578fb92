/*
 * test_redis_restore.c - the redis source's restore into a server, where
 * no redis-server is needed: the target (target.c) and restore.c's
 * entries, compiled into this file with allocators that can be made to
 * fail and that remember what they handed out.
 *
 *  - An allocation that fails while the target is set up leaves nothing
 *    behind (the leak of the half-initialised target's buffer that the
 *    static analyzer found in restore_rdb_scratch).
 *  - What a target wrote is recorded as it is written, per database, under
 *    the stats backup() records ("keys", "keys.dbN"), so a restore that
 *    stopped says exactly what the target holds.  The server here is the
 *    other end of a socketpair, answering as the test tells it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakehost.h"
#include "testutil.h"

/* ------------------------------------------------- counted allocation */

static int alloc_n, alloc_fail_at; /* fail the alloc_fail_at-th (1-based) */
static void *live[64];

static void
track(void *p)
{
	for (size_t i = 0; p && i < sizeof(live) / sizeof(live[0]); i++)
		if (!live[i]) {
			live[i] = p;
			return;
		}
}

static void
untrack(void *p)
{
	for (size_t i = 0; p && i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == p)
			live[i] = NULL;
}

static int
fail_now(void)
{
	return alloc_fail_at > 0 && ++alloc_n == alloc_fail_at;
}

static void *
t_malloc(size_t n)
{
	void *p = fail_now() ? NULL : malloc(n);
	track(p);
	return p;
}

static void *
t_calloc(size_t n, size_t size)
{
	void *p = fail_now() ? NULL : calloc(n, size);
	track(p);
	return p;
}

static void *
t_realloc(void *old, size_t n)
{
	void *p;
	if (fail_now())
		return NULL;
	p = realloc(old, n);
	if (p) {
		untrack(old);
		track(p);
	}
	return p;
}

static void
t_free(void *p)
{
	untrack(p);
	free(p);
}

static size_t
still_live(void)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		n += live[i] != NULL;
	return n;
}

static void
alloc_reset(int fail_at)
{
	alloc_n = 0;
	alloc_fail_at = fail_at;
	memset(live, 0, sizeof(live));
}

#define malloc t_malloc
#define calloc t_calloc
#define realloc t_realloc
#define free t_free
#include "../../plugins/redis/restore.c"
#include "../../plugins/redis/target.c"
#undef malloc
#undef calloc
#undef realloc
#undef free

/* ------------------------------------------------------------ helpers */

static ssize_t
no_read(struct cairn_in *self, void *buf, size_t len)
{
	(void)self;
	(void)buf;
	(void)len;
	return 0;
}

/* A unix socket that listens (and never answers): redis_connect() to it
 * succeeds without a password, so restore gets as far as its target. */
static int
listener(char *dir, char *path, size_t pathsize)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, pathsize, "%s/sock", dir);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* ------------------------------------------------------------- tests */

/* restore_rdb_scratch() (and restore_dump()) with each allocation of the
 * target failing in turn: CAIRN_E_NOMEM, and nothing left allocated. */
static void
test_target_alloc_failure_leaks_nothing(void **state)
{
	char dir[] = "/tmp/cairn-restore-XXXXXX", path[100];
	int lfd = listener(dir, path, sizeof(path));
	struct cairn_in in = {.struct_size = sizeof(in), .read = no_read};
	struct redis r = {.ctx = fake_ctx_new(), .name = "redis test", .timeout_ms = 2000};
	(void)state;

	redis_host = &fake_host;
	r.hostname = "127.0.0.1";
	r.unix_socket = path;
	for (int k = 1; k <= 2; k++) {
		alloc_reset(k);
		assert_int_equal(restore_rdb_scratch(&r, &in, 0), CAIRN_E_NOMEM);
		assert_int_equal(still_live(), 0);
		alloc_reset(k);
		assert_int_equal(restore_dump(&r, &in, 0), CAIRN_E_NOMEM);
		assert_int_equal(still_live(), 0);
	}
	alloc_reset(0);
	close(lfd);
	unlink(path);
	rmdir(dir);
	free(r.ctx);
}

/* A target on one end of a socketpair; the test answers on the other. */
struct peer {
	struct redis r;
	struct target t;
	int fd; /* the server's end */
};

static void
peer_open(struct peer *p)
{
	int sv[2];
	redisContext *c;

	memset(p, 0, sizeof(*p));
	redis_host = &fake_host;
	p->r.ctx = fake_ctx_new();
	p->r.name = "redis test";
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c = redisConnectFd(sv[0]);
	assert_non_null(c);
	p->fd = sv[1];
	alloc_reset(0);
	assert_int_equal(target_init(&p->t, &p->r, c, "redis test"), 0);
	p->t.stats = 1;
}

static void
peer_close(struct peer *p)
{
	redisFree(p->t.c);
	target_free(&p->t);
	if (p->fd >= 0)
		close(p->fd);
	free(p->r.ctx);
}

static void
answer(struct peer *p, const char *replies)
{
	assert_int_equal(write(p->fd, replies, strlen(replies)), (ssize_t)strlen(replies));
}

static void
select_db(struct peer *p, long db)
{
	char num[24];
	snprintf(num, sizeof(num), "%ld", db);
	p->t.cur_db = db;
	assert_int_equal(target_cmd(&p->t, "SELECT", num), 0);
	assert_int_equal(target_sent(&p->t, SENT_SELECT, NULL), 0);
}

static void
restore_key(struct peer *p, const char *key)
{
	struct resp_cmd c = {.kind = RESP_RESTORE};
	c.keylen = c.keykept = strlen(key);
	memcpy(c.key, key, c.keykept);
	/* the bytes do not matter to the peer, only the count of replies */
	assert_int_equal(target_cmd(&p->t, "RESTORE", key), 0);
	assert_int_equal(target_sent(&p->t, SENT_RESTORE, &c), 0);
}

static void
test_written_keys_recorded_per_database(void **state)
{
	struct peer p;
	(void)state;

	peer_open(&p);
	select_db(&p, 0);
	restore_key(&p, "a");
	restore_key(&p, "b");
	select_db(&p, 3);
	restore_key(&p, "c");
	answer(&p, "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
	assert_int_equal(target_send(&p.t), 0);
	assert_int_equal(target_drain(&p.t), 0);
	assert_int_equal(fake_stat(p.r.ctx, "keys.db0"), 2);
	assert_int_equal(fake_stat(p.r.ctx, "keys.db3"), 1);
	assert_int_equal(fake_stat(p.r.ctx, "keys"), 3);
	assert_int_equal(fake_stat(p.r.ctx, "keys.db1"), -1);
	peer_close(&p);
}

/* The link breaks after some answers: the stats hold what was answered,
 * the same counts the message gives. */
static void
test_interrupted_restore_records_what_was_written(void **state)
{
	struct peer p;
	(void)state;

	peer_open(&p);
	select_db(&p, 2);
	restore_key(&p, "x");
	restore_key(&p, "y");
	restore_key(&p, "z");
	assert_int_equal(target_send(&p.t), 0);
	answer(&p, "+OK\r\n+OK\r\n+OK\r\n");
	close(p.fd);
	p.fd = -1;
	assert_int_equal(target_drain(&p.t), CAIRN_E_IO);
	assert_int_equal(fake_stat(p.r.ctx, "keys.db2"), 2);
	assert_int_equal(fake_stat(p.r.ctx, "keys"), 2);
	assert_int_equal(target_report(&p.t, CAIRN_E_IO, "restore"), CAIRN_E_IO);
	assert_contains(p.r.ctx->error, "2 keys were written before the restore stopped: db2 2");
	peer_close(&p);
}

/* A restore test's target (the scratch server) records nothing: its
 * stats would be compared with the manifest's. */
static void
test_scratch_target_records_nothing(void **state)
{
	struct peer p;
	(void)state;

	peer_open(&p);
	p.t.stats = 0;
	select_db(&p, 0);
	restore_key(&p, "a");
	answer(&p, "+OK\r\n+OK\r\n");
	assert_int_equal(target_send(&p.t), 0);
	assert_int_equal(target_drain(&p.t), 0);
	assert_int_equal(p.t.written, 1);
	assert_int_equal(fake_stat(p.r.ctx, "keys.db0"), -1);
	assert_int_equal(fake_stat(p.r.ctx, "keys"), -1);
	peer_close(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_target_alloc_failure_leaks_nothing),
	        cmocka_unit_test(test_written_keys_recorded_per_database),
	        cmocka_unit_test(test_interrupted_restore_records_what_was_written),
	        cmocka_unit_test(test_scratch_target_records_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
