/* backup_run.c - back up a job's sources into its sinks: one new set in
 * each, under the job's lock and each sink's own (cairn backup, and cairn
 * follow's new base of one source; see backup_run.h).  The pipeline does the
 * work.  Each sink costs only itself: one that cannot be made, locked or
 * listed as the run starts is left out of it, named, and its failed run
 * recorded, while the others get their set.  --set and --sink make a
 * one-off run, recorded as what it was (doc/design.md). */
#include "autoconf.h"

#include "backup_run.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypt.h"
#include "hooks.h"
#include "host.h"
#include "log.h"
#include "pipeline.h"
#include "prune.h"
#include "record.h"
#include "secret_env.h"
#include "state.h"

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
			log_info(
			        "%s: leaving incomplete set %s/%s alone: it changed within the last day and this sink has no lock, so another run may still be writing it",
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

/* One backup run: what it is for and how far it got. */
struct run {
	struct cli *c;
	const struct cfg_job *job;
	struct strvec only, sets; /* --source, --set */
	const char *only_sink;    /* --sink, or NULL */
	struct strvec targets;    /* the sinks the run is for */
	struct instance **sinks;  /* those still in the run */
	cairn_sink_lock **locks;  /* each one's lock (NULL: it has none) */
	size_t nsinks;
	struct strvec dropped, why; /* the sinks left out at the start, and why */
	struct instance **sources;
	struct strvec *overrides; /* per source: the --set that reached it */
	size_t nsources;
	char id[BACKUP_ID_LEN + 1];
	int pin;                           /* --pin; -1 once a pin failed */
	struct age_recipients *recipients; /* encryption = age; else NULL */
	const struct backup_args *a;
};

/* Sink name failed as the run started (err, taken): say so, and keep
 * why for the run record. */
static void
note_dropped(struct run *r, const char *name, char *err)
{
	log_error("%s; this sink gets no backup set from this run", err);
	strvec_push(&r->dropped, name);
	strvec_push_own(&r->why, err);
}

/* Leave sink i out of the run: it could not be locked or listed. */
static void
drop_sink(struct run *r, size_t i, char *err)
{
	note_dropped(r, r->sinks[i]->name, err);
	if (r->locks) {
		sink_unlock(r->sinks[i], r->locks[i]);
		memmove(&r->locks[i], &r->locks[i + 1], (r->nsinks - i - 1) * sizeof(*r->locks));
	}
	instance_destroy(r->sinks[i]);
	memmove(&r->sinks[i], &r->sinks[i + 1], (r->nsinks - i - 1) * sizeof(*r->sinks));
	r->nsinks--;
}

/* Make the sinks of the run; one that cannot be made is left out. */
static void
make_run_sinks(struct run *r)
{
	for (size_t k = 0; k < r->job->sinks.n; k++)
		if (!r->only_sink || strcmp(r->only_sink, r->job->sinks.v[k]) == 0)
			strvec_push(&r->targets, r->job->sinks.v[k]);
	r->sinks = xcalloc(r->targets.n ? r->targets.n : 1, sizeof(*r->sinks));
	for (size_t k = 0; k < r->targets.n; k++) {
		char *err = NULL;
		if (try_instance(r->c, SECTION_SINK, r->targets.v[k], NULL, &r->sinks[r->nsinks],
		                 &err) == 0)
			r->nsinks++;
		else
			note_dropped(r, r->targets.v[k], err);
	}
}

/* Is t the id of a set in one of the lists? */
static int
id_taken(const struct set_list *ls, size_t n, time_t t)
{
	for (size_t k = 0; k < n; k++)
		for (size_t i = ls[k].n; i-- > 0 && ls[k].v[i].time >= t;)
			if (ls[k].v[i].time == t)
				return 1;
	return 0;
}

/* The newest id this state_dir gave a run of the job (the last run
 * recorded for any sink), or 0.  A record that cannot be read gives 0:
 * cairn status reports it. */
static time_t
last_given_id(const struct run *r)
{
	struct job_state st = {0};
	char *err = NULL;
	time_t last = 0, t;
	if (state_load(r->c->cfg->state_dir, r->job->name, &st, &err)) {
		free(err);
		return 0;
	}
	for (size_t i = 0; i < st.n; i++)
		if (st.v[i].run.id[0] && !backup_id_parse(st.v[i].run.id, &t) && t > last)
			last = t;
	state_free(&st);
	return last;
}

/* A new id: the start time, from the clock and never from the sink.  When
 * a set of that very second exists (two runs within a second), the next
 * free second, but never more than BACKUP_ID_FUTURE_TOLERANCE past the
 * clock: a set whose id lies further ahead (a wrong clock, or planted) is
 * reported and else ignored, so it cannot drag every later id to its day.
 * Never an id this state_dir gave before either (within the same
 * tolerance): runs within a second take the next seconds, and a set of
 * such an id that was removed from one sink may still stand in another
 * (one the run does not reach, or no longer a sink of the job), where
 * cairn copy would take a new set of that id for the one it holds.  A
 * sink that cannot be listed is left out of the run.  0, or -1 when no
 * second within the tolerance is free. */
static int
choose_id(struct run *r)
{
	time_t now = time(NULL), t = now, last = last_given_id(r);
	struct set_list *ls = xcalloc(r->nsinks ? r->nsinks : 1, sizeof(*ls));
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < r->nsinks;) {
		char *err = NULL;
		if (sets_list(r->sinks[i], r->job->name, &ls[n], &err)) {
			drop_sink(r, i, err);
			continue;
		}
		for (size_t k = ls[n].n; k-- > 0 && set_in_future(&ls[n].v[k], now);)
			log_warn(
			        "%s%s: its id lies in the future (a host with a wrong clock, or planted); it is kept, not counted, and not used for new ids: check it with cairn verify %s --id %s",
			        ls[n].where, ls[n].v[k].id, r->job->name, ls[n].v[k].id);
		remove_leftovers(r->job, r->sinks[i], r->locks[i] != NULL, &ls[n]);
		n++;
		i++;
	}
	if (last >= t && last - now < BACKUP_ID_FUTURE_TOLERANCE)
		t = last + 1;
	while (id_taken(ls, n, t) && t - now < BACKUP_ID_FUTURE_TOLERANCE)
		t++;
	if (id_taken(ls, n, t)) {
		log_error(
		        "every id from now to %d s ahead is taken by a set of job %s: see cairn list %s; nothing was written",
		        BACKUP_ID_FUTURE_TOLERANCE, r->job->name, r->job->name);
		rc = -1;
	}
	for (size_t k = 0; k < n; k++)
		set_list_free(&ls[k]);
	free(ls);
	backup_id_format(t, r->id);
	return rc;
}

