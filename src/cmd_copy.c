/* cmd_copy.c - cairn copy: fill a sink that missed sets (an offsite store
 * that was down) from another sink of the same job.
 *
 * Each object is read with a restore's checks (pipeline_copy: size and
 * SHA-256 against the manifest, the whole object before it is committed)
 * and committed in the target under its own key, the manifest last: a
 * copy stopped or failed half way leaves an incomplete set, which the
 * next backup's leftover rule removes, never a manifest naming missing
 * objects.  The manifest is written on as it was read, but for "sink"
 * (now the target, as if the set had been written there) and
 * "copied_from" (the sink and time it came from).  Under the job's lock
 * and the target sink's own. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pipeline.h"

/* The manifest text for the target: the source's, with "sink" and
 * "copied_from" set.  NULL when text is no JSON object (it was parsed
 * already, so only on a bug). */
static char *
target_manifest(const char *text, size_t len, const char *from, const char *to)
{
	json_t *root = json_loadb(text, len, 0, NULL);
	char when[32], *out, *line;
	if (!json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	iso8601_format_utc(time(NULL), when, sizeof(when));
	json_object_set_new(root, "sink", json_string(to));
	json_object_set_new(root, "copied_from", json_pack("{s:s, s:s}", "sink", from, "at", when));
	out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!out)
		return NULL;
	line = xasprintf("%s\n", out);
	free(out);
	return line;
}

/* Remove what a failed copy committed in the target, newest first (the
 * manifest, when it got that far, before any object). */
static void
rollback(struct instance *to, struct strvec *done)
{
	for (size_t i = done->n; i-- > 0;) {
		int rc = op_remove(to, done->v[i]);
		if (rc && rc != CAIRN_E_NOTFOUND)
			log_error("%s: cannot remove %s after the failure: %s; remove it by hand",
			          to->ctx.label, done->v[i], instance_error(to, rc));
	}
	strvec_free(done);
}

/* The pin of a pinned set goes with it (before the manifest, so that the
 * set is never complete in the target without it): its bytes when they
 * are small, else a new pin. */
static int
copy_pin(struct instance *from, struct instance *to, const char *job, const char *id,
         struct strvec *done, char **err)
{
	char *key = xasprintf("%s/%s/%s", job, id, SET_PIN_NAME), *buf = NULL, *e = NULL;
	size_t len;
	int rc;
	if (sink_read_all(from, key, 64 << 10, &buf, &len, &e) == 0) {
		rc = sink_write_all(to, key, buf, len, err);
	} else {
		char *note = xasprintf("copied from sink %s", from->name);
		rc = set_pin(to, job, id, note, err);
		free(note);
	}
	if (!rc)
		strvec_push(done, key);
	free(e);
	free(buf);
	free(key);
	return rc;
}

/* Copy set id of job from one sink to the other.  0, or a CAIRN_E_* code
 * with the error said; then nothing of the set was left committed. */
static int
copy_set(const struct cfg_job *job, struct instance *from, struct instance *to,
         const struct set_info *s)
{
	struct manifest *m = NULL;
	struct strvec done = {0};
	char *text = NULL, *out = NULL, *err = NULL, *key, size[32];
	size_t len = 0;
	uint64_t bytes = 0;
	int rc = set_read_manifest_text(from, job->name, s->id, &m, &text, &len, &err);
	for (size_t i = 0; !rc && i < m->nsources; i++) {
		rc = pipeline_copy(from, to, &m->sources[i], &err);
		if (!rc) {
			strvec_push(&done, m->sources[i].object);
			bytes += m->sources[i].stored_bytes;
		}
	}
	if (!rc && s->pinned)
		rc = copy_pin(from, to, job->name, s->id, &done, &err);
	key = xasprintf("%s/%s/%s", job->name, s->id, CAIRN_MANIFEST_NAME);
	if (!rc && !(out = target_manifest(text, len, from->name, to->name))) {
		err = xasprintf("%s: %s cannot be written on", from->ctx.label, key);
		rc = CAIRN_E_CORRUPT;
	}
	if (!rc && (rc = sink_write_all(to, key, out, strlen(out), &err)) == 0) {
		strvec_push(&done, key);
		/* what was committed is still there (as a backup checks) */
		rc = set_check_objects(to, job->name, s->id, &done, &err);
	}
	if (rc) {
		if (rc != CAIRN_E_CANCELLED)
			log_error("%s; set %s/%s was not copied to %s%s", err, job->name, s->id,
			          to->name,
			          rc == CAIRN_E_CORRUPT ? " (check the source with cairn verify)"
			                                : "");
		rollback(to, &done);
	} else {
		print_line("copied %s/%s from %s to %s: %zu object%s, %s%s%s", job->name, s->id,
		           from->name, to->name, m->nsources, m->nsources == 1 ? "" : "s",
		           format_bytes(bytes, size, sizeof(size)), m->partial ? ", partial" : "",
		           s->pinned ? ", pinned" : "");
		strvec_free(&done);
	}
	free(key);
	free(out);
	free(text);
	free(err);
	manifest_free(m);
	return rc;
}

