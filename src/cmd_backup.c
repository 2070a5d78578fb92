/* cmd_backup.c - back up a job's sources into its sinks: one new set in
 * each, under the job's lock and each sink's own.  The pipeline does the
 * work. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "host.h"
#include "log.h"
#include "pipeline.h"

/* Incomplete sets in a sink without a lock of its own may belong to a run
 * of the job from another host or state_dir that is still writing: only
 * sets untouched this long are taken for leftovers. */
#define LEFTOVER_GRACE_SECS (24 * 60 * 60)

/* Remove the sets of job that runs which died left in the sink: all of
 * them when the sink's own lock is held (nobody else can be writing),
 * else only those older than the grace period. */
static void
remove_leftovers(const struct cfg_job *job, struct instance *sink, int locked,
                 const struct set_list *l)
{
	time_t now = time(NULL);
	for (size_t s = 0; s < l->n; s++) {
		const struct set_info *si = &l->v[s];
		char *err = NULL;
		if (si->complete)
			continue;
		if (!locked && si->newest_mtime > now - LEFTOVER_GRACE_SECS) {
			log_info("%s: leaving incomplete set %s/%s alone: it changed within the "
			         "last "
			         "day and this sink has no lock, so another run may still be "
			         "writing it",
			         sink->ctx.label, job->name, si->id);
			continue;
		}
		log_info("%s: removing incomplete set %s/%s left by an interrupted run",
		         sink->ctx.label, job->name, si->id);
		if (set_remove(sink, job->name, si, &err)) {
			log_warn("%s", err);
			free(err);
		}
	}
}

/* A new id: the start time, or one second past the newest set any sink
 * holds, so ids stay unique and sorted even for runs within a second. */
static int
choose_id(const struct cfg_job *job, struct instance **sinks, cairn_sink_lock **locks, size_t n,
          char id[BACKUP_ID_LEN + 1])
{
	time_t t = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[i], job->name, &l, &err)) {
			log_error("%s", err);
			free(err);
			return -1;
		}
		if (l.n && l.v[l.n - 1].time >= t)
			t = l.v[l.n - 1].time + 1;
		remove_leftovers(job, sinks[i], locks[i] != NULL, &l);
		set_list_free(&l);
	}
	backup_id_format(t, id);
	return 0;
}

/* Take every sink's own lock of the job.  A sink held by another run stops
 * the whole run before anything is touched (exit 5); a sink whose lock
 * fails otherwise is left out of this run, which then fails (exit 1) while
 * the other sinks still get their set. */
static int
lock_sinks(const struct cfg_job *job, struct instance **sinks, size_t *nsinks,
           cairn_sink_lock **locks, int *dropped)
{
	size_t kept = 0;
	*dropped = 0;
	for (size_t i = 0; i < *nsinks; i++) {
		char *err = NULL;
		int rc = sink_lock(sinks[i], job->name, &locks[kept], &err);
		if (rc == CAIRN_E_LOCKED) {
			log_error("%s", err);
			free(err);
			for (size_t k = 0; k < kept; k++)
				sink_unlock(sinks[k], locks[k]);
			memset(locks, 0, *nsinks * sizeof(*locks));
			for (size_t k = i; k < *nsinks; k++) /* keep them for freeing */
				sinks[kept++] = sinks[k];
			*nsinks = kept;
			return CAIRN_EXIT_LOCKED;
		}
		if (rc) {
			log_error("%s; this sink gets no backup set from this run", err);
			free(err);
			instance_destroy(sinks[i]);
			(*dropped)++;
			continue;
		}
		sinks[kept++] = sinks[i];
	}
	*nsinks = kept;
	return kept ? 0 : CAIRN_EXIT_FAILED;
}

/* What the hooks after the run are told: ok when every sink holds the set
 * with every source, partial when a set was written but a source or a sink
 * is missing from it, failed when no set was written. */
struct run_report {
	const char *status;
	char *error;         /* the run's first error, one line */
	struct strvec sinks; /* the sinks holding the set */
};

static void
report_error(struct run_report *rr, const char *error)
{
	if (!rr->error && error)
		rr->error = xstrdup(error);
}

/* Run one hook of the job if it is set: 0 when it is not or succeeded;
 * else -1 with *err. */
