/*
 * redis_internal.h - the bottom floor of the redis source (not installed):
 * the instance, the host pointer, the message helpers and the connection
 * to a server (common.c).  Every other file of the plugin builds on this
 * one and on nothing above it.
 *
 * The floors, each depending only on those below it:
 *
 *   redis.c              descriptor, key table, create/destroy, probe and
 *                        the op dispatch (backup, restore, restore test,
 *                        verify)
 *   backup_rdb.c         mode = rdb: the snapshot over replication
 *   backup_dump.c        mode = dump: SCAN + PTTL/DUMP as a RESP stream
 *   restore.c            restore into a server (dump replay, RDB through
 *                        a scratch server)
 *   restore_test.c       restore test: load into a scratch server, count
 *   verify.c             verify --deep of both kinds of object
 *   backup.c             what a backup run writes and records (stats)
 *   repl.c               the replication handshake (REPLCONF, SYNC/PSYNC,
 *                        the snapshot's header, a replica's link state)
 *   copy.c               keys of a scratch server into a target (DUMP to
 *                        RESTORE, streamed)
 *   replay.c             a dump stream replayed into a target
 *   rdb_file.c           a stored RDB written to a file (rdb_path, or the
 *                        scratch server's dump.rdb)
 *   target.c             a server being written to: pipelined commands,
 *                        replies counted, what was written reported
 *   scratch.c            a redis-server of our own
 *   rdb.c, resp.c        the RDB walker, the RESP reader (pure parsers)
 *   common.c             this header: messages, connect/AUTH, commands,
 *                        raw reads past hiredis, INFO keyspace
 *
 * Two kinds of stored object, told apart by their first bytes:
 *  - mode = rdb:  the server's own snapshot, byte for byte as it sent it
 *    over the replication protocol ("REDIS0010..."; the object is a
 *    valid dump.rdb).
 *  - mode = dump: a RESP stream ("*2\r\n$6\r\nSELECT..."), see below, that
 *    `redis-cli --pipe` replays without cairn.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_INTERNAL_H
#define CAIRN_REDIS_INTERNAL_H

#include <cairn/plugin.h>

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
 * Keys (the table is in redis.c):
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

#define RDB_MAX_DB 65536 /* a database number above this is damage, not data */

/* ------------------------------------------------------------ messages */

/* The instance's set_error / log (cairn_verror / cairn_vlog of
 * <cairn/plugin.h>, never cut). */
void redis_error(struct redis *r, const char *fmt, ...) CAIRN_PRINTF(2, 3);
void redis_log(struct redis *r, enum cairn_log_level level, const char *fmt, ...)
        CAIRN_PRINTF(3, 4);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t redis_now_ms(void);

/* Is database `db` one the configuration asks for (`databases =`)? */
int redis_db_wanted(const struct redis *r, long db);

/* ---------------------------------------------------------- connection */

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
 * The same for another server without credentials, e.g. the scratch
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
/* Why hiredis's link c failed, in words, into buf. */
const char *redis_link_error(const redisContext *c, char *buf, size_t len);

/* The value of `field:` in an INFO reply, into dst; 0 if found. */
int redis_info_field(const char *info, const char *field, char *dst, size_t dstsize);
/* The keys per database of an INFO keyspace text into *db_keys (malloc'd,
 * *ndb entries: 1 + the highest database with keys). */
int redis_keyspace_parse(const char *text, uint64_t **db_keys, size_t *ndb);
/* INFO keyspace of c, parsed.  `name` is for messages. */
int redis_keyspace(struct redis *r, redisContext *c, const char *name, uint64_t **db_keys,
                   size_t *ndb);
/* The sum of n counts. */
uint64_t redis_sum(const uint64_t *v, size_t n);

/*
 * The raw side of a connection: after the last hiredis command its buffer
 * is empty, and from then on the fd is read and written here, through a
 * buffer of our own (buf, cap bytes, owned by the caller), so a reply of
 * any size streams.  Every wait is in slices: stop() (when set) is asked
 * between them, and a stop is CAIRN_E_CANCELLED; no data for timeout_ms
 * is CAIRN_E_IO with the error set.
 */
struct rconn {
	struct redis *r;
	int fd;
	unsigned char *buf;
	size_t cap, pos, len;
	uint64_t got; /* bytes read from the socket */
	int (*stop)(void *arg);
	void *stop_arg;
};

/* Wait until fd is readable (or writable).  0, or CAIRN_E_IO /
 * CAIRN_E_CANCELLED. */
int rconn_wait(struct rconn *c, short events, const char *what);
/* Read what is there (at most max bytes) into dst. */
ssize_t rconn_read_some(struct rconn *c, void *dst, size_t max, const char *what);
/* Make at least one more byte available in buf[pos..len). */
int rconn_fill(struct rconn *c, const char *what);
/* One line through "\r\n" into line (NUL-terminated, without it).
 * skip_nl: first skip the bare "\n" a master sends while it prepares. */
int rconn_line(struct rconn *c, char *line, size_t max, int skip_nl, const char *what);
int rconn_write_all(struct rconn *c, const void *buf, size_t len);

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
 * The dump stream (mode = dump), written by backup_dump.c.  Only RESP
 * arrays of bulk strings, each command complete:
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
 * Stats (host->stat):
 *   keys                  keys stored, all databases
 *   keys.db<D>            keys stored from database D (only those with keys)
 *   expires               keys with a TTL among them
 *   rdb_version           mode = rdb: the RDB format version
 *   redis_version         "7.0.15" as major*10000 + minor*100 + patch
 *   used_memory           the server's used_memory (INFO) at the start
 *   bytes                 bytes written
 * restore() into a server records keys and keys.db<D> too, as the keys are
 * written: how many the target holds of the restore, even when it stopped.
 */

#endif /* CAIRN_REDIS_INTERNAL_H */
