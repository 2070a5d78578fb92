/*
 * restore_test.c - the redis source's restore test: the object loaded into a
 * scratch redis-server, and the keys per database compared with the counts
 * the object carries (the RDB walk's, or the dump's end mark).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

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
			redis_error(
			        r,
			        "restore test: db%zu of the %s holds %" PRIu64 " keys, but %" PRIu64
			        " loaded into the %s; the backup is not what it claims: take a new one",
			        db, what, w, g, SCRATCH_NAME);
			return CAIRN_E_CORRUPT;
		}
		short_total += w - g;
	}
	if (expires_total && short_total > expires_total) {
		redis_error(r,
		            "restore test: %" PRIu64
		            " keys of the %s did not load into the %s (only %" PRIu64
		            " have a TTL and may have expired); take a new backup",
		            short_total, what, SCRATCH_NAME, expires_total);
		return CAIRN_E_CORRUPT;
	}
	return 0;
}

int
restore_test_dump(struct redis *r, struct cairn_in *in, struct scratch *s)
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
		redis_log(
		        r, CAIRN_LOG_INFO,
		        "restore test: keys with an ABSTTL within the last minute may count as expired");
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

int
restore_test_rdb(struct redis *r, struct cairn_in *in, struct scratch *s)
{
	struct rdb_walk w = {0};
	uint64_t *db_keys = NULL;
	size_t ndb = 0;
	int rc, counted;

	rc = rdb_to_file(r, in, s->rdb, &w, &counted);
	if (!rc)
		rc = scratch_start(r, s, counted ? (long)w.ndb : ALL_DATABASES);
	if (!rc)
		rc = redis_keyspace(r, s->c, SCRATCH_NAME, &db_keys, &ndb);
	if (!rc && counted)
		rc = compare_counts(r, "RDB", w.db_keys, w.ndb, db_keys, ndb, NULL, 0, w.expires);
	if (!rc)
		redis_log(r, CAIRN_LOG_INFO,
		          "restore test: %" PRIu64 " keys of the RDB loaded into a %s%s",
		          redis_sum(db_keys, ndb), SCRATCH_NAME,
		          counted ? " and counted" : " (cairn cannot count this RDB's keys)");
	free(db_keys);
	if (w.buf) {
		free(w.buf);
		rdb_walk_free(&w);
	}
	return rc;
}
