/*
 * indexes.c - index specs: what a restore asks the server to build from
 * the archive's metadata, and the test restore's check that the server
 * built exactly that.
 *
 * The collation.  mongod's listIndexes (so mongodump's metadata, and
 * cairn's, which is the same) shows no `collation` for an index with the
 * simple collation, even on a collection whose default collation is
 * another; but createIndexes gives an index without a collation the
 * collection's default.  A unique index that told "bob" from "Bob" would
 * come back case-insensitive (and the restore would fail on the duplicate,
 * or uniqueness would silently change).  mongorestore adds
 * {locale: "simple"} to such a spec when the collection has a collation;
 * cairn adds it to every spec without one, which also holds when restoring
 * with --force into an existing collection whose collation the archive
 * does not know.  The server stores an explicit simple collation as no
 * collation, so the index lists exactly as it did.
 *
 * The comparison.  Index by index (by name), every field of the archive's
 * spec must be in the restored one with an equal value, and the restored
 * one may hold nothing else but what the server fills in itself (a text
 * index's language fields, textIndexVersion, 2dsphereIndexVersion).  Not
 * compared: ns (the archive's namespace, not the test's), v (the server's
 * default version; mongorestore leaves it out as cairn does), background
 * and dropDups (build-time hints newer servers drop).  unique, sparse and
 * hidden set to false are the same as absent; numbers compare by value
 * (1 and 1.0 are one key direction); a collation compares with ICU's
 * defaults filled in and without its version.  A collection's options and
 * a view's definition compare the same way, for the fields a restore sets
 * (not size, which the server rounds up).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo_internal.h"

/* Fields not compared, on either side. */
static const char *const idx_ignored[] = {"ns", "v", "background", "dropDups", NULL};
/* Fields the server adds to a spec that lacks them. */
static const char *const idx_server_filled[] = {
        "weights",          "default_language",     "language_override",
        "textIndexVersion", "2dsphereIndexVersion", NULL};
/* Boolean options where false means absent. */
static const char *const idx_flags[] = {"unique", "sparse", "hidden", NULL};

static int
idx_in(const char *const *list, const char *k)
{
	for (; *list; list++)
		if (!strcmp(*list, k))
			return 1;
	return 0;
}

/* Is the iterator's collation the simple one (or not a collation)? */
static int
idx_simple_collation(const bson_iter_t *it)
{
	bson_iter_t c;
	if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c))
		return 1;
	if (!bson_iter_find(&c, "locale") || !BSON_ITER_HOLDS_UTF8(&c))
		return 1;
	return !strcmp(bson_iter_utf8(&c, NULL), "simple");
}

/* Does this field of a spec count, or is it the same as absent? */
static int
idx_counts(const bson_iter_t *it)
{
	const char *k = bson_iter_key(it);
	if (idx_in(idx_ignored, k))
		return 0;
	if (idx_in(idx_flags, k) && BSON_ITER_HOLDS_BOOL(it) && !bson_iter_bool(it))
		return 0;
	if (!strcmp(k, "collation") && idx_simple_collation(it))
		return 0;
	return 1;
}

int
idx_restore_spec(const bson_t *archived, bson_t *spec)
{
	bson_iter_t f;
	int collation = 0;

	if (!bson_iter_init(&f, archived))
		return CAIRN_E_CORRUPT;
	while (bson_iter_next(&f)) {
		const char *k = bson_iter_key(&f);
		/* the namespace is the target's, the version the server's
		 * default (mongorestore drops both) */
		if (!strcmp(k, "ns") || !strcmp(k, "v"))
			continue;
		collation |= !strcmp(k, "collation");
		if (!bson_append_iter(spec, k, -1, &f))
			return CAIRN_E_NOMEM;
	}
	if (!collation) {
		bson_t c;
		if (!BSON_APPEND_DOCUMENT_BEGIN(spec, "collation", &c) ||
		    !BSON_APPEND_UTF8(&c, "locale", "simple") ||
		    !bson_append_document_end(spec, &c))
			return CAIRN_E_NOMEM;
	}
	return 0;
}

/* ---------------------------------------------------------- comparing */

static int idx_value_eq(const bson_iter_t *a, const bson_iter_t *b);

