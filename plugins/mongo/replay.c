/*
 * replay.c - the replay op (ABI 1.4): restore --at, verify --deep and
 * verify --restore-test of an oplog stored in segments.
 *
 * A segment is oplog entries as BSON documents, concatenated (what
 * bsondump reads).  The replay restores the base as restore() does, then
 * reads the segments in chain order, entry by entry (each into one buffer
 * of at most OPLOG_ENTRY_MAX bytes: memory stays flat), skips those the
 * base holds (ts at or before the base's position; a transaction's
 * entries are kept all the same for a commit that follows), applies the
 * rest through applyops.c until the first entry after the time asked
 * for, and reads the segments to their end all the same, so that every
 * entry is counted ("records") and every segment's SHA-256 is checked.
 * PARSE only reads; TEST replays into databases of its own and holds each
 * collection's count against what the base and the log make.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "oplog.h"
#include "restore.h"

struct rp_walk {
	struct mongo_inst *mi;
	struct cairn_log_replay *rp;
	struct mongo_apply *ap; /* NULL: PARSE */
	uint8_t *buf;           /* one entry */
	long seg;               /* the segment being read, from 1 */
	int64_t entry;          /* its entry being read, from 1 */
	uint64_t off;           /* where that entry starts in the segment */
	int64_t records;        /* read in all */
	uint64_t last_lsn;      /* the entry before */
	uint64_t applied_lsn;   /* the last entry given to the applier */
	int cut;                /* past until_ms */
};

static int
rp_damage(struct rp_walk *w, const char *why)
{
	mongo_err(
	        w->mi,
	        "log segment %ld of the chain, entry %lld (at byte %llu): %s; the log is damaged from there (%lld entries applied before it); check it with cairn verify --deep",
	        w->seg, (long long)w->entry, (unsigned long long)w->off, why,
	        (long long)(w->ap ? mongo_oplog_applied(w->ap) : 0));
	return CAIRN_E_CORRUPT;
}

/* n bytes into buf: how many were read (fewer only at the end), or an
 * error of the core's reader (its detail set). */
static ssize_t
rp_read(struct cairn_in *in, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = in->read(in, buf + got, n - got);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The segment's next entry into w->buf: 1 with *len, 0 at its end (its
 * SHA-256 proved good), or an error. */
static int
rp_next_entry(struct rp_walk *w, struct cairn_in *in, size_t *len)
{
	ssize_t r = rp_read(in, w->buf, 4);
	uint32_t n;

	if (r <= 0)
		return (int)r;
	w->entry++;
	if (r < 4)
		return rp_damage(w, "the segment ends inside the entry's length");
	memcpy(&n, w->buf, 4);
	n = BSON_UINT32_FROM_LE(n);
	if (n < 5)
		return rp_damage(w, "its length is less than 5 bytes");
	if (n > OPLOG_ENTRY_MAX)
		return rp_damage(w, "its length passes 16 MiB and the room an oplog entry takes");
	r = rp_read(in, w->buf + 4, n - 4);
	if (r < 0)
		return (int)r;
	if ((size_t)r < n - 4)
		return rp_damage(w, "the segment ends inside it");
	*len = n;
	return 1;
}

/* One entry: checked, then skipped, noted or applied. */
static int
rp_one(struct rp_walk *w, size_t len)
{
	struct cairn_log_replay *rp = w->rp;
	struct oplog_entry e;
	bson_t doc;
	const char *why = "it is not well-formed BSON";
	uint64_t lsn;

	if (bson_init_static(&doc, w->buf, len))
		why = oplog_parse(&doc, 0, &e);
	if (why)
		return rp_damage(w, why);
	lsn = (uint64_t)e.t << 32 | e.i;
	if (w->last_lsn && lsn <= w->last_lsn)
		return rp_damage(w, "its ts is not after the entry's before it");
	w->last_lsn = lsn;
	if (!w->ap || w->cut)
		return 0;
	if (lsn <= rp->after.lsn)
		return mongo_oplog_note(w->ap, w->buf, len);
	if ((int64_t)e.t * 1000 > rp->until_ms) {
		w->cut = 1;
		return 0;
	}
	w->applied_lsn = lsn;
	return mongo_oplog_apply(w->ap, w->buf, len);
}

static int
rp_cancelled(struct rp_walk *w)
{
	char iso[32];
	uint32_t t = (uint32_t)(w->applied_lsn >> 32);
	oplog_iso(t, iso, sizeof(iso));
	mongo_err(
	        w->mi,
	        "replay stopped by a signal in log segment %ld: %lld entries applied, the last of %s (ts %u:%u)",
	        w->seg, (long long)(w->ap ? mongo_oplog_applied(w->ap) : 0), iso, t,
	        (uint32_t)w->applied_lsn);
	return CAIRN_E_CANCELLED;
}

