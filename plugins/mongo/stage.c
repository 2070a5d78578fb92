/*
 * stage.c - a restore's temporary collections.
 *
 * Each collection the archive holds is loaded into a temporary collection
 * of its target database, STAGE_PREFIX + 12 random hex digits + '_' + its
 * name (its index in the archive instead when the namespace would pass
 * STAGE_NS_MAX bytes), and built with its indexes there.  Only when every
 * collection is loaded and its count and CRC checked are they renamed
 * into place (renameCollection; dropTarget only where the target was
 * there and the restore replaces it: drop = yes, or an empty one).  Views
 * are created after the renames.  A failure or a signal before the renames
 * drops the temporary collections and leaves the targets as they were; a
 * restore that was killed leaves them behind, and the next restore into
 * the same database removes them (stage_sweep).  Targets that --force
 * adds to (non-empty, drop = no) cannot be staged and are written in
 * place, as is system.js (nothing is renamed into system.*).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <ctype.h>

/* Is name one of ours: STAGE_PREFIX, 12 hex digits, '_'? */
static int
stage_is_tmp(const char *name)
{
	size_t n = strlen(STAGE_PREFIX);
	if (strncmp(name, STAGE_PREFIX, n) != 0)
		return 0;
	for (size_t i = 0; i < 12; i++)
		if (!isxdigit((unsigned char)name[n + i]) || isupper((unsigned char)name[n + i]))
			return 0;
	return name[n + 12] == '_';
}

static int
stage_drop(struct rs *rs, const char *db, const char *coll, bson_error_t *err)
{
	mongoc_collection_t *c = mongoc_client_get_collection(rs->client, db, coll);
	int ok = mongoc_collection_drop_with_opts(c, NULL, err);
	mongoc_collection_destroy(c);
	return ok;
}

/* Remove the temporary collections a killed restore left in one database. */
static int
stage_sweep_db(struct rs *rs, const char *dbname)
{
	mongoc_database_t *db = mongoc_client_get_database(rs->client, dbname);
	bson_t opts = BSON_INITIALIZER;
	char **names = NULL;
	bson_error_t err;
	int rc = 0;

	BSON_APPEND_BOOL(&opts, "nameOnly", true);
	names = mongoc_database_get_collection_names_with_opts(db, &opts, &err);
	bson_destroy(&opts);
	mongoc_database_destroy(db);
	if (!names) {
		mongo_err(rs->mi, "server %s: listCollections for %s failed: %s", rs->mi->server,
		          dbname, err.message);
		return mongo_code(&err);
	}
	for (size_t i = 0; names[i] && rc == 0; i++) {
		if (!stage_is_tmp(names[i]))
			continue;
		if (!stage_drop(rs, dbname, names[i], &err)) {
			mongo_err(
			        rs->mi,
			        "server %s: cannot drop %s.%s, a temporary collection an interrupted restore left: %s",
			        rs->mi->server, dbname, names[i], err.message);
			rc = mongo_code(&err);
		} else
			mongo_log(
			        rs->mi, CAIRN_LOG_WARN,
			        "removed %s.%s, a temporary collection an interrupted restore left",
			        dbname, names[i]);
	}
	bson_strfreev(names);
	return rc;
}

int
stage_sweep(struct rs *rs)
{
	for (size_t k = 0; k < rs->pre.nns; k++) {
		int rc;
		/* each target database once, at its first namespace */
		if (!rs->st[k].selected || rs->st[k].db_first != k)
			continue;
		if ((rc = stage_sweep_db(rs, rs->st[k].tdb)) < 0)
			return rc;
	}
	return 0;
}

/* Which targets are staged, and under which temporary names. */
int
stage_plan(struct rs *rs)
{
	for (size_t k = 0; k < rs->pre.nns; k++) {
		struct rs_ns *st = &rs->st[k];
		int n;
		if (!st->selected)
			continue;
		if (!strcmp(rs->pre.ns[k].type, "view")) {
			st->view = 1;
			continue;
		}
		if (st->exists && !rs->mi->drop && st->count != 0)
			continue; /* --force adds to it: in place */
		if (!strncmp(st->tcoll, "system.", 7))
			continue; /* system.js: mongod renames nothing into system.* */
		n = asprintf(&st->scoll, "%s%s_%s", STAGE_PREFIX, rs->run, st->tcoll);
		if (n >= 0 && strlen(st->tdb) + 1 + (size_t)n > STAGE_NS_MAX) {
			free(st->scoll);
			n = asprintf(&st->scoll, "%s%s_%zu", STAGE_PREFIX, rs->run, k);
		}
		if (n < 0) {
			st->scoll = NULL;
			mongo_err(rs->mi, "out of memory");
			return CAIRN_E_NOMEM;
		}
	}
	return 0;
}