static int
job_hook(struct cli *c, const struct cfg_job *job, const char *name, const char *command,
         const char *id, const struct run_report *rr, char **err)
{
	struct strvec hidden = {0};
	char *sinks = strvec_join(&rr->sinks, " ");
	struct hook_env env = {.job = job->name,
	                       .backup_id = id,
	                       .status = rr->status,
	                       .error = rr->error,
	                       .sinks = sinks};
	int rc;
	if (!command) {
		free(sinks);
		return 0;
	}
	hook_secret_vars(c->cfg, &hidden);
	rc = hook_run(name, command, job->hooks.timeout, &env, &hidden, err);
	strvec_free(&hidden);
	free(sinks);
	return rc;
}

/* The hooks after a run: on_success or on_failure, then after, whatever
 * happened.  Their failures are reported; they change no set and no exit
 * code, so monitoring that reads the code sees the backup's outcome. */
static void
after_hooks(struct cli *c, const struct cfg_job *job, const char *id, const struct run_report *rr)
{
	int ok = strcmp(rr->status, "ok") == 0;
	const char *names[2] = {ok ? "on_success" : "on_failure", "after"};
	const char *cmds[2] = {ok ? job->hooks.on_success : job->hooks.on_failure,
	                       job->hooks.after};
	for (int i = 0; i < 2; i++) {
		char *err = NULL;
		if (job_hook(c, job, names[i], cmds[i], id, rr, &err)) {
			log_error("%s; the backup itself is not affected", err);
			free(err);
		}
	}
}

/* The sources of the job that backup --source leaves out: the manifest
 * names them, so a set of some sources is never counted as a full one. */
static struct manifest_failed *
left_out(struct cli *c, const struct cfg_job *job, const struct strvec *only, size_t *n)
{
	struct manifest_failed *v = xcalloc(job->sources.n ? job->sources.n : 1, sizeof(*v));
	*n = 0;
	for (size_t i = 0; only->n && i < job->sources.n; i++) {
		const struct cfg_section *sec;
		if (strvec_contains(only, job->sources.v[i]))
			continue;
		sec = config_section(c->cfg, SECTION_SOURCE, job->sources.v[i]);
		v[*n].name = job->sources.v[i];
		v[*n].plugin = (char *)(sec && sec->plugin ? sec->plugin : "");
		v[*n].error = "left out of this run (backup --source)";
		v[*n].skipped = 1;
		(*n)++;
	}
	return v;
}

