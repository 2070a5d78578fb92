/*
 * restore.h - the state of a mongo restore, shared by the ops that read an
 * archive back (restore.c, verify.c, restore_test.c) and the steps under
 * them: plan.c (where each namespace goes), load.c (the blocks into the
 * server), stage.c (temporary collections, renames, views, cleanup), on
 * target.c (the state and the commands to the server).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_MONGO_RESTORE_H
#define CAIRN_MONGO_RESTORE_H

#include "dumparchive.h"
#include "mongo_internal.h"

/* A bulk insert is sent once it holds this many bytes (libmongoc splits
 * it further by the server's maxMessageSizeBytes and maxWriteBatchSize). */
#define RS_BULK_BYTES (8 * 1024 * 1024)

/* Temporary collections: STAGE_PREFIX, 12 hex digits, '_', the target's
 * name (or its index in the archive when db.name would pass 255 bytes). */
#define STAGE_PREFIX "cairn_tmp_"
#define STAGE_NS_MAX 255

struct rs_ns {
	int selected;
	char *tdb, *tcoll;
	char *scoll;      /* the temporary collection written, NULL: tcoll itself */
	int exists;       /* the target was there before */
	int64_t count;    /* its documents then (-1: a view) */
	int view;         /* a view: created after the renames */
	int prepared;     /* dropped/created as asked */
	int created;      /* scoll (or the test database) was created */
	int renamed;      /* scoll is in place */
	int64_t inserted; /* documents the server took */
	size_t db_first;  /* the first selected namespace with the same tdb */
	int db_dropped;   /* on db_first's: the test restore dropped tdb */
};

struct rs {
	struct mongo_inst *mi;
	mongoc_client_t *client;
	struct arc_reader rd;
	struct arc_prelude pre;
	struct rs_ns *st; /* one per pre.ns */
	int force;
	int test;
	char rt[32];              /* the test restore's database prefix */
	char run[13];             /* the temporary collections' 12 hex digits */
	const struct arc_ns *cur; /* the namespace being restored */
	bson_t insert_opts;
	mongoc_collection_t *bulk_coll;
	mongoc_bulk_operation_t *bulk;
	struct arc_ns *bulk_ns;
	size_t bulk_docs, bulk_bytes, max_docs, max_bytes;
	int64_t docs, collections;
	int64_t verified, views; /* the test restore's */
	int want_oplog;          /* the archive's oplog is to be applied */
	FILE *oplog_spool;       /* its entries, held until then */
	int64_t oplog_entries;
};

/* The restore's state of a namespace of the archive. */
static inline struct rs_ns *
rs_st(struct rs *rs, const struct arc_ns *ns)
{
	return &rs->st[ns - rs->pre.ns];
}

/* The collection a namespace's documents go into now. */
static inline const char *
rs_wcoll(const struct rs_ns *st)
{
	return st->scoll ? st->scoll : st->tcoll;
}

/* target.c */
/* Read the archive's prelude from in: 0, or the error set. */
int rs_open(struct rs *rs, struct mongo_inst *mi, struct cairn_in *in);
void rs_free(struct rs *rs);
/* "out of memory" set: CAIRN_E_NOMEM. */
int rs_nomem(struct rs *rs);
/* The metadata of ns as BSON ({} when the archive has none). */
int rs_metadata(struct rs *rs, const struct arc_ns *ns, bson_t **meta);
/* Does st's target exist, and how many documents does it hold (-1: a
 * view)?  options, when not NULL, gets its listCollections options. */
int rs_target_state(struct rs *rs, struct rs_ns *st, int *exists, int64_t *count, bson_t *options);
/* Run cmd in st's target database; what names it in the error. */
int rs_command(struct rs *rs, struct rs_ns *st, const char *what, const bson_t *cmd);
/* Create coll in ns's target database with the archive's options. */
int rs_create(struct rs *rs, struct arc_ns *ns, const char *coll);
/* 12 random hex digits into out (n > 12). */
int rs_random_hex(struct rs *rs, char *out, size_t n);

/* plan.c */
/* The test restore's database prefix, cairn_rt_<12 hex>, into rs->rt. */
int rs_random_prefix(struct rs *rs);
/* Where each selected namespace goes, checked before anything is written. */
int rs_plan(struct rs *rs);
/* Refuse non-empty targets unless --force or drop = yes. */
int rs_check_targets(struct rs *rs);

/* load.c */
/* The server's limits for a bulk insert. */
void rs_limits(struct rs *rs);
/* Walk the archive's blocks into the server. */
int rs_walk(struct rs *rs);

/* stage.c */
int stage_sweep(struct rs *rs);
int stage_plan(struct rs *rs);
int stage_commit(struct rs *rs);
void stage_abort(struct rs *rs, int rc);

/* restore_oplog.c */
/* Is ns the archive's oplog (db "", collection "oplog")? */
int rs_is_oplog(const struct arc_ns *ns);
/* Hold one entry of it until the collections are in place. */
int rs_oplog_spool(struct rs *rs, const uint8_t *doc, uint32_t len);
/* Apply the entries held, in order (mongorestore --oplogReplay). */
int rs_oplog_apply(struct rs *rs);

/* restore_test.c */
/* The test restore of in into databases of its own (rs->rt), checked
 * against the archive; rt_finish drops them, whatever happened. */
int rt_restore(struct rs *rs, struct mongo_inst *mi, struct cairn_in *in);
void rt_finish(struct rs *rs);

#endif
