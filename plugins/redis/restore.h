/*
 * restore.h - what the redis source's restore side shares between its
 * files (not installed): the dump replay (replay.c), the stored RDB as a
 * file (rdb_file.c), the copy out of a scratch server (copy.c), and the
 * entries redis.c dispatches to (restore.c, restore_test.c, verify.c);
 * below them the target (target.h) and the scratch server (scratch.h).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_RESTORE_H
#define CAIRN_REDIS_RESTORE_H

#include "rdb.h"
#include "redis_internal.h"
#include "resp.h"
#include "scratch.h"
#include "target.h"

#define ALL_DATABASES 65537 /* a dump may SELECT up to RESP_MAX_DB */

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
