/*
 * oplogmap.c - where an oplog entry goes: whether the replay applies it
 * (the backup's databases, system collections, include/exclude), its
 * target namespace (ns_from/ns_to, or a test's databases), and in a
 * test the documents each collection should hold.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "oplog.h"

static int
oplog_nomem(struct mongo_apply *ap)
{
	mongo_err(ap->mi, "out of memory");
	return CAIRN_E_NOMEM;
}

int
oplog_map_add(struct mongo_apply *ap, const char *db, const char *tdb)
{
	char **f = realloc(ap->map_from, (ap->nmap + 1) * sizeof(char *));
	char **t;
	if (f)
		ap->map_from = f;
	t = f ? realloc(ap->map_to, (ap->nmap + 1) * sizeof(char *)) : NULL;
	if (t)
		ap->map_to = t;
	if (!f || !t || !(ap->map_from[ap->nmap] = strdup(db)))
		return oplog_nomem(ap);
	if (!(ap->map_to[ap->nmap] = strdup(tdb))) {
		free(ap->map_from[ap->nmap]);
		return oplog_nomem(ap);
	}
	ap->nmap++;
	return 0;
}

const char *
oplog_map_db(struct mongo_apply *ap, const char *db)
{
	char *to;
	int rc;
	for (size_t k = 0; k < ap->nmap; k++)
		if (!strcmp(ap->map_from[k], db))
			return ap->map_to[k];
	if (asprintf(&to, "%s_%s", ap->prefix, db) < 0)
		return NULL;
	if (strlen(to) > 63) {
		/* as the test restore names a long one: by number */
		free(to);
		if (asprintf(&to, "%s_log%zu", ap->prefix, ap->nmap) < 0)
			return NULL;
	}
	rc = oplog_map_add(ap, db, to);
	free(to);
	return rc == 0 ? ap->map_to[ap->nmap - 1] : NULL;
}

struct oplog_count *
oplog_count_of(struct mongo_apply *ap, const char *db, const char *coll)
{
	struct oplog_count *c;
	for (size_t k = 0; k < ap->ncounts; k++)
		if (!strcmp(ap->counts[k].db, db) && !strcmp(ap->counts[k].coll, coll))
			return &ap->counts[k];
	if (ap->ncounts == ap->capcounts) {
		size_t cap = ap->capcounts ? 2 * ap->capcounts : 16;
		c = realloc(ap->counts, cap * sizeof(*c));
		if (!c)
			return NULL;
		ap->counts = c;
		ap->capcounts = cap;
	}
	c = &ap->counts[ap->ncounts];
	memset(c, 0, sizeof(*c));
	c->base = -1;
	c->db = strdup(db);
	c->coll = strdup(coll);
	if (!c->db || !c->coll) {
		free(c->db);
		free(c->coll);
		return NULL;
	}
	ap->ncounts++;
	return c;
}

/* db and coll of "db.coll" (malloc'd db; coll points into ns). */
int
oplog_split(struct mongo_apply *ap, const char *ns, char **db, const char **coll)
{
	const char *dot = strchr(ns, '.');
	*db = dot ? strndup(ns, (size_t)(dot - ns)) : strdup(ns);
	*coll = dot ? dot + 1 : "";
	return *db ? 0 : oplog_nomem(ap);
}

/* Does the replay apply entries of db (and coll, when not NULL)?  As the
 * backup chose its databases, then system collections and
 * include/exclude. */
int
oplog_selected(struct mongo_apply *ap, const char *db, const char *coll)
{
	struct mongo_inst *mi = ap->mi;
	const char *uri_db = mongoc_uri_get_database(mi->uri);
	int yes = 0;

	if (!strcmp(db, "local") || !strcmp(db, "config") || !*db)
		return 0;
	if (mi->ndatabases) {
		for (size_t k = 0; k < mi->ndatabases && !yes; k++)
			yes = !strcmp(mi->databases[k], db);
	} else if (uri_db)
		yes = !strcmp(uri_db, db);
	else
		yes = strcmp(db, "admin") != 0;
	if (!yes || !coll)
		return yes;
	if (!*coll || (!strncmp(coll, "system.", 7) && strcmp(coll, "system.js") != 0))
		return 0;
	return mongo_selected(mi, db, coll);
}

/* The target "tdb.tcoll" of db.coll (malloc'd): the test's database, or
 * the instance's ns_from/ns_to. */
