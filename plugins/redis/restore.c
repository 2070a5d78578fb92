/*
 * restore.c - the redis source's restore, restore test and dump check.
 *
 * The source has no CAIRN_SOURCE_STAGED_RESTORE: the core proves the
 * whole stored object good (size, SHA-256) before restore() sees a byte,
 * so restore() writes into the target as it reads.  What can still go
 * wrong is the target: it refuses a write (a replica, an ACL user that
 * may only read, min-replicas-to-write) or the link breaks.  Every reply
 * is counted, so a failed restore says which key failed and how many
 * were written before it stopped.
 *
 *  - A dump (RESP) replays into the target as it is read, pipelined with
 *    at most WINDOW commands in flight; payloads pass through a fixed
 *    buffer.
 *  - An RDB goes to `rdb_path` (a file, published by rename once it is
 *    complete and synced), or into a scratch redis-server (scratch.c)
 *    that loads it, from which every key is copied with PEXPIRETIME and DUMP
 *    into RESTORE ... REPLACE on the target; the DUMP replies are read
 *    off the scratch socket straight into the target's, never whole.
 *  - restore_test loads the object into a scratch server and compares
 *    the keys per database with the counts the object carries (the RDB
 *    walk's, or the dump's end mark).
 *
 * A non-empty target is refused without --force: any database holding
 * keys (INFO keyspace) before anything is written; when the server
 * refuses INFO, each database is checked with DBSIZE as it is entered.
 * With --force keys of the same name are replaced, and flush = yes
 * empties each database the backup writes into first.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 512          /* commands in flight to one server */
#define OBUF_SIZE 65536     /* bytes gathered before hiredis sends them */
#define SCAN_COUNT 1000     /* keys per SCAN of the scratch server */
#define ALL_DATABASES 65537 /* a dump may SELECT up to RESP_MAX_DB */
#define SCRATCH_NAME "scratch redis-server"

/* ------------------------------------------------------------ target */

enum sent_kind {
	SENT_SELECT = 1,
	SENT_FLUSHDB,
	SENT_RESTORE
};

struct sent {
	enum sent_kind kind;
	long db;
	char key[RESP_KEY_HEAD];
	size_t keykept;
	uint64_t keylen;
};

/* One server being written to, with the commands still unanswered. */
struct target {
	struct redis *r;
	redisContext *c;
	const char *name; /* "redis 127.0.0.1:6379" or the scratch's */
	char *obuf;
	size_t olen;
	struct sent *ring; /* WINDOW entries */
	size_t head, count;
	uint64_t written; /* RESTOREs answered OK */
	int broken;       /* the link failed: nothing more can be read */
	char *fail;       /* the first refusal, a message */
	int fail_rc;
	/* databases entered so far (for flush and the lazy check) */
	unsigned char *entered;
	size_t nentered;
	int flush;
	int check_each; /* INFO refused: DBSIZE each database on entry */
	int absttl;     /* RESTORE takes ABSTTL (Redis 5+) */
	long cur_db;
	uint64_t *dbw; /* RESTOREs answered OK per database, ndbw entries */
	size_t ndbw;
	uint64_t total; /* keys the object holds (0: not known) */
};

static int
target_init(struct target *t, struct redis *r, redisContext *c, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->r = r;
	t->c = c;
	t->name = name;
	t->obuf = malloc(OBUF_SIZE);
	t->ring = calloc(WINDOW, sizeof(*t->ring));
	return t->obuf && t->ring ? 0 : CAIRN_E_NOMEM;
}

static void
target_free(struct target *t)
{
	free(t->obuf);
	free(t->ring);
	free(t->fail);
	free(t->entered);
	free(t->dbw);
	t->dbw = NULL;
	t->ndbw = 0;
	t->obuf = NULL;
	t->ring = NULL;
	t->fail = NULL;
	t->entered = NULL;
}

static void
link_broken(struct target *t)
{
	char why[200];
	const redisContext *c = t->c;

	if (t->broken)
		return;
	t->broken = 1;
	if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
		snprintf(why, sizeof(why), "no answer within the timeout");
	else if (c->err == REDIS_ERR_EOF)
		snprintf(why, sizeof(why), "the server closed the connection");
	else
		snprintf(why, sizeof(why), "%s", c->errstr[0] ? c->errstr : "link error");
	if (!t->fail) {
		if (asprintf(&t->fail, "%s: the link broke: %s", t->name, why) < 0)
			t->fail = NULL;
		t->fail_rc = c->err == REDIS_ERR_OOM ? CAIRN_E_NOMEM : CAIRN_E_IO;
	}
}

/* Hand the gathered bytes to hiredis and send everything it holds. */
static int
target_send(struct target *t)
{
	int done = 0;

	if (t->broken)
		return t->fail_rc;
	if (t->olen) {
		if (redisAppendFormattedCommand(t->c, t->obuf, t->olen) != REDIS_OK) {
			link_broken(t);
			return t->fail_rc;
		}
		t->olen = 0;
	}
	while (!done)
		if (redisBufferWrite(t->c, &done) != REDIS_OK) {
			link_broken(t);
			return t->fail_rc;
		}
	return 0;
}

