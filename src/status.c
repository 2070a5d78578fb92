/* status.c - see status.h */
#include "autoconf.h"

#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h" /* cancel_signal */
#include "json.h"
#include "sets.h"
#include "util.h"

/* Manifests read at most per sink while looking for the two newest
 * complete sets past damaged ones: a sink full of damage must not make
 * status read every set. */
#define MANIFEST_TRIES 8

static void
copy_state(struct state_sink *dst, const struct state_sink *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src)
		return;
	*dst = *src;
	dst->name = xstrdup(src->name);
	dst->run.error = src->run.error ? xstrdup(src->run.error) : NULL;
	dst->verify.detail = src->verify.detail ? xstrdup(src->verify.detail) : NULL;
	dst->restore_test.detail =
	        src->restore_test.detail ? xstrdup(src->restore_test.detail) : NULL;
}

static void
summarise(const struct set_info *si, struct set_summary *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->id, si->id, sizeof(s->id));
	s->time = si->time;
	s->bytes = si->bytes;
}

/* Fill s from the set's manifest: 0, or -1 with *err (damaged). */
static int
read_summary(struct instance *sink, const char *job, const struct set_info *si,
             struct set_summary *s, char **err)
{
	struct manifest *m = NULL;
	summarise(si, s);
	if (set_read_manifest(sink, job, si->id, &m, err))
		return -1;
	s->have_manifest = 1;
	s->partial = m->partial;
	s->started = m->started;
	s->finished = m->finished;
	s->nsources = m->nsources;
	for (size_t i = 0; i < m->nsources; i++) {
		s->stored += m->sources[i].stored_bytes;
		s->raw += m->sources[i].raw_bytes;
	}
	manifest_free(m);
	return 0;
}

/* The job's change logs in the sink, when a source of the job follows:
 * one listing of JOB/log/, no segment read. */
static void
gather_logs(const struct plugin_registry *reg, const struct config *cfg, const struct cfg_job *job,
            struct instance *inst, struct sink_status *ss)
{
	struct strvec follows = {0};
	char *err = NULL;
	logstatus_follows(reg, cfg, job, &follows);
	if (follows.n && !cancel_signal &&
	    logstatus_gather(inst, job->name, &follows, 0, &ss->logs, &ss->nlogs, NULL, &err))
		ss->log_error = err;
	strvec_free(&follows);
}

void
status_gather_sink(struct plugin_registry *reg, const struct config *cfg, const struct cfg_job *job,
                   const char *name, const struct job_state *st, struct sink_status *ss)
{
	const struct cfg_section *sec = config_section(cfg, SECTION_SINK, name);
	struct instance *inst = NULL;
	struct set_list l;
	char *err = NULL;
	int tries = 0;

	memset(ss, 0, sizeof(*ss));
	ss->name = xstrdup(name);
	ss->plugin = xstrdup(sec && sec->plugin ? sec->plugin : "");
	copy_state(&ss->state, state_find(st, name));
	if (!sec || instance_create(reg, cfg, sec, NULL, &inst, &err)) {
		ss->error = err ? err : xstrdup("no such sink");
		return;
	}
	if (sets_list(inst, job->name, &l, &err)) {
		ss->error = err;
		instance_destroy(inst);
		return;
	}
	ss->reachable = 1;
	time_t now = time(NULL);
	for (size_t i = 0; i < l.n; i++)
		if (set_in_future(&l.v[i], now))
			strvec_push(&ss->future, l.v[i].id);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].complete) {
			ss->sets++;
			ss->bytes_kept += l.v[i].bytes;
			if (l.v[i].pinned)
				strvec_push(&ss->pinned, l.v[i].id);
		}
	/* the newest complete sets, newest last */
	for (size_t i = l.n, k = 0; i-- > 0 && k < STATUS_RECENT;)
		if (l.v[i].complete && !set_in_future(&l.v[i], now))
			summarise(&l.v[i], &ss->recent[STATUS_RECENT - 1 - k++]);
	for (size_t k = 0; k < STATUS_RECENT; k++)
		if (ss->recent[k].id[0])
			ss->recent[ss->nrecent++] = ss->recent[k];
	for (size_t i = ss->nrecent; i < STATUS_RECENT; i++)
		memset(&ss->recent[i], 0, sizeof(ss->recent[i]));
	/* the two newest sets with a good manifest: the last backup and the
	 * one it is compared with */
	for (size_t i = l.n;
	     i-- > 0 && !ss->have_prev && tries < MANIFEST_TRIES && !cancel_signal;) {
		struct set_summary s;
		if (!l.v[i].complete || set_in_future(&l.v[i], now))
			continue;
		tries++;
		if (read_summary(inst, job->name, &l.v[i], &s, &err)) {
			if (!ss->error)
				ss->error = err;
			else
				free(err);
			err = NULL;
			continue;
		}
		if (s.partial) {
			/* a set without some of its sources is no complete
			 * backup: it neither resets max_age nor is compared */
			continue;
		}
		if (!ss->have_last) {
			ss->last = s;
			ss->have_last = 1;
		} else {
			ss->prev = s;
			ss->have_prev = 1;
		}
	}
	set_list_free(&l);
	gather_logs(reg, cfg, job, inst, ss);
	if (inst->lp->sink.usage && op_usage(inst, &ss->usage) == 0)
		ss->have_usage = 1;
	instance_destroy(inst);
}

