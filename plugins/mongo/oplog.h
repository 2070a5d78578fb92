/*
 * oplog.h - oplog entries read (oplogentry.c) and applied (applyops.c),
 * shared by the replay of a log (replay.c) and, through the functions
 * mongo_internal.h declares, by the restore of an archive that holds
 * mongodump --oplog's entries.
 *
 * An entry is applied as mongorestore --oplogReplay applies it
 * (mongo-tools mongorestore/oplog.go): no-ops and the commands the
 * replication system rebuilds itself (startIndexBuild, abortIndexBuild,
 * setMultikeyMetadata, dbCheck) are skipped, as are the local and config
 * databases and system collections; the collection UUIDs (`ui`) are left
 * out, since the restored collections have new ones; createIndexes and
 * commitIndexBuild become createIndexes commands; a nested applyOps is
 * unwound, each of its entries handled as one of the log; a transaction's
 * entries (lsid, txnNumber) are applied at its commit, in order, and
 * dropped at its abort.  Unlike today's mongorestore, which sends one
 * entry per applyOps, the CRUD entries go in batches of at most
 * OPLOG_BATCH_BYTES (the 8 MiB of mongorestore 3.6-4.0) and
 * OPLOG_BATCH_OPS entries; a command goes alone, so that the entries
 * before it are applied when it runs.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_MONGO_OPLOG_H
#define CAIRN_MONGO_OPLOG_H

#include "mongo_internal.h"

/* An entry holds a document of up to 16 MiB and the oplog's fields. */
#define OPLOG_ENTRY_MAX (16 * 1024 * 1024 + 16 * 1024)
#define OPLOG_BATCH_BYTES (8 * 1024 * 1024)
#define OPLOG_BATCH_OPS 1000
/* What a replay keeps of transactions not committed yet. */
#define OPLOG_TXN_MAX (256 * 1024 * 1024)
/* applyOps nested deeper than this is damage. */
#define OPLOG_DEPTH_MAX 8

/* One entry's fields, read from its bytes (nothing copied). */
struct oplog_entry {
	const char *op; /* "i", "u", "d", "c", "n", ... */
	const char *ns;
	uint32_t t, i; /* ts: seconds, increment (0 in a nested entry) */
	int has_ts;
	bson_t o, o2; /* static over the entry's bytes */
	int has_o2;
	const char *cmd; /* op "c": the first key of o */
	/* transactions: lsid's bytes and txnNumber */
	const uint8_t *lsid;
	uint32_t lsid_len;
	int64_t txn_number;
	int txn;     /* lsid, txnNumber, op "c" and a transaction's command */
	int partial; /* o has partialTxn */
	int prepare; /* o has prepare */
};

/* oplogentry.c */
/* Read an entry of the log (nested 0: ts required) or of an applyOps
 * array (nested 1).  NULL, or why it is no oplog entry (static text). */
const char *oplog_parse(const bson_t *doc, int nested, struct oplog_entry *e);
/* "2026-12-07T14:00:00Z" for seconds t. */
void oplog_iso(uint32_t t, char *out, size_t len);
/* Is cmd a command mongorestore knows (and replays or skips)? */
int oplog_known_command(const char *cmd);
/* Is cmd one the replay skips (the server rebuilds what it did)? */
int oplog_ignored_command(const char *cmd);
/* The collection name a command entry acts on (o's first value), or
 * NULL when it names none. */
const char *oplog_cmd_coll(const struct oplog_entry *e);

/* A collection's documents as the test expects them (TEST). */
struct oplog_count {
	char *db, *coll;
	int64_t base;   /* documents the base restored (-1: none) */
	int64_t expect; /* base + inserts - deletes so far */
	int64_t inserts, deletes;
	int exists;
	const char *uncounted; /* why the count cannot be known, or NULL */
};

/* A transaction whose entries wait for its commit. */
struct oplog_txn {
	uint8_t *lsid;
	uint32_t lsid_len;
	int64_t txn_number;
	uint8_t **entries; /* copies of its applyOps entries */
	size_t nentries, cap;
	size_t bytes;
};

/* One entry of the batch: where its messages and counts come from. */
struct oplog_bref {
	uint32_t t, i;
	char op;
	char *ns;   /* the source namespace */
	long count; /* its index in counts (TEST), -1: none */
};

/* Sends cmd to db; 1 with reply set, 0 with err and reply set (the
 * tests replace it). */
typedef int (*oplog_send_fn)(struct mongo_apply *ap, const char *db, const bson_t *cmd,
                             bson_t *reply, bson_error_t *err);

struct mongo_apply {
	struct mongo_inst *mi;
	mongoc_client_t *client;
	oplog_send_fn send;
	/* TEST: every database goes to one of the test's (map); NULL: the
	 * instance's ns_from/ns_to */
	const char *prefix;
	char **map_from, **map_to;
	size_t nmap;
	int counting;
	struct oplog_count *counts;
	size_t ncounts, capcounts;
	/* the batch: documents "0", "1", ... */
	bson_t batch;
	size_t nbatch, batch_bytes;
	struct oplog_bref bref[OPLOG_BATCH_OPS];
	struct oplog_txn *txns;
	size_t ntxns, txn_bytes;
	int64_t applied, skipped;
	uint32_t last_t, last_i; /* the last entry given */
};

/* applyops.c: the test's databases and counts */
/* The test database of db (made on first use), or NULL (no memory). */
const char *oplog_map_db(struct mongo_apply *ap, const char *db);
/* Map db to tdb, as the base's test restore did. */
int oplog_map_add(struct mongo_apply *ap, const char *db, const char *tdb);
/* The count of db.coll, made on first use (no base: 0, not there). */
struct oplog_count *oplog_count_of(struct mongo_apply *ap, const char *db, const char *coll);
/* db (malloc'd) and coll (in ns) of "db.coll". */
int oplog_split(struct mongo_apply *ap, const char *ns, char **db, const char **coll);
/* Does the replay apply entries of db (and coll, when not NULL)? */
int oplog_selected(struct mongo_apply *ap, const char *db, const char *coll);
/* The target "tdb.tcoll" of db.coll, malloc'd into *tns. */
int oplog_target(struct mongo_apply *ap, const char *db, const char *coll, char **tns);
/* The one target database of all of db (dropDatabase), or NULL. */
int oplog_target_db(struct mongo_apply *ap, const char *db, char **tdb);
/* What applied entries do to the counts (TEST). */
void oplog_count_crud(struct mongo_apply *ap, const struct oplog_bref *b);
void oplog_count_reset(struct oplog_count *c);
int oplog_count_cmd(struct mongo_apply *ap, const struct oplog_entry *e, const char *db,
                    const char *coll);
int oplog_count_move(struct mongo_apply *ap, const char *fdb, const char *fcoll, const char *tdb,
                     const char *tcoll);

#endif
