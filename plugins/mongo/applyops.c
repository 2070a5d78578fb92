/*
 * applyops.c - oplog entries applied to a server with applyOps, in
 * batches, as mongorestore --oplogReplay applies them (see oplog.h):
 * what is skipped, what is renamed, how transactions and nested
 * applyOps are unwound, and the one line that names an entry the server
 * refused.  In a test (TEST replay) every database goes to one of the
 * test's and the documents each collection should hold are counted.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "oplog.h"

static int ap_entry(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw,
                    uint32_t t, uint32_t i, int depth);

static int
ap_nomem(struct mongo_apply *ap)
{
	mongo_err(ap->mi, "out of memory");
	return CAIRN_E_NOMEM;
}

static int
ap_send_server(struct mongo_apply *ap, const char *db, const bson_t *cmd, bson_t *reply,
               bson_error_t *err)
{
	return mongoc_client_write_command_with_opts(ap->client, db, cmd, NULL, reply, err) ? 1 : 0;
}

struct mongo_apply *
mongo_oplog_apply_new(struct mongo_inst *mi, mongoc_client_t *client)
{
	struct mongo_apply *ap = calloc(1, sizeof(*ap));
	if (!ap) {
		mongo_err(mi, "out of memory");
		return NULL;
	}
	ap->mi = mi;
	ap->client = client;
	ap->send = ap_send_server;
	bson_init(&ap->batch);
	return ap;
}

static void
ap_txn_free(struct oplog_txn *x)
{
	for (size_t k = 0; k < x->nentries; k++)
		free(x->entries[k]);
	free(x->entries);
	free(x->lsid);
}

void
mongo_oplog_apply_free(struct mongo_apply *ap)
{
	if (!ap)
		return;
	for (size_t k = 0; k < ap->nbatch; k++)
		free(ap->bref[k].ns);
	bson_destroy(&ap->batch);
	for (size_t k = 0; k < ap->nmap; k++) {
		free(ap->map_from[k]);
		free(ap->map_to[k]);
	}
	free(ap->map_from);
	free(ap->map_to);
	for (size_t k = 0; k < ap->ncounts; k++) {
		free(ap->counts[k].db);
		free(ap->counts[k].coll);
	}
	free(ap->counts);
	for (size_t k = 0; k < ap->ntxns; k++)
		ap_txn_free(&ap->txns[k]);
	free(ap->txns);
	free(ap);
}

int64_t
mongo_oplog_applied(const struct mongo_apply *ap)
{
	return ap->applied;
}

/* ------------------------------------------------------------ refusals */

/* Is the server's code one for an entry it cannot read (BadValue,
 * FailedToParse, TypeMismatch, a missing field, a $v: 2 without diff)? */
static int
ap_malformed(const bson_error_t *err)
{
	return err->domain == MONGOC_ERROR_SERVER &&
	       (err->code == 2 || err->code == 9 || err->code == 14 || err->code == 40414 ||
	        err->code == 4772600);
}

static int
ap_refused(struct mongo_apply *ap, const struct oplog_bref *b, const char *why, int rc)
{
	char iso[32];
	oplog_iso(b->t, iso, sizeof(iso));
	mongo_err(
	        ap->mi,
	        "replay: server %s refused the oplog entry (op %c) for %s of %s (ts %u:%u): %s; %lld entries were applied before it, the replay stops there",
	        ap->mi->server, b->op, b->ns, iso, b->t, b->i, why, (long long)ap->applied);
	return rc;
}

/* The index of the entry a failed applyOps stopped at, from its reply's
 * results (true for each applied), or -1 when the reply does not say. */
static long
ap_failed_at(const bson_t *reply)
{
	bson_iter_t it, r;
	long n = 0;
	if (!bson_iter_init_find(&it, reply, "results") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &r))
		return -1;
	while (bson_iter_next(&r) && bson_iter_as_bool(&r))
		n++;
	return n;
}

/* ----------------------------------------------------------- the batch */

static void
ap_batch_clear(struct mongo_apply *ap)
{
	for (size_t k = 0; k < ap->nbatch; k++)
		free(ap->bref[k].ns);
	bson_reinit(&ap->batch);
	ap->nbatch = 0;
	ap->batch_bytes = 0;
}