static int
target_out(void *arg, const void *p, size_t n)
{
	struct target *t = arg;
	const char *s = p;

	while (n > 0) {
		size_t k = OBUF_SIZE - t->olen < n ? OBUF_SIZE - t->olen : n;
		memcpy(t->obuf + t->olen, s, k);
		t->olen += k;
		s += k;
		n -= k;
		if (t->olen == OBUF_SIZE) {
			int rc = target_send(t);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* A small command of our own, as RESP. */
static int
target_cmd(struct target *t, const char *cmd, const char *arg)
{
	char buf[96];
	int n;

	if (arg)
		n = snprintf(buf, sizeof(buf), "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(cmd),
		             cmd, strlen(arg), arg);
	else
		n = snprintf(buf, sizeof(buf), "*1\r\n$%zu\r\n%s\r\n", strlen(cmd), cmd);
	return target_out(t, buf, (size_t)n);
}

static void
describe(const struct sent *e, char *dst, size_t size)
{
	char q[RESP_KEY_HEAD * 4 + 48];

	switch (e->kind) {
	case SENT_SELECT: snprintf(dst, size, "SELECT %ld", e->db); break;
	case SENT_FLUSHDB: snprintf(dst, size, "FLUSHDB of db %ld", e->db); break;
	case SENT_RESTORE:
		resp_quote(q, sizeof(q), e->key, e->keykept, e->keylen);
		snprintf(dst, size, "RESTORE of key \"%s\" in db %ld", q, e->db);
		break;
	}
}

/* Read the oldest unanswered reply. */
/* One more key written into database db (the per-database counts are
 * only for the report: without memory for them the total still holds). */
static void
target_count_db(struct target *t, long db)
{
	if (db < 0)
		return;
	if ((size_t)db >= t->ndbw) {
		size_t n = (size_t)db + 1;
		uint64_t *p = realloc(t->dbw, n * sizeof(*p));
		if (!p)
			return;
		memset(p + t->ndbw, 0, (n - t->ndbw) * sizeof(*p));
		t->dbw = p;
		t->ndbw = n;
	}
	t->dbw[db]++;
}

/* v with thousands separators: 588,184. */
static const char *
fmt_count(uint64_t v, char *buf, size_t n)
{
	char digits[32];
	size_t len = (size_t)snprintf(digits, sizeof(digits), "%" PRIu64, v), o = 0;
	for (size_t i = 0; i < len && o + 2 < n; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* "db0 588,184, db3 12": what the target holds of the restore so far. */
static void
target_written_dbs(const struct target *t, char *buf, size_t n)
{
	size_t o = 0;
	char num[32];
	buf[0] = '\0';
	for (size_t db = 0; db < t->ndbw && o < n; db++) {
		if (!t->dbw[db])
			continue;
		int k = snprintf(buf + o, n - o, "%sdb%zu %s", o ? ", " : "", db,
		                 fmt_count(t->dbw[db], num, sizeof(num)));
		if (k < 0)
			break;
		o += (size_t)k;
	}
}

static int
target_reply(struct target *t)
{
	redisReply *rep = NULL;
	struct sent *e;
	int rc;

	if ((rc = target_send(t)))
		return rc;
	if (redisGetReply(t->c, (void **)&rep) != REDIS_OK || !rep) {
		link_broken(t);
		return t->fail_rc;
	}
	e = &t->ring[t->head];
	t->head = (t->head + 1) % WINDOW;
	t->count--;
	if (rep->type == REDIS_REPLY_ERROR) {
		if (!t->fail) {
			char what[RESP_KEY_HEAD * 4 + 96];
			describe(e, what, sizeof(what));
			if (asprintf(&t->fail, "%s: %s failed: %s", t->name, what, rep->str) < 0)
				t->fail = NULL;
			t->fail_rc =
			        (!strncmp(rep->str, "NOPERM", 6) || !strncmp(rep->str, "NOAUTH", 6))
			                ? CAIRN_E_AUTH
			                : CAIRN_E_IO;
		}
	} else if (e->kind == SENT_RESTORE) {
		t->written++;
		target_count_db(t, e->db);
	}
	freeReplyObject(rep);
	return 0;
}

/* Note a command just passed to target_out(); read a reply when WINDOW
 * are in flight.  Once a command was refused nothing more is sent. */
static int
target_sent(struct target *t, enum sent_kind kind, const struct resp_cmd *c)
{
	struct sent *e;
	int rc;

	if (t->count == WINDOW && (rc = target_reply(t)))
		return rc;
	e = &t->ring[(t->head + t->count) % WINDOW];
	t->count++;
	e->kind = kind;
	e->db = t->cur_db;
	e->keykept = 0;
	e->keylen = 0;
	if (c && kind == SENT_RESTORE) {
		memcpy(e->key, c->key, c->keykept);
		e->keykept = c->keykept;
		e->keylen = c->keylen;
	}
	if (t->fail)
		return t->fail_rc;
	return 0;
}

/* Every reply still due; the first failure stays the one reported. */
static int
target_drain(struct target *t)
{
	while (t->count > 0 && !t->broken)
		target_reply(t);
	return t->fail ? t->fail_rc : 0;
}

/* The keys per database from an INFO keyspace text. */
static int
keyspace_parse(const char *text, uint64_t **db_keys, size_t *ndb)
{
	const char *p = text;
	*db_keys = NULL;
	*ndb = 0;
	while ((p = strstr(p, "db"))) {
		long db;
		unsigned long long keys;
		int used = 0;
		if ((p == text || p[-1] == '\n') &&
		    sscanf(p, "db%ld:keys=%llu%n", &db, &keys, &used) == 2 && used > 0 && db >= 0 &&
		    db <= RESP_MAX_DB) {
			if ((size_t)db >= *ndb) {
				uint64_t *n = realloc(*db_keys, ((size_t)db + 1) * sizeof(*n));
				if (!n) {
					free(*db_keys);
					*db_keys = NULL;
					return CAIRN_E_NOMEM;
				}
				memset(n + *ndb, 0, ((size_t)db + 1 - *ndb) * sizeof(*n));
				*db_keys = n;
				*ndb = (size_t)db + 1;
			}
			(*db_keys)[db] = keys;
		}
		p += 2;
	}
	return 0;
}

int
redis_keyspace(struct redis *r, redisContext *c, const char *name, uint64_t **db_keys, size_t *ndb)
{
	int rc;
	redisReply *rep = redis_command(r, c, name, 0, &rc, "INFO keyspace");

	*db_keys = NULL;
	*ndb = 0;
	if (!rep)
		return rc;
	if (rep->type != REDIS_REPLY_STRING) {
		redis_error(r, "%s: INFO keyspace gave no text", name);
		freeReplyObject(rep);
		return CAIRN_E_IO;
	}
	rc = keyspace_parse(rep->str, db_keys, ndb);
	freeReplyObject(rep);
	return rc;
}

static const char *
how_to_force(void)
{
	return "restore into an empty server, or add --force (keys of the same name are "
	       "replaced; flush = yes empties each database the backup writes into)";
}

/* Before anything is written: refuse a target holding keys. */
static int
target_check_empty(struct target *t, int force)
{
	struct redis *r = t->r;
	uint64_t *db_keys = NULL;
	size_t ndb = 0, nonempty = 0, first = 0;
	int rc;
	redisReply *rep;

	if (force)
		return 0;
	rep = redis_command(r, t->c, t->name, 1, &rc, "INFO keyspace");
	if (!rep)
		return rc;
	if (rep->type == REDIS_REPLY_ERROR) {
		redis_log(r, CAIRN_LOG_INFO,
		          "%s: INFO refused (%s); checking each database with DBSIZE as it is "
		          "entered",
		          t->name, rep->str);
		freeReplyObject(rep);
		t->check_each = 1;
		return 0;
	}
	rc = rep->type == REDIS_REPLY_STRING ? keyspace_parse(rep->str, &db_keys, &ndb) : 0;
	freeReplyObject(rep);
	if (rc)
		return rc;
	for (size_t i = 0; i < ndb; i++)
		if (db_keys[i] && !nonempty++)
			first = i;
	if (nonempty) {
		redis_error(r, "%s is not empty: db%zu holds %" PRIu64 " keys%s; %s", t->name,
		            first, db_keys[first],
		            nonempty > 1 ? " (and more databases hold keys)" : "", how_to_force());
		free(db_keys);
		return CAIRN_E_EXISTS;
	}
	free(db_keys);
	return 0;
}

/* The first write into database db (just SELECTed, or 0 at the start):
 * the lazy emptiness check and flush = yes. */
static int
target_enter(struct target *t, long db, int force)
{
	int rc;

	if ((size_t)db < t->nentered && t->entered[db])
		return 0;
	if ((size_t)db >= t->nentered) {
		size_t n = (size_t)db + 1;
		unsigned char *e = realloc(t->entered, n);
		if (!e)
			return CAIRN_E_NOMEM;
		memset(e + t->nentered, 0, n - t->nentered);
		t->entered = e;
		t->nentered = n;
	}
	t->entered[db] = 1;
	if (t->check_each && !force) {
		redisReply *rep;
		if ((rc = target_drain(t)))
			return rc;
		rep = redis_command(t->r, t->c, t->name, 0, &rc, "DBSIZE");
		if (!rep)
			return rc;
		if (rep->type == REDIS_REPLY_INTEGER && rep->integer > 0) {
			/* INFO was refused, so this is found only now. */
			char before[96] = "";
			if (t->written)
				snprintf(before, sizeof(before),
				         " (%" PRIu64 " keys were written into other databases "
				         "before it was checked)",
				         t->written);
			redis_error(t->r, "%s is not empty: db%ld holds %lld keys%s; %s", t->name,
			            db, rep->integer, before, how_to_force());
			freeReplyObject(rep);
			return CAIRN_E_EXISTS;
		}
		freeReplyObject(rep);
	}
	if (t->flush && force) {
		if ((rc = target_cmd(t, "FLUSHDB", NULL)))
			return rc;
		return target_sent(t, SENT_FLUSHDB, NULL);
	}
	return 0;
}

/* Does the target take RESTORE ... ABSTTL (Redis 5.0 and later)?  A
 * server that hides its version from INFO is taken to be a current one. */
static void
target_probe_version(struct target *t)
{
	int rc, major = 5;
	redisReply *rep = redis_command(t->r, t->c, t->name, 1, &rc, "INFO server");
	const char *v;

	if (rep && rep->type == REDIS_REPLY_STRING && (v = strstr(rep->str, "redis_version:")))
		major = atoi(v + 14);
	if (rep)
		freeReplyObject(rep);
	t->absttl = major >= 5;
}

/* The error of a restore that stopped, with what it wrote. */
static int
target_report(struct target *t, int rc, const char *what)
{
	struct redis *r = t->r;

	char dbs[512], n[32], of[64] = "";

	target_drain(t);
	target_written_dbs(t, dbs, sizeof(dbs));
	if (t->total)
		snprintf(of, sizeof(of), " of %s", fmt_count(t->total, n, sizeof(n)));
	if (rc == CAIRN_E_CANCELLED && t->written == 0 && !t->fail) {
		redis_error(r, "%s: stopped before any key was written; the target is as it was",
		            t->name);
	} else if (rc == CAIRN_E_CANCELLED && !t->fail) {
		/* a live server cannot be staged: say exactly what it holds */
		redis_error(r,
		            "%s: stopped after restoring %s%s keys: %s; the target holds them "
		            "(restore again with --force and flush = yes to replace them)",
		            t->name, fmt_count(t->written, n, sizeof(n)), of, dbs);
	} else if (t->fail) {
		rc = t->fail_rc ? t->fail_rc : CAIRN_E_IO;
		redis_error(r,
		            "%s; %" PRIu64
		            " keys were written before the %s stopped%s%s%s (fix the "
		            "cause, then restore again with --force and flush = yes)",
		            t->fail, t->written, what, dbs[0] ? ": " : "", dbs,
		            t->broken && t->count ? " (some more may have been)" : "");
	} else if (rc != CAIRN_E_EXISTS && t->written > 0) {
		/* The detail is already set by whoever failed; the count is
		 * logged beside it. */
		redis_log(r, CAIRN_LOG_ERROR,
		          "%s: %" PRIu64 " keys were written before the %s stopped: %s; the "
		          "target holds them",
		          t->name, t->written, what, dbs);
	}
	return rc;
}

/* ---------------------------------------------------- dump: replay */

struct replay {
	struct target *t;
	struct dump_count count;
	int force;
	/* restore_test: RESTOREs with ABSTTL that may have run out already
	 * (the server then creates no key), per database */
	uint64_t *maybe_gone;
	size_t nmaybe;
	int64_t horizon_ms; /* ABSTTL at or before this may be gone */
};

static int
replay_begin(void *arg, const struct resp_cmd *c)
{
	struct replay *p = arg;
	int rc;

	if (p->t->r->host->cancelled(p->t->r->ctx))
		return CAIRN_E_CANCELLED;
	if (p->t->fail)
		return p->t->fail_rc;
	if (c->kind == RESP_ECHO)
		return 0; /* the end mark is for us, not the server */
	if (c->kind == RESP_RESTORE && (rc = target_enter(p->t, p->t->cur_db, p->force)))
		return rc;
	return 1;
}

static int
replay_out(void *arg, const void *buf, size_t n)
{
	struct replay *p = arg;
	return target_out(p->t, buf, n);
}

static int
note_maybe_gone(struct replay *p, long db)
{
	if ((size_t)db >= p->nmaybe) {
		size_t n = (size_t)db + 1;
		uint64_t *m = realloc(p->maybe_gone, n * sizeof(*m));
		if (!m)
			return CAIRN_E_NOMEM;
		memset(m + p->nmaybe, 0, (n - p->nmaybe) * sizeof(*m));
		p->maybe_gone = m;
		p->nmaybe = n;
	}
	p->maybe_gone[db]++;
	return 0;
}

/* Replay a whole dump stream into p->t.  The parse error, if any, is
 * set as the error here. */
static int
replay_stream(struct redis *r, struct cairn_in *in, struct replay *p)
{
	struct resp_in rd;
	struct resp_cmd c = {0};
	struct resp_cb cb = {replay_begin, replay_out, p};
	int rc;

	if ((rc = resp_in_init_cairn(&rd, in)))
		return rc;
	dump_count_init(&p->count);
	for (;;) {
		rc = resp_next(&rd, &c, &cb);
		if (rc <= 0)
			break;
		if ((rc = dump_count_add(&p->count, &c))) {
			redis_error(r, "dump stream, %s; the stored object is damaged",
			            p->count.err);
			break;
		}
		if (c.kind == RESP_SELECT) {
			p->t->cur_db = c.db;
			if ((rc = target_sent(p->t, SENT_SELECT, &c)))
				break;
			if ((rc = target_enter(p->t, c.db, p->force)))
				break;
		} else if (c.kind == RESP_RESTORE) {
			if ((rc = target_sent(p->t, SENT_RESTORE, &c)))
				break;
			if (p->horizon_ms && c.absttl && c.ttl > 0 && c.ttl <= p->horizon_ms &&
			    (rc = note_maybe_gone(p, p->t->cur_db)))
				break;
		}
	}
	if (rc == CAIRN_E_CORRUPT && rd.err[0])
		redis_error(r, "dump stream, %s; the stored object is damaged", rd.err);
	if (rc == 0 && (rc = dump_count_end(&p->count, &rd)))
		redis_error(r, "dump stream, %s; the stored object is damaged", p->count.err);
	if (rc == 0)
		rc = target_send(p->t);
	if (rc == 0)
		rc = target_drain(p->t);
	resp_cmd_free(&c);
	resp_in_free(&rd);
	return rc;
}

static int
restore_dump(struct redis *r, struct cairn_in *in, unsigned flags)
{
	struct target t;
	struct replay p = {0};
	redisContext *c;
	int rc;

	if ((rc = redis_connect(r, &c)))
		return rc;
	if ((rc = target_init(&t, r, c, r->name)))
		goto out;
	t.flush = r->flush;
	p.t = &t;
	p.force = (flags & CAIRN_RESTORE_FORCE) != 0;
	if ((rc = target_check_empty(&t, p.force)))
		goto out;
	rc = replay_stream(r, in, &p);
	if (rc)
		rc = target_report(&t, rc, "restore");
	else
		redis_log(r, CAIRN_LOG_INFO, "%s: restored %" PRIu64 " keys from the dump", r->name,
		          t.written);
out:
	dump_count_free(&p.count);
	target_free(&t);
	redisFree(c);
	return rc;
}

/* --------------------------------------------------------- RDB file */

static int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy the rest of in to fd; the bytes counted into *bytes. */
static int
copy_in(struct redis *r, struct cairn_in *in, int fd, const char *path, unsigned char *buf,
        size_t size, uint64_t *bytes)
{
	for (;;) {
		ssize_t n = in->read(in, buf, size);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		if (r->host->cancelled(r->ctx))
			return CAIRN_E_CANCELLED;
		if (write_all(fd, buf, (size_t)n)) {
			redis_error(r, "%s: cannot write %s: %s", r->name, path, strerror(errno));
			return CAIRN_E_IO;
		}
		*bytes += (uint64_t)n;
	}
}

static int
restore_rdb_file(struct redis *r, struct cairn_in *in, unsigned flags)
{
	const char *path = r->rdb_path;
	int force = (flags & CAIRN_RESTORE_FORCE) != 0;
	char *dir = NULL, *tmp = NULL, *d;
	unsigned char *buf = NULL;
	uint64_t bytes = 0;
	int fd = -1, dfd = -1, rc;
	struct stat st;

	if (!force && lstat(path, &st) == 0) {
		redis_error(r,
		            "%s exists; restore with --force to replace it, or set rdb_path to "
		            "a new file",
		            path);
		return CAIRN_E_EXISTS;
	}
	if (!(d = strdup(path)) || asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0 ||
	    !(dir = strdup(dirname(d))) || !(buf = malloc(RESP_BUFSIZE))) {
		free(d);
		if (tmp)
			free(tmp);
		free(dir);
		return CAIRN_E_NOMEM;
	}
	free(d);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		redis_error(r, "cannot open the directory of rdb_path %s: %s; create it first",
		            path, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		redis_error(r, "cannot create %s: %s; check rdb_path", tmp, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	/* The data of the whole server: for its owner only, like Redis's. */
	if (fchmod(fd, 0600)) {
		redis_error(r, "cannot set the mode of %s: %s", tmp, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	rc = copy_in(r, in, fd, tmp, buf, RESP_BUFSIZE, &bytes);
	if (rc)
		goto out;
	if (fsync(fd)) {
		redis_error(r, "cannot write %s: fsync: %s", tmp, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	close(fd);
	fd = -1;
	if (force) {
		rc = rename(tmp, path);
	} else {
		rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
		if (rc && (errno == EINVAL || errno == ENOSYS)) {
			/* A file system without it: link() never replaces. */
			rc = link(tmp, path);
			if (!rc)
				unlink(tmp);
		}
	}
	if (rc) {
		int e = errno;
		if (e == EEXIST) {
			redis_error(r,
			            "%s appeared while it was written; restore with --force to "
			            "replace it, or set rdb_path to a new file",
			            path);
			rc = CAIRN_E_EXISTS;
		} else {
			redis_error(r, "cannot rename %s to %s: %s", tmp, path, strerror(e));
			rc = CAIRN_E_IO;
		}
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (fsync(dfd) && errno != EINVAL) {
		redis_error(r, "cannot sync the directory of %s: %s", path, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	redis_log(r, CAIRN_LOG_INFO,
	          "wrote the RDB (%" PRIu64 " bytes) to %s; start redis-server on it", bytes, path);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dir);
	free(buf);
	return rc;
}

/* ------------------------------------------------ RDB into scratch */

struct rdb_copy {
	struct redis *r;
	struct cairn_in *in;
	int fd;
	const char *path;
	int cancelled;
};

/* The walker's fill: what it consumed goes to the scratch file. */
static int
rdb_copy_fill(struct rdb_walk *w)
{
	struct rdb_copy *cp = w->arg;
	ssize_t n;

	if (w->len && write_all(cp->fd, w->buf, w->len)) {
		redis_error(cp->r, "%s: cannot write %s: %s", cp->r->name, cp->path,
		            strerror(errno));
		return CAIRN_E_IO;
	}
	w->pos = w->len = 0;
	if (cp->r->host->cancelled(cp->r->ctx))
		return CAIRN_E_CANCELLED;
	n = cp->in->read(cp->in, w->buf, w->bufsize);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0;
	w->len = (size_t)n;
	return 1;
}

/*
 * Write the stored RDB to the scratch directory while walking it, so that
 * its keys per database are known (*counted = 1) for restore_test.  A type
 * the walker does not know (a newer Redis, a module) leaves the rest to the
 * scratch server (*counted = 0).
 */
static int
rdb_to_scratch(struct redis *r, struct cairn_in *in, struct scratch *s, struct rdb_walk *w,
               int *counted)
{
	struct rdb_copy cp = {r, in, -1, s->rdb, 0};
	uint64_t bytes = 0;
	int rc;

	*counted = 0;
	cp.fd = open(s->rdb, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (cp.fd < 0) {
		redis_error(r, "%s: cannot create %s: %s", r->name, s->rdb, strerror(errno));
		return CAIRN_E_IO;
	}
	memset(w, 0, sizeof(*w));
	w->bufsize = RESP_BUFSIZE;
	w->buf = malloc(w->bufsize);
	if (!w->buf) {
		close(cp.fd);
		return CAIRN_E_NOMEM;
	}
	w->fill = rdb_copy_fill;
	w->arg = &cp;
	rdb_walk_init(w);
	rc = rdb_walk(w);
	if (rc == 0) {
		unsigned char extra;
		ssize_t n;
		*counted = 1;
		if (write_all(cp.fd, w->buf, w->pos)) {
			redis_error(r, "%s: cannot write %s: %s", r->name, s->rdb, strerror(errno));
			rc = CAIRN_E_IO;
		} else if (w->pos < w->len || (n = in->read(in, &extra, 1)) > 0) {
			redis_error(r,
			            "the stored RDB has bytes after its end (at byte %" PRIu64
			            "); it is damaged",
			            rdb_walk_offset(w));
			rc = CAIRN_E_CORRUPT;
		} else if (n < 0) {
			rc = (int)n;
		}
	} else if (rc == CAIRN_E_UNSUPPORTED) {
		redis_log(r, CAIRN_LOG_INFO,
		          "the RDB holds what cairn cannot count (%s); the scratch server loads it "
		          "as it is",
		          w->err);
		if (write_all(cp.fd, w->buf, w->len)) {
			redis_error(r, "%s: cannot write %s: %s", r->name, s->rdb, strerror(errno));
			rc = CAIRN_E_IO;
		} else {
			rc = copy_in(r, in, cp.fd, s->rdb, w->buf, w->bufsize, &bytes);
		}
	} else if (rc == CAIRN_E_CORRUPT) {
		redis_error(r, "the stored RDB is damaged: %s", w->err);
	}
	if (rc == 0 && fsync(cp.fd) && errno != EINVAL) {
		/* The scratch server reads it back at once; a failed sync
		 * is a full or failing disk. */
		redis_error(r, "%s: cannot write %s: %s", r->name, s->rdb, strerror(errno));
		rc = CAIRN_E_IO;
	}
	close(cp.fd);
	return rc;
}

/* A socket read for the DUMP replies of the scratch server. */
struct fd_src {
	struct redis *r;
	int fd;
};

static ssize_t
fd_read(void *arg, void *buf, size_t len)
{
	struct fd_src *f = arg;
	for (;;) {
		ssize_t n = read(f->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		redis_error(f->r, "%s: the %s: %s", f->r->name, SCRATCH_NAME,
		            errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within the timeout"
		                                                    : strerror(errno));
		return CAIRN_E_IO;
	}
}

static int
scratch_reply_line(struct redis *r, struct resp_in *rd, char *line, size_t size)
{
	int rc = resp_line(rd, line, size);
	if (rc == 0) {
		redis_error(r, "%s: the %s closed the connection", r->name, SCRATCH_NAME);
		return CAIRN_E_IO;
	}
	if (rc == CAIRN_E_CORRUPT) {
		redis_error(r, "%s: the %s sent something unexpected: %s", r->name, SCRATCH_NAME,
		            rd->err);
		return CAIRN_E_IO;
	}
	return rc < 0 ? rc : 0;
}

/* Copy one SCAN batch of db: PEXPIRETIME and DUMP of each key pipelined to
 * the scratch server, each DUMP reply streamed into a RESTORE to the target.
 * The expiry is absolute (ABSTTL) where the target knows it (Redis 5+): a
 * relative TTL would drift by the time the keys before it take to copy. */
static int
copy_batch(struct redis *r, struct scratch *s, struct resp_in *rd, struct target *t,
           redisReply *keys, uint64_t *vanished)
{
	char line[64];
	int rc, done = 0;

	for (size_t i = 0; i < keys->elements; i++) {
		redisReply *k = keys->element[i];
		if (k->type != REDIS_REPLY_STRING)
			continue;
		if (redisAppendCommand(s->c, "PEXPIRETIME %b", k->str, k->len) != REDIS_OK ||
		    redisAppendCommand(s->c, "DUMP %b", k->str, k->len) != REDIS_OK)
			return CAIRN_E_NOMEM;
	}
	while (!done)
		if (redisBufferWrite(s->c, &done) != REDIS_OK) {
			redis_error(r, "%s: the %s: %s", r->name, SCRATCH_NAME, s->c->errstr);
			return CAIRN_E_IO;
		}

	/* Read every reply even after a failure: the scratch link stays in
	 * step (it is stopped next anyway, but the count stays right). */
	for (size_t i = 0; i < keys->elements; i++) {
		redisReply *k = keys->element[i];
		int64_t ttl;
		uint64_t len;
		if (k->type != REDIS_REPLY_STRING)
			continue;
		if ((rc = scratch_reply_line(r, rd, line, sizeof(line))))
			return rc;
		if (line[0] != ':' || resp_parse_i64(line + 1, &ttl)) {
			redis_error(r, "%s: the %s answered PEXPIRETIME with \"%.40s\"", r->name,
			            SCRATCH_NAME, line);
			return CAIRN_E_IO;
		}
		if ((rc = scratch_reply_line(r, rd, line, sizeof(line))))
			return rc;
		if (!strcmp(line, "$-1")) {
			(*vanished)++; /* expired between SCAN and DUMP */
			continue;
		}
		if (line[0] != '$' || resp_parse_u64(line + 1, RESP_MAX_BULK, &len)) {
			redis_error(r, "%s: the %s answered DUMP with \"%.40s\"", r->name,
			            SCRATCH_NAME, line);
			return CAIRN_E_IO;
		}
		if (ttl == -2) {
			/* gone after PEXPIRETIME said so: DUMP cannot find it either */
			(*vanished)++;
			if ((rc = resp_take(rd, len + 2, NULL, NULL, NULL, 0)))
				return rc;
			continue;
		}
		if (ttl < 0) {
			ttl = 0; /* none */
		} else if (!t->absttl) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			ttl -= (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
			if (ttl < 1)
				ttl = 1; /* expiring now; 0 would mean never */
		}

		/* RESTORE key ttl payload REPLACE [ABSTTL], the payload streamed */
		char ttls[24], head[96];
		int n, abs = t->absttl && ttl > 0;
		struct resp_cmd c = {0};
		snprintf(ttls, sizeof(ttls), "%" PRId64, ttl);
		n = snprintf(head, sizeof(head), "*%d\r\n$7\r\nRESTORE\r\n$%zu\r\n", abs ? 6 : 5,
		             k->len);
		if ((rc = target_out(t, head, (size_t)n)) || (rc = target_out(t, k->str, k->len)))
			return rc;
		n = snprintf(head, sizeof(head), "\r\n$%zu\r\n%s\r\n$%" PRIu64 "\r\n", strlen(ttls),
		             ttls, len);
		if ((rc = target_out(t, head, (size_t)n)))
			return rc;
		if ((rc = resp_take(rd, len, target_out, t, NULL, 0)))
			return rc;
		if ((rc = resp_take(rd, 2, NULL, NULL, NULL, 0)))
			return rc;
		if ((rc = target_out(t, "\r\n$7\r\nREPLACE\r\n", 15)))
			return rc;
		if (abs && (rc = target_out(t, "$6\r\nABSTTL\r\n", 12)))
			return rc;
		c.keylen = k->len;
		c.keykept = k->len < RESP_KEY_HEAD ? k->len : RESP_KEY_HEAD;
		memcpy(c.key, k->str, c.keykept);
		if ((rc = target_sent(t, SENT_RESTORE, &c)))
			return rc;
	}
	if (resp_in_pending(rd)) {
		redis_error(r, "%s: the %s sent more than was asked for", r->name, SCRATCH_NAME);
		return CAIRN_E_IO;
	}
	return 0;
}

/* Copy every key of every database of the scratch server to t. */
static int
copy_scratch(struct redis *r, struct scratch *s, struct target *t, int force,
             const uint64_t *db_keys, size_t ndb, uint64_t *vanished)
{
	struct fd_src src = {r, s->c->fd};
	struct resp_in rd;
	int rc;

	if ((rc = resp_in_init(&rd, fd_read, &src)))
		return rc;
	for (size_t db = 0; db < ndb && !rc; db++) {
		char dbs[24], cursor[32] = "0";
		redisReply *rep;
		if (!db_keys[db])
			continue;
		snprintf(dbs, sizeof(dbs), "%zu", db);
		t->cur_db = (long)db;
		if ((rc = target_cmd(t, "SELECT", dbs)) ||
		    (rc = target_sent(t, SENT_SELECT, NULL)) ||
		    (rc = target_enter(t, (long)db, force)))
			break;
		rep = redis_command(r, s->c, SCRATCH_NAME, 0, &rc, "SELECT %s", dbs);
		if (!rep)
			break;
		freeReplyObject(rep);
		do {
			if (r->host->cancelled(r->ctx)) {
				rc = CAIRN_E_CANCELLED;
				break;
			}
			rep = redis_command(r, s->c, SCRATCH_NAME, 0, &rc, "SCAN %s COUNT %d",
			                    cursor, SCAN_COUNT);
			if (!rep)
				break;
			if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
			    rep->element[0]->type != REDIS_REPLY_STRING ||
			    rep->element[0]->len >= sizeof(cursor) ||
			    rep->element[1]->type != REDIS_REPLY_ARRAY) {
				redis_error(r, "%s: the %s answered SCAN oddly", r->name,
				            SCRATCH_NAME);
				freeReplyObject(rep);
				rc = CAIRN_E_IO;
				break;
			}
			memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
			rc = copy_batch(r, s, &rd, t, rep->element[1], vanished);
			freeReplyObject(rep);
		} while (!rc && strcmp(cursor, "0"));
	}
	if (!rc)
		rc = target_send(t);
	if (!rc)
		rc = target_drain(t);
	resp_in_free(&rd);
	return rc;
}

static uint64_t
sum(const uint64_t *v, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

static int
restore_rdb_scratch(struct redis *r, struct cairn_in *in, unsigned flags)
{
	int force = (flags & CAIRN_RESTORE_FORCE) != 0;
	struct scratch s;
	struct rdb_walk w = {0};
	struct target t = {0};
	redisContext *c = NULL;
	uint64_t *db_keys = NULL, vanished = 0;
	size_t ndb = 0;
	int rc, counted = 0, have_target = 0;

	/* A server that is not empty is refused before the RDB is loaded. */
	if ((rc = redis_connect(r, &c)))
		return rc;
	if ((rc = target_init(&t, r, c, r->name)))
		goto out;
	have_target = 1;
	t.flush = r->flush;
	if ((rc = target_check_empty(&t, force)))
		goto out;
	/* It idles while the scratch server loads: connect again after. */
	redisFree(c);
	c = t.c = NULL;

	if ((rc = scratch_init(r, &s)))
		goto out;
	rc = rdb_to_scratch(r, in, &s, &w, &counted);
	if (!rc)
		rc = scratch_start(r, &s, counted ? (long)w.ndb : ALL_DATABASES);
	if (!rc)
		rc = redis_keyspace(r, s.c, SCRATCH_NAME, &db_keys, &ndb);
	if (!rc && (rc = redis_connect(r, &c)) == 0) {
		t.c = c;
		target_probe_version(&t);
		t.total = sum(db_keys, ndb);
		if (!(rc = target_check_empty(&t, force)))
			rc = copy_scratch(r, &s, &t, force, db_keys, ndb, &vanished);
		if (rc)
			rc = target_report(&t, rc, "restore");
	}
	scratch_stop(r, &s);
	scratch_free(&s);
	if (!rc)
		redis_log(r, CAIRN_LOG_INFO,
		          "%s: restored %" PRIu64 " keys from the RDB (of %" PRIu64
		          " loaded; %" PRIu64 " expired before they were copied)",
		          r->name, t.written, sum(db_keys, ndb), vanished);
out:
	if (w.buf) {
		free(w.buf);
		rdb_walk_free(&w);
	}
	free(db_keys);
	if (have_target)
		target_free(&t);
	if (c)
		redisFree(c);
	return rc;
}

/* ------------------------------------------------------ entry points */

static int
unknown_object(struct redis *r, const struct redis_peek *p)
{
	redis_error(r,
	            "the stored object is neither an RDB file nor a cairn dump stream (it starts "
	            "with byte 0x%02x); it is damaged or not from the redis source",
	            p->head[0]);
	return CAIRN_E_CORRUPT;
}

int
redis_restore(void *inst, struct cairn_in *in, unsigned flags)
{
	struct redis *r = inst;
	struct redis_peek p;
	int kind = redis_peek(r, in, &p);

	if (kind < 0)
		return kind;
	if (kind == REDIS_OBJ_DUMP) {
		if (r->rdb_path) {
			redis_error(r,
			            "rdb_path is set, but the backup is a dump (mode = dump), not "
			            "an RDB; unset rdb_path to replay it into the server");
			return CAIRN_E_CONFIG;
		}
		return restore_dump(r, &p.in, flags);
	}
	if (kind == REDIS_OBJ_RDB)
		return r->rdb_path ? restore_rdb_file(r, &p.in, flags)
		                   : restore_rdb_scratch(r, &p.in, flags);
	return unknown_object(r, &p);
}

/*
 * Compare the keys loaded per database with what the object says:
 * equal, or fewer by at most what may have expired (maybe_gone per
 * database for a dump; `expires` in all for an RDB, whose loader drops
 * keys already expired).
 */
static int
compare_counts(struct redis *r, const char *what, const uint64_t *want, size_t nwant,
               const uint64_t *got, size_t ngot, const uint64_t *maybe_gone, size_t nmaybe,
               uint64_t expires_total)
{
	size_t n = nwant > ngot ? nwant : ngot;
	uint64_t short_total = 0;

	for (size_t db = 0; db < n; db++) {
		uint64_t w = db < nwant ? want[db] : 0, g = db < ngot ? got[db] : 0;
		uint64_t slack = db < nmaybe ? maybe_gone[db] : 0;
		if (g > w || (!expires_total && w - g > slack)) {
			redis_error(r,
			            "restore test: db%zu of the %s holds %" PRIu64
			            " keys, but %" PRIu64
			            " loaded into the %s; the backup is not what it claims: take a "
			            "new one",
			            db, what, w, g, SCRATCH_NAME);
			return CAIRN_E_CORRUPT;
		}
		short_total += w - g;
	}
	if (expires_total && short_total > expires_total) {
		redis_error(r,
		            "restore test: %" PRIu64
		            " keys of the %s did not load into the %s (only "
		            "%" PRIu64 " have a TTL and may have expired); take a new backup",
		            short_total, what, SCRATCH_NAME, expires_total);
		return CAIRN_E_CORRUPT;
	}
	return 0;
}

static int
test_dump(struct redis *r, struct cairn_in *in, struct scratch *s)
{
	struct target t;
	struct replay p = {0};
	uint64_t *db_keys = NULL;
	size_t ndb = 0;
	int rc;

	if ((rc = scratch_start(r, s, ALL_DATABASES)))
		return rc;
	if ((rc = target_init(&t, r, s->c, SCRATCH_NAME)))
		goto out;
	p.t = &t;
	p.force = 1; /* it is empty: nothing to check */
	/* An ABSTTL this close may be past when the server runs it. */
	p.horizon_ms = (int64_t)time(NULL) * 1000 + 60000;
	rc = replay_stream(r, in, &p);
	if (rc) {
		if (t.fail)
			redis_error(r, "restore test: %s; the backup does not load", t.fail);
		goto out;
	}
	/* While the dump was replayed, time went on. */
	if ((int64_t)time(NULL) * 1000 + 1000 > p.horizon_ms)
		redis_log(r, CAIRN_LOG_INFO,
		          "restore test: keys with an ABSTTL within the last "
		          "minute may count as expired");
	if ((rc = redis_keyspace(r, s->c, SCRATCH_NAME, &db_keys, &ndb)))
		goto out;
	rc = compare_counts(r, "dump", p.count.db_keys, p.count.ndb, db_keys, ndb, p.maybe_gone,
	                    p.nmaybe, 0);
	if (!rc)
		redis_log(r, CAIRN_LOG_INFO,
		          "restore test: the dump's %" PRIu64 " keys loaded into a %s and counted",
		          t.written, SCRATCH_NAME);
out:
	free(db_keys);
	free(p.maybe_gone);
	dump_count_free(&p.count);
	target_free(&t);
	return rc;
}

static int
test_rdb(struct redis *r, struct cairn_in *in, struct scratch *s)
{
	struct rdb_walk w = {0};
	uint64_t *db_keys = NULL;
	size_t ndb = 0;
	int rc, counted;

	rc = rdb_to_scratch(r, in, s, &w, &counted);
	if (!rc)
		rc = scratch_start(r, s, counted ? (long)w.ndb : ALL_DATABASES);
	if (!rc)
		rc = redis_keyspace(r, s->c, SCRATCH_NAME, &db_keys, &ndb);
	if (!rc && counted)
		rc = compare_counts(r, "RDB", w.db_keys, w.ndb, db_keys, ndb, NULL, 0, w.expires);
	if (!rc)
		redis_log(r, CAIRN_LOG_INFO,
		          "restore test: %" PRIu64 " keys of the RDB loaded into a %s%s",
		          sum(db_keys, ndb), SCRATCH_NAME,
		          counted ? " and counted" : " (cairn cannot count this RDB's keys)");
	free(db_keys);
	if (w.buf) {
		free(w.buf);
		rdb_walk_free(&w);
	}
	return rc;
}

int
redis_restore_test(void *inst, struct cairn_in *in)
{
	struct redis *r = inst;
	struct redis_peek p;
	struct scratch s;
	int kind = redis_peek(r, in, &p), rc;

	if (kind < 0)
		return kind;
	if (kind != REDIS_OBJ_DUMP && kind != REDIS_OBJ_RDB)
		return unknown_object(r, &p);
	if ((rc = scratch_init(r, &s)))
		return rc;
	rc = kind == REDIS_OBJ_DUMP ? test_dump(r, &p.in, &s) : test_rdb(r, &p.in, &s);
	scratch_stop(r, &s);
	scratch_free(&s);
	return rc;
}

int
redis_verify_dump(struct redis *r, struct cairn_in *in)
{
	struct resp_in rd;
	struct resp_cmd c = {0};
	struct dump_count d;
	int rc;

	if ((rc = resp_in_init_cairn(&rd, in)))
		return rc;
	dump_count_init(&d);
	while ((rc = resp_next(&rd, &c, NULL)) > 0) {
		if ((rc = dump_count_add(&d, &c))) {
			redis_error(r, "dump stream, %s", d.err);
			break;
		}
		if (r->host->cancelled(r->ctx)) {
			rc = CAIRN_E_CANCELLED;
			break;
		}
	}
	if (rc == CAIRN_E_CORRUPT && rd.err[0])
		redis_error(r, "dump stream, %s", rd.err);
	if (rc == 0 && (rc = dump_count_end(&d, &rd)))
		redis_error(r, "dump stream, %s", d.err);
	if (rc == 0)
		redis_log(r, CAIRN_LOG_INFO, "dump stream: %" PRIu64 " keys, complete", d.keys);
	dump_count_free(&d);
	resp_cmd_free(&c);
	resp_in_free(&rd);
	return rc;
}
