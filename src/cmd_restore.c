/* cmd_restore.c - restore a set (by default the newest) of a job's
 * sources, with --set overrides of their keys. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipeline.h"

/* What restore does: each source from the set that holds it. */
struct plan {
	const struct manifest_source **ms;
	const char **ids; /* the set of each */
	size_t n;
};

static void
plan_add(struct plan *p, const struct manifest_source *ms, const char *id)
{
	p->ms = xrealloc(p->ms, (p->n + 1) * sizeof(*p->ms));
	p->ids = xrealloc(p->ids, (p->n + 1) * sizeof(*p->ids));
	p->ms[p->n] = ms;
	p->ids[p->n++] = id;
}

/* Every --set must reach a source being restored and do something
 * there (check_sets()). */
static int
check_plan_sets(struct cli *c, const struct strvec *sets, const struct plan *p)
{
	const char **names = xcalloc(p->n ? p->n : 1, sizeof(*names));
	for (size_t s = 0; s < p->n; s++)
		names[s] = p->ms[s]->name;
	int rc = check_sets(c, sets, names, p->n, SET_RESTORE);
	free(names);
	return rc;
}

/* Why set m lacks source name, for messages: ": it failed in that run:
 * ERROR", ": it was left out of that run", or "". */
static char *
lack_reason(const struct manifest *m, const char *name)
{
	const struct manifest_failed *f = manifest_failed_source(m, name);
	if (!f)
		return xstrdup("");
	if (f->skipped)
		return xstrdup(" (it was left out of that run)");
	return xasprintf(" (it failed in that run: %s)", f->error);
}

/* "the newest set that has it is ID: cairn restore JOB --id ID --source
 * NAME", or that no set has it. */
static char *
pointer_to(struct instance *sink, const struct cfg_job *job, struct set_list *l, const char *name)
{
	const struct manifest *pm;
	const struct set_info *s = sets_select_source(sink, job->name, l, name, NULL, &pm);
	if (!s)
		return xasprintf("no complete set in sink %s holds it", sink->name);
	return xasprintf("the newest set that has it is %s: cairn restore %s --id %s --source %s",
	                 s->id, job->name, s->id, name);
}