/* Take every sink's own lock of the job.  A sink held by another run stops
 * the whole run before anything is touched (exit 5); a sink whose lock
 * fails otherwise is left out of this run. */
static int
lock_sinks(struct run *r)
{
	r->locks = xcalloc(r->nsinks ? r->nsinks : 1, sizeof(*r->locks));
	for (size_t i = 0; i < r->nsinks;) {
		char *err = NULL;
		int rc = sink_lock(r->sinks[i], r->job->name, &r->locks[i], &err);
		if (rc == CAIRN_E_LOCKED) {
			log_error("%s", err);
			free(err);
			return CAIRN_EXIT_LOCKED;
		}
		if (rc)
			drop_sink(r, i, err);
		else
			i++;
	}
	return 0;
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
job_hook(struct cli *c, const struct cfg_job *job, const struct strvec *sets, const char *name,
         const char *command, const char *id, const struct run_report *rr, char **err)
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
	secret_env_vars(c->cfg, &c->reg, sets, &hidden);
	rc = hook_run(name, command, job->hooks.timeout, &env, &hidden, err);
	strvec_free(&hidden);
	free(sinks);
	return rc;
}

/* The hooks after a run: on_success or on_failure, then after, whatever
 * happened.  Their failures are reported; they change no set and no exit
 * code, so monitoring that reads the code sees the backup's outcome. */