static int
idx_doc_eq(const bson_iter_t *a, const bson_iter_t *b)
{
	bson_iter_t x, y;
	if (!bson_iter_recurse(a, &x) || !bson_iter_recurse(b, &y))
		return 0;
	for (;;) {
		int mx = bson_iter_next(&x), my = bson_iter_next(&y);
		if (!mx || !my)
			return mx == my;
		if (strcmp(bson_iter_key(&x), bson_iter_key(&y)) != 0 || !idx_value_eq(&x, &y))
			return 0;
	}
}

static int
idx_number(const bson_iter_t *it)
{
	return BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it) || BSON_ITER_HOLDS_DOUBLE(it);
}

/* Equal values: numbers by value, documents and arrays field by field in
 * order, anything else byte for byte. */
static int
idx_value_eq(const bson_iter_t *a, const bson_iter_t *b)
{
	if (idx_number(a) && idx_number(b)) {
		if (BSON_ITER_HOLDS_DOUBLE(a) || BSON_ITER_HOLDS_DOUBLE(b))
			return bson_iter_as_double(a) == bson_iter_as_double(b);
		return bson_iter_as_int64(a) == bson_iter_as_int64(b);
	}
	if (bson_iter_type(a) != bson_iter_type(b))
		return 0;
	if (BSON_ITER_HOLDS_DOCUMENT(a) || BSON_ITER_HOLDS_ARRAY(a))
		return idx_doc_eq(a, b);
	bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
	int eq = bson_append_iter(&x, "", 0, a) && bson_append_iter(&y, "", 0, b) &&
	         bson_equal(&x, &y);
	bson_destroy(&x);
	bson_destroy(&y);
	return eq;
}

/* A collation with ICU's defaults filled in, without its version. */
static void
idx_collation_full(const bson_iter_t *it, bson_t *out)
{
	static const struct {
		const char *k;
		bson_type_t t;
		const char *s;
		int i;
	} dflt[] = {
	        {"caseLevel", BSON_TYPE_BOOL, NULL, 0},
	        {"caseFirst", BSON_TYPE_UTF8, "off", 0},
	        {"strength", BSON_TYPE_INT32, NULL, 3},
	        {"numericOrdering", BSON_TYPE_BOOL, NULL, 0},
	        {"alternate", BSON_TYPE_UTF8, "non-ignorable", 0},
	        {"maxVariable", BSON_TYPE_UTF8, "punct", 0},
	        {"normalization", BSON_TYPE_BOOL, NULL, 0},
	        {"backwards", BSON_TYPE_BOOL, NULL, 0},
	};
	bson_iter_t f;

	bson_init(out);
	if (bson_iter_recurse(it, &f) && bson_iter_find(&f, "locale"))
		bson_append_iter(out, "locale", -1, &f);
	for (size_t k = 0; k < sizeof(dflt) / sizeof(dflt[0]); k++) {
		if (bson_iter_recurse(it, &f) && bson_iter_find(&f, dflt[k].k))
			bson_append_iter(out, dflt[k].k, -1, &f);
		else if (dflt[k].t == BSON_TYPE_BOOL)
			bson_append_bool(out, dflt[k].k, -1, false);
		else if (dflt[k].t == BSON_TYPE_UTF8)
			bson_append_utf8(out, dflt[k].k, -1, dflt[k].s, -1);
		else
			bson_append_int32(out, dflt[k].k, -1, dflt[k].i);
	}
}

static int
idx_collation_eq(const bson_iter_t *a, const bson_iter_t *b)
{
	bson_t x, y;
	bson_iter_t ix, iy;
	int eq;
	if (!BSON_ITER_HOLDS_DOCUMENT(a) || !BSON_ITER_HOLDS_DOCUMENT(b))
		return idx_value_eq(a, b);
	idx_collation_full(a, &x);
	idx_collation_full(b, &y);
	bson_iter_init(&ix, &x);
	bson_iter_init(&iy, &y);
	eq = 1;
	for (;;) {
		int mx = bson_iter_next(&ix), my = bson_iter_next(&iy);
		if (!mx || !my) {
			eq &= mx == my;
			break;
		}
		if (strcmp(bson_iter_key(&ix), bson_iter_key(&iy)) != 0 ||
		    !idx_value_eq(&ix, &iy)) {
			eq = 0;
			break;
		}
	}
	bson_destroy(&x);
	bson_destroy(&y);
	return eq;
}

