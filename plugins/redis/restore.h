/*
 * restore.h - what the redis source's restore side shares between its
 * files (not installed): the target server being written to (target.c),
 * the dump replay (replay.c), the stored RDB as a file (rdb_file.c), the
 * copy out of a scratch server (copy.c), the scratch redis-server
 * (scratch.c), and the entries redis.c dispatches to (restore.c,
 * restore_test.c, verify.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_RESTORE_H
#define CAIRN_REDIS_RESTORE_H

#include "rdb.h"
#include "redis_internal.h"
#include "resp.h"

#define SCRATCH_NAME "scratch redis-server"
#define ALL_DATABASES 65537 /* a dump may SELECT up to RESP_MAX_DB */

/* ---------------------------------------------------------- target.c */

#define TARGET_WINDOW 512      /* commands in flight to one server */
#define TARGET_OBUF_SIZE 65536 /* bytes gathered before hiredis sends them */

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
	struct sent *ring; /* TARGET_WINDOW entries */
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
	/* record what was written as it is answered: "keys" and "keys.dbN"
	 * (host->stat, the names backup() uses); only for the user's
	 * server, not for a restore test's scratch server */
	int stats;
};

/* CAIRN_E_NOMEM when the buffers cannot be had. */
int target_init(struct target *t, struct redis *r, redisContext *c, const char *name);
/* Safe on a target zeroed or initialised (even when target_init failed). */
void target_free(struct target *t);
/* Hand the gathered bytes to hiredis and send everything it holds. */
int target_send(struct target *t);
/* Bytes of commands for the target, gathered (a target_out() callback). */
int target_out(void *arg, const void *p, size_t n);
/* A small command of our own, as RESP. */
int target_cmd(struct target *t, const char *cmd, const char *arg);
/* Note a command just passed to target_out() (c: the RESTORE's key);
 * read a reply when TARGET_WINDOW are in flight.  Once a command was
 * refused nothing more is sent. */
int target_sent(struct target *t, enum sent_kind kind, const struct resp_cmd *c);
/* Every reply still due; the first failure stays the one reported. */
int target_drain(struct target *t);
/* Before anything is written: refuse a target holding keys (unless
 * force); a server refusing INFO is checked database by database. */
int target_check_empty(struct target *t, int force);
/* The first write into database db: the lazy emptiness check, flush. */
int target_enter(struct target *t, long db, int force);
/* Does the target take RESTORE ... ABSTTL (Redis 5.0 and later)? */
void target_probe_version(struct target *t);
/* The error of a restore that stopped (rc), with what it wrote. */
int target_report(struct target *t, int rc, const char *what);

/* ---------------------------------------------------------- replay.c */

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

/* Replay a whole dump stream into p->t.  The parse error, if any, is
 * set as the error here. */
int replay_stream(struct redis *r, struct cairn_in *in, struct replay *p);

/* -------------------------------------------------------- rdb_file.c */

/* Write the stored RDB to rdb_path: a temporary file, synced, renamed
 * into place (never over an existing file without CAIRN_RESTORE_FORCE). */
int restore_rdb_file(struct redis *r, struct cairn_in *in, unsigned flags);
/*
 * Write the stored RDB to `path` (the scratch server's dump.rdb) while
 * walking it, so that its keys per database are known (*counted = 1).  A
 * type the walker does not know (a newer Redis, a module) leaves the rest
 * to the scratch server (*counted = 0).  w->buf is malloc'd here: free it
 * (and rdb_walk_free(w)) whatever the result.
 */
int rdb_to_file(struct redis *r, struct cairn_in *in, const char *path, struct rdb_walk *w,
                int *counted);

/* --------------------------------------------------------- scratch.c */

/*
 * A redis-server of our own on a unix socket in the instance's scratch
 * directory, with no TCP port, no persistence and nothing of the user's
 * configuration: for loading a stored RDB (dir/dump.rdb, when it is
 * there at start) or replaying a dump where nothing the user keeps can
 * change.  Always stopped with scratch_stop(), whatever happened.
 */
struct scratch {
	pid_t pid; /* 0: not running */
	char *dir;
	char *sock;
	char *log;
	char *rdb; /* dir/dump.rdb */
	redisContext *c;
};

/* Paths only (dir from host->scratch_dir); nothing starts yet. */
int scratch_init(struct redis *r, struct scratch *s);
/*
 * Start it with `databases` databases (at least 16), wait until the socket
 * answers and the dataset is loaded (no LOADING), with r->timeout_ms for
 * the socket to appear and for every reply.  CAIRN_E_IO/CAIRN_E_CORRUPT
 * with the error set (the server's last log line when it exits: a bad
 * RDB).  s->c is then a connection to it.
 */
int scratch_start(struct redis *r, struct scratch *s, long databases);
/* SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL; always reaps the child.
 * Safe to call when not started, and twice. */
void scratch_stop(struct redis *r, struct scratch *s);
void scratch_free(struct scratch *s);

/* ------------------------------------------------------------ copy.c */

/* Copy every key of the databases of the scratch server s that hold keys
 * (db_keys, ndb) into t; keys that expired on the way are counted into
 * *vanished. */
int copy_scratch(struct redis *r, struct scratch *s, struct target *t, int force,
                 const uint64_t *db_keys, size_t ndb, uint64_t *vanished);

/* ------------------------------------- restore.c, restore_test.c, verify.c */

/* Restore into the configured server. */
int restore_dump(struct redis *r, struct cairn_in *in, unsigned flags);
int restore_rdb_scratch(struct redis *r, struct cairn_in *in, unsigned flags);
/* Load into the scratch server s (initialised, not started) and count. */
int restore_test_dump(struct redis *r, struct cairn_in *in, struct scratch *s);
int restore_test_rdb(struct redis *r, struct cairn_in *in, struct scratch *s);
/* verify --deep: walk the object to its end; nothing may follow. */
int redis_verify_rdb(struct redis *r, struct cairn_in *in);
int redis_verify_dump(struct redis *r, struct cairn_in *in);

#endif /* CAIRN_REDIS_RESTORE_H */
