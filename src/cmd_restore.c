/* cmd_restore.c - restore a set (by default the newest) of a job's
 * sources, with --set overrides of their keys. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipeline.h"

/* Every --set must reach a source being restored: a scoped one names one
 * of them, a plain one is a key of at least one of their plugins. */
static int
check_sets(struct cli *c, const struct strvec *sets, const struct manifest *m,
           const struct strvec *only)
{
	for (size_t i = 0; i < sets->n; i++) {
		char *scope;
		const char *kv = split_set(sets->v[i], &scope);
		size_t klen = (size_t)(strchr(kv, '=') - kv);
		int reached = 0;
		for (size_t s = 0; s < m->nsources && !reached; s++) {
			const struct manifest_source *ms = &m->sources[s];
			const struct cfg_section *sec =
			        config_section(c->cfg, SECTION_SOURCE, ms->name);
			struct loaded_plugin *lp;
			char *err = NULL;
			if (only->n && !strvec_contains(only, ms->name))
				continue;
			if (scope) {
				reached = strcmp(scope, ms->name) == 0;
				continue;
			}
			if (!sec || !(lp = registry_load(&c->reg, sec->plugin, &err))) {
				free(err);
				continue; /* reported when that source is restored */
			}
			reached = plugin_takes(lp, kv, klen);
		}
		if (!reached) {
			if (scope)
				log_error("--set %s: set %s/%s restores no source named %s",
				          sets->v[i], m->job, m->id, scope);
			else
				log_error("--set %s: none of the sources being restored has a key "
				          "%.*s; see cairn plugins -v",
				          sets->v[i], (int)klen, kv);
			free(scope);
			return CAIRN_EXIT_USAGE;
		}
		free(scope);
	}
	return 0;
}

int
cmd_restore(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
	                                     {"at", required_argument, NULL, 'a'},
	                                     {"sink", required_argument, NULL, 'k'},
	                                     {"source", required_argument, NULL, 's'},
	                                     {"set", required_argument, NULL, 'S'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {NULL, 0, NULL, 0}};
	const char *id = NULL, *at_text = NULL, *only_sink = NULL;
	struct strvec only = {0}, sets = {0};
	unsigned flags = 0;
	int opt, rc;
	time_t at;
	const struct cfg_job *job;
	struct instance *sink = NULL;
	struct manifest *m = NULL;

	while ((opt = getopt_long(argc, argv, "i:a:k:s:S:f", opts, NULL)) != -1) {
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
	if ((rc = locate_set(c, job, only_sink, id, at_text ? &at : NULL, &sink, &m, NULL)))
		goto out;
	for (size_t i = 0; i < only.n; i++) {
		int found = 0;
		for (size_t s = 0; s < m->nsources; s++)
			found |= strcmp(m->sources[s].name, only.v[i]) == 0;
		if (!found) {
			log_error("set %s/%s holds no source named %s", job->name, m->id,
			          only.v[i]);
			rc = CAIRN_EXIT_NOTFOUND;
			goto out;
		}
	}
	if ((rc = check_sets(c, &sets, m, &only)))
		goto out;
	for (size_t s = 0; s < m->nsources && !rc; s++) {
		const struct manifest_source *ms = &m->sources[s];
		struct instance *src = NULL;
		char *err = NULL;
		if (only.n && !strvec_contains(&only, ms->name))
			continue;
		if ((rc = source_for_manifest(c, ms, &sets, &src)))
			break;
		log_info("restoring source %s from %s/%s in sink %s", ms->name, job->name, m->id,
		         sink->name);
		int prc = pipeline_restore(sink, ms, src, flags, &err);
		if (prc) {
			log_error("%s", err ? err : status_str(prc));
			rc = exit_for(prc);
		} else if (src->ctx.warnings) {
			/* a non-root restore skips device nodes and keeps files as
			 * the user's: say how many entries did not come back as
			 * stored, also under cron */
			log_warn("restored source %s from %s/%s with %d warning%s; see above",
			         ms->name, job->name, m->id, src->ctx.warnings,
			         src->ctx.warnings == 1 ? "" : "s");
		} else {
			log_info("restored source %s from %s/%s", ms->name, job->name, m->id);
		}
		free(err);
		instance_destroy(src);
	}
out:
	manifest_free(m);
	instance_destroy(sink);
	strvec_free(&only);
	strvec_free(&sets);
	return rc;
}