/* Run {applyOps: ops} on admin: 1 applied, 0 refused (err, reply set). */
static int
ap_run(struct mongo_apply *ap, const bson_t *ops, bson_t *reply, bson_error_t *err)
{
	bson_t cmd = BSON_INITIALIZER;
	int ok;
	BSON_APPEND_ARRAY(&cmd, "applyOps", ops);
	ok = ap->send(ap, "admin", &cmd, reply, err);
	bson_destroy(&cmd);
	return ok;
}

/* The batch failed and its reply does not say where: each entry alone
 * (applying an entry again changes nothing), to name the one refused. */
static int
ap_find_refused(struct mongo_apply *ap, bson_error_t *err)
{
	bson_iter_t it;
	size_t k = 0;
	if (!bson_iter_init(&it, &ap->batch))
		return -1;
	while (bson_iter_next(&it) && k < ap->nbatch) {
		bson_t one = BSON_INITIALIZER, reply, doc;
		uint32_t len;
		const uint8_t *data;
		int ok;
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&doc, data, len))
			BSON_APPEND_DOCUMENT(&one, "0", &doc);
		ok = ap_run(ap, &one, &reply, err);
		bson_destroy(&one);
		bson_destroy(&reply);
		if (!ok)
			return (int)k;
		oplog_count_crud(ap, &ap->bref[k]);
		ap->applied++;
		k++;
	}
	return -1;
}

static int
ap_flush(struct mongo_apply *ap)
{
	bson_t reply;
	bson_error_t err;
	long at;
	int rc;

	if (ap->nbatch == 0)
		return 0;
	if (ap_run(ap, &ap->batch, &reply, &err)) {
		for (size_t k = 0; k < ap->nbatch; k++)
			oplog_count_crud(ap, &ap->bref[k]);
		ap->applied += (int64_t)ap->nbatch;
		bson_destroy(&reply);
		ap_batch_clear(ap);
		return 0;
	}
	at = ap_failed_at(&reply);
	bson_destroy(&reply);
	if (at >= 0 && (size_t)at < ap->nbatch) {
		/* the entries before it stay applied (mongod: unless atomic) */
		for (long k = 0; k < at; k++)
			oplog_count_crud(ap, &ap->bref[k]);
		ap->applied += at;
	} else if ((at = ap_find_refused(ap, &err)) < 0) {
		/* each entry alone was applied: the batch is */
		mongo_log(
		        ap->mi, CAIRN_LOG_INFO,
		        "replay: a batch of %zu oplog entries refused as a whole was applied entry by entry",
		        ap->nbatch);
		ap_batch_clear(ap);
		return 0;
	}
	rc = ap_refused(ap, &ap->bref[at], err.message,
	                ap_malformed(&err) ? CAIRN_E_CORRUPT : mongo_code(&err));
	ap_batch_clear(ap);
	return rc;
}

/* The entry e rewritten for the target into out: ns, without ui and the
 * transaction's fields; a command's o given as cmd_o when not NULL. */
static void
ap_rewrite(const struct oplog_entry *e, const bson_t *raw, const char *tns, const bson_t *cmd_o,
           bson_t *out)
{
	bson_iter_t it;
	bson_iter_init(&it, raw);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (!strcmp(k, "ui") || !strcmp(k, "lsid") || !strcmp(k, "txnNumber") ||
		    !strcmp(k, "stmtId") || !strcmp(k, "prevOpTime"))
			continue;
		if (!strcmp(k, "ns"))
			BSON_APPEND_UTF8(out, "ns", tns);
		else if (!strcmp(k, "o") && cmd_o)
			BSON_APPEND_DOCUMENT(out, "o", cmd_o);
		else
			bson_append_iter(out, k, -1, &it);
	}
	(void)e;
}