int
status_gather(struct plugin_registry *reg, const struct config *cfg, const char *only,
              struct status_report *out)
{
	memset(out, 0, sizeof(*out));
	out->now = time(NULL);
	if (only && !config_job(cfg, only))
		return -1;
	out->jobs = xcalloc(cfg->njobs ? cfg->njobs : 1, sizeof(*out->jobs));
	for (size_t j = 0; j < cfg->njobs; j++) {
		const struct cfg_job *job = &cfg->jobs[j];
		struct job_status *js;
		struct job_state st;
		if (only && strcmp(only, job->name) != 0)
			continue;
		js = &out->jobs[out->njobs++];
		js->job = job;
		if (state_load(cfg->state_dir, job->name, &st, &js->state_error))
			memset(&st, 0, sizeof(st));
		logstatus_load_sources(reg, cfg, job);
		js->sinks = xcalloc(job->sinks.n ? job->sinks.n : 1, sizeof(*js->sinks));
		for (size_t k = 0; k < job->sinks.n; k++)
			status_gather_sink(reg, cfg, job, job->sinks.v[k], &st,
			                   &js->sinks[js->nsinks++]);
		state_free(&st);
	}
	return 0;
}

void
status_sink_free(struct sink_status *ss)
{
	free(ss->name);
	free(ss->plugin);
	free(ss->error);
	strvec_free(&ss->pinned);
	strvec_free(&ss->future);
	logstatus_free(ss->logs, ss->nlogs);
	free(ss->log_error);
	if (ss->state.name) {
		free(ss->state.name);
		free(ss->state.run.error);
		free(ss->state.verify.detail);
		free(ss->state.restore_test.detail);
	}
	memset(ss, 0, sizeof(*ss));
}

void
status_free(struct status_report *r)
{
	for (size_t j = 0; j < r->njobs; j++) {
		struct job_status *js = &r->jobs[j];
		for (size_t k = 0; k < js->nsinks; k++)
			status_sink_free(&js->sinks[k]);
		free(js->sinks);
		free(js->state_error);
	}
	free(r->jobs);
	memset(r, 0, sizeof(*r));
}

int
status_size_change(const struct sink_status *s, double *pct)
{
	*pct = 0;
	if (!s->have_last || !s->have_prev || s->prev.stored == 0)
		return 0;
	*pct = ((double)s->last.stored - (double)s->prev.stored) * 100.0 / (double)s->prev.stored;
	return 1;
}

