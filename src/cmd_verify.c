/* cmd_verify.c - check stored sets against their manifests, one set or
 * all of a job's; --deep also lets each source check its data, and
 * --restore-test lets it restore the data somewhere harmless. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "record.h"
#include "run_keys.h"
#include "verify_log.h"

enum verify_level {
	VERIFY_SUMS,        /* size and SHA-256 of every object */
	VERIFY_DEEP,        /* and each source checks its format */
	VERIFY_RESTORE_TEST /* and each source restores it somewhere harmless */
};

/* verify --deep and --restore-test: the statistics the source recorded
 * while it read the object (host->stat), against the same keys in the
 * manifest's stats of that source.  A key in both with another value is
 * damage: CAIRN_E_CORRUPT with *err naming the source, the key, what the
 * manifest records and what was found.  Keys on one side only are not
 * compared.  The compared keys go into *checked. */
static int
compare_stats(const struct instance *src, const struct manifest_source *ms, enum verify_level level,
              json_t *checked, char **err)
{
	static const char *const by[] = {"", "the deep check", "the restore test"};
	const char *key;
	json_t *found, *want = ms->stats;
	if (!src->ctx.stats || !json_is_object(want))
		return 0;
	json_object_foreach(want, key, found)
	{
		json_t *got = json_object_get(src->ctx.stats, key);
		if (!got)
			continue;
		if (!json_equal(got, found)) {
			char *w = json_dumps(found, JSON_ENCODE_ANY | JSON_COMPACT);
			char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
			*err = xasprintf(
			        "source %s: the manifest records %s = %s for %s, %s found %s",
			        ms->name, key, w ? w : "?", ms->object, by[level], g ? g : "?");
			free(w);
			free(g);
			return CAIRN_E_CORRUPT;
		}
		json_object_set(checked, key, got);
	}
	return 0;
}

/* The compared statistics as one line, for the info level. */
static void
log_checked(const struct instance *src, const json_t *checked)
{
	const char *key;
	json_t *v;
	struct strvec kv = {0};
	char *line;
	if (!json_object_size(checked))
		return;
	json_object_foreach((json_t *)checked, key, v)
	{
		strvec_push_own(&kv, xasprintf("%s = %" JSON_INTEGER_FORMAT, key,
		                               json_is_integer(v) ? json_integer_value(v) : 0));
	}
	line = strvec_join(&kv, ", ");
	log_info("%s: what it counted matches the manifest: %s", src->ctx.label, line);
	free(line);
	strvec_free(&kv);
}

/* Check one object of a set at the level asked for.  *untested is set for
 * a source that cannot test a restore (deep-checked instead).  With
 * checked (--deep, --restore-test), the statistics compared with the
 * manifest go into checked[SOURCE].  Returns 0 or a CAIRN_E_* code with
 * *err; or, with *said set to an exit code, the source could not be made
 * and that was reported. */
static int
verify_object(struct cli *c, struct instance *sink, const struct manifest_source *ms,
              enum verify_level level, json_t *checked, int *untested, int *said, char **err)
{
	struct instance *src = NULL;
	int rc;
	if (level == VERIFY_SUMS)
		return pipeline_verify(sink, ms, NULL, err);
	rc = source_for_manifest(c, ms, &(struct strvec){0}, &src);
	if (rc) {
		*said = rc;
		return 0;
	}
	if (level == VERIFY_RESTORE_TEST && src->lp->source.restore_test) {
		log_info("%s: test restore of %s from %s", src->ctx.label, ms->object, sink->name);
		rc = pipeline_restore_test(sink, ms, src, err);
	} else {
		if (level == VERIFY_RESTORE_TEST) {
			log_warn("%s: plugin %s cannot test a restore; checking %s deeply instead",
			         src->ctx.label, ms->plugin, ms->object);
			*untested = 1;
		}
		rc = pipeline_verify(sink, ms, src, err);
	}
	if (!rc) {
		json_t *mine = json_object();
		enum verify_level done = *untested ? VERIFY_DEEP : level;
		rc = compare_stats(src, ms, done, mine, err);
		if (!rc)
			log_checked(src, mine);
		if (!rc && json_object_size(mine))
			json_object_set(checked, ms->name, mine);
		json_decref(mine);
	}
	instance_destroy(src);
	return rc;
}

/* --json: one element per set checked, printed at the end; NULL without */
static json_t *json_results;

/* One set's result in one sink for --json; id is NULL when the sink could
 * not be listed, checked (stolen, may be NULL) holds the statistics
 * compared per source. */
