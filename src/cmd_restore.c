/* cmd_restore.c - restore a set (by default the newest) of a job's
 * sources, with --set overrides of their keys; with --at TIME (or
 * latest), a source with a change log from the set before TIME and its
 * log replayed up to TIME (restore_log.h); or, with --from, one source
 * from a file that a standard tool wrote (restore_file.h). */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipeline.h"
#include "restore_file.h"
#include "restore_log.h"
#include "restore_plan.h"
#include "restore_record.h"
#include "run_keys.h"

/* Every --set must reach a source being restored and do something
 * there (check_sets()). */
static int
check_plan_sets(struct cli *c, const struct strvec *sets, const struct restore_plan *p)
{
	const char **names = xcalloc(p->n ? p->n : 1, sizeof(*names));
	for (size_t s = 0; s < p->n; s++)
		names[s] = p->steps[s].ms->name;
	int rc = check_sets(c, sets, names, p->n, SET_RESTORE);
	free(names);
	return rc;
}

/* Why the base set lacks a source, for messages: " (it failed in that
 * run: ERROR)", " (it was left out of that run)", or "". */
static char *
lack_reason(const struct restore_gap *g)
{
	if (!g->lack)
		return xstrdup("");
	if (g->lack->skipped)
		return xstrdup(" (it was left out of that run)");
	return xasprintf(" (it failed in that run: %s)", g->lack->error);
}

/* "the newest set that has it is ID: cairn restore JOB --id ID --source
 * NAME", or that no set has it. */
static char *
pointer_to(const struct instance *sink, const struct cfg_job *job, const struct restore_gap *g)
{
	if (!g->newest)
		return xasprintf("no complete set in sink %s holds it", sink->name);
	return xasprintf("the newest set that has it is %s: cairn restore %s --id %s --source %s",
	                 g->newest, job->name, g->newest, g->name);
}

/* What restore was asked. */
struct restore_args {
	const char *id, *at_text, *only_sink, *from;
	const char *identity; /* --identity PATH, or NULL */
	struct file_format format, *forced;
	struct strvec only, sets;
	unsigned flags;
	time_t at;
	int latest;       /* --at latest */
	int64_t until_ms; /* with --at: the last millisecond to restore */
};

/* Restore one step: the set's object, or with a log the base and the
 * log replayed up to --at.  The source's outcome (a CAIRN_E_* code, *err). */
static int
restore_step(const struct cfg_job *job, struct instance *sink, const struct restore_step *st,
             struct instance *src, const struct restore_args *a, struct restore_logs *rl,
             char **err)
{
	struct restore_log_done done;
	char when[40], reached[40];
	int prc;
	if (!st->replay) {
		if (a->at_text && rl && restore_logs_has(rl, st->ms->name))
			log_warn(
			        "source %s has a log in sink %s, but no set taken at or before --at %s recorded where its log stood: restoring set %s/%s alone",
			        st->ms->name, sink->name, a->at_text, job->name, st->id);
		log_info("restoring source %s from %s/%s in sink %s", st->ms->name, job->name,
		         st->id, sink->name);
		return pipeline_restore(sink, st->ms, src, a->flags, err);
	}
	log_time_format(st->after.time_ms, when, sizeof(when));
	log_info(
	        "restoring source %s from base set %s/%s in sink %s (its log stood at %s), then its log up to %s",
	        st->ms->name, job->name, st->id, sink->name, when,
	        a->latest ? "the newest segment" : a->at_text);
	prc = restore_logs_run(rl, job->name, sink, st, src, a->until_ms, a->flags, &done, err);
	if (!prc) {
		log_time_format(a->latest || done.reach_ms < a->until_ms ? done.reach_ms
		                                                         : a->until_ms,
		                reached, sizeof(reached));
		log_info("source %s: replayed %zu log segment%s on base set %s/%s: restored to %s",
		         st->ms->name, done.nsegs, done.nsegs == 1 ? "" : "s", job->name, st->id,
		         reached);
	}
	return prc;
}

/* Restore each source of the plan from sink, each one's outcome and
 * statistics into rec.  0 or an exit code. */
