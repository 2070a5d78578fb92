/* logstatus.c - see logstatus.h */
#include "autoconf.h"

#include "logstatus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "plugin.h"
#include "util.h"

/* A segment or a gap, in the order the log runs. */
struct item {
	const struct cairn_log_pos *from, *to;
	const struct log_gap *gap; /* NULL: a segment */
};

static int
cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->from->time_ms != y->from->time_ms)
		return x->from->time_ms < y->from->time_ms ? -1 : 1;
	if (x->from->lsn != y->from->lsn)
		return x->from->lsn < y->from->lsn ? -1 : 1;
	/* a gap before a segment from the same place */
	return (y->gap != NULL) - (x->gap != NULL);
}

static void
add_break(struct log_summary *s, enum log_break_kind kind, const struct cairn_log_pos *from,
          const struct cairn_log_pos *to, char *reason, const char *base)
{
	s->breaks = xrealloc(s->breaks, (s->nbreaks + 1) * sizeof(*s->breaks));
	struct log_break *b = &s->breaks[s->nbreaks++];
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->from = *from;
	b->to = *to;
	b->reason = reason;
	if (base)
		snprintf(b->base, sizeof(b->base), "%s", base);
	if (kind == LOG_BREAK_GAP)
		s->ngaps++;
	else
		s->nholes++;
}

void
logstatus_summarise(const struct log_source *ls, struct log_summary *out)
{
	size_t n = ls->nsegs + ls->ngaps, k = 0;
	struct item *v = xcalloc(n ? n : 1, sizeof(*v));
	const struct cairn_log_pos *cur = NULL;

	memset(out, 0, sizeof(*out));
	out->source = xstrdup(ls->source);
	out->segments = ls->nsegs;
	out->orphans = ls->orphans.n;
	for (size_t i = 0; i < ls->damage.n; i++)
		strvec_push(&out->damage, ls->damage.v[i]);
	for (size_t i = 0; i < ls->nsegs; i++) {
		const struct log_segment *sg = &ls->segs[i];
		out->bytes += sg->stored_bytes;
		if (i == 0 || sg->from.time_ms < out->from_ms)
			out->from_ms = sg->from.time_ms;
		if (i == 0 || sg->to.time_ms > out->to_ms ||
		    (sg->to.time_ms == out->to_ms && strcmp(sg->name, out->newest) > 0)) {
			out->to_ms = sg->to.time_ms;
			snprintf(out->newest, sizeof(out->newest), "%s", sg->name);
		}
		v[k++] = (struct item){&sg->from, &sg->to, NULL};
	}
	for (size_t i = 0; i < ls->ngaps; i++)
		v[k++] = (struct item){&ls->gaps[i].from, &ls->gaps[i].to, &ls->gaps[i]};
	qsort(v, k, sizeof(*v), cmp_item);
	/* walk the log: each item should start where the one before ended */
	for (size_t i = 0; i < k; i++) {
		if (cur && v[i].from->lsn != cur->lsn)
			add_break(
			        out, LOG_BREAK_HOLE, cur, v[i].from,
			        xstrdup(v[i].from->time_ms >= cur->time_ms
			                        ? "no segment covers it and no gap record explains it"
			                        : "segments overlap: the log was written twice"),
			        NULL);
		if (v[i].gap)
			add_break(out, LOG_BREAK_GAP, v[i].from, v[i].to,
			          xstrdup(v[i].gap->reason ? v[i].gap->reason : "no reason given"),
			          v[i].gap->base);
		if (!cur || v[i].to->time_ms >= cur->time_ms)
			cur = v[i].to;
	}
	free(v);
}

void
logstatus_summary_free(struct log_summary *s)
{
	free(s->source);
	for (size_t i = 0; i < s->nbreaks; i++)
		free(s->breaks[i].reason);
	free(s->breaks);
	strvec_free(&s->damage);
	memset(s, 0, sizeof(*s));
}

void
logstatus_free(struct log_summary *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		logstatus_summary_free(&v[i]);
	free(v);
}

static int
cmp_summary(const void *a, const void *b)
{
	return strcmp(((const struct log_summary *)a)->source,
	              ((const struct log_summary *)b)->source);
}