/* The options of backup: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option backup_options[] = {{"source", required_argument, NULL, 's'},
                                        {NULL, 0, NULL, 0}};

int
cmd_backup(struct cli *c, int argc, char **argv)
{
	struct strvec only = {0};
	const struct cfg_job *job;
	struct instance **sinks = NULL, **sources = NULL;
	size_t nsinks = 0, nsources = 0, nskipped = 0;
	int opt, rc, dropped = 0, hooks = 0;
	char id[BACKUP_ID_LEN + 1] = "", host[256] = "", *herr = NULL;
	cairn_sink_lock **locks = NULL;
	struct manifest_failed *skipped = NULL;
	struct run_report rr = {.status = "failed"};

	while ((opt = getopt_long(argc, argv, "s:", backup_options, NULL)) != -1) {
		if (opt != 's')
			return usage_error("backup: unknown option");
		strvec_push(&only, optarg);
	}
	if (optind + 1 != argc) {
		strvec_free(&only);
		return usage_error("backup takes one JOB");
	}
	if ((rc = load_config(c)) || (rc = find_job(c, argv[optind], &job)))
		goto out;
	for (size_t i = 0; i < only.n; i++)
		if (!strvec_contains(&job->sources, only.v[i])) {
			log_error("job %s has no source named \"%s\"", job->name, only.v[i]);
			rc = CAIRN_EXIT_USAGE;
			goto out;
		}
	if ((rc = make_sinks(c, job, NULL, &sinks, &nsinks)))
		goto out;
	sources = xcalloc(job->sources.n, sizeof(*sources));
	for (size_t i = 0; i < job->sources.n && !rc; i++) {
		if (only.n && !strvec_contains(&only, job->sources.v[i]))
			continue;
		rc = make_instance(c, SECTION_SOURCE, job->sources.v[i], NULL, &sources[nsources]);
		if (!rc)
			nsources++;
	}
	if (rc)
		goto out;
	if ((rc = take_job_lock(c, job)))
		goto out;
	/* From here on the hooks after the run are owed one call. */
	hooks = 1;
	struct run_report before = {.status = ""};
	if (job_hook(c, job, "before", job->hooks.before, "", &before, &herr)) {
		log_error("%s; job %s was not backed up and nothing was written", herr, job->name);
		report_error(&rr, herr);
		free(herr);
		rc = CAIRN_EXIT_FAILED;
		goto out;
	}
	locks = xcalloc(nsinks ? nsinks : 1, sizeof(*locks));
	if ((rc = lock_sinks(job, sinks, &nsinks, locks, &dropped))) {
		report_error(&rr, "no sink of the job could be locked");
		goto out;
	}
	if (choose_id(job, sinks, locks, nsinks, id)) {
		report_error(&rr, "the sinks could not be listed");
		rc = CAIRN_EXIT_FAILED;
		goto out;
	}
	gethostname(host, sizeof(host) - 1);
	skipped = left_out(c, job, &only, &nskipped);
	struct backup_request rq = {.job = job,
	                            .id = id,
	                            .sources = sources,
	                            .nsources = nsources,
	                            .sinks = sinks,
	                            .nsinks = nsinks,
	                            .host = host,
	                            .keep_partial = job->on_source_failure == SOURCE_FAILURE_KEEP,
	                            .skipped = skipped,
	                            .nskipped = nskipped};
	struct backup_outcome res;
	int prc = pipeline_backup(&rq, &res);
	for (size_t i = 0; i < nsinks; i++)
		if (res.sinks[i].ok)
			strvec_push(&rr.sinks, sinks[i]->name);
	if (prc == 0) {
		char raw[32], stored[32];
		if (res.nfailed) {
			struct strvec names = {0};
			for (size_t i = 0; i < res.nfailed; i++)
				strvec_push(&names, res.failed[i].name);
			char *failed = strvec_join(&names, ", ");
			strvec_free(&names);
			log_error("backup %s/%s is partial: written without source%s %s, which "
			          "failed (see above); cairn restore takes each of them from an "
			          "older set",
			          job->name, id, res.nfailed == 1 ? "" : "s", failed);
			free(failed);
			report_error(&rr, res.failed[0].error);
			rr.status = "partial";
			rc = CAIRN_EXIT_PARTIAL;
		} else {
			log_info("backup %s/%s complete in %zu sink%s: %s read, %s stored",
			         job->name, id, nsinks, nsinks == 1 ? "" : "s",
			         format_bytes(res.raw_bytes, raw, sizeof(raw)),
			         format_bytes(res.stored_bytes, stored, sizeof(stored)));
			rr.status = "ok";
			rc = CAIRN_EXIT_OK;
		}
	} else if (res.cancelled) {
		log_error("backup %s interrupted; nothing of it was kept", job->name);
		report_error(&rr, "interrupted");
		rc = exit_for(CAIRN_E_CANCELLED);
	} else {
		size_t ok = rr.sinks.n;
		if (ok) {
			struct strvec names = {0};
			for (size_t i = 0; i < nsinks; i++)
				if (!res.sinks[i].ok) {
					strvec_push(&names, sinks[i]->name);
					report_error(&rr, res.sinks[i].error);
				}
			char *failed = strvec_join(&names, ", ");
			strvec_free(&names);
			log_error("backup %s/%s is complete in %zu of %zu sinks; failed: %s",
			          job->name, id, ok, nsinks, failed);
			free(failed);
			rr.status = "partial";
		} else if (!res.source_error) {
			log_error("backup %s failed: no sink could store it", job->name);
		}
		report_error(&rr, res.source_error);
		for (size_t i = 0; i < nsinks; i++)
			report_error(&rr, res.sinks[i].error);
		rc = CAIRN_EXIT_FAILED;
	}
	status_after_backup(c, job, id, sinks, nsinks, &res); /* status, check, metrics */
	backup_outcome_free(&res, nsinks);
	if (rc == CAIRN_EXIT_OK && dropped) {
		rc = CAIRN_EXIT_FAILED; /* each said why above */
		rr.status = "partial";
		report_error(&rr, "a sink could not be locked");
	}
	/* Prune only after a run that wrote its whole set everywhere, still
	 * under the job's lock and every sink's: never after a failure, and
	 * a prune that cannot remove a set says so without undoing the
	 * backup's success. */
	if (rc == CAIRN_EXIT_OK && job->prune && job->retention)
		for (size_t i = 0; i < nsinks && !cancel_signal; i++)
			prune_sink(job, sinks[i], 0, NULL);
out:
	for (size_t i = 0; locks && i < nsinks; i++)
		sink_unlock(sinks[i], locks[i]);
	if (hooks)
		after_hooks(c, job, id, &rr);
	free(locks);
	free(skipped);
	free(rr.error);
	strvec_free(&rr.sinks);
	free_instances(sources, nsources);
	free_instances(sinks, nsinks);
	strvec_free(&only);
	return rc;
}
