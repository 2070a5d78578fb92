/* cmd_prune.c - cairn prune: remove the sets a job's retention no longer
 * keeps, in each sink (or --sink's), under the job's lock and each sink's.
 * The prune of one sink is prune.c's, which backup calls too. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "prune.h"

/* The options of prune: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option prune_options[] = {{"sink", required_argument, NULL, 's'},
                                       {"dry-run", no_argument, NULL, 'n'},
                                       {"json", no_argument, NULL, 'j'},
                                       {NULL, 0, NULL, 0}};

int
cmd_prune(struct cli *c, int argc, char **argv)
{
	const char *only_sink = NULL;
	const struct cfg_job *job;
	struct instance **sinks = NULL;
	size_t nsinks = 0;
	unsigned flags = PRUNE_PRINT;
	int opt, rc, json = 0;
	json_t *jsinks = NULL;

	while ((opt = getopt_long(argc, argv, "s:nj", prune_options, NULL)) != -1) {
		switch (opt) {
		case 's': only_sink = optarg; break;
		case 'n': flags |= PRUNE_DRY_RUN; break;
		case 'j': json = 1; break;
		default: return usage_error("prune: unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("prune takes one JOB");
	if ((rc = load_config(c)) || (rc = find_job(c, argv[optind], &job)))
		return rc;
	if (!job->retention) {
		log_error(
		        "%s:%d: [job %s] has no retention = key, so prune has no policy to apply; add [retention NAME] and retention = NAME",
		        c->cfg->path, job->sec->line, job->name);
		return CAIRN_EXIT_CONFIG;
	}
	if ((rc = make_sinks(c, job, only_sink, &sinks, &nsinks)))
		goto out;
	/* A dry run changes nothing and may look while a backup runs; a
	 * real prune takes the job's lock and each sink's own. */
	if (!(flags & PRUNE_DRY_RUN) && (rc = take_job_lock(c, job)))
		goto out;
	if (json)
		jsinks = json_array();
	for (size_t i = 0; i < nsinks && !cancel_signal; i++) {
		cairn_sink_lock *lk = NULL;
		char *err = NULL;
		int src;
		if (!(flags & PRUNE_DRY_RUN) && (src = sink_lock(sinks[i], job->name, &lk, &err))) {
			log_error("%s", err);
			free(err);
			rc = src == CAIRN_E_LOCKED ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_FAILED;
			if (src == CAIRN_E_LOCKED)
				break;
			continue;
		}
		src = prune_sink(job, sinks[i], flags, jsinks);
		sink_unlock(sinks[i], lk);
		if (src && !rc)
			rc = src;
	}
	if (cancel_signal)
		rc = exit_for(CAIRN_E_CANCELLED);
	if (json) {
		json_t *root = json_pack("{s:s, s:o}", "job", job->name, "sinks", jsinks);
		char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		jsinks = NULL;
		puts(s);
		free(s);
		json_decref(root);
	}
out:
	json_decref(jsinks);
	free_instances(sinks, nsinks);
	return rc;
}
