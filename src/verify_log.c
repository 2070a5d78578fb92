/* verify_log.c - see verify_log.h */
#include "autoconf.h"

#include "verify_log.h"

#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "logcat.h"
#include "progress.h"
#include "record.h"
#include "replay.h"
#include "restore_log.h"

/* One log's verify: what was found, the first failure for the record. */
struct log_check {
	struct cli *c;
	const struct cfg_job *job;
	struct instance *sink;
	const struct log_source *ls;
	enum verify_log_level level;
	int rc;      /* exit code so far */
	char *first; /* the first failure, one line */
	size_t gaps, holes;
};

/* A failure of this log: said on standard output, the first kept. */
static void
fail(struct log_check *k, int code, const char *line)
{
	print_line("%s/%s/%s in %s: %s: %s", k->job->name, LOG_DIR, k->ls->source, k->sink->name,
	           code == CAIRN_E_CORRUPT ? "DAMAGED" : "FAILED", line);
	if (!k->first)
		k->first = xstrdup(line);
	if (code == CAIRN_E_CANCELLED)
		k->rc = exit_for(code);
	else if (k->rc != CAIRN_EXIT_CORRUPT)
		k->rc = exit_for(code);
}

static int
same_pos(const struct cairn_log_pos *a, const struct cairn_log_pos *b)
{
	return a->lsn == b->lsn && (!a->text[0] || !b->text[0] || strcmp(a->text, b->text) == 0);
}

/* The gap record that joins a (where the log stopped) to b (where it
 * went on), or NULL. */
static const struct log_gap *
joining_gap(const struct log_source *ls, const struct cairn_log_pos *a,
            const struct cairn_log_pos *b)
{
	for (size_t g = 0; g < ls->ngaps; g++)
		if (same_pos(&ls->gaps[g].from, a) && same_pos(&ls->gaps[g].to, b))
			return &ls->gaps[g];
	return NULL;
}

/* Every gap record, said; every place where a segment does not continue
 * the one before and no gap record joins them is a hole (damage). */
static void
check_continuity(struct log_check *k)
{
	const struct log_source *ls = k->ls;
	char a[32], b[32];
	for (size_t g = 0; g < ls->ngaps; g++) {
		char *reason = str_escape(ls->gaps[g].reason ? ls->gaps[g].reason : "");
		log_time_format(ls->gaps[g].from.time_ms, a, sizeof(a));
		log_time_format(ls->gaps[g].to.time_ms, b, sizeof(b));
		log_warn(
		        "%s: the log of source %s in job %s has a gap from %s to %s (%s): no time in it can be restored",
		        k->sink->ctx.label, ls->source, k->job->name, a, b, reason);
		free(reason);
		k->gaps++;
	}
	for (size_t i = 1; i < ls->nsegs; i++) {
		const struct log_segment *p = &ls->segs[i - 1], *s = &ls->segs[i];
		if (same_pos(&p->to, &s->from) || joining_gap(ls, &p->to, &s->from))
			continue;
		log_time_format(p->to.time_ms, a, sizeof(a));
		log_time_format(s->from.time_ms, b, sizeof(b));
		char *line = xasprintf(
		        "the log has a hole from %s to %s: no segment continues %s, and %s does not start where it ends",
		        a, b, p->name, s->name);
		fail(k, CAIRN_E_CORRUPT, line);
		free(line);
		k->holes++;
	}
}

/* Size and SHA-256 of every segment; damage the listing found. */
static void
check_segments(struct log_check *k)
{
	for (size_t d = 0; d < k->ls->damage.n; d++)
		fail(k, CAIRN_E_CORRUPT, k->ls->damage.v[d]);
	progress_begin_phase(k->ls->source, "verifying log");
	for (size_t i = 0; i < k->ls->nsegs && !cancel_signal; i++) {
		char *err = NULL;
		int rc = replay_check_segment(k->sink, &k->ls->segs[i], &err);
		if (rc)
			fail(k, rc, err ? err : status_str(rc));
		free(err);
	}
	progress_end();
}

