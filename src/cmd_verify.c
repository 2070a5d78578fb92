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

enum verify_level {
	VERIFY_SUMS,        /* size and SHA-256 of every object */
	VERIFY_DEEP,        /* and each source checks its format */
	VERIFY_RESTORE_TEST /* and each source restores it somewhere harmless */
};

/* Check one object of a set at the level asked for.  *untested is set for
 * a source that cannot test a restore (deep-checked instead).  Returns 0
 * or a CAIRN_E_* code with *err; or, with *said set to an exit code, the
 * source could not be made and that was reported. */
static int
verify_object(struct cli *c, struct instance *sink, const struct manifest_source *ms,
              enum verify_level level, int *untested, int *said, char **err)
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
		log_info("%s: test restore of %s", src->ctx.label, ms->object);
		rc = pipeline_restore_test(sink, ms, src, err);
	} else {
		if (level == VERIFY_RESTORE_TEST) {
			log_warn("%s: plugin %s cannot test a restore; checking %s deeply instead",
			         src->ctx.label, ms->plugin, ms->object);
			*untested = 1;
		}
		rc = pipeline_verify(sink, ms, src, err);
	}
	instance_destroy(src);
	return rc;
}

/* --json: one element per set checked, printed at the end; NULL without */
static json_t *json_results;

/* One set's result for --json. */
static void
json_result(const struct cfg_job *job, const char *sink, const char *id, enum verify_level level,
            int ok, const char *detail)
{
	static const char *const words[] = {"sums", "deep", "restore-test"};
	if (json_results)
		json_array_append_new(json_results,
		                      json_pack("{s:s, s:s, s:s, s:s, s:b, s:s?}", "job", job->name,
		                                "sink", sink, "id", id, "level", words[level], "ok",
		                                ok, "detail", ok ? NULL : detail));
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
	int mrc = set_read_manifest(sink, job->name, id, &m, &err);
	char *first = NULL; /* the first failure, for cairn status */
	if (mrc) {
		if (!json_results)
			print_line("%s/%s in %s: %s: %s", job->name, id, sink->name,
			           mrc == CAIRN_E_CORRUPT ? "DAMAGED" : "FAILED", err);
		json_result(job, sink->name, id, level, 0, err);
		if (mrc != CAIRN_E_CANCELLED)
			status_after_verify(c, job, sink->name, id, 0, 0, err);
		free(err);
		return exit_for(mrc);
	}
	for (size_t s = 0; s < m->nsources; s++) {
		const struct manifest_source *ms = &m->sources[s];
		int no_test = 0, said = 0;
		int vrc = verify_object(c, sink, ms, level, &no_test, &said, &err);
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
	/* recorded for status, check and the metrics; a restore test checks
	 * sizes and checksums too, so it is a verify as well */
	if (!cancel_signal) {
		json_result(job, sink->name, id, level, rc == 0, first);
		status_after_verify(c, job, sink->name, id, 0, rc == 0, first);
		if (level == VERIFY_RESTORE_TEST && untested.n < m->nsources)
			status_after_verify(c, job, sink->name, id, 1, rc == 0, first);
	}
	free(first);
	strvec_free(&untested);
	manifest_free(m);
	return rc;
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
const struct option verify_options[] = {{"id", required_argument, NULL, 'i'},
                                        {"all", no_argument, NULL, 'A'},
                                        {"sink", required_argument, NULL, 'k'},
                                        {"deep", no_argument, NULL, 'd'},
                                        {"restore-test", no_argument, NULL, 'r'},
                                        {"json", no_argument, NULL, 'j'},
                                        {NULL, 0, NULL, 0}};

int
cmd_verify(struct cli *c, int argc, char **argv)
{
	const char *id = NULL, *only_sink = NULL;
	int opt, all = 0, rc;
	enum verify_level level = VERIFY_SUMS;
	const struct cfg_job *job;

	while ((opt = getopt_long(argc, argv, "i:Ak:drj", verify_options, NULL)) != -1) {
		switch (opt) {
		case 'i': id = optarg; break;
		case 'A': all = 1; break;
		case 'k': only_sink = optarg; break;
		case 'd':
			if (level < VERIFY_DEEP)
				level = VERIFY_DEEP;
			break;
		case 'r': level = VERIFY_RESTORE_TEST; break;
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
	if ((rc = parse_when(id, NULL, NULL)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)))
		return rc;
	if (!all) {
		struct instance *sink = NULL;
		char found[BACKUP_ID_LEN + 1];
		if ((rc = locate_set(c, job, only_sink, id, NULL, &sink, NULL, found)))
			return rc;
		/* the id of the set's place, never the one its manifest claims */
		rc = verify_set(c, job, sink, found, level);
		instance_destroy(sink);
		metrics_refresh(c);
		return print_json(rc);
	}
	/* --all: every complete set, each from the first sink holding it */
	struct instance **sinks = NULL;
	size_t nsinks = 0;
	struct strvec done = {0};
	int worst = 0, any = 0;
	if ((rc = make_sinks(c, job, only_sink, &sinks, &nsinks)))
		worst = rc;
	for (size_t k = 0; k < nsinks && !cancel_signal; k++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[k], job->name, &l, &err)) {
			log_error("%s", err);
			free(err);
			worst = worst ? worst : exit_for(CAIRN_E_IO);
			continue;
		}
		for (size_t s = 0; s < l.n && !cancel_signal; s++) {
			if (!l.v[s].complete || strvec_contains(&done, l.v[s].id))
				continue;
			strvec_push(&done, l.v[s].id);
			any = 1;
			rc = verify_set(c, job, sinks[k], l.v[s].id, level);
			if (rc && (worst == 0 || rc == CAIRN_EXIT_CORRUPT))
				worst = rc;
		}
		set_list_free(&l);
	}
	if (!any && !worst) {
		log_error("job %s has no complete backup set to verify", job->name);
		worst = CAIRN_EXIT_NOTFOUND;
	}
	strvec_free(&done);
	free_instances(sinks, nsinks);
	metrics_refresh(c);
	return print_json(cancel_signal ? exit_for(CAIRN_E_CANCELLED) : worst);
}