static const struct set_info *
find_set(const struct set_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0)
			return &l->v[i];
	return NULL;
}

/* --missing: mark in skip[] the candidates that the target's retention
 * would remove at once, with the target's sets and every candidate
 * counted as they would lie after the copy (and said why). */
static void
retention_skips(const struct cfg_job *job, struct instance *from, struct set_list *src,
                struct instance *to, struct set_list *dst, const int *want, int *skip)
{
	size_t n = dst->n, k = 0;
	struct retention_policy p;
	struct retention_set *rs, *rsrc;
	struct retention_verdict *v;
	size_t *at;
	if (!job->retention)
		return;
	for (size_t i = 0; i < src->n; i++)
		n += want[i] != 0;
	rs = xcalloc(n ? n : 1, sizeof(*rs));
	rsrc = xcalloc(src->n ? src->n : 1, sizeof(*rsrc));
	v = xcalloc(n ? n : 1, sizeof(*v));
	at = xcalloc(src->n ? src->n : 1, sizeof(*at));
	job_policy(job, &p);
	sets_for_retention(to, job->name, dst, NULL, rs);
	sets_for_retention(from, job->name, src, want, rsrc);
	k = dst->n;
	for (size_t i = 0; i < src->n; i++)
		if (want[i]) {
			at[i] = k;
			rs[k++] = rsrc[i];
		}
	retention_apply(&p, rs, n, time(NULL), v);
	for (size_t i = 0; i < src->n; i++)
		if (want[i] && !v[at[i]].keep) {
			skip[i] = 1;
			print_line(
			        "skipped %s/%s: the retention of %s would remove it at once (%s)",
			        job->name, src->v[i].id, to->name, v[at[i]].why);
		}
	for (size_t i = 0; i < n; i++)
		free(v[i].why);
	free(v);
	free(at);
	free(rsrc);
	free(rs);
}

/* The sets to copy (want[i] for src->v[i]): --id, --missing or the
 * newest.  0, or an exit code with the error said. */
static int
choose_sets(const struct cfg_job *job, struct instance *from, struct set_list *src,
            struct instance *to, struct set_list *dst, const char *id, int missing, int *want)
{
	const struct set_info *s, *t;
	if (missing) {
		int *skip = xcalloc(src->n ? src->n : 1, sizeof(*skip));
		for (size_t i = 0; i < src->n; i++) {
			t = find_set(dst, src->v[i].id);
			want[i] = src->v[i].complete && !(t && t->complete);
		}
		retention_skips(job, from, src, to, dst, want, skip);
		for (size_t i = 0; i < src->n; i++)
			want[i] = want[i] && !skip[i];
		free(skip);
		return 0;
	}
	s = sets_select(src, id, NULL);
	if (!s) {
		log_error("%s: no complete backup set of job %s%s%s; see cairn list %s --sink %s",
		          from->ctx.label, job->name, id ? " with id " : "", id ? id : "",
		          job->name, from->name);
		return CAIRN_EXIT_NOTFOUND;
	}
	t = find_set(dst, s->id);
	if (t && t->complete)
		print_line("%s/%s is in %s already", job->name, s->id, to->name);
	else
		want[s - src->v] = 1;
	return 0;
}

/* An incomplete set with the id to copy in the target (a run that died
 * there, a copy that crashed): a sink never overwrites an object, so it
 * goes first, when the target's lock is held or it is an old leftover.
 * 0, or a CAIRN_E_* code with the error said. */