static void
json_result(const struct cfg_job *job, const char *sink, const char *id, enum verify_level level,
            int ok, const char *detail, json_t *checked)
{
	static const char *const words[] = {"sums", "deep", "restore-test"};
	if (json_results)
		json_array_append_new(json_results,
		                      json_pack("{s:s, s:s, s:s?, s:s, s:b, s:s?, s:o}", "job",
		                                job->name, "sink", sink, "id", id, "level",
		                                words[level], "ok", ok, "detail",
		                                ok ? NULL : detail, "checked",
		                                checked ? checked : json_object()));
	else
		json_decref(checked);
}

/* Recorded for status, check and the metrics; a restore test checks sizes
 * and checksums too, so it is a verify as well. */
static void
record(struct cli *c, const struct cfg_job *job, const char *sink, const char *id,
       enum verify_level level, int ok, const char *detail)
{
	record_verify(c->cfg, job, sink, id, 0, ok, detail);
	if (level == VERIFY_RESTORE_TEST)
		record_verify(c->cfg, job, sink, id, 1, ok, detail);
}

/* Verify every object of one set in one sink.  Returns an exit code. */
static int
verify_set(struct cli *c, const struct cfg_job *job, struct instance *sink, const char *id,
           enum verify_level level)
{
	static const char *const what[] = {"", ", deep", ", restore-tested"};
	struct manifest *m = NULL;
	char *err = NULL;
	int rc = 0;
	uint64_t bytes = 0;
	struct strvec untested = {0};
	json_t *checked = json_object();
	int mrc = set_read_manifest(sink, job->name, id, &m, &err);
	char *first = NULL; /* the first failure, for cairn status */
	if (mrc) {
		if (!json_results)
			print_line("%s/%s in %s: %s: %s", job->name, id, sink->name,
			           mrc == CAIRN_E_CORRUPT ? "DAMAGED" : "FAILED", err);
		json_result(job, sink->name, id, level, 0, err, checked);
		if (mrc != CAIRN_E_CANCELLED)
			record(c, job, sink->name, id, level, 0, err);
		free(err);
		return exit_for(mrc);
	}
	for (size_t s = 0; s < m->nsources; s++) {
		const struct manifest_source *ms = &m->sources[s];
		int no_test = 0, said = 0;
		int vrc = verify_object(c, sink, ms, level, checked, &no_test, &said, &err);
		if (said) {
			rc = rc ? rc : said;
			if (!first)
				first = xasprintf("source %s could not be made to check %s",
				                  ms->name, ms->object);
			continue;
		}
		if (no_test)
			strvec_push(&untested, ms->name);
		if (vrc) {
			if (!json_results)
				print_line("%s/%s in %s: %s: %s", job->name, id, sink->name,
				           vrc == CAIRN_E_CORRUPT ? "DAMAGED" : "FAILED", err);
			if (!first)
				first = xstrdup(err ? err : status_str(vrc));
			if (vrc == CAIRN_E_CANCELLED) {
				rc = exit_for(vrc);
				free(err);
				break;
			}
			/* damage outranks any other failure of the set */
			if (rc != CAIRN_EXIT_CORRUPT)
				rc = exit_for(vrc);
		}
		bytes += ms->stored_bytes;
		free(err);
		err = NULL;
	}
	if (!rc && !json_results) {
		char size[32];
		char *note = untested.n ? strvec_join(&untested, ", ") : NULL;
		print_line("%s/%s in %s: ok (%zu object%s, %s%s%s%s)", job->name, id, sink->name,
		           m->nsources, m->nsources == 1 ? "" : "s",
		           format_bytes(bytes, size, sizeof(size)), what[level],
		           note ? "; deep only, no restore test: " : "", note ? note : "");
		free(note);
	}
	if (!cancel_signal) {
		json_result(job, sink->name, id, level, rc == 0, first, checked);
		record_verify(c->cfg, job, sink->name, id, 0, rc == 0, first);
		if (level == VERIFY_RESTORE_TEST && untested.n < m->nsources)
			record_verify(c->cfg, job, sink->name, id, 1, rc == 0, first);
	} else
		json_decref(checked);
	free(first);
	strvec_free(&untested);
	manifest_free(m);
	return rc;
}

/* How bad an exit code is, to keep the worst over sinks and sets: an
 * interruption, then damage, then any other failure (a sink that cannot
 * be reached included), then "no set matches", then success. */
static int
badness(int rc)
{
	if (rc >= 128)
		return 4;
	if (rc == CAIRN_EXIT_CORRUPT)
		return 3;
	if (rc == CAIRN_EXIT_NOTFOUND)
		return 1;
	return rc ? 2 : 0;
}

static int
worse(int a, int b)
{
	return badness(b) > badness(a) ? b : a;
}

/* Verify one sink's copy: its set with id (the newest without), or with
 * all every complete set it holds; without id also its change logs
 * (verify_log.h).  A sink that cannot be listed is a
 * failure (exit 1) naming it, recorded as a failed verify; 7 only when it
 * answered and holds no matching set.  Returns an exit code. */
