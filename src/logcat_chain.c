/* logcat_chain.c - see logcat.h: the chain of segments that carries a
 * log from a position up to a time, and what breaks it. */
#include "autoconf.h"

#include "logcat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same position along one log: the same lsn and, where both sides
 * know it, the same text. */
static int
same_pos(const struct cairn_log_pos *a, const struct cairn_log_pos *b)
{
	return a->lsn == b->lsn && (!a->text[0] || !b->text[0] || strcmp(a->text, b->text) == 0);
}

/* The segment the chain starts with: the first whose FROM is after, else
 * the first whose (FROM, TO] holds after.lsn; -1 if none. */
static ssize_t
chain_start(const struct log_source *ls, const struct cairn_log_pos *after)
{
	for (size_t i = 0; i < ls->nsegs; i++)
		if (same_pos(&ls->segs[i].from, after))
			return (ssize_t)i;
	for (size_t i = 0; i < ls->nsegs; i++)
		if (ls->segs[i].from.lsn < after->lsn && after->lsn <= ls->segs[i].to.lsn)
			return (ssize_t)i;
	return -1;
}

/* The segment after segs[i] along the log: the first later in name
 * (FROMTIME) order whose FROM is segs[i]'s TO; -1 if none. */
static ssize_t
chain_next(const struct log_source *ls, size_t i)
{
	const struct cairn_log_pos *to = &ls->segs[i].to;
	for (size_t j = i + 1; j < ls->nsegs; j++) {
		if (ls->segs[j].from.time_ms > to->time_ms)
			break; /* names sort by FROMTIME: no later one starts at TO */
		if (same_pos(&ls->segs[j].from, to))
			return (ssize_t)j;
	}
	return -1;
}

/* A gap record that begins at p, or whose time span holds p's time. */
static const struct log_gap *
gap_at(const struct log_source *ls, const struct cairn_log_pos *p)
{
	for (size_t i = 0; i < ls->ngaps; i++)
		if (ls->gaps[i].from.lsn == p->lsn)
			return &ls->gaps[i];
	for (size_t i = 0; i < ls->ngaps; i++)
		if (ls->gaps[i].from.time_ms <= p->time_ms && p->time_ms < ls->gaps[i].to.time_ms)
			return &ls->gaps[i];
	return NULL;
}

/* The damage line about a segment that begins at p or holds it, or
 * NULL. */
static const char *
damage_at(const struct log_source *ls, const struct cairn_log_pos *p)
{
	for (size_t i = 0; i < ls->damage_keys.n && i < ls->damage.n; i++) {
		const char *key = ls->damage_keys.v[i], *file = strrchr(key, '/');
		char name[LOGSEG_NAME_MAX];
		struct cairn_log_pos f, t;
		file = file ? file + 1 : key;
		if (strnlen(file, LOGSEG_NAME_LEN + 1) <= LOGSEG_NAME_LEN)
			continue;
		memcpy(name, file, LOGSEG_NAME_LEN);
		name[LOGSEG_NAME_LEN] = '\0';
		if (logseg_name_parse(name, &f, &t) == 0 &&
		    (f.lsn == p->lsn || (f.lsn < p->lsn && p->lsn <= t.lsn)))
			return ls->damage.v[i];
	}
	return NULL;
}

/* The earliest segment that begins at or after time t, other than those
 * up to index `past`; NULL if none. */
static const struct log_segment *
next_by_time(const struct log_source *ls, int64_t t, ssize_t past)
{
	for (size_t i = (size_t)(past + 1); i < ls->nsegs; i++)
		if (ls->segs[i].from.time_ms >= t)
			return &ls->segs[i];
	return NULL;
}

/* One line on why the log does not go on after p (the end of segment
 * `past`, or the start position when past is -1), with the latest time
 * that can be restored (reach; INT64_MIN: only the base itself). */
static char *
explain_break(const struct log_source *ls, const struct cairn_log_pos *p, ssize_t past,
              int64_t reach, const struct cairn_log_pos *after)
{
	char at[32], to[32], latest[96];
	const struct log_gap *g = gap_at(ls, p);
	const char *dmg = g ? NULL : damage_at(ls, p);
	const struct log_segment *next = g || dmg ? NULL : next_by_time(ls, p->time_ms, past);
	char *what, *r;
	log_time_format(p->time_ms, at, sizeof(at));
	if (reach == INT64_MIN) {
		log_time_format(after->time_ms, to, sizeof(to));
		snprintf(latest, sizeof(latest), "no time after %s (the base alone)", to);
	} else {
		log_time_format(reach, latest, sizeof(latest));
	}
	if (g) {
		char *reason = str_escape(g->reason ? g->reason : "");
		char gf[32];
		log_time_format(g->from.time_ms, gf, sizeof(gf));
		log_time_format(g->to.time_ms, to, sizeof(to));
		what = xasprintf("the log has a gap from %s to %s (%s)", gf, to, reason);
		free(reason);
	} else if (dmg) {
		what = xasprintf("the segment that follows %s is damaged (%s)", at, dmg);
	} else if (next) {
		log_time_format(next->from.time_ms, to, sizeof(to));
		what = xasprintf(
		        "the log has no segment from %s to %s (none continues position %016llx)",
		        at, to, (unsigned long long)p->lsn);
	} else if (past < 0) {
		what = xasprintf("the log holds no segment at or after %s (position %016llx)", at,
		                 (unsigned long long)p->lsn);
	} else {
		what = xasprintf("the log ends at %s (its newest segment)", at);
	}
	r = xasprintf("source %s: %s; the latest time that can be restored is %s", ls->source, what,
	              latest);
	free(what);
	return r;
}

int
logcat_chain(const struct log_source *ls, const struct cairn_log_pos *after, int64_t until_ms,
             const struct log_segment ***v, size_t *n, int64_t *reach_ms, char **why)
{
	const struct log_segment **out;
	ssize_t i = chain_start(ls, after), j;
	size_t k = 0;
	*v = NULL;
	*n = 0;
	*why = NULL;
	if (i < 0) {
		*reach_ms = INT64_MIN;
		*why = explain_break(ls, after, -1, INT64_MIN, after);
		return -1;
	}
	out = xcalloc(ls->nsegs, sizeof(*out));
	out[k++] = &ls->segs[i];
	while (ls->segs[i].to.time_ms < until_ms && (j = chain_next(ls, (size_t)i)) >= 0) {
		i = j;
		out[k++] = &ls->segs[i];
	}
	*reach_ms = ls->segs[i].to.time_ms;
	if (until_ms != INT64_MAX && *reach_ms < until_ms) {
		*why = explain_break(ls, &ls->segs[i].to, i, *reach_ms, after);
		free(out);
		return -1;
	}
	*v = out;
	*n = k;
	return 0;
}
