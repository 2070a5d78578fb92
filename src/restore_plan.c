/* restore_plan.c - see restore_plan.h */
#include "autoconf.h"

#include "restore_plan.h"

#include <stdlib.h>
#include <string.h>

/* The entry of source name in m, or NULL. */
static const struct manifest_source *
source_in(const struct manifest *m, const char *name)
{
	for (size_t k = 0; m && k < m->nsources; k++)
		if (strcmp(m->sources[k].name, name) == 0)
			return &m->sources[k];
	return NULL;
}

/* The newest complete set taken at or before *at (any time when at is
 * NULL) whose manifest holds source name without overrides, with that
 * entry in *ms; readable manifests only, future ids passed over.  The
 * set's index, or -1. */
static long
newest_holding(const struct restore_sets *sets, const char *name, const time_t *at, time_t now,
               const struct manifest_source **ms)
{
	for (size_t i = sets->n; i-- > 0;) {
		const struct set_info *s = &sets->v[i];
		if (!s->complete || (at && s->time > *at) || set_in_future(s, now))
			continue;
		const struct manifest_source *e = source_in(sets->manifest(sets->ud, i), name);
		if (e && !e->overrides.n) {
			*ms = e;
			return (long)i;
		}
	}
	*ms = NULL;
	return -1;
}

/* The position a restore replays the log after: the end one when the
 * dump alone is consistent there, else the start one; NULL if none. */
static const struct cairn_log_pos *
log_base_pos(const struct manifest_source *e)
{
	if (e->has_log_end)
		return &e->log_end;
	return e->has_log_start ? &e->log_start : NULL;
}

/* The newest complete set that can be the base of a replay of source
 * name's log up to q->until_ms: holding it with no overrides, its id at
 * or before --at, its log position at or before until_ms.  The set's
 * index with *ms, or -1. */
static long
newest_log_base(const struct restore_sets *sets, const char *name, const struct restore_query *q,
                const struct manifest_source **ms)
{
	for (size_t i = sets->n; i-- > 0;) {
		const struct set_info *s = &sets->v[i];
		if (!s->complete || (q->at && s->time > *q->at) || set_in_future(s, q->now))
			continue;
		const struct manifest_source *e = source_in(sets->manifest(sets->ud, i), name);
		const struct cairn_log_pos *pos = e && !e->overrides.n ? log_base_pos(e) : NULL;
		if (pos && pos->time_ms <= q->until_ms) {
			*ms = e;
			return (long)i;
		}
	}
	*ms = NULL;
	return -1;
}

static void
gap_fill(const struct restore_sets *sets, const struct manifest *bm, const char *name, time_t now,
         struct restore_gap *g)
{
	const struct manifest_source *ms;
	long i = newest_holding(sets, name, NULL, now, &ms);
	g->name = name;
	g->lack = manifest_failed_source(bm, name);
	g->newest = i < 0 ? NULL : sets->v[i].id;
}

static struct restore_step *
step_add(struct restore_plan *p, const struct manifest_source *ms, const char *id)
{
	p->steps = xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
	memset(&p->steps[p->n], 0, sizeof(*p->steps));
	p->steps[p->n].ms = ms;
	p->steps[p->n].id = id;
	return &p->steps[p->n++];
}

/* A step replaying name's log, when it has one and a set can be its
 * base.  1 when added. */
static int
log_step(const struct restore_sets *sets, const struct restore_query *q, const char *name,
         struct restore_plan *p)
{
	const struct manifest_source *ms;
	long s;
	if (q->by_id || !q->with_logs || !q->has_log || !q->has_log(q->log_ud, name))
		return 0;
	if ((s = newest_log_base(sets, name, q, &ms)) < 0)
		return 0;
	struct restore_step *st = step_add(p, ms, sets->v[s].id);
	st->replay = 1;
	st->after = *log_base_pos(ms);
	return 1;
}

/* The sources to restore: --source's; else what the base set holds, and
 * without --id also what it failed to hold.  Names point into q->only or
 * bm.  Their number. */
static size_t
wanted(const struct manifest *bm, const struct restore_query *q, const char ***want)
{
	size_t n = 0;
	if (q->only && q->only->n) {
		*want = xcalloc(q->only->n, sizeof(**want));
		for (size_t i = 0; i < q->only->n; i++)
			(*want)[n++] = q->only->v[i];
		return n;
	}
	*want = xcalloc(bm->nsources + bm->nfailed + 1, sizeof(**want));
	for (size_t i = 0; i < bm->nsources; i++)
		(*want)[n++] = bm->sources[i].name;
	for (size_t i = 0; !q->by_id && i < bm->nfailed; i++)
		(*want)[n++] = bm->failed[i].name;
	return n;
}

int
restore_plan_make(const struct restore_sets *sets, const struct restore_query *q,
                  struct restore_plan *p)
{
	const struct manifest *bm = q->base < sets->n ? sets->manifest(sets->ud, q->base) : NULL;
	const char **want;
	size_t nwant;
	int rc = 0;
	memset(p, 0, sizeof(*p));
	if (!bm)
		return -1;
	nwant = wanted(bm, q, &want);
	for (size_t i = 0; i < nwant && !rc; i++) {
		const struct manifest_source *ms;
		long s = (long)q->base;
		if (log_step(sets, q, want[i], p))
			continue;
		if (q->by_id)
			ms = source_in(bm, want[i]);
		else
			s = newest_holding(sets, want[i], q->at, q->now, &ms);
		if (ms) {
			step_add(p, ms, sets->v[s].id);
			continue;
		}
		gap_fill(sets, bm, want[i], q->now, &p->missing);
		rc = -1;
	}
	free(want);
	for (size_t i = 0; !rc && q->by_id && !(q->only && q->only->n) && i < bm->nfailed; i++) {
		p->lacks = xrealloc(p->lacks, (p->nlacks + 1) * sizeof(*p->lacks));
		gap_fill(sets, bm, bm->failed[i].name, q->now, &p->lacks[p->nlacks++]);
	}
	return rc;
}

void
restore_plan_free(struct restore_plan *p)
{
	free(p->steps);
	free(p->lacks);
	memset(p, 0, sizeof(*p));
}