int
oplog_target(struct mongo_apply *ap, const char *db, const char *coll, char **tns)
{
	if (ap->prefix) {
		const char *tdb = oplog_map_db(ap, db);
		if (!tdb || asprintf(tns, "%s.%s", tdb, coll) < 0)
			return oplog_nomem(ap);
		return 0;
	}
	if (!(*tns = mongo_rename_ns(ap->mi, db, coll)))
		return oplog_nomem(ap);
	if (!strchr(*tns, '.')) {
		mongo_err(ap->mi, "%s.%s: ns_to makes it \"%s\", which has no database part", db,
		          coll, *tns);
		free(*tns);
		*tns = NULL;
		return CAIRN_E_CONFIG;
	}
	return 0;
}

/* The target database of a whole database (dropDatabase): the test's, or
 * the one ns_from/ns_to move all of db to; NULL in *tdb when they split
 * it or include/exclude leave part of it out (the drop entries of its
 * collections, which come before the dropDatabase entry, do the work). */
int
oplog_target_db(struct mongo_apply *ap, const char *db, char **tdb)
{
	char *t;
	size_t n;
	*tdb = NULL;
	if (ap->prefix) {
		const char *m = oplog_map_db(ap, db);
		return m && (*tdb = strdup(m)) ? 0 : oplog_nomem(ap);
	}
	if (ap->mi->ninclude || ap->mi->nexclude)
		return 0;
	/* a name no collection has: where ns_from/ns_to take db's others */
	if (!(t = mongo_rename_ns(ap->mi, db, "\x01")))
		return oplog_nomem(ap);
	n = strlen(t);
	if (n > 2 && !strcmp(t + n - 2, ".\x01")) {
		t[n - 2] = '\0';
		*tdb = t;
	} else
		free(t);
	return 0;
}

/* What an applied CRUD entry does to its collection's expected count. */
void
oplog_count_crud(struct mongo_apply *ap, const struct oplog_bref *b)
{
	struct oplog_count *c;
	if (b->count < 0)
		return;
	c = &ap->counts[b->count];
	if (b->op == 'i') {
		c->inserts++;
		c->expect++;
	} else if (b->op == 'd') {
		c->deletes++;
		c->expect--;
	}
	c->exists = 1;
}

/* Reset a collection's count: dropped (emptied) by the log. */
void
oplog_count_reset(struct oplog_count *c)
{
	c->base = 0;
	c->expect = c->inserts = c->deletes = 0;
	c->exists = 0;
	c->uncounted = NULL;
}

/* What an applied command does to the expected counts (TEST). */
int
oplog_count_cmd(struct mongo_apply *ap, const struct oplog_entry *e, const char *db,
                const char *coll)
{
	struct oplog_count *c;
	bson_iter_t it;
	if (!ap->counting)
		return 0;
	if (!strcmp(e->cmd, "dropDatabase")) {
		for (size_t k = 0; k < ap->ncounts; k++)
			if (!strcmp(ap->counts[k].db, db))
				oplog_count_reset(&ap->counts[k]);
		return 0;
	}
	if (!(c = oplog_count_of(ap, db, coll)))
		return oplog_nomem(ap);
	if (!strcmp(e->cmd, "drop") || !strcmp(e->cmd, "emptycapped")) {
		oplog_count_reset(c);
	} else if (!strcmp(e->cmd, "create")) {
		if (!c->exists)
			oplog_count_reset(c);
		c->exists = 1;
		if (bson_iter_init_find(&it, &e->o, "viewOn"))
			c->uncounted = "a view";
		else if (bson_iter_init_find(&it, &e->o, "capped") && bson_iter_as_bool(&it))
			c->uncounted = "capped: inserts may remove old documents";
	} else if (!strcmp(e->cmd, "convertToCapped")) {
		c->uncounted = "converted to capped";
	}
	return 0;
}

/* renameCollection moved from's count to to's (TEST). */
int
oplog_count_move(struct mongo_apply *ap, const char *fdb, const char *fcoll, const char *tdb,
                 const char *tcoll)
{
	struct oplog_count *f, *t, keep;
	if (!ap->counting)
		return 0;
	if (!(f = oplog_count_of(ap, fdb, fcoll)) || !(t = oplog_count_of(ap, tdb, tcoll)))
		return oplog_nomem(ap);
	f = oplog_count_of(ap, fdb, fcoll); /* t's making may have moved it */
	keep = *f;
	oplog_count_reset(f);
	t->base = keep.base;
	t->expect = keep.expect;
	t->inserts = keep.inserts;
	t->deletes = keep.deletes;
	t->uncounted = keep.uncounted;
	t->exists = 1;
	return 0;
}
