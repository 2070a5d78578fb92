/* cmd_check.c - the seed's alert rules as a Nagios/Icinga plugin: no
 * complete backup within max_age, the stored size dropped by more than
 * max_size_drop, a failed (or, with max_verify_age, too old) verify, a
 * sink fuller than max_usage.  One line per problem, the worst first,
 * perfdata after '|' on the first line; exit 0 ok, 1 warning, 2 critical,
 * 3 unknown (also for a bad command line or configuration, which
 * monitoring must not read as "critical"). */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "status.h"

/* The options of check: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option check_options[] = {{NULL, 0, NULL, 0}};

int
cmd_check(struct cli *c, int argc, char **argv)
{
	const char *only = NULL;
	struct status_report r;
	struct check_result cr;
	size_t nsinks = 0;

	if (getopt_long(argc, argv, "", check_options, NULL) != -1) {
		usage_error("check: unknown option");
		return CHECK_UNKNOWN;
	}
	if (argc - optind > 1) {
		usage_error("check takes at most one JOB");
		return CHECK_UNKNOWN;
	}
	if (optind < argc)
		only = argv[optind];
	if (load_config(c)) {
		printf("UNKNOWN: cairn: the configuration %s cannot be used (see the error above)\n",
		       c->config_path);
		return CHECK_UNKNOWN;
	}
	if (status_gather(&c->reg, c->cfg, only, &r)) {
		const struct cfg_job *j;
		find_job(c, only, &j);
		print_line("UNKNOWN: cairn: no job named \"%s\" in %s", only, c->cfg->path);
		return CHECK_UNKNOWN;
	}
	if (r.njobs == 0) {
		print_line("UNKNOWN: cairn: %s defines no job to check", c->cfg->path);
		status_free(&r);
		return CHECK_UNKNOWN;
	}
	check_evaluate(&r, &cr);
	for (size_t j = 0; j < r.njobs; j++)
		nsinks += r.jobs[j].nsinks;
	if (cr.n == 0)
		print_line("OK: cairn: %zu job%s in %zu sink%s fine%s%s", r.njobs,
		           r.njobs == 1 ? "" : "s", nsinks, nsinks == 1 ? "" : "s",
		           cr.perfdata ? " | " : "", cr.perfdata ? cr.perfdata : "");
	for (size_t i = 0; i < cr.n; i++)
		print_line("%s: %s%s%s", check_state_name(cr.v[i].level), cr.v[i].text,
		           i == 0 && cr.perfdata ? " | " : "",
		           i == 0 && cr.perfdata ? cr.perfdata : "");
	int rc = (int)cr.state;
	check_result_free(&cr);
	status_free(&r);
	return rc;
}