static int
run_plan(struct cli *c, const struct cfg_job *job, struct instance *sink,
         const struct restore_plan *plan, const struct restore_args *a, struct restore_logs *rl,
         struct restore_record *rec)
{
	const struct strvec *sets = &a->sets;
	int rc = 0;
	size_t s;
	for (s = 0; s < plan->n && !rc; s++) {
		const struct manifest_source *ms = plan->steps[s].ms;
		struct instance *src = NULL;
		char *perr = NULL;
		if ((rc = source_for_manifest(c, ms, sets, &src))) {
			restore_record_source(rec, ms->name, plan->steps[s].id, CAIRN_E_CONFIG,
			                      "its source could not be set up; see the log", NULL);
			break;
		}
		if (ms->overrides.n) {
			char *ov = strvec_join(&ms->overrides, " --set ");
			log_warn(
			        "source %s of set %s/%s was backed up with --set %s, a one-off run: it holds what that run took, which may be less than the source",
			        ms->name, job->name, plan->steps[s].id, ov);
			free(ov);
		}
		int prc = restore_step(job, sink, &plan->steps[s], src, a, rl, &perr);
		/* what the plugin recorded, also of a restore a signal stopped:
		 * for a server target, what was written */
		restore_record_source(rec, ms->name, plan->steps[s].id, prc, perr, src->ctx.stats);
		if (prc) {
			log_error("%s", perr ? perr : status_str(prc));
			rc = exit_for(prc);
		} else if (src->ctx.warnings) {
			/* a non-root restore skips device nodes and keeps files as
			 * the user's: say how many entries did not come back as
			 * stored, also under cron */
			log_warn("restored source %s from %s/%s with %d warning%s; see above",
			         ms->name, job->name, plan->steps[s].id, src->ctx.warnings,
			         src->ctx.warnings == 1 ? "" : "s");
		} else {
			log_info("restored source %s from %s/%s", ms->name, job->name,
			         plan->steps[s].id);
		}
		free(perr);
		instance_destroy(src);
	}
	for (; s < plan->n; s++)
		restore_record_skipped(rec, plan->steps[s].ms->name, plan->steps[s].id);
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
             const struct file_format *forced, const struct strvec *sets, unsigned flags,
             struct restore_record *rec)
{
	const struct cfg_section *sec = config_section(c->cfg, SECTION_SOURCE, name);
	struct manifest_source ms = {.name = (char *)name};
	struct restore_step step = {.ms = &ms, .id = ""};
	struct restore_plan plan = {.steps = &step, .n = 1};
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
		log_error(
		        "%s is %s%s, but source %s (plugin %s) restores %s; give it a file of that kind, or name the source that restores this one",
		        path, file_kind_what(f.fmt.kind),
		        f.fmt.comp == COMP_NONE ? "" : " (compressed)", name, sec->plugin, expects);
		rc = CAIRN_EXIT_USAGE;
		goto out;
	}
	log_info("restoring source %s of job %s from %s (%s%s%s)", name, job->name, path,
	         file_kind_what(f.fmt.kind), f.fmt.comp == COMP_NONE ? "" : ", ",
	         f.fmt.comp == COMP_NONE ? "" : compression_name(f.fmt.comp));
	rc = pipeline_restore_file(&f, src, flags, &err);
	restore_record_source(rec, name, NULL, rc, err, src->ctx.stats);
	if (rc) {
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
const struct option restore_options[] = {
        {"id", required_argument, NULL, 'i'},       {"at", required_argument, NULL, 'a'},
        {"sink", required_argument, NULL, 'k'},     {"source", required_argument, NULL, 's'},
        {"set", required_argument, NULL, 'S'},      {"force", no_argument, NULL, 'f'},
        {"from", required_argument, NULL, 'F'},     {"format", required_argument, NULL, 'm'},
        {"identity", required_argument, NULL, 'I'}, {NULL, 0, NULL, 0}};

/* Read restore's options into a.  0 or an exit code. */
static int
parse_restore_args(int argc, char **argv, struct restore_args *a)
{
	int opt;
	while ((opt = getopt_long(argc, argv, "i:a:k:s:S:fF:m:I:", restore_options, NULL)) != -1) {
		switch (opt) {
		case 'i': a->id = optarg; break;
		case 'a': a->at_text = optarg; break;
		case 'k': a->only_sink = optarg; break;
		case 's': strvec_push(&a->only, optarg); break;
		case 'S':
			if (!strchr(optarg, '='))
				return usage_error("--set %s: use --set KEY=VALUE", optarg);
			strvec_push(&a->sets, optarg);
			break;
		case 'f': a->flags |= CAIRN_RESTORE_FORCE; break;
		case 'F': a->from = optarg; break;
		case 'I': a->identity = optarg; break;
		case 'm':
			if (file_format_parse(optarg, a->forced = &a->format))
				return usage_error(
				        "--format %s: use tar, rdb, resp or archive, with .gz, .zst or .xz when compressed (tar.zst)",
				        optarg);
			break;
		default: return usage_error("restore: unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("restore takes one JOB");
	if ((a->from || a->forced) &&
	    (a->only.n != 1 || a->id || a->at_text || a->only_sink || !a->from || a->identity))
		return usage_error(
		        "restore --from FILE [--format FORMAT] takes one --source and no --id, --at, --sink or --identity");
	if (a->at_text && strcmp(a->at_text, "latest") == 0) {
		a->latest = 1;
		a->until_ms = INT64_MAX;
		if (a->id)
			return usage_error("give --id or --at, not both");
		return parse_when(a->id, NULL, NULL);
	}
	if (parse_when(a->id, a->at_text, &a->at))
		return CAIRN_EXIT_USAGE;
	/* --at TIME restores every change made in TIME's second */
	a->until_ms = (int64_t)a->at * 1000 + 999;
	return 0;
}

/* --at TIME, not latest: the time sets are chosen by, else NULL. */
static const time_t *
at_time(const struct restore_args *a)
{
	return a->at_text && !a->latest ? &a->at : NULL;
}

/* The set restore starts from, in the sink that holds it: --id's, or the
 * newest at or before --at, with the job's sets listed in *l and its
 * manifest read.  0 or an exit code. */
static int
find_base(struct cli *c, const struct cfg_job *job, const struct restore_args *a,
          struct instance **sink, struct set_list *l, size_t *base)
{
	char found[BACKUP_ID_LEN + 1];
	const struct manifest *bm;
	char *err = NULL;
	int rc = locate_set(c, job, a->only_sink, a->id, at_time(a), sink, NULL, found);
	if (rc)
		return rc;
	if ((rc = sets_list(*sink, job->name, l, &err)) == 0) {
		for (*base = 0; *base < l->n && strcmp(l->v[*base].id, found) != 0; (*base)++)
			;
		if (*base == l->n) {
			err = xasprintf("%s: set %s/%s is gone", (*sink)->ctx.label, job->name,
			                found);
			rc = CAIRN_E_NOTFOUND;
		} else {
			rc = set_manifest(*sink, job->name, &l->v[*base], &bm, &err);
		}
	}
	if (rc) {
		log_error("%s", err);
		free(err);
		return exit_for(rc);
	}
	return 0;
}

/* restore_plan's way to a set's manifest: read once, kept in the list. */
struct manifest_reader {
	struct instance *sink;
	const char *job;
	struct set_list *l;
};

static const struct manifest *
read_manifest(void *ud, size_t i)
{
	struct manifest_reader *r = ud;
	const struct manifest *m;
	char *err = NULL;
	if (set_manifest(r->sink, r->job, &r->l->v[i], &m, &err)) {
		free(err);
		return NULL;
	}
	return m;
}

/* Make the plan; say which source no set holds.  0 or an exit code. */
static int
make_plan(const struct cfg_job *job, struct instance *sink, struct set_list *l, size_t base,
          const struct restore_args *a, struct restore_logs *rl, struct restore_plan *plan)
{
	struct manifest_reader r = {.sink = sink, .job = job->name, .l = l};
	struct restore_sets sets = {.v = l->v, .n = l->n, .manifest = read_manifest, .ud = &r};
	struct restore_query q = {.base = base,
	                          .by_id = a->id != NULL,
	                          .at = at_time(a),
	                          .only = &a->only,
	                          .now = time(NULL),
	                          .with_logs = rl != NULL,
	                          .until_ms = a->until_ms,
	                          .has_log = restore_logs_has,
	                          .log_ud = rl};
	if (restore_plan_make(&sets, &q, plan) == 0)
		return 0;
	if (!plan->missing.name) /* find_base() read it */
		return exit_for(CAIRN_E_CORRUPT);
	char *why = lack_reason(&plan->missing), *ptr = pointer_to(sink, job, &plan->missing);
	if (a->id)
		log_error("set %s/%s holds no source named %s%s; %s", job->name, l->v[base].id,
		          plan->missing.name, why, ptr);
	else
		log_error(
		        "no complete set of job %s in sink %s taken at or before %s holds source %s%s; %s; or leave it out with --source",
		        job->name, sink->name, l->v[base].id, plan->missing.name, why, ptr);
	free(why);
	free(ptr);
	return CAIRN_EXIT_NOTFOUND;
}

/* Write the run record of a restore that reached a source (one that
 * stopped before, at a usage error or with no set, leaves the last
 * record as it is: that may be the one saying what a signal left); a
 * failure to write it is a warning, never the restore's outcome. */
static void
save_record(struct cli *c, const struct restore_record *rec, int rc)
{
	char *err = NULL;
	if (!json_array_size(rec->sources))
		return;
	if (restore_record_save(c->cfg->state_dir, rec, rc, &err)) {
		log_warn("cannot record the restore of job %s: %s", rec->job, err);
		free(err);
	}
}

/* With --at: the sink's logs, so sources that have one are replayed.
 * 0 or an exit code; *out NULL without --at. */
static int
load_logs(struct cli *c, const struct cfg_job *job, struct instance *sink,
          const struct restore_args *a, struct restore_logs *rl, struct restore_logs **out)
{
	char *err = NULL;
	int rc;
	*out = NULL;
	if (!a->at_text || !restore_logs_wanted(&c->reg, c->cfg, job))
		return 0;
	rl->reg = &c->reg;
	rl->cfg = c->cfg;
	if ((rc = restore_logs_load(rl, sink, job->name, &err))) {
		log_error("%s; the restore --at needs its logs", err);
		free(err);
		return exit_for(rc);
	}
	*out = rl;
	return 0;
}

int
cmd_restore(struct cli *c, int argc, char **argv)
{
	struct restore_args a = {0};
	const struct cfg_job *job = NULL;
	struct instance *sink = NULL;
	struct set_list l = {0};
	struct restore_plan plan = {0};
	struct restore_record rec = {0};
	struct restore_logs logs = {0}, *rl = NULL;
	struct age_identities *ids = NULL;
	time_t started = time(NULL);
	size_t base = 0;
	int rc;

	if ((rc = parse_restore_args(argc, argv, &a)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)) || (rc = check_sources(job, &a.only))) {
		job = NULL; /* nothing to record */
		goto out;
	}
	restore_record_begin(&rec, job->name, started);
	if (a.from && a.only.n == 1) { /* parse_restore_args() saw to it */
		rec.from = a.from;
		rc = restore_from(c, job, a.only.v[0], a.from, a.forced, &a.sets, a.flags, &rec);
		goto out;
	}
	if ((rc = run_keys_use(job, a.identity, &ids)) ||
	    (rc = find_base(c, job, &a, &sink, &l, &base)))
		goto out;
	rec.sink = sink->name;
	rec.id = l.v[base].id;
	if ((rc = load_logs(c, job, sink, &a, &logs, &rl)) ||
	    (rc = make_plan(job, sink, &l, base, &a, rl, &plan)) ||
	    (rc = check_plan_sets(c, &a.sets, &plan)) ||
	    (rc = run_plan(c, job, sink, &plan, &a, rl, &rec)))
		goto out;
	/* --id of a partial set without --source: what it lacks is said,
	 * with where to find it */
	for (size_t i = 0; i < plan.nlacks; i++) {
		char *ptr = pointer_to(sink, job, &plan.lacks[i]);
		log_warn("set %s/%s is partial and holds no source %s; %s", job->name, l.v[base].id,
		         plan.lacks[i].name, ptr);
		free(ptr);
	}
out:
	if (job)
		save_record(c, &rec, rc);
	restore_record_free(&rec);
	restore_plan_free(&plan);
	run_keys_drop(ids);
	restore_logs_free(&logs);
	set_list_free(&l);
	instance_destroy(sink);
	strvec_free(&a.only);
	strvec_free(&a.sets);
	return rc;
}