int
logstatus_gather(struct instance *sink, const char *job, const struct strvec *follows,
                 int read_manifests, struct log_summary **v, size_t *n, struct log_catalog *cat,
                 char **err)
{
	struct log_catalog c;
	int rc = logcat_load(sink, job, NULL, read_manifests, &c, err);
	*v = NULL;
	*n = 0;
	if (rc)
		return rc;
	*v = xcalloc(c.n ? c.n : 1, sizeof(**v));
	for (size_t i = 0; i < c.n; i++) {
		const struct log_source *ls = &c.v[i];
		if (!ls->nsegs && !ls->ngaps && !ls->damage.n && !ls->orphans.n)
			continue;
		struct log_summary *s = &(*v)[(*n)++];
		logstatus_summarise(ls, s);
		s->can_follow = follows && strvec_contains(follows, ls->source);
	}
	qsort(*v, *n, sizeof(**v), cmp_summary);
	if (cat)
		*cat = c;
	else
		logcat_free(&c);
	return 0;
}

double
logstatus_lag(const struct log_summary *s, time_t now)
{
	double lag = (double)now - (double)s->to_ms / 1000.0;
	return lag > 0 ? lag : 0;
}

void
logstatus_interval(const struct cairn_log_pos *from, const struct cairn_log_pos *to, char *buf,
                   size_t len)
{
	char a[40], b[40];
	log_time_format(from->time_ms, a, sizeof(a));
	log_time_format(to->time_ms, b, sizeof(b));
	snprintf(buf, len, "%s .. %s", a, b);
}

static json_t *
ms_json(int64_t ms)
{
	char t[40];
	log_time_format(ms, t, sizeof(t));
	return json_string(t);
}

json_t *
logstatus_json(const struct log_summary *s, time_t now)
{
	json_t *o = json_object(), *breaks = json_array(), *damage = json_array();
	json_object_set_new(o, "source", json_string(s->source));
	json_object_set_new(o, "follows", json_boolean(s->can_follow));
	json_object_set_new(o, "segments", json_integer((json_int_t)s->segments));
	json_object_set_new(o, "bytes", json_bytes(s->bytes));
	json_object_set_new(o, "from", s->segments ? ms_json(s->from_ms) : json_null());
	json_object_set_new(o, "to", s->segments ? ms_json(s->to_ms) : json_null());
	json_object_set_new(o, "newestSegment", s->segments ? json_string(s->newest) : json_null());
	json_object_set_new(o, "lagSeconds",
	                    s->segments ? json_integer((json_int_t)logstatus_lag(s, now))
	                                : json_null());
	json_object_set_new(o, "gaps", json_integer((json_int_t)s->ngaps));
	json_object_set_new(o, "holes", json_integer((json_int_t)s->nholes));
	for (size_t i = 0; i < s->nbreaks; i++) {
		const struct log_break *b = &s->breaks[i];
		json_array_append_new(breaks,
		                      json_pack("{s:s, s:o, s:o, s:s, s:o}", "kind",
		                                b->kind == LOG_BREAK_GAP ? "gap" : "hole", "from",
		                                ms_json(b->from.time_ms), "to",
		                                ms_json(b->to.time_ms), "reason", b->reason, "base",
		                                b->base[0] ? json_string(b->base) : json_null()));
	}
	json_object_set_new(o, "breaks", breaks);
	for (size_t i = 0; i < s->damage.n; i++)
		json_array_append_new(damage, json_string(s->damage.v[i]));
	json_object_set_new(o, "damage", damage);
	json_object_set_new(o, "uncommitted", json_integer((json_int_t)s->orphans));
	return o;
}

/* ------------------------------------------------ which sources follow */

static const struct loaded_plugin *
find_loaded(const struct plugin_registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->nloaded; i++)
		if (reg->loaded[i] && strcmp(reg->loaded[i]->name, name) == 0)
			return reg->loaded[i];
	return NULL;
}

void
logstatus_load_sources(struct plugin_registry *reg, const struct config *cfg,
                       const struct cfg_job *job)
{
	for (size_t i = 0; i < job->sources.n; i++) {
		const struct cfg_section *sec =
		        config_section(cfg, SECTION_SOURCE, job->sources.v[i]);
		char *err = NULL;
		if (sec && sec->plugin && !find_loaded(reg, sec->plugin) &&
		    !registry_load(reg, sec->plugin, &err))
			free(err); /* said where the source is used; here: does not follow */
	}
}

void
logstatus_follows(const struct plugin_registry *reg, const struct config *cfg,
                  const struct cfg_job *job, struct strvec *out)
{
	for (size_t i = 0; i < job->sources.n; i++) {
		const struct cfg_section *sec =
		        config_section(cfg, SECTION_SOURCE, job->sources.v[i]);
		const struct loaded_plugin *lp =
		        sec && sec->plugin ? find_loaded(reg, sec->plugin) : NULL;
		if (lp && lp->desc.kind == CAIRN_KIND_SOURCE && lp->source.follow)
			strvec_push(out, job->sources.v[i]);
	}
}
