/*
 * oplogentry.c - an oplog entry read from its bytes: its fields checked
 * (the form verify --deep holds every entry of a log to), the command it
 * carries, its time for messages.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "oplog.h"

#include <time.h>

/* Commands of `c` entries that mongorestore knows (oplog.go), with the
 * transactions' commitTransaction and abortTransaction. */
static const char *const oplog_commands[] = {
        "renameCollection",
        "dropDatabase",
        "applyOps",
        "dbCheck",
        "create",
        "convertToCapped",
        "emptycapped",
        "drop",
        "createIndexes",
        "deleteIndex",
        "deleteIndexes",
        "dropIndex",
        "dropIndexes",
        "collMod",
        "startIndexBuild",
        "abortIndexBuild",
        "commitIndexBuild",
        "commitTransaction",
        "abortTransaction",
        "setMultikeyMetadata",
        NULL,
};

/* The server rebuilds what these did (or they did nothing to data). */
static const char *const oplog_ignored[] = {
        "startIndexBuild", "abortIndexBuild", "setMultikeyMetadata", "dbCheck", NULL,
};

/* Operations an oplog holds: i, u, d, c, n, and those of replicated
 * record ids, which mongorestore skips as it skips n. */
static const char *const oplog_ops[] = {"i", "u", "d", "c", "n", "cd", "ci", "cu", "km", NULL};

static int
oplog_in(const char *const *set, const char *s)
{
	for (size_t k = 0; set[k]; k++)
		if (!strcmp(set[k], s))
			return 1;
	return 0;
}

int
oplog_known_command(const char *cmd)
{
	return oplog_in(oplog_commands, cmd);
}

int
oplog_ignored_command(const char *cmd)
{
	return oplog_in(oplog_ignored, cmd);
}

void
oplog_iso(uint32_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "%u", t);
}

const char *
oplog_cmd_coll(const struct oplog_entry *e)
{
	bson_iter_t it;
	if (!bson_iter_init(&it, &e->o) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_UTF8(&it))
		return NULL;
	return bson_iter_utf8(&it, NULL);
}

/* o's fields that make a `c` entry part of a transaction. */
static void
oplog_txn_fields(struct oplog_entry *e)
{
	bson_iter_t it;
	int real = 0;
	if (!bson_iter_init(&it, &e->o))
		return;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (!strcmp(k, "applyOps") || !strcmp(k, "commitTransaction") ||
		    !strcmp(k, "abortTransaction"))
			real = 1;
		else if (!strcmp(k, "partialTxn"))
			e->partial = 1;
		else if (!strcmp(k, "prepare"))
			e->prepare = 1;
	}
	e->txn = real;
}

/* One field of the entry into e; NULL or why it is wrong. */
static const char *
oplog_field(bson_iter_t *it, struct oplog_entry *e, int *has_o)
{
	const char *k = bson_iter_key(it);
	uint32_t len;
	const uint8_t *data;

	if (!strcmp(k, "op")) {
		if (!BSON_ITER_HOLDS_UTF8(it))
			return "its op is not a string";
		e->op = bson_iter_utf8(it, NULL);
	} else if (!strcmp(k, "ns")) {
		if (!BSON_ITER_HOLDS_UTF8(it))
			return "its ns is not a string";
		e->ns = bson_iter_utf8(it, NULL);
	} else if (!strcmp(k, "ts")) {
		if (!BSON_ITER_HOLDS_TIMESTAMP(it))
			return "its ts is not a Timestamp";
		bson_iter_timestamp(it, &e->t, &e->i);
		e->has_ts = 1;
	} else if (!strcmp(k, "o") || !strcmp(k, "o2")) {
		if (!BSON_ITER_HOLDS_DOCUMENT(it))
			return k[1] ? "its o2 is not a document" : "its o is not a document";
		bson_iter_document(it, &len, &data);
		if (!bson_init_static(k[1] ? &e->o2 : &e->o, data, len))
			return "its o or o2 is not BSON";
		if (k[1])
			e->has_o2 = 1;
		else
			*has_o = 1;
	} else if (!strcmp(k, "lsid") && BSON_ITER_HOLDS_DOCUMENT(it)) {
		bson_iter_document(it, &e->lsid_len, &e->lsid);
	} else if (!strcmp(k, "txnNumber") && BSON_ITER_HOLDS_INT(it)) {
		e->txn_number = bson_iter_as_int64(it);
		e->txn |= 2; /* has a txnNumber: settled below */
	}
	return NULL;
}

const char *
oplog_parse(const bson_t *doc, int nested, struct oplog_entry *e)
{
	bson_iter_t it;
	size_t off = 0;
	int has_o = 0, has_txn;
	const char *why;

	memset(e, 0, sizeof(*e));
	if (!bson_validate(doc, BSON_VALIDATE_NONE, &off) || !bson_iter_init(&it, doc))
		return "it is not well-formed BSON";
	while (bson_iter_next(&it))
		if ((why = oplog_field(&it, e, &has_o)))
			return why;
	has_txn = (e->txn & 2) && e->lsid;
	e->txn = 0;
	if (!e->op)
		return "it has no op";
	if (!oplog_in(oplog_ops, e->op))
		return "its op is none of i, u, d, c, n";
	if (!e->ns)
		return "it has no ns";
	if (!nested && !e->has_ts)
		return "it has no ts";
	if (!has_o)
		return "it has no o";
	if (!strcmp(e->op, "c")) {
		bson_iter_t c;
		if (!bson_iter_init(&c, &e->o) || !bson_iter_next(&c))
			return "its o names no command";
		e->cmd = bson_iter_key(&c);
		if (has_txn)
			oplog_txn_fields(e);
	}
	if ((!strcmp(e->op, "u")) && !e->has_o2)
		return "it is an update without o2";
	return NULL;
}
