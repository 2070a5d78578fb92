/* cli.c - the cairn command line: global options, the table of commands
 * and --help printed from it.  Each command lives in its own cmd_NAME.c;
 * what they share is in cmd.h and cmd_common.c, which also owns the exit
 * codes and what the user reads. */
#include "autoconf.h"

#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "lock.h"
#include "log.h"
#include "progress.h"

static cmd_fn cmd_help;

/* The commands, in the order --help lists them.  A new command (prune,
 * status, check, serve, ...) is a new file src/cmd_NAME.c with its
 * cmd_NAME() declared in cmd.h, one row here, and its line in cairn(1):
 * nothing else in the dispatcher changes.  CMD_CONFIG lets it call
 * load_config(), CMD_JOB_LOCK take_job_lock() (released here after it
 * returns). */
static const struct command commands[] = {
        {"backup", cmd_backup, CMD_CONFIG | CMD_JOB_LOCK,
         "JOB [--source NAME]... [--sink NAME] [--pin]\n[--set [SOURCE.]KEY=VALUE]...",
         "back up a job's sources into its sinks"},
        {"list", cmd_list, CMD_CONFIG, "[JOB] [--sink NAME] [--json]", "list complete backup sets"},
        {"restore", cmd_restore, CMD_CONFIG,
         "JOB [--id ID | --at TIME] [--sink NAME] [--source NAME]...\n"
         "[--set [SOURCE.]KEY=VALUE]... [--force]\n"
         "JOB --source NAME --from FILE [--format FORMAT] [--set ...] [--force]",
         "restore a set (default: the newest) or a tool's file"},
        {"verify", cmd_verify, CMD_CONFIG,
         "JOB [--id ID | --all] [--sink NAME]\n[--deep | --restore-test] [--json]",
         "check stored sets against their manifests"},
        {"status", cmd_status, CMD_CONFIG, "[JOB] [--json] [--prometheus FILE]",
         "each job's backups in each sink, at a glance"},
        {"check", cmd_check, CMD_CONFIG, "[JOB]", "the alert rules, Nagios-style (exit 0-3)"},
        {"serve", cmd_serve, CMD_CONFIG, "[--listen ADDR:PORT]",
         "a read-only HTTP endpoint: /status, /metrics, /healthz"},
        {"prune", cmd_prune, CMD_CONFIG | CMD_JOB_LOCK, "JOB [--sink NAME] [--dry-run] [--json]",
         "remove the sets the job's retention no longer keeps"},
        {"copy", cmd_copy, CMD_CONFIG | CMD_JOB_LOCK,
         "JOB --from SINK --to SINK [--id ID | --missing]",
         "copy complete sets the target sink lacks"},
        {"pin", cmd_pin, CMD_CONFIG | CMD_JOB_LOCK, "JOB ID [--sink NAME] [--note TEXT]",
         "keep a set on purpose: prune leaves it"},
        {"unpin", cmd_unpin, CMD_CONFIG | CMD_JOB_LOCK, "JOB ID [--sink NAME]",
         "let the job's retention decide again"},
        {"config", cmd_config, CMD_CONFIG, "check [--connect [JOB]]",
         "check the INI file; --connect: reach its servers"},
        {"plugins", cmd_plugins, CMD_CONFIG, "[-v]", "list the plugins found"},
        {"help", cmd_help, 0, NULL, NULL},
        {NULL, NULL, 0, NULL, NULL}};

/* Width of "NAME SYNOPSIS" before the help text; a longer synopsis gets
 * the help on a line of its own, indented as far. */
#define SYNOPSIS_WIDTH 36

static void
usage(FILE *out)
{
	fputs("Usage: cairn [-c FILE] [-v|-q] COMMAND ...\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (const struct command *t = commands; t->name; t++) {
		const char *syn = t->synopsis, *nl;
		if (!syn)
			continue;
		nl = strchr(syn, '\n');
		if (!nl && strlen(t->name) + 1 + strlen(syn) <= SYNOPSIS_WIDTH) {
			fprintf(out, "  %s %-*s %s\n", t->name,
			        (int)(SYNOPSIS_WIDTH - strlen(t->name) - 1), syn, t->help);
			continue;
		}
		fprintf(out, "  %s %.*s\n", t->name, nl ? (int)(nl - syn) : (int)strlen(syn), syn);
		while (nl) { /* continuation lines, under the first word's end */
			syn = nl + 1;
			nl = strchr(syn, '\n');
			fprintf(out, "%10s%.*s\n", "", nl ? (int)(nl - syn) : (int)strlen(syn),
			        syn);
		}
		fprintf(out, "%*s%s\n", SYNOPSIS_WIDTH + 3, "", t->help);
	}
	fputs("\n"
	      "Options:\n"
	      "  -c, --config FILE   the INI file (default: $CAIRN_CONFIG, else " CAIRN_SYSCONFDIR
	      "/cairn/cairn.ini)\n"
	      "  -v, --verbose       say more (twice: debug)\n"
	      "  -q, --quiet         only errors; no progress line\n"
	      "  -h, --help          this help;  -V, --version  the version\n"
	      "\n"
	      "Exit codes: 0 ok, 1 failed, 2 usage, 3 config, 4 plugin, 5 locked, 6 damaged,\n"
	      "7 no such backup, 8 restore target not empty, 9 partial set written,\n"
	      "130 interrupted.  See cairn(1).\n",
	      out);
}

static int
cmd_help(struct cli *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

static void
on_signal(int sig)
{
	cancel_signal = sig;
}

static void
install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a dead peer is an error return, not a death */
}

/* ----------------------------------------------------------------- main */

int
cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'}, {"verbose", no_argument, NULL, 'v'},
	        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
	struct cli c = {.lockfd = -1};
	char *default_config = NULL;
	const char *cmd;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+c:vqhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': c.config_path = optarg; break;
		case 'v': c.verbose++; break;
		case 'q': c.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V':
			printf("cairn %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, CAIRN_ABI_MAJOR,
			       CAIRN_ABI_MINOR);
			return 0;
		default: return usage_error("unknown option");
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CAIRN_EXIT_USAGE;
	}
	/* Terminals get progress and a summary; cron gets silence unless
	 * something goes wrong. */
	log_level = isatty(STDERR_FILENO) ? CAIRN_LOG_INFO : CAIRN_LOG_WARN;
	if (c.verbose)
		log_level = c.verbose > 1 ? CAIRN_LOG_DEBUG : CAIRN_LOG_INFO;
	if (c.quiet)
		log_level = CAIRN_LOG_ERROR;
	progress_enabled = isatty(STDERR_FILENO) && !c.quiet;
	if (!c.config_path) {
		const char *env = getenv("CAIRN_CONFIG");
		if (env && *env)
			c.config_path = env;
		else
			c.config_path = default_config =
			        xstrdup(CAIRN_SYSCONFDIR "/cairn/cairn.ini");
	}
	install_signals();

	cmd = argv[optind];
	optind++;
	/* sub-command options come after the command: restart getopt there */
	argv += optind - 1;
	argc -= optind - 1;
	optind = 0; /* GNU getopt: start afresh at argv[1] */
	for (const struct command *t = commands; t->name; t++)
		if (strcmp(cmd, t->name) == 0)
			c.cmd = t;
	if (c.cmd)
		rc = c.cmd->run(&c, argc, argv);
	else
		rc = usage_error("unknown command \"%s\"", cmd);

	unlock_job(c.lockfd);
	if (c.reg_ready)
		registry_free(&c.reg);
	config_free(c.cfg);
	free(default_config);
	return rc;
}