static int
stage_rename(struct rs *rs, struct rs_ns *st)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	char *from = NULL, *to = NULL;
	int ok;

	if (st->exists && st->count < 0 && !stage_drop(rs, st->tdb, st->tcoll, &err)) {
		mongo_err(rs->mi, "server %s: dropping the view %s.%s failed: %s", rs->mi->server,
		          st->tdb, st->tcoll, err.message);
		return mongo_code(&err);
	}
	if (asprintf(&from, "%s.%s", st->tdb, st->scoll) < 0 ||
	    asprintf(&to, "%s.%s", st->tdb, st->tcoll) < 0) {
		free(from);
		mongo_err(rs->mi, "out of memory");
		return CAIRN_E_NOMEM;
	}
	BSON_APPEND_UTF8(&cmd, "renameCollection", from);
	BSON_APPEND_UTF8(&cmd, "to", to);
	BSON_APPEND_BOOL(&cmd, "dropTarget", st->exists && st->count >= 0);
	ok = mongoc_client_write_command_with_opts(rs->client, "admin", &cmd, NULL, &reply, &err);
	bson_destroy(&reply);
	bson_destroy(&cmd);
	if (!ok)
		mongo_err(rs->mi, "server %s: renaming %s into place as %s failed: %s",
		          rs->mi->server, from, to, err.message);
	free(from);
	free(to);
	if (!ok)
		return mongo_code(&err);
	st->renamed = 1;
	return 0;
}

/* Every collection is loaded and checked: rename them into place, then
 * create the views. */
int
stage_commit(struct rs *rs)
{
	int64_t done = 0, all = 0;
	bson_error_t err;
	int rc = 0;

	for (size_t k = 0; k < rs->pre.nns; k++)
		all += rs->st[k].scoll != NULL;
	for (size_t k = 0; k < rs->pre.nns && rc == 0; k++) {
		struct rs_ns *st = &rs->st[k];
		if (!st->scoll)
			continue;
		rs->cur = &rs->pre.ns[k];
		if ((rc = stage_rename(rs, st)) == 0)
			done++;
	}
	if (rc < 0 && done > 0)
		mongo_log(
		        rs->mi, CAIRN_LOG_WARN,
		        "%lld of the %lld restored collections were renamed into place before this failure; the others are as they were",
		        (long long)done, (long long)all);
	for (size_t k = 0; k < rs->pre.nns && rc == 0; k++) {
		struct rs_ns *st = &rs->st[k];
		if (!st->view)
			continue;
		rs->cur = &rs->pre.ns[k];
		if (st->exists && rs->mi->drop && !stage_drop(rs, st->tdb, st->tcoll, &err)) {
			mongo_err(rs->mi, "server %s: dropping %s.%s failed: %s", rs->mi->server,
			          st->tdb, st->tcoll, err.message);
			rc = mongo_code(&err);
		} else if (st->exists && !rs->mi->drop)
			mongo_log(rs->mi, CAIRN_LOG_WARN, "the view %s.%s is there: kept (--force)",
			          st->tdb, st->tcoll);
		else
			rc = rs_create(rs, &rs->pre.ns[k], st->tcoll);
	}
	return rc;
}

/* A failure or a signal: drop the temporary collections, say so. */
void
stage_abort(struct rs *rs, int rc)
{
	int64_t loaded = 0, left = 0, renamed = 0, inplace = 0;
	const struct arc_ns *cur = rs->cur;

	for (size_t k = 0; k < rs->pre.nns; k++) {
		struct rs_ns *st = &rs->st[k];
		bson_error_t err;
		renamed += st->renamed;
		inplace += st->prepared && st->selected && !st->scoll && !st->view;
		if (!st->scoll || !st->created || st->renamed)
			continue;
		if (!stage_drop(rs, st->tdb, st->scoll, &err)) {
			left++;
			mongo_log(
			        rs->mi, CAIRN_LOG_WARN,
			        "server %s: cannot drop the temporary collection %s.%s: %s; the next restore into %s removes it, or drop it by hand",
			        rs->mi->server, st->tdb, st->scoll, err.message, st->tdb);
		}
	}
	loaded = rs->collections;
	if (rc == CAIRN_E_CANCELLED && cur && renamed == 0)
		mongo_err(
		        rs->mi,
		        "stopped while restoring %s.%s (%lld collections loaded before it); nothing was renamed into place: the targets are as they were",
		        cur->db, cur->coll, (long long)loaded);
	else if (rc == CAIRN_E_CANCELLED && cur)
		mongo_err(
		        rs->mi,
		        "stopped while restoring %s.%s; %lld collections were renamed into place, the other targets are as they were",
		        cur->db, cur->coll, (long long)renamed);
	else if (rc == CAIRN_E_CANCELLED)
		mongo_err(
		        rs->mi,
		        "stopped before any collection was restored; the targets are as they were");
	else if (renamed == 0)
		mongo_log(rs->mi, CAIRN_LOG_WARN,
		          "nothing was renamed into place: the targets are as they were%s",
		          left ? "" : " and the temporary collections are removed");
	if (inplace > 0)
		mongo_log(
		        rs->mi, CAIRN_LOG_WARN,
		        "%lld collections were written in place (--force into non-empty targets) and may hold part of the archive",
		        (long long)inplace);
}