static int
verify_sink(struct cli *c, const struct cfg_job *job, struct instance *sink, const char *id,
            int all, enum verify_level level)
{
	struct set_list l;
	char *err = NULL;
	int worst = 0, any = 0;
	if (sets_list(sink, job->name, &l, &err)) {
		log_error("%s; its copy was not verified", err);
		if (!cancel_signal) {
			json_result(job, sink->name, NULL, level, 0, err, NULL);
			record(c, job, sink->name, "", level, 0, err);
		}
		free(err);
		return cancel_signal ? exit_for(CAIRN_E_CANCELLED) : CAIRN_EXIT_FAILED;
	}
	if (all) {
		for (size_t s = 0; s < l.n && !cancel_signal; s++) {
			if (!l.v[s].complete)
				continue;
			any = 1;
			worst = worse(worst, verify_set(c, job, sink, l.v[s].id, level));
		}
	} else {
		const struct set_info *s = sets_select(&l, id, NULL);
		if (s) {
			any = 1;
			/* the id of the set's place, never the one its manifest claims */
			worst = verify_set(c, job, sink, s->id, level);
		}
	}
	if (!any && !cancel_signal) {
		log_error(
		        "no complete backup set of job %s%s%s in sink %s to verify; see cairn list %s",
		        job->name, id ? " with id " : "", id ? id : "", sink->name, job->name);
		worst = CAIRN_EXIT_NOTFOUND;
	}
	if (!id && !cancel_signal)
		worst = worse(worst, verify_logs(c, job, sink, (enum verify_log_level)level,
		                                 json_results));
	set_list_free(&l);
	return worst;
}

/* --json: {"results": [...]} on stdout; passes rc on. */
static int
print_json(int rc)
{
	if (json_results) {
		json_t *root = json_pack("{s:o}", "results", json_results);
		char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_results = NULL;
		puts(text);
		free(text);
		json_decref(root);
	}
	return rc;
}

/* The options of verify: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option verify_options[] = {
        {"id", required_argument, NULL, 'i'},       {"all", no_argument, NULL, 'A'},
        {"sink", required_argument, NULL, 'k'},     {"deep", no_argument, NULL, 'd'},
        {"restore-test", no_argument, NULL, 'r'},   {"json", no_argument, NULL, 'j'},
        {"identity", required_argument, NULL, 'I'}, {NULL, 0, NULL, 0}};

int
cmd_verify(struct cli *c, int argc, char **argv)
{
	const char *id = NULL, *only_sink = NULL, *identity = NULL;
	int opt, all = 0, rc, worst = 0;
	struct age_identities *ids = NULL;
	enum verify_level level = VERIFY_SUMS;
	const struct cfg_job *job;

	while ((opt = getopt_long(argc, argv, "i:Ak:drjI:", verify_options, NULL)) != -1) {
		switch (opt) {
		case 'i': id = optarg; break;
		case 'A': all = 1; break;
		case 'k': only_sink = optarg; break;
		case 'd':
			if (level < VERIFY_DEEP)
				level = VERIFY_DEEP;
			break;
		case 'r': level = VERIFY_RESTORE_TEST; break;
		case 'I': identity = optarg; break;
		case 'j':
			if (!json_results)
				json_results = json_array();
			break;
		default: return usage_error("verify: unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("verify takes one JOB");
	if (id && all)
		return usage_error("give --id or --all, not both");
	if (identity && level == VERIFY_SUMS)
		return usage_error(
		        "verify --identity goes with --deep or --restore-test (verify alone reads no content and needs no key)");
	if ((rc = parse_when(id, NULL, NULL)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)))
		return rc;
	if (only_sink && !strvec_contains(&job->sinks, only_sink)) {
		log_error("job %s has no sink named \"%s\"", job->name, only_sink);
		return CAIRN_EXIT_USAGE;
	}
	/* the keys only to read content: sizes and SHA-256 are of the
	 * stored, encrypted bytes */
	if (level != VERIFY_SUMS && (rc = run_keys_use(job, identity, &ids)))
		return rc;
	/* every sink of the job (or the one named): a copy nobody reads back
	 * is a copy nobody knows to be good */
	for (size_t k = 0; k < job->sinks.n && !cancel_signal; k++) {
		struct instance *sink = NULL;
		if (only_sink && strcmp(only_sink, job->sinks.v[k]) != 0)
			continue;
		if ((rc = make_instance(c, SECTION_SINK, job->sinks.v[k], NULL, &sink))) {
			worst = worse(worst, rc);
			continue;
		}
		worst = worse(worst, verify_sink(c, job, sink, id, all, level));
		instance_destroy(sink);
	}
	run_keys_drop(ids);
	metrics_refresh(c->cfg, &c->reg);
	return print_json(cancel_signal ? exit_for(CAIRN_E_CANCELLED) : worst);
}