/* A CRUD entry (i, u, d) of db.coll into the batch. */
static int
ap_crud(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw, uint32_t t,
        uint32_t i, const char *db, const char *coll)
{
	char *tns = NULL, key[16];
	const char *k;
	bson_t doc = BSON_INITIALIZER;
	struct oplog_bref *b;
	int rc;

	if ((rc = oplog_target(ap, db, coll, &tns)) < 0)
		return rc;
	ap_rewrite(e, raw, tns, NULL, &doc);
	free(tns);
	if (ap->nbatch > 0 &&
	    (ap->nbatch == OPLOG_BATCH_OPS || ap->batch_bytes + doc.len + 16 > OPLOG_BATCH_BYTES) &&
	    (rc = ap_flush(ap)) < 0) {
		bson_destroy(&doc);
		return rc;
	}
	b = &ap->bref[ap->nbatch];
	b->t = t;
	b->i = i;
	b->op = e->op[0];
	b->count = -1;
	if (asprintf(&b->ns, "%s.%s", db, coll) < 0) {
		bson_destroy(&doc);
		return ap_nomem(ap);
	}
	if (ap->counting) {
		struct oplog_count *c = oplog_count_of(ap, db, coll);
		if (!c) {
			free(b->ns);
			bson_destroy(&doc);
			return ap_nomem(ap);
		}
		b->count = c - ap->counts;
	}
	bson_uint32_to_string((uint32_t)ap->nbatch, &k, key, sizeof(key));
	BSON_APPEND_DOCUMENT(&ap->batch, k, &doc);
	ap->batch_bytes += doc.len + 16;
	ap->nbatch++;
	bson_destroy(&doc);
	return 0;
}

/* ------------------------------------------------------------ commands */

/* Run a rewritten command entry alone (the batch applied first). */
static int
ap_run_command(struct mongo_apply *ap, const bson_t *doc, const char *tdb, const bson_t *cmd,
               struct oplog_bref *b)
{
	bson_t one = BSON_INITIALIZER, reply;
	bson_error_t err;
	int ok, rc;

	if ((rc = ap_flush(ap)) < 0)
		return rc;
	if (cmd) {
		ok = ap->send(ap, tdb, cmd, &reply, &err);
	} else {
		BSON_APPEND_DOCUMENT(&one, "0", doc);
		ok = ap_run(ap, &one, &reply, &err);
	}
	bson_destroy(&one);
	bson_destroy(&reply);
	if (!ok)
		return ap_refused(ap, b, err.message,
		                  ap_malformed(&err) ? CAIRN_E_CORRUPT : mongo_code(&err));
	ap->applied++;
	return 0;
}

/* createIndexes and commitIndexBuild: createIndexes commands, as
 * mongorestore builds them (servers since 4.4 do not apply the entries). */
static int
ap_indexes(struct mongo_apply *ap, const struct oplog_entry *e, const char *tns,
           struct oplog_bref *b)
{
	bson_t cmd = BSON_INITIALIZER, arr, spec, list;
	bson_iter_t it;
	const char *dot = strchr(tns, '.');
	char *tdb = strndup(tns, (size_t)(dot - tns));
	int rc, n = 0;

	if (!tdb)
		return ap_nomem(ap);
	BSON_APPEND_UTF8(&cmd, "createIndexes", dot + 1);
	BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
	if (!strcmp(e->cmd, "createIndexes")) {
		BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &spec);
		bson_copy_to_excluding_noinit(&e->o, &spec, "createIndexes", NULL);
		bson_append_document_end(&arr, &spec);
		n = 1;
	} else if (mongo_bson_sub(&e->o, "indexes", 1, &list) && bson_iter_init(&it, &list)) {
		while (bson_iter_next(&it)) {
			char key[16];
			const char *k;
			uint32_t len;
			const uint8_t *data;
			if (!BSON_ITER_HOLDS_DOCUMENT(&it))
				continue;
			bson_iter_document(&it, &len, &data);
			if (!bson_init_static(&spec, data, len))
				continue;
			bson_uint32_to_string((uint32_t)n++, &k, key, sizeof(key));
			BSON_APPEND_DOCUMENT(&arr, k, &spec);
		}
	}
	bson_append_array_end(&cmd, &arr);
	rc = n ? ap_run_command(ap, NULL, tdb, &cmd, b) : 0;
	bson_destroy(&cmd);
	free(tdb);
	return rc;
}

/* The command o for the target: the collection o's first value names
 * becomes tcoll; renameCollection's from and to become theirs, and a
 * UUID as dropTarget (the target's, which the restore does not have)
 * becomes true. */