int
status_usage_percent(const struct sink_status *s, double *pct)
{
	*pct = 0;
	if (!s->have_usage || s->usage.total == UINT64_MAX || s->usage.total == 0 ||
	    s->usage.avail == UINT64_MAX || s->usage.avail > s->usage.total)
		return 0;
	/* what is not available to us counts as used, as df does */
	*pct = (double)(s->usage.total - s->usage.avail) * 100.0 / (double)s->usage.total;
	return 1;
}

/* When the set was done: its manifest's finish, else its id's time. */
static time_t
set_done(const struct set_summary *s)
{
	return s->have_manifest && s->finished ? s->finished : s->time;
}

/* ------------------------------------------------------------ JSON */

/* pct to one decimal (without libm) */
static double
round1(double v)
{
	return (double)(long long)(v * 10 + (v >= 0 ? 0.5 : -0.5)) / 10;
}

static json_t *
backup_json(const struct set_summary *s, time_t now)
{
	json_t *o = json_pack("{s:s, s:o, s:o, s:I}", "id", s->id, "time",
	                      json_time_or_null(set_done(s)), "started",
	                      json_time_or_null(s->have_manifest ? s->started : s->time),
	                      "ageSeconds", (json_int_t)(now - set_done(s)));
	json_object_set_new(o, "finished",
	                    s->have_manifest ? json_time_or_null(s->finished) : json_null());
	json_object_set_new(o, "durationSeconds",
	                    s->have_manifest && s->finished >= s->started
	                            ? json_integer((json_int_t)(s->finished - s->started))
	                            : json_null());
	json_object_set_new(o, "storedBytes", json_bytes(s->have_manifest ? s->stored : s->bytes));
	json_object_set_new(o, "rawBytes", s->have_manifest ? json_bytes(s->raw) : json_null());
	json_object_set_new(o, "sources", json_integer((json_int_t)s->nsources));
	return o;
}

static json_t *
sink_json(const struct sink_status *ss, time_t now)
{
	json_t *o = json_object(), *recent = json_array();
	double pct;
	json_object_set_new(o, "name", json_string(ss->name));
	json_object_set_new(o, "plugin", json_string(ss->plugin));
	json_object_set_new(o, "reachable", json_boolean(ss->reachable));
	json_object_set_new(o, "error", json_string_or_null(ss->error));
	json_object_set_new(o, "sets", json_integer((json_int_t)ss->sets));
	json_object_set_new(o, "bytesKept", json_bytes(ss->bytes_kept));
	json_t *pins = json_array();
	for (size_t i = 0; i < ss->pinned.n; i++)
		json_array_append_new(pins, json_string(ss->pinned.v[i]));
	json_object_set_new(o, "pinned", pins);
	json_t *future = json_array();
	for (size_t i = 0; i < ss->future.n; i++)
		json_array_append_new(future, json_string(ss->future.v[i]));
	json_object_set_new(o, "futureSets", future);
	json_object_set_new(o, "lastBackup",
	                    ss->have_last ? backup_json(&ss->last, now) : json_null());
	json_object_set_new(o, "previousBackup",
	                    ss->have_prev ? backup_json(&ss->prev, now) : json_null());
	json_object_set_new(o, "sizeChangePercent",
	                    status_size_change(ss, &pct) ? json_real(round1(pct)) : json_null());
	for (size_t i = ss->nrecent; i-- > 0;) /* newest first */
		json_array_append_new(recent,
		                      json_pack("{s:s, s:o, s:o}", "id", ss->recent[i].id, "time",
		                                json_time_or_null(ss->recent[i].time), "bytes",
		                                json_bytes(ss->recent[i].bytes)));
	json_object_set_new(o, "recentBackups", recent);
	json_object_set_new(o, "lastRun",
	                    ss->state.run.status == RUN_NONE
	                            ? json_null()
	                            : json_pack("{s:s, s:o, s:o, s:o, s:o}", "status",
	                                        run_status_name(ss->state.run.status), "id",
	                                        ss->state.run.id[0] ? json_string(ss->state.run.id)
	                                                            : json_null(),
	                                        "error", json_string_or_null(ss->state.run.error),
	                                        "started", json_time_or_null(ss->state.run.started),
	                                        "finished",
	                                        json_time_or_null(ss->state.run.finished)));
	json_object_set_new(o, "lastSuccess", json_time_or_null(ss->state.last_ok));
	json_object_set_new(o, "runsSinceSuccess",
	                    json_pack("{s:I, s:I}", "partial", (json_int_t)ss->state.partial,
	                              "failed", (json_int_t)ss->state.failed));
	json_object_set_new(o, "lastVerify", state_test_json(&ss->state.verify));
	json_object_set_new(o, "lastRestoreTest", state_test_json(&ss->state.restore_test));
	if (ss->have_usage) {
		json_t *u = json_pack("{s:o}", "used", json_bytes(ss->usage.used));
		json_object_set_new(u, "avail",
		                    ss->usage.avail == UINT64_MAX ? json_null()
		                                                  : json_bytes(ss->usage.avail));
		json_object_set_new(u, "total",
		                    ss->usage.total == UINT64_MAX ? json_null()
		                                                  : json_bytes(ss->usage.total));
		json_object_set_new(u, "percent",
		                    status_usage_percent(ss, &pct) ? json_real(round1(pct))
		                                                   : json_null());
		json_object_set_new(o, "usage", u);
	} else {
		json_object_set_new(o, "usage", json_null());
	}
	json_t *logs = json_array();
	for (size_t i = 0; i < ss->nlogs; i++)
		json_array_append_new(logs, logstatus_json(&ss->logs[i], now));
	json_object_set_new(o, "logs", logs);
	json_object_set_new(o, "logError", json_string_or_null(ss->log_error));
	return o;
}