/* Every segment, every entry. */
static int
rp_walk(struct rp_walk *w)
{
	struct cairn_in *in;
	int rc;

	if (!(w->buf = malloc(OPLOG_ENTRY_MAX))) {
		mongo_err(w->mi, "out of memory");
		return CAIRN_E_NOMEM;
	}
	while ((rc = w->rp->next(w->rp, &in)) == 1) {
		size_t len = 0;
		w->seg++;
		w->entry = 0;
		w->off = 0;
		while ((rc = rp_next_entry(w, in, &len)) == 1) {
			w->records++;
			if ((rc = rp_one(w, len)) < 0)
				return rc;
			w->off += len;
			if ((w->records & 1023) == 0 && mongo_host->cancelled(w->mi->ctx))
				return rp_cancelled(w);
		}
		if (rc < 0)
			return rc;
		if (mongo_host->cancelled(w->mi->ctx))
			return rp_cancelled(w);
	}
	return rc;
}

static void
rp_done(struct rp_walk *w)
{
	mongo_host->stat(w->mi->ctx, "records", w->records);
	if (w->ap)
		mongo_host->stat(w->mi->ctx, "applied", mongo_oplog_applied(w->ap));
	free(w->buf);
	w->buf = NULL;
}

static void
rp_log_end(struct rp_walk *w, const char *what)
{
	char iso[32];
	uint32_t t = (uint32_t)(w->applied_lsn >> 32);
	oplog_iso(t, iso, sizeof(iso));
	mongo_log(
	        w->mi, CAIRN_LOG_INFO,
	        "%s: %lld oplog entries read in %ld segments, %lld applied, the last of %s (ts %u:%u)",
	        what, (long long)w->records, w->seg,
	        (long long)(w->ap ? mongo_oplog_applied(w->ap) : 0), w->applied_lsn ? iso : "-", t,
	        (uint32_t)w->applied_lsn);
}

/* verify --deep: every entry read and checked, nothing written. */
static int
rp_parse(struct rp_walk *w)
{
	int rc = rp_walk(w);
	rp_done(w);
	if (rc == 0)
		mongo_log(w->mi, CAIRN_LOG_INFO,
		          "log: %lld oplog entries in %ld segments, each one well-formed",
		          (long long)w->records, w->seg);
	return rc;
}

/* restore --at: the base as restore() restores it, then the log. */
static int
rp_restore(struct rp_walk *w)
{
	mongoc_client_t *client = NULL;
	int rc = mongo_restore(w->mi, w->rp->base, w->rp->restore_flags);

	if (rc == 0 && (client = mongo_connect(w->mi, 1, &rc)) &&
	    !(w->ap = mongo_oplog_apply_new(w->mi, client)))
		rc = CAIRN_E_NOMEM;
	if (rc == 0 && (rc = rp_walk(w)) == 0)
		rc = mongo_oplog_apply_end(w->ap);
	if (rc == 0)
		rp_log_end(w, "replayed the log");
	rp_done(w);
	mongo_oplog_apply_free(w->ap);
	w->ap = NULL;
	if (client)
		mongoc_client_destroy(client);
	return rc;
}

/* ----------------------------------------------------------------- TEST */

/* The base's databases and collections as the test restore made them:
 * the applier maps each database there and starts each count at the
 * archive's. */
static int
rp_seed(struct rp_walk *w, struct rs *rs)
{
	struct mongo_apply *ap = w->ap;
	for (size_t k = 0; k < rs->pre.nns; k++) {
		struct arc_ns *ns = &rs->pre.ns[k];
		struct rs_ns *st = &rs->st[k];
		struct oplog_count *c;
		bson_t *meta = NULL;
		bson_iter_t it;
		int rc;
		if (!st->selected)
			continue;
		if (st->db_first == k && (rc = oplog_map_add(ap, ns->db, st->tdb)) < 0)
			return rc;
		if (!strcmp(ns->type, "view"))
			continue;
		if (!(c = oplog_count_of(ap, ns->db, ns->coll)))
			return rs_nomem(rs);
		c->base = c->expect = ns->docs;
		c->exists = 1;
		if ((rc = rs_metadata(rs, ns, &meta)) < 0)
			return rc;
		if (bson_iter_init_find(&it, meta, "options") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
		    bson_iter_recurse(&it, &it) && bson_iter_find(&it, "capped") &&
		    bson_iter_as_bool(&it))
			c->uncounted = "capped: inserts may remove old documents";
		bson_destroy(meta);
	}
	return 0;
}