/* The options of restore: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option restore_options[] = {{"id", required_argument, NULL, 'i'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"sink", required_argument, NULL, 'k'},
                                         {"source", required_argument, NULL, 's'},
                                         {"set", required_argument, NULL, 'S'},
                                         {"force", no_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};

int
cmd_restore(struct cli *c, int argc, char **argv)
{
	const char *id = NULL, *at_text = NULL, *only_sink = NULL;
	struct strvec only = {0}, sets = {0};
	unsigned flags = 0;
	int opt, rc;
	time_t at;
	const struct cfg_job *job;
	struct instance *sink = NULL;
	struct set_list l = {0};
	struct set_info *base = NULL;
	const struct manifest *bm = NULL;
	struct plan plan = {0};

	while ((opt = getopt_long(argc, argv, "i:a:k:s:S:f", restore_options, NULL)) != -1) {
		switch (opt) {
		case 'i': id = optarg; break;
		case 'a': at_text = optarg; break;
		case 'k': only_sink = optarg; break;
		case 's': strvec_push(&only, optarg); break;
		case 'S':
			if (!strchr(optarg, '=')) {
				rc = usage_error("--set %s: use --set KEY=VALUE", optarg);
				goto out;
			}
			strvec_push(&sets, optarg);
			break;
		case 'f': flags |= CAIRN_RESTORE_FORCE; break;
		default: rc = usage_error("restore: unknown option"); goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = usage_error("restore takes one JOB");
		goto out;
	}
	if ((rc = parse_when(id, at_text, &at)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)))
		goto out;
	char found[BACKUP_ID_LEN + 1];
	const time_t *atp = at_text ? &at : NULL;
	if ((rc = locate_set(c, job, only_sink, id, atp, &sink, NULL, found)))
		goto out;
	char *err = NULL;
	if ((rc = sets_list(sink, job->name, &l, &err)) == 0) {
		for (size_t i = 0; i < l.n && !base; i++)
			if (strcmp(l.v[i].id, found) == 0)
				base = &l.v[i];
		if (!base) {
			err = xasprintf("%s: set %s/%s is gone", sink->ctx.label, job->name, found);
			rc = CAIRN_E_NOTFOUND;
		} else {
			rc = set_manifest(sink, job->name, base, &bm, &err);
		}
	}
	if (rc) {
		log_error("%s", err);
		free(err);
		rc = exit_for(rc);
		goto out;
	}
	/* Which sources: those asked for; else, with --id, what that set
	 * holds; else every source the newest set (at or before --at) was
	 * meant to hold, each from the newest set that has it: a partial
	 * set does not cost a restore the source it lacks. */
	struct strvec want = {0};
	if (only.n) {
		for (size_t i = 0; i < only.n; i++)
			strvec_push(&want, only.v[i]);
	} else {
		for (size_t i = 0; i < bm->nsources; i++)
			strvec_push(&want, bm->sources[i].name);
		for (size_t i = 0; !id && i < bm->nfailed; i++)
			strvec_push(&want, bm->failed[i].name);
	}
	for (size_t i = 0; i < want.n && !rc; i++) {
		const struct manifest *pm = bm;
		const struct set_info *s = base;
		const struct manifest_source *ms = NULL;
		if (!id)
			s = sets_select_source(sink, job->name, &l, want.v[i], atp, &pm);
		for (size_t k = 0; s && k < pm->nsources && !ms; k++)
			if (strcmp(pm->sources[k].name, want.v[i]) == 0)
				ms = &pm->sources[k];
		if (ms) {
			plan_add(&plan, ms, s->id);
			continue;
		}
		char *why = lack_reason(bm, want.v[i]), *ptr = pointer_to(sink, job, &l, want.v[i]);
		if (id)
			log_error("set %s/%s holds no source named %s%s; %s", job->name, bm->id,
			          want.v[i], why, ptr);
		else
			log_error(
			        "no complete set of job %s in sink %s taken at or before %s holds "
			        "source %s%s; %s; or leave it out with --source",
			        job->name, sink->name, base->id, want.v[i], why, ptr);
		free(why);
		free(ptr);
		rc = CAIRN_EXIT_NOTFOUND;
	}
	strvec_free(&want);
	if (rc || (rc = check_plan_sets(c, &sets, &plan)))
		goto out;
	for (size_t s = 0; s < plan.n && !rc; s++) {
		const struct manifest_source *ms = plan.ms[s];
		struct instance *src = NULL;
		char *perr = NULL;
		if ((rc = source_for_manifest(c, ms, &sets, &src)))
			break;
		log_info("restoring source %s from %s/%s in sink %s", ms->name, job->name,
		         plan.ids[s], sink->name);
		int prc = pipeline_restore(sink, ms, src, flags, &perr);
		if (prc) {
			log_error("%s", perr ? perr : status_str(prc));
			rc = exit_for(prc);
		} else if (src->ctx.warnings) {
			/* a non-root restore skips device nodes and keeps files as
			 * the user's: say how many entries did not come back as
			 * stored, also under cron */
			log_warn("restored source %s from %s/%s with %d warning%s; see above",
			         ms->name, job->name, plan.ids[s], src->ctx.warnings,
			         src->ctx.warnings == 1 ? "" : "s");
		} else {
			log_info("restored source %s from %s/%s", ms->name, job->name, plan.ids[s]);
		}
		free(perr);
		instance_destroy(src);
	}
	/* --id of a partial set without --source: what it lacks is said,
	 * with where to find it */
	for (size_t i = 0; !rc && id && !only.n && i < bm->nfailed; i++) {
		char *ptr = pointer_to(sink, job, &l, bm->failed[i].name);
		log_warn("set %s/%s is partial and holds no source %s; %s", job->name, bm->id,
		         bm->failed[i].name, ptr);
		free(ptr);
	}
out:
	free(plan.ms);
	free(plan.ids);
	set_list_free(&l);
	instance_destroy(sink);
	strvec_free(&only);
	strvec_free(&sets);
	return rc;
}