static void
ap_command_o(const struct oplog_entry *e, const char *tcoll, const char *tfrom, const char *tto,
             bson_t *o)
{
	bson_iter_t it;
	int first = 1;
	bson_iter_init(&it, &e->o);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (first && tfrom)
			BSON_APPEND_UTF8(o, k, tfrom);
		else if (first && tcoll && BSON_ITER_HOLDS_UTF8(&it))
			BSON_APPEND_UTF8(o, k, tcoll);
		else if (tto && !strcmp(k, "to"))
			BSON_APPEND_UTF8(o, k, tto);
		else if (tfrom && !strcmp(k, "dropTarget") && BSON_ITER_HOLDS_BINARY(&it))
			BSON_APPEND_BOOL(o, k, true);
		else
			bson_append_iter(o, k, -1, &it);
		first = 0;
	}
}

/* A command entry rewritten for target database tdb with o, run alone. */
static int
ap_cmd_entry(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw,
             const char *tdb, const bson_t *o, struct oplog_bref *b)
{
	bson_t doc = BSON_INITIALIZER;
	char *tns;
	int rc;
	if (asprintf(&tns, "%s.$cmd", tdb) < 0)
		return ap_nomem(ap);
	if (raw)
		ap_rewrite(e, raw, tns, o, &doc);
	else {
		BSON_APPEND_UTF8(&doc, "op", "c");
		BSON_APPEND_UTF8(&doc, "ns", tns);
		BSON_APPEND_DOCUMENT(&doc, "o", o);
	}
	rc = ap_run_command(ap, &doc, NULL, NULL, b);
	bson_destroy(&doc);
	free(tns);
	return rc;
}

static int
ap_skip(struct mongo_apply *ap)
{
	ap->skipped++;
	return 0;
}

/* Split "db.coll" into a malloc'd db and its target's. */
struct ap_ns {
	char *db;
	const char *coll;
	char *tns;  /* "tdb.tcoll" */
	char *tdb;  /* tns's database, malloc'd */
	int chosen; /* selected by the instance */
};

static void
ap_ns_free(struct ap_ns *n)
{
	free(n->db);
	free(n->tns);
	free(n->tdb);
}

static int
ap_ns_of(struct mongo_apply *ap, const char *ns, struct ap_ns *n)
{
	int rc;
	memset(n, 0, sizeof(*n));
	if ((rc = oplog_split(ap, ns, &n->db, &n->coll)) < 0)
		return rc;
	if (!(n->chosen = oplog_selected(ap, n->db, n->coll)))
		return 0;
	if ((rc = oplog_target(ap, n->db, n->coll, &n->tns)) < 0)
		return rc;
	n->tdb = strndup(n->tns, (size_t)(strchr(n->tns, '.') - n->tns));
	return n->tdb ? 0 : ap_nomem(ap);
}

/* renameCollection: both sides chosen, a rename of the targets; only the
 * source chosen, a drop of its target (it leaves what is restored); only
 * the target chosen, nothing (what it holds comes from outside). */
static int
ap_rename(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw,
          struct oplog_bref *b)
{
	const char *from = oplog_cmd_coll(e), *to = NULL;
	struct ap_ns f, t;
	bson_iter_t it;
	bson_t o = BSON_INITIALIZER;
	int rc;

	if (bson_iter_init_find(&it, &e->o, "to") && BSON_ITER_HOLDS_UTF8(&it))
		to = bson_iter_utf8(&it, NULL);
	if (!from || !to || !strchr(from, '.') || !strchr(to, '.'))
		return ap_refused(ap, b, "renameCollection without from or to namespaces",
		                  CAIRN_E_CORRUPT);
	if ((rc = ap_ns_of(ap, from, &f)) == 0 && (rc = ap_ns_of(ap, to, &t)) == 0) {
		if (f.chosen && t.chosen) {
			ap_command_o(e, NULL, f.tns, t.tns, &o);
			if ((rc = ap_cmd_entry(ap, e, raw, f.tdb, &o, b)) == 0)
				rc = oplog_count_move(ap, f.db, f.coll, t.db, t.coll);
		} else if (f.chosen) {
			BSON_APPEND_UTF8(&o, "drop", strchr(f.tns, '.') + 1);
			if ((rc = ap_cmd_entry(ap, e, NULL, f.tdb, &o, b)) == 0 && ap->counting) {
				struct oplog_count *c = oplog_count_of(ap, f.db, f.coll);
				if (c)
					oplog_count_reset(c);
				else
					rc = ap_nomem(ap);
			}
		} else {
			if (t.chosen)
				mongo_log(
				        ap->mi, CAIRN_LOG_WARN,
				        "replay: %s is renamed to %s, which the restore holds, from a collection it does not: %s is left as it was",
				        from, to, to);
			rc = ap_skip(ap);
		}
	}
	bson_destroy(&o);
	ap_ns_free(&t);
	ap_ns_free(&f);
	return rc;
}

