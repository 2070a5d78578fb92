/*
 * mongo_internal.h - what the mongo source's files share (not installed).
 *
 * Backup (backup.c) reads a MongoDB deployment through libmongoc and writes
 * exactly what `mongodump --archive` writes (dumparchive.h holds the
 * format), so MongoDB's own `mongorestore --archive` restores it without
 * cairn.  Restore, verify --deep and the test restore (restore.c,
 * verify.c, restore_test.c) read the same format back, from cairn or from
 * mongodump.
 *
 * The floors, each file calling only files below it:
 *
 *   mongo.c         the descriptor, the key table, create/destroy, the ops
 *   backup.c  restore.c  verify.c  restore_test.c  probe.c  follow.c  replay.c
 *                   the ops
 *   backup_oplog.c  the oplog of a backup with oplog = yes
 *   plan.c  load.c  stage.c    a restore's steps (restore.h)
 *   target.c        a restore's state and its commands to the server
 *   applyops.c      oplog entries applied (oplog.h), with oplogentry.c
 *   indexes.c       index specs and options, as restored and compared
 *   dumpwrite.c  dumpread.c    the archive format (dumparchive.h)
 *   oplog.c         oplog positions, which entries are the source's, the
 *                   oplog's ends on the server
 *   namespace.c     namespace patterns, renames and names
 *   common.c        the host, log/error helpers, the connection
 *
 * Process-wide state.  libmongoc wants mongoc_init() once per process
 * before anything else and offers mongoc_cleanup() to undo it; both touch
 * process-wide state (OpenSSL, SASL, the counters).  mongo_global_init()
 * calls mongoc_init() once, under pthread_once, and the plugin never calls
 * mongoc_cleanup(): another instance, possibly on another thread, may still
 * be using the library, and libmongoc cannot be initialised again after a
 * cleanup.  Its counters' shared-memory file is removed by libmongoc's own
 * exit handler.  libmongoc's default log handler prints to stderr, which a
 * plugin must never do, so the same pthread_once installs a handler that
 * drops its messages: the handler is process-wide and has no way to know
 * which instance a message belongs to, and everything that matters arrives
 * through bson_error_t, which the plugin turns into its own errors.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_MONGO_INTERNAL_H
#define CAIRN_MONGO_INTERNAL_H

#include <cairn/plugin.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MONGO_VERSION "0.1.0"
/* tool_version in the archive's header */
#define MONGO_TOOL_VERSION "cairn-mongo " MONGO_VERSION

extern const struct cairn_host *mongo_host;

/* A namespace pattern: `db.coll` with `*` matching any run of characters
 * (mongodump's --nsInclude, mongorestore's --nsFrom/--nsTo). */
struct mongo_rename {
	char *from;
	char *to;
};

struct mongo_inst {
	cairn_ctx *ctx;
	char *name;        /* the section's name */
	mongoc_uri_t *uri; /* parsed, with the secret password set */
	char *server;      /* "host:port,..." for messages; never the URI */
	char **databases;  /* NULL: all but admin/local/config, or the URI's */
	size_t ndatabases;
	char **include; /* namespace patterns; none: everything */
	size_t ninclude;
	char **exclude;
	size_t nexclude;
	struct mongo_rename *renames;
	size_t nrenames;
	mongoc_read_mode_t read_mode;
	int64_t batch_size; /* 0: the server's default */
	int drop;           /* restore: drop each collection first */
	int oplog;          /* backup: capture the oplog (oplog = yes) */
};

/* common.c */
void mongo_global_init(void);
/* The host's set_error and log with the instance's ctx. */
void mongo_err(struct mongo_inst *mi, const char *fmt, ...) CAIRN_PRINTF(2, 3);
void mongo_log(struct mongo_inst *mi, enum cairn_log_level level, const char *fmt, ...)
        CAIRN_PRINTF(3, 4);
/* A connected client reading from read_preference (primary: from the
 * primary), or NULL with the error set (CAIRN_E_* in *rc). */