/* One field as Extended JSON, for a message (malloc'd, or NULL). */
static char *
idx_show(const bson_iter_t *it)
{
	bson_t d = BSON_INITIALIZER;
	char *s = NULL;
	if (bson_append_iter(&d, bson_iter_key(it), -1, it))
		s = bson_as_relaxed_extended_json(&d, NULL);
	bson_destroy(&d);
	return s;
}

int
idx_spec_diff(const bson_t *want, const bson_t *got, char **why)
{
	bson_iter_t w, g;
	char *a = NULL, *b = NULL;
	int rc = 0;

	*why = NULL;
	if (!bson_iter_init(&w, want))
		return -1;
	while (!rc && bson_iter_next(&w)) {
		const char *k = bson_iter_key(&w);
		if (!idx_counts(&w))
			continue;
		if (!bson_iter_init_find(&g, got, k) || !idx_counts(&g)) {
			a = idx_show(&w);
			rc = asprintf(why, "%s is missing after the restore (the backup has %s)", k,
			              a ? a : "it");
			rc = rc < 0 ? -1 : 1;
		} else if (!strcmp(k, "collation") ? !idx_collation_eq(&w, &g)
		                                   : !idx_value_eq(&w, &g)) {
			a = idx_show(&w);
			b = idx_show(&g);
			rc = asprintf(why, "%s differs: the backup has %s, the restored index %s",
			              k, a ? a : "?", b ? b : "?");
			rc = rc < 0 ? -1 : 1;
		}
	}
	if (!rc && bson_iter_init(&g, got))
		while (!rc && bson_iter_next(&g)) {
			const char *k = bson_iter_key(&g);
			if (!idx_counts(&g) || idx_in(idx_server_filled, k))
				continue;
			if (bson_iter_init_find(&w, want, k) && idx_counts(&w))
				continue;
			b = idx_show(&g);
			if (!strcmp(k, "collation"))
				rc = asprintf(
				        why,
				        "the backup has the simple collation, the restored index %s",
				        b ? b : "another");
			else
				rc = asprintf(why, "the restored index has %s, the backup does not",
				              b ? b : k);
			rc = rc < 0 ? -1 : 1;
		}
	bson_free(a);
	bson_free(b);
	return rc;
}

/* Collection and view options compared, and their defaults (a field
 * holding its default is the same as absent). */
static const struct {
	const char *k, *dflt;
} idx_coll_opts[] = {
        {"viewOn", NULL},
        {"pipeline", NULL},
        {"collation", NULL},
        {"validator", NULL},
        {"validationLevel", "strict"},
        {"validationAction", "error"},
        {"capped", NULL},
        {"max", NULL},
};

/* Does this collection option count? */
static int
idx_opt_counts(const bson_iter_t *it, const char *dflt)
{
	if (!strcmp(bson_iter_key(it), "collation"))
		return !idx_simple_collation(it);
	if (BSON_ITER_HOLDS_BOOL(it) && !bson_iter_bool(it))
		return 0;
	if (dflt && BSON_ITER_HOLDS_UTF8(it) && !strcmp(bson_iter_utf8(it, NULL), dflt))
		return 0;
	return 1;
}

int
idx_options_diff(const bson_t *want, const bson_t *got, char **why)
{
	*why = NULL;
	for (size_t k = 0; k < sizeof(idx_coll_opts) / sizeof(idx_coll_opts[0]); k++) {
		const char *key = idx_coll_opts[k].k;
		bson_iter_t w, g;
		int hw = bson_iter_init_find(&w, want, key) &&
		         idx_opt_counts(&w, idx_coll_opts[k].dflt);
		int hg = bson_iter_init_find(&g, got, key) &&
		         idx_opt_counts(&g, idx_coll_opts[k].dflt);
		char *a, *b;
		int rc;
		if (!hw && !hg)
			continue;
		if (hw && hg &&
		    (!strcmp(key, "collation") ? idx_collation_eq(&w, &g) : idx_value_eq(&w, &g)))
			continue;
		a = hw ? idx_show(&w) : NULL;
		b = hg ? idx_show(&g) : NULL;
		rc = asprintf(why, "its option %s differs: the backup has %s, the restored one %s",
		              key, a ? a : "none", b ? b : "none");
		bson_free(a);
		bson_free(b);
		return rc < 0 ? -1 : 1;
	}
	return 0;
}