static int
clear_leftover(const struct cfg_job *job, struct instance *to, int locked, const struct set_info *t)
{
	char *err = NULL;
	if (!t || t->complete)
		return 0;
	if (!locked && t->newest_mtime > time(NULL) - SET_LEFTOVER_GRACE) {
		log_error(
		        "%s: incomplete set %s/%s changed within the last day and this sink has no lock, so another run may still be writing it; try again later",
		        to->ctx.label, job->name, t->id);
		return CAIRN_E_IO;
	}
	log_info("%s: removing incomplete set %s/%s left by an interrupted run", to->ctx.label,
	         job->name, t->id);
	if (set_remove(to, job->name, t, &err)) {
		log_error("%s; set %s/%s was not copied", err, job->name, t->id);
		free(err);
		return CAIRN_E_IO;
	}
	return 0;
}

/* List both sinks, choose and copy.  Returns an exit code: 6 when a set
 * was damaged in the source (the others are still copied), else 1 for
 * any other failure. */
static int
copy_sets(const struct cfg_job *job, struct instance *from, struct instance *to, int locked,
          const char *id, int missing)
{
	struct set_list src = {0}, dst = {0};
	char *err = NULL;
	int rc = 0, *want = NULL;
	size_t copied = 0, failed = 0;
	if ((rc = sets_list(from, job->name, &src, &err)) ||
	    (rc = sets_list(to, job->name, &dst, &err))) {
		log_error("%s", err);
		free(err);
		rc = exit_for(rc);
		goto out;
	}
	want = xcalloc(src.n ? src.n : 1, sizeof(*want));
	if ((rc = choose_sets(job, from, &src, to, &dst, id, missing, want)))
		goto out;
	for (size_t i = 0; i < src.n && !cancel_signal; i++) {
		int crc;
		if (!want[i])
			continue;
		crc = clear_leftover(job, to, locked, find_set(&dst, src.v[i].id));
		if (!crc)
			crc = copy_set(job, from, to, &src.v[i]);
		if (!crc) {
			copied++;
			continue;
		}
		failed++;
		/* damage outranks any other failure */
		if (rc != CAIRN_EXIT_CORRUPT)
			rc = exit_for(crc);
	}
	if (cancel_signal)
		rc = exit_for(CAIRN_E_CANCELLED);
	else if (!copied && !failed)
		print_line("nothing to copy: %s holds every set of job %s it should have from %s",
		           to->name, job->name, from->name);
	else if (failed)
		log_error("copied %zu set%s of job %s to %s; %zu could not be copied (see above)",
		          copied, copied == 1 ? "" : "s", job->name, to->name, failed);
out:
	free(want);
	set_list_free(&src);
	set_list_free(&dst);
	return rc;
}

const struct option copy_options[] = {{"from", required_argument, NULL, 'f'},
                                      {"to", required_argument, NULL, 't'},
                                      {"id", required_argument, NULL, 'i'},
                                      {"missing", no_argument, NULL, 'm'},
                                      {NULL, 0, NULL, 0}};

int
cmd_copy(struct cli *c, int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *id = NULL;
	const struct cfg_job *job;
	struct instance **src = NULL, **dst = NULL;
	size_t nsrc = 0, ndst = 0;
	cairn_sink_lock *lk = NULL;
	char *err = NULL;
	int opt, rc, missing = 0;

	while ((opt = getopt_long(argc, argv, "f:t:i:m", copy_options, NULL)) != -1) {
		switch (opt) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'i': id = optarg; break;
		case 'm': missing = 1; break;
		default: return usage_error("copy: unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("copy takes one JOB");
	if (!from || !to)
		return usage_error("copy needs --from SINK and --to SINK");
	if (strcmp(from, to) == 0)
		return usage_error("copy: --from and --to name the same sink %s", from);
	if (id && missing)
		return usage_error("give --id or --missing, not both");
	if ((rc = parse_when(id, NULL, NULL)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)))
		return rc;
	if ((rc = make_sinks(c, job, from, &src, &nsrc)) ||
	    (rc = make_sinks(c, job, to, &dst, &ndst)) || (rc = take_job_lock(c, job)))
		goto out;
	if ((rc = sink_lock(dst[0], job->name, &lk, &err))) {
		log_error("%s", err);
		free(err);
		rc = rc == CAIRN_E_LOCKED ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_FAILED;
		goto out;
	}
	rc = copy_sets(job, src[0], dst[0], lk != NULL, id, missing);
	sink_unlock(dst[0], lk);
out:
	free_instances(src, nsrc);
	free_instances(dst, ndst);
	return rc;
}
