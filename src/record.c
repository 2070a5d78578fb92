/* record.c - see record.h */
#include "autoconf.h"

#include "record.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "state.h"
#include "timeutil.h"

struct run_note {
	const struct backup_record *br;
	time_t started, finished;
};

/* What one sink of the run is recorded as; 0 when its record stays. */
static enum run_status
sink_run(const struct backup_record *br, const char *name, char **text)
{
	const struct backup_outcome *res = br->res;
	const struct sink_outcome *o = NULL;
	*text = NULL;
	for (size_t i = 0; i < br->dropped->n; i++)
		if (strcmp(br->dropped->v[i], name) == 0) {
			*text = xstrdup(br->why->v[i]);
			return RUN_FAILED;
		}
	for (size_t i = 0; res && i < br->nsinks; i++)
		if (strcmp(br->sinks[i]->name, name) == 0)
			o = &res->sinks[i];
	if (!o) {
		*text = xstrdup("the sink was left out of the run");
		return RUN_FAILED;
	}
	if (o->ok && res->nfailed) {
		/* a set, but without the sources that failed */
		struct strvec names = {0};
		for (size_t f = 0; f < res->nfailed; f++)
			strvec_push(&names, res->failed[f].name);
		char *list = strvec_join(&names, ", ");
		*text = xasprintf("partial: source%s %s failed: %s", names.n == 1 ? "" : "s", list,
		                  res->failed[0].error ? res->failed[0].error : "no detail");
		free(list);
		strvec_free(&names);
		return RUN_PARTIAL;
	}
	if (o->ok) /* a one-off run's set is no full backup of the job */
		return br->one_off ? RUN_NONE : RUN_OK;
	*text = xstrdup(res->cancelled      ? "interrupted"
	                : o->error          ? o->error
	                : res->source_error ? res->source_error
	                                    : "failed");
	return RUN_FAILED;
}

static void
note_run(struct job_state *st, void *ud)
{
	const struct run_note *n = ud;
	for (size_t k = 0; k < n->br->targets->n; k++) {
		const char *name = n->br->targets->v[k];
		char *text;
		enum run_status rs = sink_run(n->br, name, &text);
		if (rs != RUN_NONE)
			state_set_run(state_sink_add(st, name), rs, n->br->id, text, n->started,
			              n->finished);
		free(text);
	}
}

void
record_backup(const struct config *cfg, struct plugin_registry *reg, const struct cfg_job *job,
              const struct backup_record *br)
{
	struct run_note n = {br, 0, time(NULL)};
	char *err = NULL;
	if (backup_id_parse(br->id, &n.started))
		n.started = n.finished;
	if (state_update(cfg->state_dir, job->name, note_run, &n, &err)) {
		log_warn("cannot record the run of job %s for cairn status: %s", job->name, err);
		free(err);
	}
	metrics_refresh(cfg, reg);
}

struct test_note {
	const char *sink, *id, *detail;
	int restore_test, ok;
};

static void
note_test(struct job_state *st, void *ud)
{
	const struct test_note *n = ud;
	state_set_test(state_sink_add(st, n->sink), n->restore_test, n->id, n->ok, n->detail,
	               time(NULL));
}

void
record_verify(const struct config *cfg, const struct cfg_job *job, const char *sink, const char *id,
              int restore_test, int ok, const char *detail)
{
	struct test_note n = {sink, id, detail, restore_test, ok};
	char *err = NULL;
	if (state_update(cfg->state_dir, job->name, note_test, &n, &err)) {
		log_warn("cannot record the verify of job %s for cairn status: %s", job->name, err);
		free(err);
	}
}
