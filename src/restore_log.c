/* restore_log.c - see restore_log.h */
#include "autoconf.h"

#include "restore_log.h"

#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "timeutil.h"
#include "util.h"

/* The plugin of [source name], loaded, or NULL (said when the source
 * is made). */
static struct loaded_plugin *
source_plugin(struct plugin_registry *reg, const struct config *cfg, const char *name)
{
	const struct cfg_section *sec = config_section(cfg, SECTION_SOURCE, name);
	struct loaded_plugin *lp;
	char *err = NULL;
	if (!sec)
		return NULL;
	if (!(lp = registry_load(reg, sec->plugin, &err)))
		free(err);
	return lp;
}

int
restore_logs_wanted(struct plugin_registry *reg, const struct config *cfg,
                    const struct cfg_job *job)
{
	for (size_t i = 0; i < job->sources.n; i++) {
		struct loaded_plugin *lp = source_plugin(reg, cfg, job->sources.v[i]);
		if (lp && lp->source.replay)
			return 1;
	}
	return 0;
}

int
restore_logs_load(struct restore_logs *rl, struct instance *sink, const char *job, char **err)
{
	return logcat_load(sink, job, NULL, 1, &rl->cat, err);
}

int
restore_logs_has(void *ud, const char *name)
{
	struct restore_logs *rl = ud;
	const struct log_source *ls = logcat_source(&rl->cat, name);
	struct loaded_plugin *lp;
	if (!ls || !ls->nsegs)
		return 0;
	lp = source_plugin(rl->reg, rl->cfg, name);
	return lp && lp->source.replay;
}

void
restore_log_at(int64_t reach_ms, char *out, size_t len)
{
	int64_t s = reach_ms >= 999 ? (reach_ms - 999) / 1000 : 0;
	iso8601_format_utc((time_t)s, out, len);
}

/* The chain's break as one line, with how to restore what can be. */
static char *
break_line(const char *job, const struct restore_step *st, const char *why, int64_t reach)
{
	char at[40];
	if (reach == INT64_MIN || reach < st->after.time_ms + 999)
		return xasprintf(
		        "%s; restore the base set alone with cairn restore %s --id %s --source %s",
		        why, job, st->id, st->ms->name);
	restore_log_at(reach, at, sizeof(at));
	return xasprintf("%s; restore up to then with cairn restore %s --at %s --source %s", why,
	                 job, at, st->ms->name);
}

int
restore_logs_run(struct restore_logs *rl, const char *job, struct instance *sink,
                 const struct restore_step *st, struct instance *src, int64_t until_ms,
                 unsigned flags, struct restore_log_done *done, char **err)
{
	const struct log_source *ls = logcat_source(&rl->cat, st->ms->name);
	const struct log_segment **v = NULL;
	char *why = NULL;
	size_t n = 0;
	int rc;
	memset(done, 0, sizeof(*done));
	if (!ls) { /* restore_logs_has() said it has one */
		*err = xasprintf("%s: no log of source %s", sink->ctx.label, st->ms->name);
		return CAIRN_E_NOTFOUND;
	}
	if (logcat_chain(ls, &st->after, until_ms, &v, &n, &done->reach_ms, &why)) {
		*err = break_line(job, st, why, done->reach_ms);
		free(why);
		return CAIRN_E_CORRUPT;
	}
	done->nsegs = n;
	struct replay_request rq = {.sink = sink,
	                            .source = src,
	                            .base = st->ms,
	                            .segs = v,
	                            .nsegs = n,
	                            .restore_flags = flags,
	                            .after = st->after,
	                            .until_ms = until_ms};
	rc = pipeline_replay(&rq, err);
	free(v);
	return rc;
}

void
restore_logs_free(struct restore_logs *rl)
{
	logcat_free(&rl->cat);
	memset(&rl->cat, 0, sizeof(rl->cat));
}