mongoc_client_t *mongo_connect(struct mongo_inst *mi, int primary, int *rc);
/* The same with another URI (the follower's, with its own timeouts). */
mongoc_client_t *mongo_connect_uri(struct mongo_inst *mi, const mongoc_uri_t *uri, int primary,
                                   int *rc);
/* The CAIRN_E_* code for a libmongoc error. */
int mongo_code(const bson_error_t *e);
/* The sub-document (array: the array) under key in b, as a static bson_t
 * over b's bytes: non-zero, or 0 when b has no such key of that type. */
int mongo_bson_sub(const bson_t *b, const char *key, int array, bson_t *out);

/* namespace.c */
/* 1 when pattern (with `*`) matches text in full. */
int mongo_glob(const char *pattern, const char *text);
/* How many `*` s holds. */
size_t mongo_stars(const char *s);
/* Is db.coll selected by include/exclude? */
int mongo_selected(const struct mongo_inst *mi, const char *db, const char *coll);
/* Is db.coll one that mongodump leaves out of every dump (system
 * collections but system.js, admin's but system.keys, names with `$`)? */
int mongo_system_ns(const char *db, const char *coll);
/* The target of db.coll after the renames (malloc'd "db.coll"), or NULL
 * when out of memory. */
char *mongo_rename_ns(const struct mongo_inst *mi, const char *db, const char *coll);
/* NULL if name is a usable database name, else why not. */
const char *mongo_bad_db_name(const char *name);
const char *mongo_bad_coll_name(const char *name);

/* oplog.c */
/* pos for the oplog Timestamp (t, i): lsn t << 32 | i, time t s, "T:I". */
void mongo_ts_pos(uint32_t t, uint32_t i, struct cairn_log_pos *pos);
/* An entry's ts: 1, or 0 when it has none. */
int mongo_entry_ts(const bson_t *entry, uint32_t *t, uint32_t *i);
/* Is db one of the databases backup() reads? */
int mongo_db_in_scope(const struct mongo_inst *mi, const char *db);
/* Is an oplog entry the source's?  MONGO_OPLOG_KEEP (whole),
 * MONGO_OPLOG_SKIP, MONGO_OPLOG_PART (an applyOps of which only some
 * inner entries are: *out, initialised, holds the entry with those
 * only; bson_destroy it), or CAIRN_E_CORRUPT (not an oplog entry),
 * CAIRN_E_NOMEM. */
#define MONGO_OPLOG_SKIP 0
#define MONGO_OPLOG_KEEP 1
#define MONGO_OPLOG_PART 2
int mongo_oplog_scope(const struct mongo_inst *mi, const bson_t *entry, bson_t *out);
/* Is the server a replica-set member (hello has setName)?  0 with *yes
 * set, or the error set. */
int mongo_is_replset(struct mongo_inst *mi, mongoc_client_t *client, int *yes);
/* The ts of the newest (newest != 0) or oldest entry of local.oplog.rs:
 * 0; CAIRN_E_IO with *err set (no message) when the query failed;
 * another code with the message set. */
int mongo_oplog_edge(struct mongo_inst *mi, mongoc_client_t *client, int newest, uint32_t *t,
                     uint32_t *i, bson_error_t *err);

/* follow.c */
const char *mongo_log_extension(void *instance);
int mongo_follow(void *instance, const struct cairn_log_pos *from, struct cairn_log_out *out);
/* The CAIRN_E_* code for a libmongoc error met while following:
 * CAIRN_E_LOGLOST for CappedPositionLost, CAIRN_E_RETRYABLE for a
 * server gone or restarted, CAIRN_E_AUTH, else CAIRN_E_IO. */
int mongo_follow_code(const bson_error_t *e);