/* One collection after the replay against what the base and log make. */
static int
rp_compare_one(struct rp_walk *w, mongoc_client_t *client, struct oplog_count *c)
{
	const char *tdb = oplog_map_db(w->ap, c->db);
	bson_t filter = BSON_INITIALIZER;
	mongoc_collection_t *coll;
	bson_error_t err;
	int64_t n;

	if (!tdb) {
		bson_destroy(&filter);
		mongo_err(w->mi, "out of memory");
		return CAIRN_E_NOMEM;
	}
	coll = mongoc_client_get_collection(client, tdb, c->coll);
	n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &err);
	bson_destroy(&filter);
	mongoc_collection_destroy(coll);
	if (n < 0) {
		mongo_err(w->mi, "server %s: counting %s.%s failed: %s", w->mi->server, tdb,
		          c->coll, err.message);
		return mongo_code(&err);
	}
	if (n != c->expect) {
		mongo_err(
		        w->mi,
		        "test replay: %s.%s holds %lld documents after the replay, but the base's %lld plus the log's %lld inserts minus its %lld deletes make %lld",
		        c->db, c->coll, (long long)n, (long long)(c->base > 0 ? c->base : 0),
		        (long long)c->inserts, (long long)c->deletes, (long long)c->expect);
		return CAIRN_E_CORRUPT;
	}
	mongo_log(w->mi, CAIRN_LOG_INFO,
	          "test replay: %s.%s: %lld documents, as the base and the log make", c->db,
	          c->coll, (long long)n);
	return 0;
}

static int
rp_compare(struct rp_walk *w, mongoc_client_t *client)
{
	int64_t compared = 0, uncounted = 0;
	for (size_t k = 0; k < w->ap->ncounts; k++) {
		struct oplog_count *c = &w->ap->counts[k];
		int rc;
		if (c->uncounted) {
			mongo_log(w->mi, CAIRN_LOG_INFO, "test replay: %s.%s not compared: %s",
			          c->db, c->coll, c->uncounted);
			uncounted++;
			continue;
		}
		if ((rc = rp_compare_one(w, client, c)) < 0)
			return rc;
		compared++;
	}
	mongo_host->stat(w->mi->ctx, "collections_compared", compared);
	mongo_host->stat(w->mi->ctx, "collections_not_compared", uncounted);
	return 0;
}

/* Drop the databases the log's replay wrote (the base's too). */
static void
rp_test_drop(struct rp_walk *w, mongoc_client_t *client)
{
	for (size_t k = 0; w->ap && client && k < w->ap->nmap; k++) {
		mongoc_database_t *db = mongoc_client_get_database(client, w->ap->map_to[k]);
		bson_error_t err;
		if (!mongoc_database_drop_with_opts(db, NULL, &err))
			mongo_log(
			        w->mi, CAIRN_LOG_WARN,
			        "server %s: cannot drop the test database %s: %s; drop it by hand",
			        w->mi->server, w->ap->map_to[k], err.message);
		mongoc_database_destroy(db);
	}
}

/* verify --restore-test: the base and the whole log into databases of the
 * test's own, counts compared, dropped again whatever happened. */
static int
rp_test(struct rp_walk *w)
{
	struct rs rs;
	int rc = rt_restore(&rs, w->mi, w->rp->base);

	if (rc == 0 && !(w->ap = mongo_oplog_apply_new(w->mi, rs.client)))
		rc = CAIRN_E_NOMEM;
	if (rc == 0) {
		w->ap->prefix = rs.rt;
		w->ap->counting = 1;
		rc = rp_seed(w, &rs);
	}
	if (rc == 0 && (rc = rp_walk(w)) == 0 && (rc = mongo_oplog_apply_end(w->ap)) == 0)
		rc = rp_compare(w, rs.client);
	if (rc == 0)
		rp_log_end(w, "test replay into databases cairn_rt_* (dropped again)");
	rp_done(w);
	rp_test_drop(w, rs.client);
	rt_finish(&rs);
	mongo_oplog_apply_free(w->ap);
	w->ap = NULL;
	rs_free(&rs);
	return rc;
}

int
mongo_replay(void *instance, struct cairn_log_replay *rp)
{
	struct rp_walk w;

	memset(&w, 0, sizeof(w));
	w.mi = instance;
	w.rp = rp;
	if (rp->struct_size < offsetof(struct cairn_log_replay, next) + sizeof(rp->next) ||
	    !rp->next) {
		mongo_err(w.mi, "replay: the core's replay request is too old for this plugin");
		return CAIRN_E_UNSUPPORTED;
	}
	if (rp->flags & CAIRN_REPLAY_PARSE)
		return rp_parse(&w);
	if (!rp->base) {
		mongo_err(w.mi, "replay: no full backup to replay the log onto");
		return CAIRN_E_NOTFOUND;
	}
	if (rp->flags & CAIRN_REPLAY_TEST)
		return rp_test(&w);
	return rp_restore(&w);
}
