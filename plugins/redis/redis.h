/*
 * redis.h - what the redis source's modules share (not installed).
 *
 * Two kinds of stored object, told apart by their first bytes:
 *  - mode = rdb:  the server's own snapshot, byte for byte as it sent it
 *    over the replication protocol ("REDIS0010..."; the object is a
 *    valid dump.rdb).  backup.c reads it, rdb.c walks it.
 *  - mode = dump: a RESP stream ("*2\r\n$6\r\nSELECT..."), see below, that
 *    `redis-cli --pipe` replays without cairn.
 *
 * Who writes what (two engineers work on this plugin):
 *  - redis.c   keys, create/destroy, redis_connect(), verify dispatch (R1)
 *  - backup.c  both backup modes (R1)
 *  - rdb.c     the RDB walker, CRC-64 (R1)
 *  - restore.c redis_restore(), redis_restore_test(), redis_verify_dump(),
 *              the scratch redis-server, the RESP stream parser (R2)
 *    (R2 to R1: these are split over restore.c, resp.c (the dump-stream
 *    parser), scratch.c (the scratch server) and restore.h (their shared
 *    declarations); plugins_redis_la_SOURCES needs all four.  The unit
 *    test tests/unit/test_redis_resp.c includes resp.c and links only
 *    cmocka, like test_files: UNIT_CPPFLAGS, UNIT_CFLAGS $(HIREDIS_CFLAGS),
 *    LDADD $(CMOCKA_LIBS).  Integration: tests/integration/redis_restore.sh.)
 *
 * Build: redis.c's ops table points at R2's three functions below, so the
 * module links only with restore.c.  R1 adds the Makefile.am block (all
 * four .c files) as soon as plugins/redis/restore.c exists in the tree;
 * R2: define all three functions in it from its first version.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_H
#define CAIRN_REDIS_H

#include <cairn/plugin.h>

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define REDIS_PLUGIN_VERSION "0.1.0"

/* The plugin's host table; set once by cairn_plugin_entry().  It is the
 * core's constant table, not state: every instance uses the same one. */
extern const struct cairn_host *redis_host;

enum redis_mode {
	REDIS_MODE_RDB = 0, /* replication snapshot (default) */
	REDIS_MODE_DUMP = 1 /* SCAN + DUMP/PTTL as a RESP stream */
};

/* One instance: the parsed configuration.  Everything here is owned by the
 * instance (copied in create(), freed in destroy()).
 *
 * Keys (the table is in redis.c; R2: the restore keys are there already):
 *   host, port         TCP server (default 127.0.0.1:6379)
 *   unix_socket        a unix socket path; wins over host/port when set
 *   username           ACL user (Redis 6+); unset = legacy AUTH password
 *   password           secret (also password_file / password_env)
 *   timeout            connect and per-read/-write timeout, seconds
 *   databases          list of database numbers; unset = every one
 *   match              SCAN MATCH glob (mode = dump only); unset = "*"
 *   mode               rdb | dump
 *   flush              restore: empty each target database first
 *   rdb_path           restore: write the RDB file here instead
 *   redis_server       the redis-server binary for scratch servers
 */
struct redis {
	cairn_ctx *ctx;
	const struct cairn_host *host; /* == redis_host */
	char *hostname;                /* never NULL */
	int port;
	char *unix_socket; /* NULL: TCP */
	char *username;    /* NULL: AUTH password only */
	char *password;    /* NULL: no AUTH; never logged or in an error */
	int timeout_ms;
	int *databases; /* ndatabases numbers, sorted, unique; 0 = all */
	size_t ndatabases;
	char *match; /* NULL: every key */
	enum redis_mode mode;
	int flush;          /* restore */
	char *rdb_path;     /* restore; NULL: restore into the server */
	char *redis_server; /* path or name of redis-server (PATH lookup) */
	/* "redis 127.0.0.1:6379" or "redis /run/redis.sock": every message
	 * about the configured server starts with this. */
	char *name;
};

/* set_error / log with vasprintf, never cut. */
void redis_error(struct redis *r, const char *fmt, ...) CAIRN_PRINTF(2, 3);
void redis_log(struct redis *r, enum cairn_log_level level, const char *fmt, ...)
        CAIRN_PRINTF(3, 4);

