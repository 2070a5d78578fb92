/* cmd_backup.c - cairn backup JOB: its options; the run itself is
 * backup_run.c's (cairn follow takes new full backups with it too). */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <string.h>

#include "backup_run.h"
#include "util.h"

/* The options of backup: its row in cli.c gives them to the scan for global
 * options after the command and to completion.  A new one is a row here
 * and a case of the switch below. */
const struct option backup_options[] = {{"source", required_argument, NULL, 's'},
                                        {"set", required_argument, NULL, 'S'},
                                        {"sink", required_argument, NULL, 'k'},
                                        {"pin", no_argument, NULL, 'p'},
                                        {NULL, 0, NULL, 0}};

static int
parse_options(struct backup_args *a, int argc, char **argv)
{
	int opt;
	while ((opt = getopt_long(argc, argv, "s:S:k:p", backup_options, NULL)) != -1) {
		switch (opt) {
		case 's': strvec_push(&a->only, optarg); break;
		case 'S':
			if (!strchr(optarg, '='))
				return usage_error("--set %s: use --set KEY=VALUE", optarg);
			strvec_push(&a->sets, optarg);
			break;
		case 'k': a->only_sink = optarg; break;
		case 'p': a->pin = 1; break;
		default: return usage_error("backup: unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("backup takes one JOB");
	return 0;
}

int
cmd_backup(struct cli *c, int argc, char **argv)
{
	struct backup_args a = {0};
	const struct cfg_job *job;
	int rc;

	if (!(rc = parse_options(&a, argc, argv)) && !(rc = load_config(c)) &&
	    !(rc = find_job(c, argv[optind], &job)))
		rc = backup_run(c, job, &a, NULL);
	strvec_free(&a.only);
	strvec_free(&a.sets);
	return rc;
}