static json_t *
job_json(const struct job_status *js, time_t now)
{
	json_t *sinks = json_array();
	for (size_t k = 0; k < js->nsinks; k++)
		json_array_append_new(sinks, sink_json(&js->sinks[k], now));
	return json_pack("{s:s, s:o, s:o, s:o}", "name", js->job->name, "description",
	                 json_string_or_null(js->job->description), "stateError",
	                 json_string_or_null(js->state_error), "sinks", sinks);
}

json_t *
status_job_json(const struct status_report *r, const char *job)
{
	for (size_t j = 0; j < r->njobs; j++)
		if (strcmp(r->jobs[j].job->name, job) == 0) {
			json_t *o = json_pack("{s:i, s:o}", "version", STATUS_JSON_VERSION,
			                      "generated", json_time_or_null(r->now));
			json_object_set_new(o, "job", job_json(&r->jobs[j], r->now));
			return o;
		}
	return NULL;
}

/* One of the newest backups of all jobs and sinks, for recentBackups. */
struct recent_ref {
	const char *job, *sink;
	const struct set_summary *s;
};

static int
cmp_recent(const void *a, const void *b)
{
	const struct recent_ref *x = a, *y = b;
	int c = strcmp(y->s->id, x->s->id); /* newest first */
	if (!c)
		c = strcmp(x->job, y->job);
	return c ? c : strcmp(x->sink, y->sink);
}

