/*
 * follow.c - the mongo source's change log: local.oplog.rs of a
 * replica-set member, tailed with a tailable, awaitData cursor.
 *
 * From a position (an entry's ts; without one, the newest entry) it asks
 * for the entries at and after it: the first one returned must be that
 * entry, or the oplog must still reach back to it, else the oplog rolled
 * over past it (CAIRN_E_LOGLOST), as it is when the server loses the
 * cursor's place while tailing (CappedPositionLost).
 * Each entry of the source's namespaces (oplog.c) goes to out->record()
 * as the bytes the server sent (an applyOps with only its inner entries
 * of the source); every other entry, no-ops included, to out->idle() with
 * its position, so the covered time moves while nothing of the source
 * changes; an empty getMore (about a second of quiet) to out->idle(NULL).
 * One batch is held at a time.
 *
 * A server that goes away, restarts or stops answering is
 * CAIRN_E_RETRYABLE: the core calls follow() again after the last record
 * it got.  The follower's client has its own timeouts (unless the URI
 * sets them), so a server that hangs is found within seconds.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo_internal.h"

/* How long a getMore waits for new entries (the server's maxTimeMS). */
#define FOLLOW_AWAIT_MS 1000
/* The follower's socket and server-selection timeouts, unless the URI
 * sets them: several awaits, far below libmongoc's 5 minutes. */
#define FOLLOW_SOCKET_MS 15000
#define FOLLOW_SELECT_MS 5000

/* Server codes that mean "gone for now": shutdown, not primary, network,
 * the cursor lost with a restart. */
static const int32_t follow_transient[] = {
        6, 7, 43, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 64, 0,
};

int
mongo_follow_code(const bson_error_t *e)
{
	int rc = mongo_code(e);
	if (rc == CAIRN_E_AUTH || rc == CAIRN_E_CORRUPT)
		return rc;
	if (e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_QUERY ||
	    e->domain == MONGOC_ERROR_COMMAND || e->domain == MONGOC_ERROR_WRITE_CONCERN) {
		if (e->code == 136)
			return CAIRN_E_LOGLOST; /* CappedPositionLost */
		for (size_t k = 0; follow_transient[k]; k++)
			if ((int32_t)e->code == follow_transient[k])
				return CAIRN_E_RETRYABLE;
		return CAIRN_E_IO;
	}
	/* the stream, server selection, the protocol, a cursor gone */
	return CAIRN_E_RETRYABLE;
}

const char *
mongo_log_extension(void *instance)
{
	(void)instance;
	return "bson";
}

struct follow {
	struct mongo_inst *mi;
	mongoc_client_t *client;
	struct cairn_log_out *out;
	const struct cairn_log_pos *from;
	uint32_t ft, fi;          /* from's ts */
	int checked;              /* the oplog proved to reach back to from */
	int64_t records;          /* pushed to record() */
	uint32_t lt, li;          /* the last entry seen */
	struct cairn_log_pos now; /* from NULL: the newest entry at the start */
	int stats;                /* host->stat counts per segment (ABI 1.5) */
};

/* The follower's URI: the instance's, with timeouts of its own where the
 * URI sets none. */
static mongoc_uri_t *
follow_uri(struct mongo_inst *mi)
{
	mongoc_uri_t *uri = mongoc_uri_copy(mi->uri);
	if (!uri)
		return NULL;
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, FOLLOW_SOCKET_MS);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
		                               FOLLOW_SELECT_MS);
	return uri;
}

/* A failure of a query on the oplog: the code and the message. */
static int
follow_fail(struct follow *f, const char *what, const bson_error_t *err)
{
	int rc = mongo_follow_code(err);
	if (rc == CAIRN_E_LOGLOST)
		mongo_err(
		        f->mi,
		        "server %s: the oplog rolled over under the follower after %u:%u (%s: %s); the changes since are lost",
		        f->mi->server, f->lt, f->li, what, err->message);
	else
		mongo_err(f->mi, "server %s: %s failed: %s", f->mi->server, what, err->message);
	return rc;
}

/* The oplog holds no entry at or after from yet, or its first one is
 * later than from: does it still reach back to from, and is from not
 * past its newest entry? */