/* The instance of the log's source, as its newest segment's plugin. */
static int
log_source_instance(struct log_check *k, struct instance **src)
{
	const struct log_segment *newest = logcat_newest(k->ls);
	struct manifest_source ms = {.name = k->ls->source,
	                             .plugin = newest && newest->plugin ? newest->plugin : ""};
	int rc = source_for_manifest(k->c, &ms, &(struct strvec){0}, src);
	if (rc && !k->first) {
		k->first = xasprintf("source %s could not be made to check its log", k->ls->source);
		k->rc = k->rc ? k->rc : rc;
	}
	return rc;
}

/* The newest complete set of l holding the log's source (no overrides)
 * whose position the log continues, unbroken to its newest segment: its
 * entry in *ms, the chain in *v and *n.  0, or -1 when none is. */
static int
restore_test_base(struct log_check *k, struct set_list *l, const struct manifest_source **ms,
                  const struct log_segment ***v, size_t *n)
{
	const struct log_segment *newest = logcat_newest(k->ls);
	for (size_t i = l->n; newest && i-- > 0;) {
		const struct manifest *m;
		char *err = NULL, *why = NULL;
		int64_t reach;
		if (!l->v[i].complete || set_manifest(k->sink, k->job->name, &l->v[i], &m, &err)) {
			free(err);
			continue;
		}
		for (size_t s = 0; s < m->nsources; s++) {
			const struct manifest_source *e = &m->sources[s];
			const struct cairn_log_pos *pos = e->has_log_end     ? &e->log_end
			                                  : e->has_log_start ? &e->log_start
			                                                     : NULL;
			if (strcmp(e->name, k->ls->source) != 0 || e->overrides.n || !pos)
				continue;
			if (logcat_chain(k->ls, pos, INT64_MAX, v, n, &reach, &why) == 0 &&
			    reach >= newest->to.time_ms) {
				*ms = e;
				return 0;
			}
			free(why);
			free(*v);
			*v = NULL;
		}
	}
	return -1;
}

/* --restore-test: the base and the log to its end, somewhere harmless. */
static void
restore_test(struct log_check *k, struct instance *src)
{
	struct set_list l;
	const struct manifest_source *base = NULL;
	const struct log_segment **v = NULL;
	size_t n = 0;
	char *err = NULL;
	int rc;
	if ((rc = sets_list(k->sink, k->job->name, &l, &err))) {
		fail(k, rc, err);
		free(err);
		return;
	}
	if (restore_test_base(k, &l, &base, &v, &n)) {
		fail(k, CAIRN_E_NOTFOUND,
		     "no complete set of its source is continued by the log up to its newest segment, so it cannot be restored; take a full backup");
	} else {
		struct replay_request rq = {.sink = k->sink,
		                            .source = src,
		                            .base = base,
		                            .segs = v,
		                            .nsegs = n,
		                            .flags = CAIRN_REPLAY_TEST,
		                            .after = base->has_log_end ? base->log_end
		                                                       : base->log_start,
		                            .until_ms = INT64_MAX};
		log_info("%s: test restore of the log after its base %s/%s (%zu segment%s)",
		         src->ctx.label, k->job->name, base->object, n, n == 1 ? "" : "s");
		if ((rc = pipeline_replay(&rq, &err)))
			fail(k, rc, err ? err : status_str(rc));
		free(err);
	}
	free(v);
	set_list_free(&l);
}

/* --deep and --restore-test through the source's replay. */
static void
check_replay(struct log_check *k)
{
	struct instance *src = NULL;
	if (k->level == VERIFY_LOG_SUMS || k->rc || !k->ls->nsegs || log_source_instance(k, &src))
		return;
	if (k->level == VERIFY_LOG_RESTORE_TEST) {
		restore_test(k, src);
	} else {
		const struct log_segment **v = xcalloc(k->ls->nsegs, sizeof(*v));
		char *err = NULL;
		for (size_t i = 0; i < k->ls->nsegs; i++)
			v[i] = &k->ls->segs[i];
		struct replay_request rq = {.sink = k->sink,
		                            .source = src,
		                            .segs = v,
		                            .nsegs = k->ls->nsegs,
		                            .flags = CAIRN_REPLAY_PARSE,
		                            .until_ms = INT64_MAX};
		int rc = pipeline_replay(&rq, &err);
		if (rc)
			fail(k, rc, err ? err : status_str(rc));
		free(err);
		free(v);
	}
	instance_destroy(src);
}