/* backup_oplog.c */
/* A backup's log positions and oplog: see backup_oplog.c. */
struct mongo_boplog {
	int replset;
	uint32_t start_t, start_i;
	uint32_t end_t, end_i;
	int64_t entries;
};
/* At the dump's start: is it a replica-set member; if so the newest ts
 * becomes CAIRN_LOG_AT_START.  oplog = yes on a standalone: the error. */
int mongo_boplog_start(struct mongo_inst *mi, mongoc_client_t *client, struct mongo_boplog *b);
/* oplog = yes, once every collection is written: the oplog from the
 * start to now into the archive's oplog namespace (after its prelude
 * entry, written by backup.c), then CAIRN_LOG_AT_END. */
struct arc_writer;
int mongo_boplog_end(struct mongo_inst *mi, mongoc_client_t *client, struct arc_writer *w,
                     struct mongo_boplog *b);

/* backup.c */
int mongo_backup(void *instance, struct cairn_out *out);

/* indexes.c */
/* Append the createIndexes spec for the archive's index spec to spec:
 * without ns and v, with the simple collation when it names none. */
int idx_restore_spec(const bson_t *archived, bson_t *spec);
/* 0 when the restored spec got equals the archive's want as a restore
 * makes it, 1 with *why (malloc'd) saying what differs, -1: no memory. */
int idx_spec_diff(const bson_t *want, const bson_t *got, char **why);
/* The same for a collection's or view's options (listCollections):
 * viewOn, pipeline, collation, validator and its level and action,
 * capped and max (not size, which the server rounds). */
int idx_options_diff(const bson_t *want, const bson_t *got, char **why);
/* Compare tdb.tcoll's indexes with those of the archive's metadata
 * (label names the collection in messages); *nindexes: how many the
 * server lists.  A difference is CAIRN_E_CORRUPT, with the error set. */
int idx_compare(struct mongo_inst *mi, mongoc_client_t *client, const char *tdb, const char *tcoll,
                const char *label, const bson_t *meta, int64_t *nindexes);

/* restore.c */
int mongo_restore(void *instance, struct cairn_in *in, unsigned flags);
/* verify.c */
int mongo_verify(void *instance, struct cairn_in *in);
/* restore_test.c */
int mongo_restore_test(void *instance, struct cairn_in *in);

/* applyops.c: oplog entries applied as `mongorestore --oplogReplay`
 * applies them (oplog.h says how), with the instance's include/exclude
 * and ns_from/ns_to.  For the replay of a log (replay.c) and the restore
 * of an archive holding mongodump --oplog's entries. */
struct mongo_apply;
/* An applier writing through client (not owned, kept until free): NULL
 * with the error set when out of memory. */
struct mongo_apply *mongo_oplog_apply_new(struct mongo_inst *mi, mongoc_client_t *client);
/* Apply one entry, len bytes of BSON, after those given before (they may
 * wait in a batch until a later call or mongo_oplog_apply_end).  0, or a
 * refusal with the error set naming the namespace, the entry's time and
 * how many entries were applied before it: CAIRN_E_CORRUPT for an entry
 * that is not one the replay can apply, the server's code (CAIRN_E_IO...)
 * for one the server refused. */
int mongo_oplog_apply(struct mongo_apply *ap, const uint8_t *entry, size_t len);
/* An entry the target holds already (the base's position is at or after
 * it): nothing is applied, but a transaction's entries are kept for a
 * commit that comes later. */
int mongo_oplog_note(struct mongo_apply *ap, const uint8_t *entry, size_t len);
/* Apply what waits in the batch: 0 or as mongo_oplog_apply. */
int mongo_oplog_apply_end(struct mongo_apply *ap);
/* Entries applied so far (a nested applyOps' and a transaction's entries
 * each count). */
int64_t mongo_oplog_applied(const struct mongo_apply *ap);
void mongo_oplog_apply_free(struct mongo_apply *ap);

/* replay.c */
int mongo_replay(void *instance, struct cairn_log_replay *rp);

/* probe.c */
int mongo_probe(void *instance, char *summary, size_t len);

#endif
