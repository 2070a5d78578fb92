/* prune_log.c - see prune_log.h */
#include "autoconf.h"

#include "prune_log.h"

#include <stdlib.h>
#include <string.h>

#include "cmd.h" /* exit_for, print_line */
#include "host.h"
#include "log.h"
#include "logcat.h"
#include "prune.h" /* PRUNE_* flags */
#include "retention_log.h"

#define WHY_LEN 160

/* What is decided for one object (or a segment's two). */
struct log_item {
	const char *what; /* "segment", "gap", "damaged", "orphan" */
	char key[LOGSEG_NAME_MAX + 8];
	const char *obj; /* the object, for "damaged" and "orphan" */
	const struct log_segment *seg;
	const struct log_gap *gap;
	int64_t from_ms, to_ms;
	int keep;
	char why[WHY_LEN];
};

struct log_plan {
	struct log_item *v;
	size_t n;
	size_t keep, remove;
};

static struct log_item *
add_item(struct log_plan *p, const char *what)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	struct log_item *it = &p->v[p->n++];
	memset(it, 0, sizeof(*it));
	it->what = what;
	return it;
}

/* The name's positions of an object key .../SEG.SUFFIX: 0, or -1. */
static int
key_times(const char *key, int64_t *from_ms, int64_t *to_ms)
{
	const char *file = strrchr(key, '/');
	char name[LOGSEG_NAME_MAX];
	struct cairn_log_pos f, t;
	file = file ? file + 1 : key;
	if (strnlen(file, LOGSEG_NAME_LEN + 1) <= LOGSEG_NAME_LEN)
		return -1;
	memcpy(name, file, LOGSEG_NAME_LEN);
	name[LOGSEG_NAME_LEN] = '\0';
	if (logseg_name_parse(name, &f, &t))
		return -1;
	*from_ms = f.time_ms;
	*to_ms = t.time_ms;
	return 0;
}

/* Judge every object of one source's log. */
static void
plan_source(const struct log_source *ls, const struct log_retention *r, time_t now,
            struct log_plan *p)
{
	int64_t kept_to = INT64_MAX;
	for (size_t i = 0; i < ls->nsegs; i++) {
		struct log_item *it = add_item(p, "segment");
		it->seg = &ls->segs[i];
		it->from_ms = it->seg->from.time_ms;
		it->to_ms = it->seg->to.time_ms;
		it->keep = log_retention_segment(r, it->to_ms, it->why, sizeof(it->why));
		if (it->keep && it->to_ms < kept_to)
			kept_to = it->to_ms;
	}
	for (size_t i = 0; i < ls->ngaps; i++) {
		struct log_item *it = add_item(p, "gap");
		it->gap = &ls->gaps[i];
		it->from_ms = it->gap->from.time_ms;
		it->to_ms = it->gap->to.time_ms;
		it->keep = log_retention_gap(it->from_ms, kept_to, it->why, sizeof(it->why));
	}
	for (size_t i = 0; i < ls->damage_keys.n; i++) {
		struct log_item *it = add_item(p, "damaged");
		it->obj = ls->damage_keys.v[i];
		if (key_times(it->obj, &it->from_ms, &it->to_ms)) {
			it->keep = 1;
			snprintf(it->why, sizeof(it->why), "keep: not a log object's name");
		} else {
			it->keep = log_retention_segment(r, it->to_ms, it->why, sizeof(it->why));
		}
	}
	for (size_t i = 0; i < ls->orphans.n; i++) {
		struct log_item *it = add_item(p, "orphan");
		it->obj = ls->orphans.v[i];
		if (key_times(it->obj, &it->from_ms, &it->to_ms))
			it->to_ms = 0;
		it->keep = log_retention_orphan(ls->orphan_mtime ? ls->orphan_mtime[i] : 0,
		                                it->to_ms, now, it->why, sizeof(it->why));
	}
}

/* Say what is decided: runs of segments with the same verdict as one
 * line, every other object on its own. */
static void
show_plan(const char *source, const struct log_plan *p, size_t from, json_t *jlogs, int print)
{
	for (size_t i = from, j; i < p->n; i = j) {
		const struct log_item *it = &p->v[i];
		size_t count = 1;
		char a[32], b[32];
		for (j = i + 1;
		     strcmp(it->what, "segment") == 0 && j < p->n &&
		     strcmp(p->v[j].what, "segment") == 0 && strcmp(p->v[j].why, it->why) == 0;
		     j++)
			count++;
		log_time_format(it->from_ms, a, sizeof(a));
		log_time_format(p->v[j - 1].to_ms, b, sizeof(b));
		if (jlogs) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "source",
			                      source, "kind", it->what, "from", a, "to", b, "count",
			                      (json_int_t)count, "action",
			                      it->keep ? "keep" : "remove", "why", it->why);
			if (it->obj)
				json_object_set_new(o, "object", json_string(it->obj));
			json_array_append_new(jlogs, o);
		} else if (print && it->obj) {
			print_line("  log %s  %s %s  %s", source, it->what, it->obj, it->why);
		} else if (print) {
			print_line("  log %s  %zu %s%s %s .. %s  %s", source, count, it->what,
			           count == 1 ? "" : "s", a, b, it->why);
		}
	}
}

