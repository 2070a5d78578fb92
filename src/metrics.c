/* metrics.c - see metrics.h */
#include "autoconf.h"

#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct buf {
	char *s;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *t = xvasprintf(fmt, ap);
	va_end(ap);
	size_t n = strlen(t);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, t, n + 1);
	b->len += n;
	free(t);
}

/* A label value: backslash, double quote and newline escaped. */
static char *
label(const char *s)
{
	struct buf b = {0};
	put(&b, "%s", "");
	for (; *s; s++) {
		if (*s == '\\')
			put(&b, "\\\\");
		else if (*s == '"')
			put(&b, "\\\"");
		else if (*s == '\n')
			put(&b, "\\n");
		else
			put(&b, "%c", *s);
	}
	return b.s;
}

enum which {
	M_UP,
	M_LAST_SUCCESS,
	M_LAST_SIZE,
	M_LAST_RAW,
	M_LAST_DURATION,
	M_SETS,
	M_KEPT,
	M_FAILED_RUNS,
	M_PARTIAL_RUNS,
	M_VERIFY_OK,
	M_VERIFY_TIME,
	M_RTEST_OK,
	M_RTEST_TIME,
	M_NWHICH
};

static const struct {
	const char *name, *help;
} metric[] = {
        [M_UP] = {"cairn_sink_up", "1 when the sink could be listed, else 0"},
        [M_LAST_SUCCESS] = {"cairn_backup_last_success_timestamp_seconds",
                            "when the newest complete backup set finished"},
        [M_LAST_SIZE] = {"cairn_backup_last_stored_bytes", "bytes the newest complete set stores"},
        [M_LAST_RAW] = {"cairn_backup_last_raw_bytes",
                        "bytes the sources wrote for the newest complete set"},
        [M_LAST_DURATION] = {"cairn_backup_last_duration_seconds",
                             "how long the newest complete backup took"},
        [M_SETS] = {"cairn_backup_sets", "complete backup sets kept"},
        [M_KEPT] = {"cairn_backup_kept_bytes", "bytes of all complete sets kept"},
        [M_FAILED_RUNS] = {"cairn_backup_failed_runs_since_success",
                           "failed backup runs since the last complete one"},
        [M_PARTIAL_RUNS] = {"cairn_backup_partial_runs_since_success",
                            "partial backup runs since the last complete one"},
        [M_VERIFY_OK] = {"cairn_verify_last_success", "1 when the last verify found no damage"},
        [M_VERIFY_TIME] = {"cairn_verify_last_timestamp_seconds", "when the last verify ended"},
        [M_RTEST_OK] = {"cairn_restore_test_last_success", "1 when the last restore test passed"},
        [M_RTEST_TIME] = {"cairn_restore_test_last_timestamp_seconds",
                          "when the last restore test ended"},
};

/* Does the sample exist, and its value. */
static int
sample(const struct sink_status *ss, enum which w, double *v)
{
	const struct set_summary *l = &ss->last;
	switch (w) {
	case M_UP: *v = ss->reachable; return 1;
	case M_LAST_SUCCESS:
		*v = (double)(l->finished ? l->finished : l->time);
		return ss->have_last;
	case M_LAST_SIZE: *v = (double)l->stored; return ss->have_last;
	case M_LAST_RAW: *v = (double)l->raw; return ss->have_last;
	case M_LAST_DURATION:
		*v = (double)(l->finished - l->started);
		return ss->have_last && l->finished >= l->started;
	case M_SETS: *v = (double)ss->sets; return ss->reachable;
	case M_KEPT: *v = (double)ss->bytes_kept; return ss->reachable;
	case M_FAILED_RUNS: *v = ss->state.failed; return 1;
	case M_PARTIAL_RUNS: *v = ss->state.partial; return 1;
	case M_VERIFY_OK: *v = ss->state.verify.ok; return ss->state.verify.time != 0;
	case M_VERIFY_TIME: *v = (double)ss->state.verify.time; return ss->state.verify.time != 0;
	case M_RTEST_OK: *v = ss->state.restore_test.ok; return ss->state.restore_test.time != 0;
	case M_RTEST_TIME:
		*v = (double)ss->state.restore_test.time;
		return ss->state.restore_test.time != 0;
	default: return 0;
	}
}

/* Sink usage belongs to the sink, not to a job: one sample per sink. */
static void
usage_metrics(struct buf *b, const struct status_report *r)
{
	static const char *const names[] = {"cairn_sink_used_bytes", "cairn_sink_avail_bytes",
	                                    "cairn_sink_total_bytes"};
	static const char *const helps[] = {"bytes the sink's objects take",
	                                    "bytes still free for the sink",
	                                    "size of the sink's store"};
	for (int m = 0; m < 3; m++) {
		struct strvec seen = {0};
		for (size_t j = 0; j < r->njobs; j++)
			for (size_t k = 0; k < r->jobs[j].nsinks; k++) {
				const struct sink_status *ss = &r->jobs[j].sinks[k];
				uint64_t v = m == 0   ? ss->usage.used
				             : m == 1 ? ss->usage.avail
				                      : ss->usage.total;
				if (!ss->have_usage || v == UINT64_MAX ||
				    strvec_contains(&seen, ss->name))
					continue;
				if (!seen.n)
					put(b, "# HELP %s %s\n# TYPE %s gauge\n", names[m],
					    helps[m], names[m]);
				strvec_push(&seen, ss->name);
				char *sink = label(ss->name);
				put(b, "%s{sink=\"%s\"} %llu\n", names[m], sink,
				    (unsigned long long)v);
				free(sink);
			}
		strvec_free(&seen);
	}
}