static int
follow_check_from(struct follow *f)
{
	bson_error_t err;
	uint32_t t, i;
	int rc = mongo_oplog_edge(f->mi, f->client, 0, &t, &i, &err);

	if (rc == CAIRN_E_IO)
		return follow_fail(f, "reading the oldest oplog entry", &err);
	if (rc < 0)
		return rc;
	if (t > f->ft || (t == f->ft && i > f->fi)) {
		mongo_err(
		        f->mi,
		        "server %s: the oplog no longer holds position %s (its oldest entry is %u:%u): the changes after it are lost",
		        f->mi->server, f->from->text, t, i);
		return CAIRN_E_LOGLOST;
	}
	rc = mongo_oplog_edge(f->mi, f->client, 1, &t, &i, &err);
	if (rc == CAIRN_E_IO)
		return follow_fail(f, "reading the newest oplog entry", &err);
	if (rc < 0)
		return rc;
	if (t < f->ft || (t == f->ft && i < f->fi)) {
		mongo_err(
		        f->mi,
		        "server %s: the oplog ends at %u:%u, before position %s: this server lost writes (a rollback, a restore) or is another one; the log is followed again from a new full backup",
		        f->mi->server, t, i, f->from->text);
		return CAIRN_E_LOGLOST;
	}
	f->checked = 1;
	return 0;
}

/* ABI 1.5: host->stat counts per log segment: "ops.insert" etc. for an
 * entry; for an applyOps, its inner entries (one level down). */
static void
follow_stat_entry(struct follow *f, const bson_t *entry, int depth)
{
	static const char *const names[][2] = {
	        {"i", "ops.insert"},  {"u", "ops.update"}, {"d", "ops.delete"},
	        {"c", "ops.command"}, {"n", "ops.noop"},
	};
	const char *key = "ops.other", *op = NULL;
	bson_iter_t it;
	bson_t o, arr;
	if (bson_iter_init_find(&it, entry, "op") && BSON_ITER_HOLDS_UTF8(&it))
		op = bson_iter_utf8(&it, NULL);
	if (op && !strcmp(op, "c") && depth == 0 && mongo_bson_sub(entry, "o", 0, &o) &&
	    mongo_bson_sub(&o, "applyOps", 1, &arr)) {
		if (bson_iter_init(&it, &arr))
			while (bson_iter_next(&it)) {
				uint32_t len;
				const uint8_t *data;
				bson_t inner;
				if (!BSON_ITER_HOLDS_DOCUMENT(&it))
					continue;
				bson_iter_document(&it, &len, &data);
				if (bson_init_static(&inner, data, len))
					follow_stat_entry(f, &inner, 1);
			}
		return;
	}
	for (size_t k = 0; op && k < sizeof(names) / sizeof(names[0]); k++)
		if (!strcmp(op, names[k][0]))
			key = names[k][1];
	mongo_host->stat(f->mi->ctx, key, 1);
}

/* One entry of the tail. */
static int
follow_entry(struct follow *f, const bson_t *doc)
{
	struct cairn_log_pos pos;
	bson_t part;
	uint32_t t, i;
	int rc;

	if (!mongo_entry_ts(doc, &t, &i)) {
		mongo_err(f->mi, "server %s: an entry of local.oplog.rs after %u:%u has no ts",
		          f->mi->server, f->lt, f->li);
		return CAIRN_E_CORRUPT;
	}
	if (f->from && !f->checked) {
		if (t == f->ft && i == f->fi) {
			f->checked = 1; /* from itself: the base or last segment has it */
			return 0;
		}
		if ((rc = follow_check_from(f)) < 0)
			return rc;
	}
	f->lt = t;
	f->li = i;
	mongo_ts_pos(t, i, &pos);
	rc = mongo_oplog_scope(f->mi, doc, &part);
	if (rc == MONGO_OPLOG_SKIP)
		return f->out->idle(f->out, &pos);
	if (rc == MONGO_OPLOG_KEEP) {
		f->records++;
		if (f->stats)
			follow_stat_entry(f, doc, 0);
		return f->out->record(f->out, bson_get_data(doc), doc->len, &pos);
	}
	if (rc == MONGO_OPLOG_PART) {
		f->records++;
		if (f->stats)
			follow_stat_entry(f, &part, 0);
		rc = f->out->record(f->out, bson_get_data(&part), part.len, &pos);
		bson_destroy(&part);
		return rc;
	}
	if (rc == CAIRN_E_NOMEM)
		mongo_err(f->mi, "out of memory");
	else
		mongo_err(f->mi,
		          "server %s: the oplog entry %s is not an oplog entry (no op, ns or o)",
		          f->mi->server, pos.text);
	return rc;
}