/* dropDatabase: of the database's target, when it has one. */
static int
ap_drop_database(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw,
                 const char *db, struct oplog_bref *b)
{
	char *tdb;
	int rc;
	if (!oplog_selected(ap, db, NULL))
		return ap_skip(ap);
	if ((rc = oplog_target_db(ap, db, &tdb)) < 0)
		return rc;
	if (!tdb) {
		mongo_log(
		        ap->mi, CAIRN_LOG_INFO,
		        "replay: the dropDatabase of %s is not applied (ns_from/ns_to or include/exclude take only part of it); the drops of its collections before it were",
		        db);
		return ap_skip(ap);
	}
	if ((rc = ap_cmd_entry(ap, e, raw, tdb, NULL, b)) == 0)
		rc = oplog_count_cmd(ap, e, db, NULL);
	free(tdb);
	return rc;
}

/* Every entry of an applyOps array, each as an entry of the log. */
static int
ap_nested(struct mongo_apply *ap, const struct oplog_entry *e, uint32_t t, uint32_t i, int depth,
          struct oplog_bref *b)
{
	bson_t arr;
	bson_iter_t it;
	int rc = 0;

	if (depth >= OPLOG_DEPTH_MAX || !mongo_bson_sub(&e->o, "applyOps", 1, &arr) ||
	    !bson_iter_init(&it, &arr))
		return ap_refused(ap, b,
		                  depth >= OPLOG_DEPTH_MAX ? "applyOps nested too deep"
		                                           : "applyOps without an array",
		                  CAIRN_E_CORRUPT);
	while (rc == 0 && bson_iter_next(&it)) {
		struct oplog_entry in;
		const char *why = "an element is not a document";
		bson_t doc;
		uint32_t len;
		const uint8_t *data;
		if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
			bson_iter_document(&it, &len, &data);
			why = bson_init_static(&doc, data, len) ? oplog_parse(&doc, 1, &in)
			                                        : "an element is not BSON";
		}
		if (why)
			return ap_refused(ap, b, why, CAIRN_E_CORRUPT);
		rc = ap_entry(ap, &in, &doc, t, i, depth + 1);
	}
	return rc;
}

/* A `c` entry: applyOps unwound, the others rewritten and run alone. */
static int
ap_command(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw, uint32_t t,
           uint32_t i, int depth)
{
	struct oplog_bref b = {.t = t, .i = i, .op = 'c', .ns = (char *)e->ns, .count = -1};
	struct ap_ns n;
	char *nsname = NULL;
	bson_t o = BSON_INITIALIZER;
	const char *coll;
	int rc;

	if (!strcmp(e->cmd, "applyOps"))
		return ap_nested(ap, e, t, i, depth, &b);
	if (oplog_ignored_command(e->cmd) || !strcmp(e->cmd, "commitTransaction") ||
	    !strcmp(e->cmd, "abortTransaction"))
		return ap_skip(ap);
	if (!oplog_known_command(e->cmd) || !strchr(e->ns, '.'))
		return ap_refused(ap, &b, "an unknown oplog command or namespace", CAIRN_E_CORRUPT);
	if (!strcmp(e->cmd, "renameCollection"))
		return ap_rename(ap, e, raw, &b);
	if (!strcmp(e->cmd, "dropDatabase")) {
		char *db = strndup(e->ns, (size_t)(strchr(e->ns, '.') - e->ns));
		rc = db ? ap_drop_database(ap, e, raw, db, &b) : ap_nomem(ap);
		free(db);
		return rc;
	}
	if (!(coll = oplog_cmd_coll(e)))
		return ap_refused(ap, &b, "the command names no collection", CAIRN_E_CORRUPT);
	{
		char *db = strndup(e->ns, (size_t)(strchr(e->ns, '.') - e->ns));
		if (!db || asprintf(&nsname, "%s.%s", db, coll) < 0)
			nsname = NULL;
		free(db);
	}
	if (!nsname)
		return ap_nomem(ap);
	b.ns = nsname;
	if ((rc = ap_ns_of(ap, nsname, &n)) == 0 && !n.chosen)
		rc = ap_skip(ap);
	else if (rc == 0 &&
	         (!strcmp(e->cmd, "createIndexes") || !strcmp(e->cmd, "commitIndexBuild")))
		rc = ap_indexes(ap, e, n.tns, &b);
	else if (rc == 0) {
		ap_command_o(e, strchr(n.tns, '.') + 1, NULL, NULL, &o);
		if ((rc = ap_cmd_entry(ap, e, raw, n.tdb, &o, &b)) == 0)
			rc = oplog_count_cmd(ap, e, n.db, n.coll);
	}
	bson_destroy(&o);
	ap_ns_free(&n);
	free(nsname);
	return rc;
}