/* ------------------------------------------------- against the server */

static const char *
idx_name(const bson_t *spec)
{
	bson_iter_t it;
	if (bson_iter_init_find(&it, spec, "name") && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return NULL;
}

/* The position of the archive's spec named name in list (the spec,
 * static, into *spec), or -1. */
static long
idx_lookup(const bson_t *list, const char *name, bson_t *spec)
{
	bson_iter_t it;
	long k = 0;
	if (!bson_iter_init(&it, list))
		return -1;
	for (; bson_iter_next(&it); k++) {
		uint32_t len;
		const uint8_t *data;
		const char *n;
		if (!BSON_ITER_HOLDS_DOCUMENT(&it))
			continue;
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(spec, data, len) && (n = idx_name(spec)) && !strcmp(n, name))
			return k;
	}
	return -1;
}

static int
idx_mismatch(struct mongo_inst *mi, const char *label, const char *name, const char *why)
{
	mongo_err(mi, "test restore: %s: index %s: %s", label, name, why);
	return CAIRN_E_CORRUPT;
}

/* Each archived index (but _id_, which comes with the collection) must
 * be among the restored ones: the restored ones were matched already. */
static int
idx_all_there(struct mongo_inst *mi, const char *label, const bson_t *list, const char *seen)
{
	bson_iter_t it;
	size_t k = 0;
	if (!bson_iter_init(&it, list))
		return 0;
	for (; bson_iter_next(&it); k++) {
		bson_t spec;
		uint32_t len;
		const uint8_t *data;
		const char *n;
		if (!BSON_ITER_HOLDS_DOCUMENT(&it))
			continue;
		bson_iter_document(&it, &len, &data);
		if (!bson_init_static(&spec, data, len) || !(n = idx_name(&spec)))
			continue;
		if (!seen[k])
			return idx_mismatch(mi, label, n, "it is missing after the restore");
	}
	return 0;
}

int
idx_compare(struct mongo_inst *mi, mongoc_client_t *client, const char *tdb, const char *tcoll,
            const char *label, const bson_t *meta, int64_t *nindexes)
{
	mongoc_collection_t *coll = mongoc_client_get_collection(client, tdb, tcoll);
	mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
	const bson_t *got;
	bson_t list, want;
	bson_error_t err;
	int have = mongo_bson_sub(meta, "indexes", 1, &list), rc = 0;
	uint32_t n = have ? bson_count_keys(&list) : 0;
	char *seen = calloc(n + 1, 1);

	*nindexes = 0;
	if (!seen) {
		mongo_err(mi, "out of memory");
		rc = CAIRN_E_NOMEM;
	}
	while (rc == 0 && mongoc_cursor_next(cur, &got)) {
		const char *name = idx_name(got);
		char *why = NULL;
		long pos;
		(*nindexes)++;
		if (!have || !name)
			continue;
		pos = idx_lookup(&list, name, &want);
		if (pos < 0) {
			if (strcmp(name, "_id_") != 0)
				rc = idx_mismatch(
				        mi, label, name,
				        "it is there after the restore but not in the backup");
			continue;
		}
		seen[pos] = 1;
		int d = idx_spec_diff(&want, got, &why);
		if (d < 0) {
			mongo_err(mi, "out of memory");
			rc = CAIRN_E_NOMEM;
		} else if (d > 0)
			rc = idx_mismatch(mi, label, name, why);
		free(why);
	}
	if (rc == 0 && mongoc_cursor_error(cur, &err)) {
		mongo_err(mi, "server %s: listIndexes of %s.%s failed: %s", mi->server, tdb, tcoll,
		          err.message);
		rc = mongo_code(&err);
	}
	if (rc == 0 && have)
		rc = idx_all_there(mi, label, &list, seen);
	free(seen);
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(coll);
	return rc;
}
