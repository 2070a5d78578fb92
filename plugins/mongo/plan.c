/*
 * plan.c - where each namespace of the archive goes, checked before
 * anything is written: left out (oplogs, users and roles, system
 * collections, include/exclude), renamed (ns_from/ns_to, or the test
 * restore's databases of its own), names the server would refuse, two
 * sources of one target; and the targets that are there already, refused
 * unless --force or drop = yes.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

int
rs_random_prefix(struct rs *rs)
{
	char hex[13];
	int rc = rs_random_hex(rs, hex, sizeof(hex));
	if (rc == 0)
		snprintf(rs->rt, sizeof(rs->rt), "cairn_rt_%s", hex);
	return rc;
}

/* Is ns left out of the restore (an oplog, users and roles, a system
 * collection, or not selected by include/exclude)?  loud: say why. */
static int
rs_left_out(struct rs *rs, const struct arc_ns *ns, int loud)
{
	struct mongo_inst *mi = rs->mi;

	if (rs_is_oplog(ns) && !rs->test) {
		/* applied after the collections (restore_oplog.c) */
		rs->want_oplog = 1;
		return 1;
	}
	if (!ns->db[0]) {
		if (loud)
			mongo_log(mi, CAIRN_LOG_WARN, "the archive's %s (an oplog) is not restored",
			          ns->coll);
		return 1;
	}
	if (ns->coll[0] == '$') {
		/* mongodump --dumpDbUsersAndRoles: $admin.system.users... */
		if (loud)
			mongo_log(mi, CAIRN_LOG_WARN,
			          "the archive's %s.%s (users or roles) is not restored", ns->db,
			          ns->coll);
		return 1;
	}
	if (!mongo_selected(mi, ns->db, ns->coll))
		return 1;
	if (!strncmp(ns->coll, "system.", 7) && strcmp(ns->coll, "system.js") != 0) {
		if (loud)
			mongo_log(mi, CAIRN_LOG_WARN,
			          "%s.%s is a system collection and is not restored", ns->db,
			          ns->coll);
		return 1;
	}
	return 0;
}

/* The target of the k-th namespace: st->tdb and st->tcoll, or, when the
 * renames leave no database part, the whole name in st->tdb alone. */
static int
rs_target(struct rs *rs, size_t k)
{
	struct arc_ns *ns = &rs->pre.ns[k];
	struct rs_ns *st = &rs->st[k];
	char *t, *dot;

	if (rs->test) {
		if (asprintf(&t, "%s_%s.%s", rs->rt, ns->db, ns->coll) < 0)
			return rs_nomem(rs);
		if (strlen(rs->rt) + 1 + strlen(ns->db) > 63) {
			free(t);
			if (asprintf(&t, "%s_%zu.%s", rs->rt, k, ns->coll) < 0)
				return rs_nomem(rs);
		}
	} else if (!(t = mongo_rename_ns(rs->mi, ns->db, ns->coll)))
		return rs_nomem(rs);
	st->tdb = t;
	if (!(dot = strchr(t, '.')))
		return 0;
	*dot = '\0';
	return (st->tcoll = strdup(dot + 1)) ? 0 : rs_nomem(rs);
}

/* Targets in the order of (db, collection, place in the archive). */
static int
rs_target_cmp(const void *a, const void *b)
{
	const struct rs_ns *x = *(const struct rs_ns *const *)a;
	const struct rs_ns *y = *(const struct rs_ns *const *)b;
	int c = strcmp(x->tdb, y->tdb);
	if (!c)
		c = strcmp(x->tcoll, y->tcoll);
	return c ? c : (x > y) - (x < y);
}

/* Target databases in the order of (db, place in the archive). */
static int
rs_db_cmp(const void *a, const void *b)
{
	const struct rs_ns *x = *(const struct rs_ns *const *)a;
	const struct rs_ns *y = *(const struct rs_ns *const *)b;
	int c = strcmp(x->tdb, y->tdb);
	return c ? c : (x > y) - (x < y);
}

static int
rs_same(const struct rs_ns *x, const struct rs_ns *y, int by_db)
{
	return !strcmp(x->tdb, y->tdb) && (by_db || !strcmp(x->tcoll, y->tcoll));
}

/* first[k] for each of the n namespaces: the first of the archive with
 * the same target as the k-th (by_db: the same target database, among
 * the selected ones), k itself when none before it has, by sorting the
 * targets: n log n, where holding each with every earlier one was
 * quadratic in an archive's thousands of namespaces. */
static int
rs_first_of(struct rs *rs, size_t n, int by_db, size_t *first)
{
	struct rs_ns **by = malloc((n ? n : 1) * sizeof(*by));
	size_t m = 0;

	if (!by)
		return rs_nomem(rs);
	for (size_t k = 0; k < n; k++) {
		first[k] = k;
		if (by_db ? rs->st[k].selected : rs->st[k].tcoll != NULL)
			by[m++] = &rs->st[k];
	}
	qsort(by, m, sizeof(*by), by_db ? rs_db_cmp : rs_target_cmp);
	for (size_t i = 1, head = 0; i < m; i++) {
		if (!rs_same(by[head], by[i], by_db))
			head = i;
		first[by[i] - rs->st] = (size_t)(by[head] - rs->st);
	}
	free(by);
	return 0;
}