/* The change logs: one sample per job, source and sink. */
static void
log_metrics(struct buf *b, const struct status_report *r)
{
	static const struct {
		const char *name, *help;
		int need_segments;
	} lm[] = {
	        {"cairn_log_lag_seconds", "seconds since the time the newest log segment ends", 1},
	        {"cairn_log_newest_timestamp_seconds", "the time the newest log segment ends", 1},
	        {"cairn_log_oldest_timestamp_seconds", "the time the oldest log segment starts", 1},
	        {"cairn_log_segments", "committed log segments kept", 0},
	        {"cairn_log_kept_bytes", "bytes of the log segments kept", 0},
	        {"cairn_log_gaps", "breaks in the log: gap records and holes between segments", 0},
	};
	for (size_t m = 0; m < sizeof(lm) / sizeof(lm[0]); m++) {
		int any = 0;
		for (size_t j = 0; j < r->njobs; j++)
			for (size_t k = 0; k < r->jobs[j].nsinks; k++) {
				const struct sink_status *ss = &r->jobs[j].sinks[k];
				for (size_t i = 0; i < ss->nlogs; i++) {
					const struct log_summary *ls = &ss->logs[i];
					double v[] = {logstatus_lag(ls, r->now),
					              (double)ls->to_ms / 1000.0,
					              (double)ls->from_ms / 1000.0,
					              (double)ls->segments,
					              (double)ls->bytes,
					              (double)(ls->ngaps + ls->nholes)};
					if (lm[m].need_segments && !ls->segments)
						continue;
					if (!any++)
						put(b, "# HELP %s %s\n# TYPE %s gauge\n",
						    lm[m].name, lm[m].help, lm[m].name);
					char *job = label(r->jobs[j].job->name),
					     *source = label(ls->source), *sink = label(ss->name);
					/* to the millisecond, as the log's times are */
					put(b, "%s{job=\"%s\",source=\"%s\",sink=\"%s\"} %.*f\n",
					    lm[m].name, job, source, sink,
					    v[m] == (double)(int64_t)v[m] ? 0 : 3, v[m]);
					free(job);
					free(source);
					free(sink);
				}
			}
	}
}

char *
metrics_text(const struct status_report *r)
{
	struct buf b = {0};
	put(&b, "%s", "");
	for (int w = 0; w < M_NWHICH; w++) {
		int any = 0;
		for (size_t j = 0; j < r->njobs; j++)
			for (size_t k = 0; k < r->jobs[j].nsinks; k++) {
				const struct sink_status *ss = &r->jobs[j].sinks[k];
				double v;
				if (!sample(ss, (enum which)w, &v))
					continue;
				if (!any++)
					put(&b, "# HELP %s %s\n# TYPE %s gauge\n", metric[w].name,
					    metric[w].help, metric[w].name);
				char *job = label(r->jobs[j].job->name), *sink = label(ss->name);
				put(&b, "%s{job=\"%s\",sink=\"%s\"} %.17g\n", metric[w].name, job,
				    sink, v);
				free(job);
				free(sink);
			}
	}
	usage_metrics(&b, r);
	log_metrics(&b, r);
	{
		struct check_result cr;
		check_evaluate(r, &cr);
		put(&b,
		    "# HELP cairn_check_status cairn check's result: 0 ok, 1 warning, 2 critical, 3 unknown\n# TYPE cairn_check_status gauge\ncairn_check_status %d\n",
		    (int)cr.state);
		check_result_free(&cr);
	}
	put(&b,
	    "# HELP cairn_status_generated_timestamp_seconds when these metrics were made\n"
	    "# TYPE cairn_status_generated_timestamp_seconds gauge\n"
	    "cairn_status_generated_timestamp_seconds %lld\n",
	    (long long)r->now);
	return b.s;
}

int
metrics_write(const char *path, const char *text, char **err)
{
	enum atomic_step step;
	if (!write_file_atomic(path, "cairn-metrics", text, strlen(text), 0644, &step, NULL))
		return 0;
	if (step == ATOMIC_CREATE) {
		int e = errno;
		char *dir = path_dirname(path);
		*err = xasprintf(
		        "cannot create a file in %s for the metrics: %s; check metrics_file", dir,
		        strerror(e));
		free(dir);
	} else {
		*err = xasprintf("cannot write the metrics file %s: %s", path, strerror(errno));
	}
	return -1;
}

void
metrics_refresh(const struct config *cfg, struct plugin_registry *reg)
{
	struct status_report r;
	char *text, *err = NULL;
	if (!cfg || !cfg->metrics_file)
		return;
	status_gather(reg, cfg, NULL, &r);
	text = metrics_text(&r);
	status_free(&r);
	if (metrics_write(cfg->metrics_file, text, &err)) {
		log_warn("%s", err);
		free(err);
	}
	free(text);
}