/* The line of a log found good. */
static void
say_ok(const struct log_check *k)
{
	static const char *const what[] = {"", ", deep", ", restore-tested"};
	char a[32] = "", b[32] = "", gaps[48] = "";
	if (k->ls->nsegs) {
		log_time_format(k->ls->segs[0].from.time_ms, a, sizeof(a));
		log_time_format(logcat_newest(k->ls)->to.time_ms, b, sizeof(b));
	}
	if (k->gaps)
		snprintf(gaps, sizeof(gaps), "; %zu gap%s, see above", k->gaps,
		         k->gaps == 1 ? "" : "s");
	print_line("%s/%s/%s in %s: ok (%zu segment%s, %s to %s%s%s)", k->job->name, LOG_DIR,
	           k->ls->source, k->sink->name, k->ls->nsegs, k->ls->nsegs == 1 ? "" : "s", a, b,
	           what[k->level], gaps);
}

static void
json_log(json_t *results, const struct log_check *k)
{
	static const char *const words[] = {"sums", "deep", "restore-test"};
	if (results)
		json_array_append_new(
		        results,
		        json_pack("{s:s, s:s, s:s, s:s, s:b, s:s?, s:I, s:I, s:I}", "job",
		                  k->job->name, "sink", k->sink->name, "log", k->ls->source,
		                  "level", words[k->level], "ok", k->rc == 0, "detail",
		                  k->rc ? k->first : NULL, "segments", (json_int_t)k->ls->nsegs,
		                  "gaps", (json_int_t)k->gaps, "holes", (json_int_t)k->holes));
}

/* Verify one source's log.  An exit code. */
static int
verify_log(struct cli *c, const struct cfg_job *job, struct instance *sink,
           const struct log_source *ls, enum verify_log_level level, json_t *results)
{
	struct log_check k = {.c = c, .job = job, .sink = sink, .ls = ls, .level = level};
	char *id = xasprintf("%s/%s", LOG_DIR, ls->source);
	check_segments(&k);
	check_continuity(&k);
	if (!cancel_signal)
		check_replay(&k);
	if (cancel_signal) {
		k.rc = exit_for(CAIRN_E_CANCELLED);
	} else {
		if (!k.rc && !results)
			say_ok(&k);
		json_log(results, &k);
		/* a damaged log makes the sink's verify a failure, naming it;
		 * a good one leaves the sets' record as it is */
		if (k.rc) {
			record_verify(c->cfg, job, sink->name, id, 0, 0, k.first);
			if (level == VERIFY_LOG_RESTORE_TEST)
				record_verify(c->cfg, job, sink->name, id, 1, 0, k.first);
		}
	}
	free(id);
	free(k.first);
	return k.rc;
}

/* How bad an exit code is: an interruption, damage, another failure. */
static int
rank(int rc)
{
	return rc >= 128 ? 3 : rc == CAIRN_EXIT_CORRUPT ? 2 : rc ? 1 : 0;
}

int
verify_logs(struct cli *c, const struct cfg_job *job, struct instance *sink,
            enum verify_log_level level, json_t *results)
{
	struct log_catalog cat = {0};
	char *err = NULL;
	int rc, worst = 0;
	/* logs are stored only for sources that can replay them */
	if (!restore_logs_wanted(&c->reg, c->cfg, job))
		return 0;
	if ((rc = logcat_load(sink, job->name, NULL, 1, &cat, &err))) {
		print_line("%s/%s in %s: %s: %s", job->name, LOG_DIR, sink->name,
		           rc == CAIRN_E_CORRUPT ? "DAMAGED" : "FAILED", err);
		free(err);
		return exit_for(rc);
	}
	for (size_t i = 0; i < cat.n && !cancel_signal; i++) {
		const struct log_source *ls = &cat.v[i];
		if (!ls->nsegs && !ls->ngaps && !ls->damage.n)
			continue;
		rc = verify_log(c, job, sink, ls, level, results);
		if (rank(rc) > rank(worst))
			worst = rc;
	}
	logcat_free(&cat);
	return worst;
}