/* The tailable cursor: ts >= from, to see that from is still there. */
static mongoc_cursor_t *
follow_cursor(struct follow *f, mongoc_collection_t *coll)
{
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, ts;
	mongoc_cursor_t *cur;

	BSON_APPEND_DOCUMENT_BEGIN(&filter, "ts", &ts);
	BSON_APPEND_TIMESTAMP(&ts, "$gte", f->ft, f->fi);
	bson_append_document_end(&filter, &ts);
	BSON_APPEND_BOOL(&opts, "tailable", true);
	BSON_APPEND_BOOL(&opts, "awaitData", true);
	BSON_APPEND_INT64(&opts, "maxAwaitTimeMS", FOLLOW_AWAIT_MS);
	cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	bson_destroy(&filter);
	bson_destroy(&opts);
	return cur;
}

/* The getMore loop, until out says stop or the cursor fails. */
static int
follow_tail(struct follow *f)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(f->client, "local", "oplog.rs");
	mongoc_cursor_t *cur = follow_cursor(f, coll);
	const bson_t *doc;
	bson_error_t err;
	int rc = 0;

	while (rc == 0) {
		while (rc == 0 && mongoc_cursor_next(cur, &doc))
			rc = follow_entry(f, doc);
		if (rc < 0)
			break;
		if (mongoc_cursor_error(cur, &err)) {
			rc = follow_fail(f, "tailing local.oplog.rs", &err);
			break;
		}
		if (!mongoc_cursor_more(cur)) {
			mongo_err(f->mi, "server %s: the server closed the oplog's tailable cursor",
			          f->mi->server);
			rc = CAIRN_E_RETRYABLE;
			break;
		}
		/* nothing at or after from yet: it must still be in reach */
		if (f->from && !f->checked && (rc = follow_check_from(f)) < 0)
			break;
		rc = f->out->idle(f->out, NULL);
	}
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	return rc;
}

/* Connect and check for a replica-set member; from NULL: start at the
 * newest entry, told to out->idle(). */
static int
follow_open(struct follow *f)
{
	mongoc_uri_t *uri = follow_uri(f->mi);
	bson_error_t err;
	int rc, replset = 0;

	if (!uri) {
		mongo_err(f->mi, "out of memory");
		return CAIRN_E_NOMEM;
	}
	f->client = mongo_connect_uri(f->mi, uri, 0, &rc);
	mongoc_uri_destroy(uri);
	if (!f->client)
		return rc == CAIRN_E_IO ? CAIRN_E_RETRYABLE : rc;
	if ((rc = mongo_is_replset(f->mi, f->client, &replset)) < 0)
		return rc == CAIRN_E_IO ? CAIRN_E_RETRYABLE : rc;
	if (!replset) {
		mongo_err(
		        f->mi,
		        "server mongodb://%s: follow needs a replica set member (the server is a standalone mongod, without an oplog); point uri at a replica set, or leave this source out of following",
		        f->mi->server);
		return CAIRN_E_UNSUPPORTED;
	}
	if (f->from)
		return 0;
	rc = mongo_oplog_edge(f->mi, f->client, 1, &f->ft, &f->fi, &err);
	if (rc == CAIRN_E_IO)
		return follow_fail(f, "reading the newest oplog entry", &err);
	if (rc == 0) {
		/* from there on, as from a position: the cursor starts on that
		 * entry, so a rollover before the next one is CappedPositionLost
		 * rather than a silent jump */
		mongo_ts_pos(f->ft, f->fi, &f->now);
		f->from = &f->now;
		f->lt = f->ft;
		f->li = f->fi;
		rc = f->out->idle(f->out, &f->now);
	}
	return rc;
}

int
mongo_follow(void *instance, const struct cairn_log_pos *from, struct cairn_log_out *out)
{
	struct follow f = {.mi = instance, .out = out, .from = from};
	int rc;

	f.stats = mongo_host->abi_major == 1 && mongo_host->abi_minor >= 5;
	if (from) {
		f.ft = (uint32_t)(from->lsn >> 32);
		f.fi = (uint32_t)from->lsn;
		f.lt = f.ft;
		f.li = f.fi;
	}
	if ((rc = follow_open(&f)) == 0) {
		mongo_log(f.mi, CAIRN_LOG_DEBUG, "following local.oplog.rs of %s after %u:%u",
		          f.mi->server, f.ft, f.fi);
		rc = follow_tail(&f);
	}
	if (f.client)
		mongoc_client_destroy(f.client);
	return rc;
}