json_t *
status_json(const struct status_report *r)
{
	json_t *jobs = json_array(), *recent = json_array(), *o;
	struct recent_ref *refs;
	size_t nrefs = 0, cap = 0;
	uint64_t used = 0;
	time_t last = 0;
	const char *last_job = NULL, *last_sink = NULL;
	const struct set_summary *last_s = NULL;

	for (size_t j = 0; j < r->njobs; j++)
		for (size_t k = 0; k < r->jobs[j].nsinks; k++)
			cap += r->jobs[j].sinks[k].nrecent;
	refs = xcalloc(cap ? cap : 1, sizeof(*refs));
	for (size_t j = 0; j < r->njobs; j++) {
		const struct job_status *js = &r->jobs[j];
		json_array_append_new(jobs, job_json(js, r->now));
		for (size_t k = 0; k < js->nsinks; k++) {
			const struct sink_status *ss = &js->sinks[k];
			used += ss->bytes_kept;
			if (ss->have_last && set_done(&ss->last) > last) {
				last = set_done(&ss->last);
				last_job = js->job->name;
				last_sink = ss->name;
				last_s = &ss->last;
			}
			for (size_t i = 0; i < ss->nrecent; i++)
				refs[nrefs++] = (struct recent_ref){js->job->name, ss->name,
				                                    &ss->recent[i]};
		}
	}
	qsort(refs, nrefs, sizeof(*refs), cmp_recent);
	for (size_t i = 0; i < nrefs && i < STATUS_RECENT; i++)
		json_array_append_new(recent,
		                      json_pack("{s:s, s:s, s:s, s:o, s:o}", "job", refs[i].job,
		                                "sink", refs[i].sink, "id", refs[i].s->id, "time",
		                                json_time_or_null(refs[i].s->time), "bytes",
		                                json_bytes(refs[i].s->bytes)));
	free(refs);
	o = json_pack("{s:i, s:o}", "version", STATUS_JSON_VERSION, "generated",
	              json_time_or_null(r->now));
	if (last_s) {
		json_t *lb = backup_json(last_s, r->now);
		json_object_set_new(lb, "job", json_string(last_job));
		json_object_set_new(lb, "sink", json_string(last_sink));
		json_object_set_new(o, "lastBackup", lb);
	} else {
		json_object_set_new(o, "lastBackup", json_null());
	}
	json_object_set_new(o, "recentBackups", recent);
	json_object_set_new(o, "storageUsed", json_bytes(used));
	json_object_set_new(o, "jobs", jobs);
	return o;
}

/* ----------------------------------------------------------- check */

static const char *const state_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

const char *
check_state_name(enum check_state s)
{
	return state_names[s];
}

static void __attribute__((format(printf, 3, 4)))
problem(struct check_result *c, enum check_state level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n].level = level;
	c->v[c->n++].text = text;
}

