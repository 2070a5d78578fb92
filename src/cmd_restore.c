/* cmd_restore.c - restore a set (by default the newest) of a job's
 * sources, with --set overrides of their keys; or, with --from, one
 * source from a file that a standard tool wrote (restore_file.h). */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipeline.h"
#include "restore_file.h"

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

/* Restore each source of the plan from sink.  0 or an exit code. */
static int
run_plan(struct cli *c, const struct cfg_job *job, struct instance *sink, const struct plan *plan,
         const struct strvec *sets, unsigned flags)
{
	int rc = 0;
	for (size_t s = 0; s < plan->n && !rc; s++) {
		const struct manifest_source *ms = plan->ms[s];
		struct instance *src = NULL;
		char *perr = NULL;
		if ((rc = source_for_manifest(c, ms, sets, &src)))
			break;
		if (ms->overrides.n) {
			char *ov = strvec_join(&ms->overrides, " --set ");
			log_warn("source %s of set %s/%s was backed up with --set %s, a one-off "
			         "run: it "
			         "holds what that run took, which may be less than the source",
			         ms->name, job->name, plan->ids[s], ov);
			free(ov);
		}
		log_info("restoring source %s from %s/%s in sink %s", ms->name, job->name,
		         plan->ids[s], sink->name);
		int prc = pipeline_restore(sink, ms, src, flags, &perr);
		if (prc) {
			log_error("%s", perr ? perr : status_str(prc));
			rc = exit_for(prc);
		} else if (src->ctx.warnings) {
			/* a non-root restore skips device nodes and keeps files as
			 * the user's: say how many entries did not come back as
			 * stored, also under cron */
			log_warn("restored source %s from %s/%s with %d warning%s; see above",
			         ms->name, job->name, plan->ids[s], src->ctx.warnings,
			         src->ctx.warnings == 1 ? "" : "s");
		} else {
			log_info("restored source %s from %s/%s", ms->name, job->name,
			         plan->ids[s]);
		}
		free(perr);
		instance_destroy(src);
	}
	return rc;
}

/* Every --source must be a source of the job: a misspelt name is a usage
 * error, not a set that lacks it. */
static int
check_sources(const struct cfg_job *job, const struct strvec *only)
{
	for (size_t i = 0; i < only->n; i++) {
		if (strvec_contains(&job->sources, only->v[i]))
			continue;
		char *names = strvec_join(&job->sources, ", ");
		log_error("job %s has no source named \"%s\"; its sources are: %s", job->name,
		          only->v[i], names);
		free(names);
		return CAIRN_EXIT_USAGE;
	}
	return 0;
}

/* The exit code of restore_file_open()'s outcome: a file that cannot be
 * opened or is of no kind cairn knows is a bad command line. */
static int
file_exit(int rc)
{
	return rc == CAIRN_E_NOTFOUND || rc == CAIRN_E_UNSUPPORTED ? CAIRN_EXIT_USAGE
	                                                           : exit_for(rc);
}

/* restore JOB --source NAME --from FILE [--format FORMAT]: no sink, no
 * manifest; the file's kind must be one the source's plugin restores. */
static int
restore_from(struct cli *c, const struct cfg_job *job, const char *name, const char *path,
             const struct file_format *forced, const struct strvec *sets, unsigned flags)
{
	const struct cfg_section *sec = config_section(c->cfg, SECTION_SOURCE, name);
	struct manifest_source ms = {.name = (char *)name};
	const struct manifest_source *pms = &ms;
	const char *nowhere = "";
	struct plan plan = {.ms = &pms, .ids = &nowhere, .n = 1};
	struct restore_file f;
	struct instance *src = NULL;
	const char *expects;
	char *err = NULL;
	int rc;
	if (!sec) /* find_job() checked the job's sources */
		return exit_for(CAIRN_E_CONFIG);
	ms.plugin = (char *)sec->plugin;
	if ((rc = restore_file_open(path, forced, &f, &err))) {
		log_error("%s", err);
		free(err);
		return file_exit(rc);
	}
	if ((rc = check_plan_sets(c, sets, &plan)) ||
	    (rc = source_for_manifest(c, &ms, sets, &src)))
		goto out;
	int fits = restore_file_fits(sec->plugin, op_file_extension(src), f.fmt.kind, &expects);
	if (!fits && f.fmt.kind == FILE_KIND_UNKNOWN) {
		err = restore_file_unknown(&f);
		log_error("%s", err);
		rc = CAIRN_EXIT_USAGE;
		goto out;
	}
	if (!fits) {
		log_error("%s is %s%s, but source %s (plugin %s) restores %s; give it a file of "
		          "that kind, or name the source that restores this one",
		          path, file_kind_what(f.fmt.kind),
		          f.fmt.comp == COMP_NONE ? "" : " (compressed)", name, sec->plugin,
		          expects);
		rc = CAIRN_EXIT_USAGE;
		goto out;
	}
	log_info("restoring source %s of job %s from %s (%s%s%s)", name, job->name, path,
	         file_kind_what(f.fmt.kind), f.fmt.comp == COMP_NONE ? "" : ", ",
	         f.fmt.comp == COMP_NONE ? "" : compression_name(f.fmt.comp));
	if ((rc = pipeline_restore_file(&f, src, flags, &err))) {
		log_error("%s", err ? err : status_str(rc));
		rc = exit_for(rc);
	} else if (src->ctx.warnings) {
		log_warn("restored source %s from %s with %d warning%s; see above", name, path,
		         src->ctx.warnings, src->ctx.warnings == 1 ? "" : "s");
	} else {
		log_info("restored source %s from %s", name, path);
	}
out:
	free(err);
	instance_destroy(src);
	restore_file_close(&f);
	return rc;
}

/* The options of restore: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option restore_options[] = {{"id", required_argument, NULL, 'i'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"sink", required_argument, NULL, 'k'},
                                         {"source", required_argument, NULL, 's'},
                                         {"set", required_argument, NULL, 'S'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"from", required_argument, NULL, 'F'},
                                         {"format", required_argument, NULL, 'm'},
                                         {NULL, 0, NULL, 0}};

int
cmd_restore(struct cli *c, int argc, char **argv)
{
	const char *id = NULL, *at_text = NULL, *only_sink = NULL, *from = NULL;
	struct file_format format, *forced = NULL;
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

	while ((opt = getopt_long(argc, argv, "i:a:k:s:S:fF:m:", restore_options, NULL)) != -1) {
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
		case 'F': from = optarg; break;
		case 'm':
			if (file_format_parse(optarg, forced = &format)) {
				rc = usage_error(
				        "--format %s: use tar, rdb, resp or archive, with .gz, "
				        ".zst or .xz when compressed (tar.zst)",
				        optarg);
				goto out;
			}
			break;
		default: rc = usage_error("restore: unknown option"); goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = usage_error("restore takes one JOB");
		goto out;
	}
	if ((from || forced) && (only.n != 1 || id || at_text || only_sink || !from)) {
		rc = usage_error("restore --from FILE [--format FORMAT] takes one --source and no "
		                 "--id, --at or --sink");
		goto out;
	}
	if ((rc = parse_when(id, at_text, &at)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)) || (rc = check_sources(job, &only)))
		goto out;
	if (from) {
		rc = restore_from(c, job, only.v[0], from, forced, &sets, flags);
		goto out;
	}
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
	if (rc || (rc = check_plan_sets(c, &sets, &plan)) ||
	    (rc = run_plan(c, job, sink, &plan, &sets, flags)))
		goto out;
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