/* Is database `db` one the configuration asks for (`databases =`)? */
int redis_db_wanted(const struct redis *r, long db);

/*
 * Connect to the configured server (unix_socket, or host:port), within
 * timeout_ms, with a descriptor that is close-on-exec, set the read/write
 * timeout to timeout_ms, and authenticate: AUTH username password when
 * username is set, AUTH password when only password is, nothing when
 * neither.  On success *out is a ready hiredis context (free it with
 * redisFree).  On failure: CAIRN_E_IO (cannot reach, timeout), CAIRN_E_AUTH
 * (credentials refused) or CAIRN_E_NOMEM, with the error set to one line
 * that starts with r->name and never contains the password.
 */
int redis_connect(struct redis *r, redisContext **out);
/*
 * The same for another server without credentials, e.g. R2's scratch
 * server: unix socket `path` (or, when path is NULL, host:port).  `name` is
 * what messages call it ("scratch redis-server"): "NAME: cannot ...".
 */
int redis_connect_to(struct redis *r, const char *name, const char *path, const char *host,
                     int port, redisContext **out);
/*
 * Run one command (redisCommand format) and check its reply: NULL with the
 * error set ("NAME: COMMAND failed: ...") on a link error or, unless
 * allow_error, an error reply.  `name` prefixes messages (r->name for the
 * configured server).  *rc gets the CAIRN_E_* code (CAIRN_E_AUTH for
 * NOAUTH/NOPERM/WRONGPASS replies).  Free the reply with freeReplyObject.
 */
redisReply *redis_command(struct redis *r, redisContext *c, const char *name, int allow_error,
                          int *rc, const char *fmt, ...);

/* ------------------------------------------------------- stored objects */

/* The first bytes of an object tell the kinds apart: "REDIS" = RDB, '*' =
 * dump stream.  REDIS_OBJ_UNKNOWN for anything else. */
enum redis_obj {
	REDIS_OBJ_UNKNOWN = 0,
	REDIS_OBJ_RDB,
	REDIS_OBJ_DUMP
};

/*
 * A cairn_in that gives back bytes already read from another one first:
 * redis_peek() reads up to 5 bytes of `inner` (fewer only at its end),
 * says which kind of object it is, and makes `p->in` a stream that
 * yields those bytes and then the rest of `inner`.  Use &p->in afterwards
 * as if it were `inner`.  Returns the kind, or a negative CAIRN_E_* code
 * when reading failed (in->read's code; an empty object is
 * CAIRN_E_CORRUPT with the error set).
 */
struct redis_peek {
	struct cairn_in in;
	struct cairn_in *inner;
	unsigned char head[8];
	size_t hlen, hpos;
};
int redis_peek(struct redis *r, struct cairn_in *inner, struct redis_peek *p);

/*
 * The dump stream (mode = dump), written by backup.c.  Only RESP arrays of
 * bulk strings, each command complete:
 *
 *   SELECT <db>                      before the first key of each database,
 *                                    databases in ascending order
 *   RESTORE <key> <ttl> <payload> REPLACE [ABSTTL]
 *                                    one per key; ttl 0 = none, otherwise
 *                                    ms: absolute unix-epoch ms when
 *                                    ABSTTL is there (Redis >= 5 source),
 *                                    else relative ms
 *   ECHO "cairn-dump-end keys=<N> db<D>=<n> db<E>=<m> ..."
 *                                    the last command, exactly once: the
 *                                    proof that the stream is complete,
 *                                    with the RESTOREs per database that
 *                                    precede it (only databases with
 *                                    keys; N is their sum)
 *
 * `redis-cli --pipe` replays it as is (ECHO only prints).  The backup also
 * records the same counts as manifest stats (below).
 */
#define REDIS_DUMP_END "cairn-dump-end"

/*
 * Manifest stats (backup only):
 *   keys                  keys stored, all databases
 *   keys.db<D>            keys stored from database D (only those with keys)
 *   expires               keys with a TTL among them
 *   rdb_version           mode = rdb: the RDB format version
 *   redis_version         "7.0.15" as major*10000 + minor*100 + patch
 *   used_memory           the server's used_memory (INFO) at the start
 *   bytes                 bytes written
 */

/* ----------------------------------------------------------- rdb.c */