/* "25h", "1d 2h", "30m", "45s" */
static void
format_age(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s >= 86400 && s % 3600 == 0)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else if (s >= 86400)
		snprintf(buf, len, "%lldh %lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
	else if (s >= 3600)
		snprintf(buf, len, s % 3600 ? "%lldh %lldm" : "%lldh", (long long)(s / 3600),
		         (long long)(s / 60 % 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
}

/* Which level value v reaches (above warn, above crit), or OK. */
static enum check_state
level_of(double v, const struct check_level *lv, double *limit)
{
	if (lv->crit && v > (double)lv->crit) {
		*limit = (double)lv->crit;
		return CHECK_CRITICAL;
	}
	if (lv->warn && v > (double)lv->warn) {
		*limit = (double)lv->warn;
		return CHECK_WARNING;
	}
	return CHECK_OK;
}

/* The level for "none at all": the highest level the rule has. */
static enum check_state
level_none(const struct check_level *lv)
{
	return lv->crit ? CHECK_CRITICAL : lv->warn ? CHECK_WARNING : CHECK_OK;
}

static void
perf_add(char **perf, const char *job, const char *sink, const char *what, const char *value,
         const struct check_level *lv, const char *unit_max)
{
	char w[32] = "", c[32] = "";
	char *old = *perf;
	if (lv && lv->warn)
		snprintf(w, sizeof(w), "%lld", (long long)lv->warn);
	if (lv && lv->crit)
		snprintf(c, sizeof(c), "%lld", (long long)lv->crit);
	*perf = xasprintf("%s%s'%s/%s %s'=%s;%s;%s;%s", old ? old : "", old ? " " : "", job, sink,
	                  what, value, w, c, unit_max ? unit_max : "");
	free(old);
}

/* The last run did not give this sink a complete set: said also when the
 * sink cannot be read now, as the run that found it down is recorded. */
static void
check_run(const char *job, const struct sink_status *ss, struct check_result *c)
{
	if (ss->state.run.status == RUN_FAILED || ss->state.run.status == RUN_PARTIAL)
		problem(c, CHECK_WARNING, "%s in %s: the last backup run%s%s %s: %s", job, ss->name,
		        ss->state.run.id[0] ? " " : "", ss->state.run.id,
		        ss->state.run.status == RUN_FAILED ? "failed" : "was partial",
		        ss->state.run.error ? ss->state.run.error : "no detail");
}

static int
sink_has_log(const struct sink_status *ss, const char *source)
{
	for (size_t k = 0; k < ss->nlogs; k++)
		if (ss->logs[k].segments && strcmp(ss->logs[k].source, source) == 0)
			return 1;
	return 0;
}

/* The first sink of the job with segments of source's log. */
static size_t
log_first_holder(const struct job_status *js, const char *source)
{
	for (size_t o = 0; o < js->nsinks; o++)
		if (sink_has_log(&js->sinks[o], source))
			return o;
	return SIZE_MAX;
}

/* The job's change logs in this sink, for the sources that follow and
 * have log objects: the lag against max_log_lag, every gap and hole
 * (critical: restore --at cannot cross it), damage.  A source whose log
 * another sink of the job holds but this one lacks counts as no log at
 * all. */
static void
check_logs(const struct job_status *js, const struct sink_status *ss, time_t now,
           struct check_result *c)
{
	const struct check_level *ml = &js->job->check.max_log_lag;
	const char *job = js->job->name, *sink = ss->name;
	char a[32], b[32], v[64], iv[96];
	double limit = 0;

	if (ss->log_error)
		problem(c, CHECK_UNKNOWN, "%s in %s: the change logs cannot be listed: %s", job,
		        sink, ss->log_error);
	for (size_t i = 0; i < ss->nlogs; i++) {
		const struct log_summary *ls = &ss->logs[i];
		if (!ls->can_follow)
			continue;
		if (ls->segments && ls->to_ms / 1000 > (int64_t)now + BACKUP_ID_FUTURE_TOLERANCE) {
			/* no lag can be told from it, and it would hide any */
			log_time_format(ls->to_ms, iv, sizeof(iv));
			problem(c, CHECK_WARNING,
			        "%s in %s: the newest segment of the log of %s ends at %s, in the future (a host with a wrong clock, or planted): its lag cannot be told; see cairn list %s",
			        job, sink, ls->source, iv, job);
		} else if (ls->segments) {
			double lag = logstatus_lag(ls, now);
			enum check_state lv = level_of(lag, ml, &limit);
			format_age((int64_t)lag, a, sizeof(a));
			format_age((int64_t)limit, b, sizeof(b));
			log_time_format(ls->to_ms, iv, sizeof(iv));
			if (lv)
				problem(c, lv,
				        "%s in %s: the log of %s is %s behind: its newest segment ends at %s (max_log_lag %s); is cairn follow %s running?",
				        job, sink, ls->source, a, iv, b, job);
			char *what = xasprintf("%s log_lag", ls->source);
			snprintf(v, sizeof(v), "%llds", (long long)lag);
			perf_add(&c->perfdata, job, sink, what, v, ml, "0;");
			free(what);
		}
		for (size_t k = 0; k < ls->nbreaks; k++) {
			const struct log_break *br = &ls->breaks[k];
			logstatus_interval(&br->from, &br->to, iv, sizeof(iv));
			problem(c, CHECK_CRITICAL,
			        "%s in %s: the log of %s has a %s %s: %s; restore --at cannot reach a time inside it, see cairn list %s",
			        job, sink, ls->source, br->kind == LOG_BREAK_GAP ? "gap" : "hole",
			        iv, br->reason, job);
		}
		for (size_t k = 0; k < ls->damage.n; k++)
			problem(c, CHECK_CRITICAL,
			        "%s in %s: the log of %s is damaged: %s; see cairn verify %s", job,
			        sink, ls->source, ls->damage.v[k], job);
	}
	/* a source with segments in another sink of the job, none here */
	if (!ss->reachable || ss->log_error || !level_none(ml))
		return;
	for (size_t o = 0; o < js->nsinks; o++)
		for (size_t i = 0; i < js->sinks[o].nlogs; i++) {
			const struct log_summary *ls = &js->sinks[o].logs[i];
			if (!ls->can_follow || !ls->segments ||
			    log_first_holder(js, ls->source) != o || sink_has_log(ss, ls->source))
				continue;
			problem(c, level_none(ml),
			        "%s in %s: no segment of the log of %s, which %s holds; is the sink failing for cairn follow %s?",
			        job, sink, ls->source, js->sinks[o].name, job);
		}
}

static void
check_sink(const struct job_status *js, const struct sink_status *ss, time_t now,
           struct check_result *c)
{
	const struct cfg_check *ck = &js->job->check;
	const char *job = js->job->name, *sink = ss->name;
	char a[32], b[32], v[64];
	double pct, limit = 0;
	enum check_state lv;

	if (!ss->reachable) {
		problem(c, CHECK_UNKNOWN, "%s in %s: the sink cannot be read: %s", job, sink,
		        ss->error ? ss->error : "unknown error");
		check_run(job, ss, c);
		return;
	}
	/* max_age */
	if (!ss->have_last) {
		lv = level_none(&ck->max_age);
		if (lv)
			problem(c, lv, "%s in %s: no complete backup at all%s", job, sink,
			        ss->sets ? " with a readable manifest" : "");
	} else {
		int64_t age = (int64_t)(now - set_done(&ss->last));
		lv = level_of((double)age, &ck->max_age, &limit);
		format_age(age, a, sizeof(a));
		format_age((int64_t)limit, b, sizeof(b));
		if (lv)
			problem(c, lv,
			        "%s in %s: the last complete backup %s is %s old (max_age %s)", job,
			        sink, ss->last.id, a, b);
		snprintf(v, sizeof(v), "%llds", (long long)age);
		perf_add(&c->perfdata, job, sink, "age", v, &ck->max_age, "0;");
		snprintf(v, sizeof(v), "%lluB",
		         (unsigned long long)(ss->last.have_manifest ? ss->last.stored
		                                                     : ss->last.bytes));
		perf_add(&c->perfdata, job, sink, "size", v, NULL, "0;");
	}
	/* max_size_drop */
	if (status_size_change(ss, &pct)) {
		lv = level_of(-pct, &ck->max_size_drop, &limit);
		if (lv) {
			char now_s[32], prev_s[32];
			format_bytes(ss->last.stored, now_s, sizeof(now_s));
			format_bytes(ss->prev.stored, prev_s, sizeof(prev_s));
			problem(c, lv,
			        "%s in %s: backup %s stores %s, %.1f %% less than %s before it (max_size_drop %.0f %%)",
			        job, sink, ss->last.id, now_s, -pct, prev_s, limit);
		}
		snprintf(v, sizeof(v), "%.1f%%", pct < 0 ? -pct : 0.0);
		perf_add(&c->perfdata, job, sink, "size_drop", v, &ck->max_size_drop, "0;");
	}
	/* verify and restore test */
	if (ss->state.verify.time && !ss->state.verify.ok)
		problem(c, CHECK_CRITICAL, "%s in %s: the last verify (of %s) failed: %s", job,
		        sink, ss->state.verify.id[0] ? ss->state.verify.id : "?",
		        ss->state.verify.detail ? ss->state.verify.detail : "no detail");
	if (ss->state.restore_test.time && !ss->state.restore_test.ok)
		problem(c, CHECK_CRITICAL, "%s in %s: the last restore test (of %s) failed: %s",
		        job, sink, ss->state.restore_test.id[0] ? ss->state.restore_test.id : "?",
		        ss->state.restore_test.detail ? ss->state.restore_test.detail
		                                      : "no detail");
	if (ck->max_verify_age.warn || ck->max_verify_age.crit) {
		if (!ss->state.verify.time) {
			lv = level_none(&ck->max_verify_age);
			problem(c, lv, "%s in %s: never verified (max_verify_age set)", job, sink);
		} else {
			int64_t age = (int64_t)(now - ss->state.verify.time);
			lv = level_of((double)age, &ck->max_verify_age, &limit);
			format_age(age, a, sizeof(a));
			format_age((int64_t)limit, b, sizeof(b));
			if (lv)
				problem(c, lv,
				        "%s in %s: the last verify was %s ago (max_verify_age %s)",
				        job, sink, a, b);
			snprintf(v, sizeof(v), "%llds", (long long)age);
			perf_add(&c->perfdata, job, sink, "verify_age", v, &ck->max_verify_age,
			         "0;");
		}
	}
	/* max_usage */
	if (status_usage_percent(ss, &pct)) {
		lv = level_of(pct, &ck->max_usage, &limit);
		if (lv) {
			format_bytes(ss->usage.avail, a, sizeof(a));
			problem(c, lv,
			        "%s in %s: the sink is %.1f %% full, %s free (max_usage %.0f %%)",
			        job, sink, pct, a, limit);
		}
		snprintf(v, sizeof(v), "%.1f%%", pct);
		perf_add(&c->perfdata, job, sink, "usage", v, &ck->max_usage, "0;100");
	}
	/* a manifest that cannot be read or believed (damaged, or a planted
	 * directory): the set counts for nothing, and is said */
	if (ss->error)
		problem(c, CHECK_WARNING,
		        "%s in %s: a damaged set, not counted: %s; see cairn verify %s --all", job,
		        sink, ss->error, job);
	for (size_t i = 0; i < ss->future.n; i++)
		problem(c, CHECK_WARNING,
		        "%s in %s: set %s: id lies in the future; a host with a wrong clock, or planted: not counted, see cairn list %s",
		        job, sink, ss->future.v[i], job);
	check_logs(js, ss, now, c);
	check_run(job, ss, c);
}

static int
rank(enum check_state s)
{
	static const int r[] = {0, 1, 3, 2}; /* critical outranks unknown */
	return r[s];
}

static int
cmp_problem(const void *a, const void *b)
{
	return rank(((const struct check_problem *)b)->level) -
	       rank(((const struct check_problem *)a)->level);
}

void
check_evaluate(const struct status_report *r, struct check_result *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t j = 0; j < r->njobs; j++) {
		const struct job_status *js = &r->jobs[j];
		if (js->state_error)
			problem(out, CHECK_WARNING, "%s: %s", js->job->name, js->state_error);
		for (size_t k = 0; k < js->nsinks; k++)
			check_sink(js, &js->sinks[k], r->now, out);
	}
	/* stable order within a level: qsort is not stable, so sort by
	 * level with the original index as tie-breaker */
	for (size_t i = 1; i < out->n; i++)
		for (size_t k = i; k > 0 && cmp_problem(&out->v[k - 1], &out->v[k]) > 0; k--) {
			struct check_problem t = out->v[k];
			out->v[k] = out->v[k - 1];
			out->v[k - 1] = t;
		}
	out->state = CHECK_OK;
	for (size_t i = 0; i < out->n; i++)
		if (rank(out->v[i].level) > rank(out->state))
			out->state = out->v[i].level;
}

void
check_result_free(struct check_result *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].text);
	free(c->v);
	free(c->perfdata);
	memset(c, 0, sizeof(*c));
}
