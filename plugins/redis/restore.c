/*
 * restore.c - the redis source's restore into a server.
 *
 * The source has no CAIRN_SOURCE_STAGED_RESTORE: the core proves the
 * whole stored object good (size, SHA-256) before restore() sees a byte,
 * so restore() writes into the target as it reads.  What can still go
 * wrong is the target: it refuses a write (a replica, an ACL user that
 * may only read, min-replicas-to-write) or the link breaks; target.c
 * counts every reply and says what was written.
 *
 *  - A dump (RESP) replays into the target as it is read (replay.c).
 *  - An RDB goes into a scratch redis-server (scratch.c) that loads it,
 *    from which every key is copied into the target (copy.c).  (To a
 *    file, rdb_path, it is rdb_file.c's.)
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <inttypes.h>
#include <stdlib.h>

int
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
	t.stats = 1;
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

int
restore_rdb_scratch(struct redis *r, struct cairn_in *in, unsigned flags)
{
	int force = (flags & CAIRN_RESTORE_FORCE) != 0;
	struct scratch s;
	struct rdb_walk w = {0};
	struct target t = {0};
	redisContext *c = NULL;
	uint64_t *db_keys = NULL, vanished = 0;
	size_t ndb = 0;
	int rc, counted = 0;

	/* A server that is not empty is refused before the RDB is loaded. */
	if ((rc = redis_connect(r, &c)))
		return rc;
	if ((rc = target_init(&t, r, c, r->name)))
		goto out;
	t.flush = r->flush;
	t.stats = 1;
	if ((rc = target_check_empty(&t, force)))
		goto out;
	/* It idles while the scratch server loads: connect again after. */
	redisFree(c);
	c = t.c = NULL;

	if ((rc = scratch_init(r, &s)))
		goto out;
	rc = rdb_to_file(r, in, s.rdb, &w, &counted);
	if (!rc)
		rc = scratch_start(r, &s, counted ? (long)w.ndb : ALL_DATABASES);
	if (!rc)
		rc = redis_keyspace(r, s.c, SCRATCH_NAME, &db_keys, &ndb);
	if (!rc && (rc = redis_connect(r, &c)) == 0) {
		t.c = c;
		target_probe_version(&t);
		t.total = redis_sum(db_keys, ndb);
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
		          r->name, t.written, redis_sum(db_keys, ndb), vanished);
out:
	if (w.buf) {
		free(w.buf);
		rdb_walk_free(&w);
	}
	free(db_keys);
	target_free(&t); /* t is zeroed or initialised: safe either way */
	if (c)
		redisFree(c);
	return rc;
}