/* The checks of the k-th namespace, whose target is set. */
static int
rs_check_target(struct rs *rs, size_t k, size_t first)
{
	struct mongo_inst *mi = rs->mi;
	struct arc_ns *ns = &rs->pre.ns[k];
	struct rs_ns *st = &rs->st[k];
	const char *why;

	if (!strcmp(ns->type, "timeseries")) {
		mongo_err(
		        mi,
		        "%s.%s is a timeseries collection, which this plugin cannot restore; leave it out with exclude = %s.%s",
		        ns->db, ns->coll, ns->db, ns->coll);
		return CAIRN_E_UNSUPPORTED;
	}
	if (!st->tcoll) {
		mongo_err(mi, "%s.%s: ns_to makes it \"%s\", which has no database part", ns->db,
		          ns->coll, st->tdb);
		free(st->tdb);
		st->tdb = NULL;
		return CAIRN_E_CONFIG;
	}
	if ((why = mongo_bad_db_name(st->tdb)) || (why = mongo_bad_coll_name(st->tcoll))) {
		mongo_err(
		        mi,
		        "%s.%s: the target %s.%s is not a valid namespace (%s); check ns_from/ns_to",
		        ns->db, ns->coll, st->tdb, st->tcoll, why);
		return CAIRN_E_CONFIG;
	}
	if (first != k) {
		mongo_err(mi,
		          "%s.%s and %s.%s would both be restored into %s.%s; check ns_from/ns_to",
		          rs->pre.ns[first].db, rs->pre.ns[first].coll, ns->db, ns->coll, st->tdb,
		          st->tcoll);
		return CAIRN_E_CONFIG;
	}
	return 0;
}

/* Where each selected namespace goes, checked before anything is written.
 * The targets are made first, so that two sources of one target are found
 * by sorting; the checks then run in the archive's order and name the
 * first fault, as when each namespace was held against the earlier ones.
 * Last, each namespace learns the first of its target database. */
int
rs_plan(struct rs *rs)
{
	size_t n = rs->pre.nns, selected = 0, *first;
	int rc = 0;

	for (size_t k = 0; k < n && rc == 0; k++)
		if (!rs_left_out(rs, &rs->pre.ns[k], 0))
			rc = rs_target(rs, k);
	if (rc < 0)
		return rc;
	if (!(first = calloc(n ? n : 1, sizeof(*first))))
		return rs_nomem(rs);
	rc = rs_first_of(rs, n, 0, first);
	for (size_t k = 0; k < n && rc == 0; k++) {
		if (rs_left_out(rs, &rs->pre.ns[k], 1))
			continue;
		if ((rc = rs_check_target(rs, k, first[k])) == 0) {
			rs->st[k].selected = 1;
			selected++;
		}
	}
	/* each target database's first namespace: where stage.c sweeps it
	 * and the test restore drops it, once */
	if (rc == 0)
		rc = rs_first_of(rs, n, 1, first);
	for (size_t k = 0; k < n && rc == 0; k++)
		rs->st[k].db_first = first[k];
	free(first);
	if (rc < 0)
		return rc;
	if (selected == 0 && rs->pre.nns > 0) {
		mongo_err(
		        rs->mi,
		        "no collection of the archive is selected by include/exclude (it holds %zu, e.g. %s.%s)",
		        rs->pre.nns, rs->pre.ns[0].db, rs->pre.ns[0].coll);
		return CAIRN_E_NOTFOUND;
	}
	return 0;
}

/* Refuse non-empty targets unless --force or drop = yes. */
int
rs_check_targets(struct rs *rs)
{
	for (size_t k = 0; k < rs->pre.nns; k++) {
		struct rs_ns *st = &rs->st[k];
		int64_t count;
		int rc;
		if (!st->selected)
			continue;
		if ((rc = rs_target_state(rs, st, &st->exists, &count, NULL)) < 0)
			return rc;
		st->count = count;
		if (!st->exists || count == 0 || rs->force || rs->mi->drop)
			continue;
		if (count < 0)
			mongo_err(
			        rs->mi,
			        "server %s: the target %s.%s exists (a view); use --force, or --set drop=yes to replace it, or restore elsewhere with ns_from/ns_to",
			        rs->mi->server, st->tdb, st->tcoll);
		else
			mongo_err(
			        rs->mi,
			        "server %s: the target %s.%s holds %lld documents; use --force to add to it, --set drop=yes to replace it, or restore elsewhere with ns_from/ns_to",
			        rs->mi->server, st->tdb, st->tcoll, (long long)count);
		return CAIRN_E_EXISTS;
	}
	return 0;
}