/* ------------------------------------------------------- transactions */

static struct oplog_txn *
ap_txn_find(struct mongo_apply *ap, const struct oplog_entry *e)
{
	for (size_t k = 0; k < ap->ntxns; k++) {
		struct oplog_txn *x = &ap->txns[k];
		if (x->txn_number == e->txn_number && x->lsid_len == e->lsid_len &&
		    !memcmp(x->lsid, e->lsid, e->lsid_len))
			return x;
	}
	return NULL;
}

static void
ap_txn_drop(struct mongo_apply *ap, struct oplog_txn *x)
{
	ap->txn_bytes -= x->bytes;
	ap_txn_free(x);
	*x = ap->txns[--ap->ntxns];
}

/* Keep a copy of a transaction's applyOps entry until its commit. */
static int
ap_txn_keep(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw,
            struct oplog_txn **xp, struct oplog_bref *b)
{
	struct oplog_txn *x = *xp;
	if (ap->txn_bytes + raw->len > OPLOG_TXN_MAX)
		return ap_refused(
		        ap, b,
		        "the transactions waiting for their commit pass 256 MiB, more than a replay keeps",
		        CAIRN_E_UNSUPPORTED);
	if (!x) {
		struct oplog_txn *grown = realloc(ap->txns, (ap->ntxns + 1) * sizeof(*grown));
		if (!grown)
			return ap_nomem(ap);
		ap->txns = grown;
		x = &ap->txns[ap->ntxns];
		memset(x, 0, sizeof(*x));
		if (!(x->lsid = malloc(e->lsid_len ? e->lsid_len : 1)))
			return ap_nomem(ap);
		memcpy(x->lsid, e->lsid, e->lsid_len);
		x->lsid_len = e->lsid_len;
		x->txn_number = e->txn_number;
		ap->ntxns++;
	}
	*xp = x;
	if (x->nentries == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 4;
		uint8_t **g = realloc(x->entries, cap * sizeof(*g));
		if (!g)
			return ap_nomem(ap);
		x->entries = g;
		x->cap = cap;
	}
	if (!(x->entries[x->nentries] = malloc(raw->len)))
		return ap_nomem(ap);
	memcpy(x->entries[x->nentries++], bson_get_data(raw), raw->len);
	x->bytes += raw->len;
	ap->txn_bytes += raw->len;
	return 0;
}

/* A committed transaction: each kept entry's operations, in order. */
static int
ap_txn_commit(struct mongo_apply *ap, struct oplog_txn *x, uint32_t t, uint32_t i, int depth,
              struct oplog_bref *b)
{
	int rc = 0;
	for (size_t k = 0; k < x->nentries && rc == 0; k++) {
		struct oplog_entry pe;
		bson_t doc;
		uint32_t len;
		memcpy(&len, x->entries[k], 4);
		len = BSON_UINT32_FROM_LE(len);
		if (!bson_init_static(&doc, x->entries[k], len) || oplog_parse(&doc, 0, &pe))
			return ap_refused(ap, b, "a kept transaction entry is damaged",
			                  CAIRN_E_CORRUPT);
		rc = ap_nested(ap, &pe, t, i, depth, b);
	}
	return rc;
}