static void
after_hooks(struct cli *c, const struct cfg_job *job, const struct strvec *sets, const char *id,
            const struct run_report *rr)
{
	int ok = strcmp(rr->status, "ok") == 0;
	const char *names[2] = {ok ? "on_success" : "on_failure", "after"};
	const char *cmds[2] = {ok ? job->hooks.on_success : job->hooks.on_failure,
	                       job->hooks.after};
	for (int i = 0; i < 2; i++) {
		char *err = NULL;
		if (job_hook(c, job, sets, names[i], cmds[i], id, rr, &err)) {
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

/* --set: every one must reach a source of this run, as restore's do. */
static int
check_run_sets(struct run *r)
{
	struct strvec names = {0};
	for (size_t i = 0; i < r->job->sources.n; i++)
		if (!r->only.n || strvec_contains(&r->only, r->job->sources.v[i]))
			strvec_push(&names, r->job->sources.v[i]);
	int rc = check_sets(r->c, &r->sets, (const char *const *)names.v, names.n, SET_BACKUP);
	strvec_free(&names);
	return rc;
}

/* Make the sources of the run, each with the --set that reach it. */
static int
make_run_sources(struct run *r)
{
	int rc = 0;
	r->sources = xcalloc(r->job->sources.n ? r->job->sources.n : 1, sizeof(*r->sources));
	r->overrides = xcalloc(r->job->sources.n ? r->job->sources.n : 1, sizeof(*r->overrides));
	if (r->a->source) { /* cairn follow's own (follow_base.c) */
		r->sources[r->nsources++] = r->a->source;
		return 0;
	}
	for (size_t i = 0; i < r->job->sources.n && !rc; i++) {
		if (r->only.n && !strvec_contains(&r->only, r->job->sources.v[i]))
			continue;
		rc = make_source(r->c, r->job->sources.v[i], &r->sets, SET_BACKUP,
		                 &r->sources[r->nsources], &r->overrides[r->nsources]);
		if (!rc)
			r->nsources++;
	}
	return rc;
}

/* The job's --source and --sink names checked, and the --set. */
static int
check_run_job(struct run *r)
{
	for (size_t i = 0; i < r->only.n; i++)
		if (!strvec_contains(&r->job->sources, r->only.v[i])) {
			log_error("job %s has no source named \"%s\"", r->job->name, r->only.v[i]);
			return CAIRN_EXIT_USAGE;
		}
	if (r->only_sink && !strvec_contains(&r->job->sinks, r->only_sink)) {
		char *names = strvec_join(&r->job->sinks, ", ");
		log_error("job %s has no sink named \"%s\"; its sinks: %s", r->job->name,
		          r->only_sink, names);
		free(names);
		return CAIRN_EXIT_USAGE;
	}
	return check_run_sets(r);
}

/* The job's recipients, once per run: a job that encrypts and cannot load
 * them writes nothing.  0 or CAIRN_EXIT_CONFIG (said). */
static int
load_recipients(struct run *r)
{
	char *err = NULL;
	if (crypt_recipients_load(r->job, &r->recipients, &err) == 0)
		return 0;
	log_error("%s; job %s was not backed up and nothing was written", err, r->job->name);
	free(err);
	return CAIRN_EXIT_CONFIG;
}

/* What the run record says of the run: status, check and the metrics. */
static void
record_run(struct run *r, const struct backup_outcome *res)
{
	struct backup_record br = {.id = r->id,
	                           .sinks = r->sinks,
	                           .nsinks = r->nsinks,
	                           .res = res,
	                           .targets = &r->targets,
	                           .dropped = &r->dropped,
	                           .why = &r->why,
	                           .one_off = r->only.n || r->sets.n};
	record_backup(r->c->cfg, &r->c->reg, r->job, &br);
}

/* Say how the pipeline's run went and set the report; the exit code. */
static int
report_outcome(struct run *r, int prc, const struct backup_outcome *res, struct run_report *rr)
{
	const struct cfg_job *job = r->job;
	char raw[32], stored[32];
	if (prc == 0 && res->nfailed) {
		struct strvec names = {0};
		for (size_t i = 0; i < res->nfailed; i++)
			strvec_push(&names, res->failed[i].name);
		char *failed = strvec_join(&names, ", ");
		strvec_free(&names);
		log_error(
		        "backup %s/%s is partial: written without source%s %s, which failed (see above); cairn restore takes each of them from an older set",
		        job->name, r->id, res->nfailed == 1 ? "" : "s", failed);
		free(failed);
		report_error(rr, res->failed[0].error);
		rr->status = "partial";
		return CAIRN_EXIT_PARTIAL;
	}
	if (prc == 0) {
		log_info("backup %s/%s complete in %zu sink%s: %s read, %s stored", job->name,
		         r->id, r->nsinks, r->nsinks == 1 ? "" : "s",
		         format_bytes(res->raw_bytes, raw, sizeof(raw)),
		         format_bytes(res->stored_bytes, stored, sizeof(stored)));
		rr->status = "ok";
		return CAIRN_EXIT_OK;
	}
	if (res->cancelled) {
		log_error("backup %s interrupted; nothing of it was kept", job->name);
		report_error(rr, "interrupted");
		return exit_for(CAIRN_E_CANCELLED);
	}
	report_error(rr, res->source_error);
	for (size_t i = 0; i < r->nsinks; i++)
		report_error(rr, res->sinks[i].error);
	return CAIRN_EXIT_FAILED;
}

/* After the run: which sinks lack the set, in one line, and the status
 * the hooks are told. */
static int
report_sinks(struct run *r, int rc, const struct backup_outcome *res, struct run_report *rr)
{
	struct strvec failed = {0};
	for (size_t i = 0; i < r->dropped.n; i++) {
		strvec_push(&failed, r->dropped.v[i]);
		report_error(rr, r->why.v[i]);
	}
	for (size_t i = 0; res && i < r->nsinks; i++)
		if (!res->sinks[i].ok)
			strvec_push(&failed, r->sinks[i]->name);
	if (failed.n && !(res && res->cancelled)) {
		char *names = strvec_join(&failed, ", ");
		if (rr->sinks.n)
			log_error("backup %s/%s is complete in %zu of %zu sinks; failed: %s",
			          r->job->name, r->id, rr->sinks.n, r->targets.n, names);
		else if (!res || !res->source_error)
			log_error("backup %s failed: no sink could store it; failed: %s",
			          r->job->name, names);
		free(names);
		if (rr->sinks.n && strcmp(rr->status, "ok") == 0)
			rr->status = "partial";
		if (rc == CAIRN_EXIT_OK)
			rc = CAIRN_EXIT_FAILED; /* each said why above */
	}
	strvec_free(&failed);
	return rc;
}

/* Back the sources up into the sinks still in the run, record it, and
 * prune after a run that wrote its whole set everywhere. */
static int
run_pipeline(struct run *r, struct run_report *rr)
{
	char host[256] = "";
	size_t nskipped = 0;
	struct backup_outcome res;
	struct strvec run_sinks = {0};
	int rc;
	gethostname(host, sizeof(host) - 1);
	struct manifest_failed *skipped = left_out(r->c, r->job, &r->only, &nskipped);
	if (r->only_sink && r->job->sinks.n > 1) /* a subset of the job's sinks */
		strvec_push(&run_sinks, r->only_sink);
	struct backup_request rq = {.job = r->job,
	                            .id = r->id,
	                            .sources = r->sources,
	                            .nsources = r->nsources,
	                            .sinks = r->sinks,
	                            .nsinks = r->nsinks,
	                            .host = host,
	                            .keep_partial =
	                                    r->job->on_source_failure == SOURCE_FAILURE_KEEP,
	                            .skipped = skipped,
	                            .nskipped = nskipped,
	                            .overrides = r->overrides,
	                            .run_sinks = run_sinks.n ? &run_sinks : NULL,
	                            .recipients = r->recipients,
	                            .backup = r->a->backup,
	                            .backup_ud = r->a->backup_ud};
	int prc = pipeline_backup(&rq, &res);
	for (size_t i = 0; i < r->nsinks; i++)
		if (res.sinks[i].ok)
			strvec_push(&rr->sinks, r->sinks[i]->name);
	/* backup --pin: the new set is pinned in every sink that holds it,
	 * before the prune below; a pin that fails fails the run */
	for (size_t i = 0; r->pin && i < r->nsinks; i++) {
		char *perr = NULL;
		if (res.sinks[i].ok && set_pin(r->sinks[i], r->job->name, r->id, NULL, &perr)) {
			log_error("%s; set %s/%s is not pinned there", perr, r->job->name, r->id);
			free(perr);
			r->pin = -1;
		}
	}
	rc = report_outcome(r, prc, &res, rr);
	rc = report_sinks(r, rc, &res, rr);
	record_run(r, &res);
	backup_outcome_free(&res, r->nsinks);
	if (rc == CAIRN_EXIT_OK && r->pin < 0)
		rc = CAIRN_EXIT_FAILED; /* said above; nothing is pruned */
	free(skipped);
	strvec_free(&run_sinks);
	/* Prune only after a run that wrote its whole set everywhere, still
	 * under the job's lock and every sink's: never after a failure, and
	 * a prune that cannot remove a set says so without undoing the
	 * backup's success. */
	if (rc == CAIRN_EXIT_OK && r->job->prune && r->job->retention)
		for (size_t i = 0; i < r->nsinks && !cancel_signal; i++)
			prune_sink(r->job, r->sinks[i], 0, NULL);
	return rc;
}

/* From the job's lock on: the before hook, the sinks' locks and listing,
 * the run.  The hooks after it are the caller's. */
static int
run_locked(struct run *r, struct run_report *rr)
{
	struct run_report before = {.status = ""};
	char *herr = NULL;
	int rc;
	if (job_hook(r->c, r->job, &r->sets, "before", r->job->hooks.before, "", &before, &herr)) {
		log_error("%s; job %s was not backed up and nothing was written", herr,
		          r->job->name);
		report_error(rr, herr);
		free(herr);
		return CAIRN_EXIT_FAILED;
	}
	if ((rc = lock_sinks(r)))
		return rc;
	int idrc = choose_id(r);
	if (r->nsinks && !idrc)
		return run_pipeline(r, rr);
	/* no sink answered, or no free id: nothing is written, the failure
	 * is recorded */
	r->id[0] = '\0';
	if (idrc)
		report_error(rr, "no free backup id within a minute of the clock");
	rc = report_sinks(r, CAIRN_EXIT_FAILED, NULL, rr);
	record_run(r, NULL);
	return rc;
}

static void
run_free(struct run *r)
{
	for (size_t i = 0; r->locks && i < r->nsinks; i++)
		sink_unlock(r->sinks[i], r->locks[i]);
	free(r->locks);
	free_instances(r->sinks, r->nsinks);
	free_instances(r->sources, r->a->source ? 0 : r->nsources);
	for (size_t i = 0; r->overrides && i < r->job->sources.n; i++)
		strvec_free(&r->overrides[i]);
	free(r->overrides);
	strvec_free(&r->only);
	strvec_free(&r->sets);
	strvec_free(&r->targets);
	strvec_free(&r->dropped);
	strvec_free(&r->why);
	age_recipients_free(r->recipients);
}

int
backup_run(struct cli *c, const struct cfg_job *job, const struct backup_args *a,
           char id[BACKUP_ID_LEN + 1])
{
	struct run r = {.c = c, .job = job, .only_sink = a->only_sink, .pin = a->pin, .a = a};
	struct run_report rr = {.status = "failed"};
	int rc;

	if (id)
		id[0] = '\0';
	for (size_t i = 0; i < a->only.n; i++)
		strvec_push(&r.only, a->only.v[i]);
	for (size_t i = 0; i < a->sets.n; i++)
		strvec_push(&r.sets, a->sets.v[i]);
	if ((rc = check_run_job(&r)) || (rc = load_recipients(&r)) || (rc = make_run_sources(&r)))
		goto out;
	make_run_sinks(&r);
	if ((rc = take_job_lock(c, r.job)))
		goto out;
	/* From here on the hooks after the run are owed one call. */
	rc = run_locked(&r, &rr);
	after_hooks(c, r.job, &r.sets, r.id, &rr);
	if (id && rr.sinks.n)
		memcpy(id, r.id, sizeof(r.id));
out:
	free(rr.error);
	strvec_free(&rr.sinks);
	run_free(&r);
	return rc;
}