/* Remove one object; a missing one is gone already.  0, or -1 said. */
static int
remove_key(struct instance *sink, const char *key)
{
	int rc = op_remove(sink, key);
	if (rc == CAIRN_E_NOTFOUND || rc == 0)
		return 0;
	log_error("%s: cannot remove %s: %s; it stays for now, the rest goes on", sink->ctx.label,
	          key, instance_error(sink, rc));
	return -1;
}

/* Remove what the plan lets go: a segment's manifest before its data,
 * so that one removed half way is an orphan, never a manifest without
 * its object.  The number that could not be removed. */
static size_t
apply_plan(struct instance *sink, const char *job, const char *source, const struct log_plan *p,
           size_t from, size_t *removed)
{
	size_t failed = 0;
	for (size_t i = from; i < p->n && !cancel_signal; i++) {
		const struct log_item *it = &p->v[i];
		int bad = 0;
		if (it->keep)
			continue;
		if (it->seg) {
			char *m =
			        xasprintf("%s/%s/%s/%s.json", job, LOG_DIR, source, it->seg->name);
			bad = remove_key(sink, m) ||
			      (it->seg->object && remove_key(sink, it->seg->object));
			free(m);
		} else if (it->gap) {
			char *g = xasprintf("%s/%s/%s/%s.gap", job, LOG_DIR, source, it->gap->name);
			bad = remove_key(sink, g);
			free(g);
		} else {
			bad = remove_key(sink, it->obj);
		}
		failed += bad != 0;
		*removed += !bad;
	}
	return failed;
}

/* The kept sets with a manifest, as the log's retention sees them. */
static struct log_keeper *
keepers(const struct set_list *l, const struct retention_verdict *v, size_t *n)
{
	struct log_keeper *k = xcalloc(l->n ? l->n : 1, sizeof(*k));
	*n = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (!v[i].keep || !l->v[i].complete)
			continue;
		k[*n].id = l->v[i].id;
		k[(*n)++].m = l->v[i].manifest; /* NULL: could not be read */
	}
	return k;
}

/* The first kept set whose manifest could not be read, or NULL. */
static const char *
unreadable(const struct log_keeper *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!k[i].m)
			return k[i].id;
	return NULL;
}

int
prune_logs(const struct cfg_job *job, struct instance *sink, const struct set_list *l,
           const struct retention_verdict *v, time_t now, unsigned flags, json_t *jsink)
{
	struct log_catalog cat;
	struct log_plan p = {0};
	size_t nk, removed = 0, failed = 0;
	struct log_keeper *k;
	const char *bad;
	char *err = NULL;
	int rc, dry = (flags & PRUNE_DRY_RUN) != 0, print = (flags & PRUNE_PRINT) != 0;
	json_t *jlogs = jsink ? json_array() : NULL;

	if ((rc = logcat_load(sink, job->name, NULL, 0, &cat, &err))) {
		log_error("%s; the log is left alone", err);
		free(err);
		json_decref(jlogs);
		return exit_for(rc);
	}
	k = keepers(l, v, &nk);
	if (cat.n && (bad = unreadable(k, nk))) {
		log_warn(
		        "%s: the log of job %s is left alone: the manifest of kept set %s cannot be read, and it may need the log; check it with cairn verify %s --id %s",
		        sink->ctx.label, job->name, bad, job->name, bad);
	} else {
		/* judged and removed source by source */
		for (size_t s = 0; s < cat.n && !cancel_signal; s++) {
			const struct log_source *ls = &cat.v[s];
			struct log_retention r;
			size_t from = p.n;
			log_retention_for(k, nk, ls->source, job->log.pitr_window, now, &r);
			plan_source(ls, &r, now, &p);
			show_plan(ls->source, &p, from, jlogs, print && !jsink);
			if (!dry)
				failed +=
				        apply_plan(sink, job->name, ls->source, &p, from, &removed);
		}
	}
	for (size_t i = 0; i < p.n; i++)
		p.keep += p.v[i].keep != 0;
	if (jsink)
		json_object_set_new(jsink, "logs", jlogs);
	if (!dry && (removed || failed))
		log_info(
		        "%s: pruned the log of job %s (segments, gap records, left-over objects): %zu kept, %zu removed%s",
		        sink->ctx.label, job->name, p.keep, removed,
		        failed ? ", some could not be removed (see above)" : "");
	free(p.v);
	free(k);
	logcat_free(&cat);
	if (cancel_signal)
		return exit_for(CAIRN_E_CANCELLED);
	return failed ? CAIRN_EXIT_FAILED : 0;
}