/* A transaction's entry (apply 0: the target holds it already). */
static int
ap_txn(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw, uint32_t t,
       uint32_t i, int depth, int apply)
{
	struct oplog_bref b = {.t = t, .i = i, .op = 'c', .ns = (char *)e->ns, .count = -1};
	struct oplog_txn *x = ap_txn_find(ap, e);
	int rc = 0;

	if (!strcmp(e->cmd, "abortTransaction") ||
	    (!apply && !strcmp(e->cmd, "commitTransaction"))) {
		if (x)
			ap_txn_drop(ap, x);
		return ap_skip(ap);
	}
	if (!strcmp(e->cmd, "commitTransaction")) {
		if (!x)
			return ap_skip(ap); /* its entries came before the log */
		rc = ap_txn_commit(ap, x, t, i, depth, &b);
		ap_txn_drop(ap, x);
		return rc;
	}
	if (!x && !e->partial && !e->prepare)
		/* a transaction in one entry, committed with it */
		return apply ? ap_nested(ap, e, t, i, depth, &b) : ap_skip(ap);
	if ((rc = ap_txn_keep(ap, e, raw, &x, &b)) < 0 || e->partial || e->prepare)
		return rc;
	/* the last entry of a large transaction not prepared: its commit */
	if (apply)
		rc = ap_txn_commit(ap, x, t, i, depth, &b);
	ap_txn_drop(ap, x);
	return rc;
}

/* ---------------------------------------------------------------- entry */

static int
ap_entry(struct mongo_apply *ap, const struct oplog_entry *e, const bson_t *raw, uint32_t t,
         uint32_t i, int depth)
{
	char *db;
	const char *coll;
	int rc;

	if (strlen(e->op) != 1 || e->op[0] == 'n')
		return ap_skip(ap); /* no-ops, replicated record ids' entries */
	if (e->txn)
		return ap_txn(ap, e, raw, t, i, depth, 1);
	if (e->op[0] == 'c')
		return ap_command(ap, e, raw, t, i, depth);
	if ((rc = oplog_split(ap, e->ns, &db, &coll)) < 0)
		return rc;
	rc = oplog_selected(ap, db, coll) ? ap_crud(ap, e, raw, t, i, db, coll) : ap_skip(ap);
	free(db);
	return rc;
}

static int
ap_read(struct mongo_apply *ap, const uint8_t *entry, size_t len, bson_t *doc,
        struct oplog_entry *e)
{
	const char *why = "it is not well-formed BSON";
	if (len <= OPLOG_ENTRY_MAX && bson_init_static(doc, entry, len))
		why = oplog_parse(doc, 0, e);
	if (why) {
		char iso[32];
		oplog_iso(ap->last_t, iso, sizeof(iso));
		mongo_err(
		        ap->mi,
		        "replay: the oplog entry after ts %u:%u (%s) is not one the replay can apply: %s; %lld entries were applied before it",
		        ap->last_t, ap->last_i, iso, why, (long long)ap->applied);
		return CAIRN_E_CORRUPT;
	}
	ap->last_t = e->t;
	ap->last_i = e->i;
	return 0;
}

int
mongo_oplog_apply(struct mongo_apply *ap, const uint8_t *entry, size_t len)
{
	struct oplog_entry e;
	bson_t doc;
	int rc = ap_read(ap, entry, len, &doc, &e);
	return rc < 0 ? rc : ap_entry(ap, &e, &doc, e.t, e.i, 0);
}

int
mongo_oplog_note(struct mongo_apply *ap, const uint8_t *entry, size_t len)
{
	struct oplog_entry e;
	bson_t doc;
	int rc = ap_read(ap, entry, len, &doc, &e);
	if (rc < 0)
		return rc;
	return e.txn ? ap_txn(ap, &e, &doc, e.t, e.i, 0, 0) : ap_skip(ap);
}

int
mongo_oplog_apply_end(struct mongo_apply *ap)
{
	int rc = ap_flush(ap);
	if (rc == 0 && ap->ntxns > 0)
		mongo_log(
		        ap->mi, CAIRN_LOG_INFO,
		        "replay: %zu transactions had not committed by the end of the replay and are left out",
		        ap->ntxns);
	return rc;
}