/*
 * A streaming walker of the RDB format.  It pulls bytes through `fill`,
 * which refills the walker's buffer, and never holds more than that buffer
 * (values of any size are skipped through it), so memory stays flat.
 *
 * The caller owns buf (bufsize bytes).  fill() is called only when every
 * byte in buf[0..len) has been consumed (pos == len); it must put new bytes
 * into buf[0..), set len to their count and pos to 0, and return 1, or
 * return 0 at the end of the input, or a negative CAIRN_E_* code (kept as
 * the walk's result).  Before it overwrites buf, fill() may do what it likes
 * with the consumed bytes buf[0..len) (backup.c writes them to the sink):
 * they are exactly the RDB's bytes in order.  Once rdb_walk() returns 0,
 * buf[0..pos) is the last part of the RDB and buf[pos..len) is what came
 * after it.
 */
#define RDB_MAX_DB 65536 /* a SELECTDB above this is damage, not data */

/* CRC-64 as Redis computes it (crc64.c: Jones polynomial, reflected, init
 * 0, no final xor), eight bytes at a time through these tables. */
struct rdb_crc {
	uint64_t t[8][256];
};
void rdb_crc_init(struct rdb_crc *c);
uint64_t rdb_crc64(const struct rdb_crc *c, uint64_t crc, const void *buf, size_t len);

struct rdb_walk {
	/* set by the caller */
	unsigned char *buf;
	size_t bufsize;
	size_t pos, len;
	int (*fill)(struct rdb_walk *w);
	void *arg; /* for fill() */

	/* results */
	int version;        /* RDB_VERSION from the header */
	uint64_t keys;      /* keys in all databases */
	uint64_t expires;   /* of them with an expiry */
	uint64_t *db_keys;  /* keys per database, ndb entries (malloc) */
	size_t ndb;         /* 1 + the highest database that had keys */
	char redis_ver[32]; /* the aux field redis-ver, "" if none */
	int64_t used_mem;   /* the aux field used-mem, -1 if none */
	int crc_checked;    /* 1: the trailer matched; 0: none (rdbchecksum no) */
	/* set on failure: one line without the object's name, e.g.
	 * "at byte 4711 (key 12 of db 0): value type 99 unknown"; callers
	 * put the server's or object's name in front. */
	char err[256];
	int unknown_type; /* CAIRN_E_UNSUPPORTED: the type or opcode */

	/* private */
	uint64_t base;     /* bytes consumed before buf[0] */
	size_t crc_from;   /* buf[crc_from..pos) is not in crc yet */
	uint64_t crc;      /* of everything consumed before buf[crc_from] */
	long cur_db;       /* -1 before the first SELECTDB */
	uint64_t db_alloc; /* entries allocated in db_keys */
	struct rdb_crc tab;
};

/* Set up w (buf, bufsize, fill, arg must be set first; pos = len = 0). */
void rdb_walk_init(struct rdb_walk *w);
/*
 * Walk a whole RDB: magic, version, every opcode and value to EOF, and the
 * CRC-64 trailer (RDB version >= 5).  0 on success; CAIRN_E_CORRUPT with
 * w->err set when the bytes are not a valid RDB (cut short included: the
 * input ended inside it); CAIRN_E_UNSUPPORTED with w->err and
 * w->unknown_type set for a value type or opcode this walker does not know
 * (a newer Redis); CAIRN_E_NOMEM; or fill()'s own negative code.
 */
int rdb_walk(struct rdb_walk *w);
/* Bytes of the RDB consumed so far. */
static inline uint64_t
rdb_walk_offset(const struct rdb_walk *w)
{
	return w->base + w->pos;
}
void rdb_walk_free(struct rdb_walk *w);

/* verify --deep of an RDB object: walk it to the end; nothing may follow. */
int redis_verify_rdb(struct redis *r, struct cairn_in *in);

/* ---------------------------------------------------------- backup.c */

int redis_backup(void *inst, struct cairn_out *out);

/* --------------------------------------------------- restore.c (R2) */

int redis_restore(void *inst, struct cairn_in *in, unsigned flags);
int redis_restore_test(void *inst, struct cairn_in *in);
/* verify --deep of a dump stream: parses to the end (ECHO trailer). */
int redis_verify_dump(struct redis *r, struct cairn_in *in);

#endif /* CAIRN_REDIS_H */
