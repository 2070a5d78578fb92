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
 * cmd_NAME() and its options array NAME_options[] (the one its
 * getopt_long() takes) declared in cmd.h, one row here, and its line in
 * cairn(1): nothing else in the dispatcher changes, and `cairn NAME
 * --help`, the global options after the command and the bash completion
 * follow from the row.  CMD_CONFIG lets it call load_config(),
 * CMD_JOB_LOCK take_job_lock() (released here after it returns).  A
 * synopsis starting with JOB or [JOB] makes completion offer job names
 * there, with ID after JOB set ids, a lowercase word that word. */
static const struct command commands[] = {
        {"backup", cmd_backup, CMD_CONFIG | CMD_JOB_LOCK,
         "JOB [--source NAME]... [--sink NAME] [--pin]\n[--set [SOURCE.]KEY=VALUE]...",
         "back up a job's sources into its sinks", backup_options},
        {"list", cmd_list, CMD_CONFIG, "[JOB] [--sink NAME] [--json]", "list complete backup sets",
         list_options},
        {"restore", cmd_restore, CMD_CONFIG,
         "JOB [--id ID | --at TIME|latest] [--sink NAME] [--source NAME]...\n"
         "[--set [SOURCE.]KEY=VALUE]... [--force] [--identity PATH]\n"
         "JOB --source NAME --from FILE [--format FORMAT] [--set ...] [--force]",
         "restore a set (default: the newest) or a tool's file", restore_options},
        {"verify", cmd_verify, CMD_CONFIG,
         "JOB [--id ID | --all] [--sink NAME]\n[--deep | --restore-test] [--identity PATH] [--json]",
         "check stored sets against their manifests", verify_options},
        {"status", cmd_status, CMD_CONFIG, "[JOB] [--json] [--prometheus FILE]",
         "each job's backups in each sink, at a glance", status_options},
        {"check", cmd_check, CMD_CONFIG, "[JOB]", "the alert rules, Nagios-style (exit 0-3)",
         check_options},
        {"serve", cmd_serve, CMD_CONFIG, "[--listen ADDR:PORT]",
         "a read-only HTTP endpoint: /status, /metrics, /healthz", serve_options},
        {"prune", cmd_prune, CMD_CONFIG | CMD_JOB_LOCK, "JOB [--sink NAME] [--dry-run] [--json]",
         "remove the sets the job's retention no longer keeps", prune_options},
        {"copy", cmd_copy, CMD_CONFIG | CMD_JOB_LOCK,
         "JOB --from SINK --to SINK [--id ID | --missing]",
         "copy complete sets the target sink lacks", copy_options},
        {"pin", cmd_pin, CMD_CONFIG | CMD_JOB_LOCK, "JOB ID [--sink NAME] [--note TEXT]",
         "keep a set on purpose: prune leaves it", pin_options},
        {"unpin", cmd_unpin, CMD_CONFIG | CMD_JOB_LOCK, "JOB ID [--sink NAME]",
         "let the job's retention decide again", unpin_options},
        {"follow", cmd_follow, CMD_CONFIG | CMD_JOB_LOCK, "JOB [--source NAME]...",
         "archive the change logs of a job's sources until stopped", follow_options},
        {"config", cmd_config, CMD_CONFIG, "check [--connect [JOB]]",
         "check the INI file; --connect: reach its servers", config_options},
        {"plugins", cmd_plugins, CMD_CONFIG, "[-v]", "list the plugins found", plugins_options},
        {"help", cmd_help, 0, "[COMMAND]", "this help, or a command's", NULL},
        /* hidden: what the bash completion asks (cmd_complete.c) */
        {"__complete", cmd_complete, CMD_CONFIG | CMD_OWN_ARGS, NULL, NULL, NULL},
        {NULL, NULL, 0, NULL, NULL, NULL}};

const struct command *
command_table(void)
{
	return commands;
}

/* Width of "NAME SYNOPSIS" before the help text; a longer synopsis gets
 * the help on a line of its own, indented as far. */
#define SYNOPSIS_WIDTH 36

/* The global options, before or after the command. */
static void
global_options(FILE *out)
{
	fputs("  -c, --config FILE   the INI file (default: $CAIRN_CONFIG, else " CAIRN_SYSCONFDIR
	      "/cairn/cairn.ini)\n"
	      "  -v, --verbose       say more (twice: debug)\n"
	      "  -q, --quiet         only errors; no progress line\n",
	      out);
}

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
	fputs("\nOptions (before or after the command):\n", out);
	global_options(out);
	fputs("  -h, --help          this help; after a command, that command's\n"
	      "  -V, --version       the version\n"
	      "\n"
	      "Exit codes: 0 ok, 1 failed, 2 usage, 3 config, 4 plugin, 5 locked, 6 damaged,\n"
	      "7 no such backup, 8 restore target not empty, 9 partial set written,\n"
	      "130 interrupted.  See cairn(1).\n",
	      out);
}

void
command_usage(const struct command *t, FILE *out)
{
	const char *syn = t->synopsis ? t->synopsis : "", *nl;
	int indent = (int)strlen("Usage: cairn ") + (int)strlen(t->name) + 1;
	nl = strchr(syn, '\n');
	fprintf(out, "Usage: cairn %s %.*s\n", t->name, nl ? (int)(nl - syn) : (int)strlen(syn),
	        syn);
	while (nl) {
		syn = nl + 1;
		nl = strchr(syn, '\n');
		fprintf(out, "%*s%.*s\n", indent, "", nl ? (int)(nl - syn) : (int)strlen(syn), syn);
	}
	if (t->help)
		fprintf(out, "  %s\n", t->help);
	fputs("\nGlobal options (before or after the command):\n", out);
	global_options(out);
	fputs("  -h, --help          this help\n"
	      "\n"
	      "See cairn(1) for every option and the exit codes.\n",
	      out);
}

static const struct command *
find_command(const char *name)
{
	for (const struct command *t = commands; t->name; t++)
		if (strcmp(name, t->name) == 0)
			return t;
	return NULL;
}

static int
cmd_help(struct cli *c, int argc, char **argv)
{
	const struct command *t;
	(void)c;
	if (argc > 2)
		return usage_error("help takes at most one COMMAND");
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (!(t = find_command(argv[1])) || !t->synopsis)
		return usage_error("unknown command \"%s\"", argv[1]);
	command_usage(t, stdout);
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

/* ------------------------------------------- global options, anywhere */

/* The global options; -V only before the command. */
static const struct option global_opts[] = {
        {"config", required_argument, NULL, 'c'}, {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};

/* The entry of o with the short option ch, or NULL. */
static const struct option *
short_opt(const struct option *o, int ch)
{
	for (; o && o->name; o++)
		if (o->val == ch)
			return o;
	return NULL;
}

/* The entry of o named name (len bytes), exactly or as the one option it
 * abbreviates (as getopt_long() takes them), or NULL. */
static const struct option *
long_opt(const struct option *o, const char *name, size_t len)
{
	const struct option *found = NULL;
	int n = 0;
	for (; o && o->name; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (strlen(o->name) == len)
			return o;
		found = o;
		n++;
	}
	return n == 1 ? found : NULL;
}

static void
take_global(struct cli *c, int val, const char *arg, int *help)
{
	if (val == 'c')
		c->config_path = arg;
	else if (val == 'v')
		c->verbose++;
	else if (val == 'q')
		c->quiet = 1;
	else
		*help = 1;
}

/* A bundle of short options, "-xyz", in place: the global ones (-c FILE
 * ends it) taken out, the command's kept.  Returns 1 when it went on
 * with the next argument (*i advanced), -1 for -c without a FILE. */
static int
short_bundle(struct cli *c, const struct command *t, int argc, char **argv, int *i, int *help)
{
	char *a = argv[*i];
	size_t k = 1;
	for (char *p = a + 1; *p; p++) {
		const struct option *o = short_opt(t->opts, *p);
		if (o) { /* the command's own letter wins over a global one */
			a[k++] = *p;
			if (o->has_arg != required_argument)
				continue;
			memmove(a + k, p + 1, strlen(p + 1) + 1); /* its argument */
			return !p[1] && *i + 1 < argc ? (++*i, 1) : 0;
		}
		if (!(o = short_opt(global_opts, *p)) || o->val == 'V') {
			a[k++] = *p; /* unknown: the command says so */
			continue;
		}
		if (o->val == 'c') {
			const char *arg = p[1] ? p + 1 : *i + 1 < argc ? argv[++*i] : NULL;
			if (!arg)
				return -1;
			take_global(c, 'c', arg, help);
			break;
		}
		take_global(c, o->val, NULL, help);
	}
	a[k] = '\0';
	return 0;
}

/* Take the global options (-c FILE, -v, -q, -h and their long forms) out
 * of a command's arguments, argv[1..], wherever they stand: what stays
 * is the command's, in order, for its getopt_long().  The command's own
 * options (t->opts) are skipped with their arguments, so `--sink -q`
 * keeps -q as the sink's name; after "--" nothing is taken.  Returns the
 * new argc, or an exit code below 0 (the error said). */
static int
scan_globals(struct cli *c, const struct command *t, int argc, char **argv, int *help)
{
	int out = 1;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			argv[out++] = a;
			continue;
		}
		if (a[1] != '-') {
			int next = short_bundle(c, t, argc, argv, &i, help);
			if (next < 0)
				return -usage_error("option -c needs a FILE");
			if (a[1])
				argv[out++] = a;
			if (next)
				argv[out++] = argv[i];
			continue;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct option *o = long_opt(t->opts, name, len);
		int own = o != NULL, next = 0;
		if (!o && (!(o = long_opt(global_opts, name, len)) || o->val == 'V')) {
			argv[out++] = a; /* unknown: the command says so */
			continue;
		}
		if (o->has_arg == required_argument && !eq && i + 1 < argc)
			next = ++i;
		if (own) {
			argv[out++] = a;
			if (next)
				argv[out++] = argv[next];
		} else if (o->has_arg == required_argument && !eq && !next) {
			return -usage_error("option --%s needs an argument", o->name);
		} else {
			take_global(c, o->val, eq ? eq + 1 : next ? argv[next] : NULL, help);
		}
	}
	argv[out] = NULL;
	return out;
}

/* ----------------------------------------------------------------- main */

int
cli_main(int argc, char **argv)
{
	struct cli c = {.lockfd = -1};
	char *default_config = NULL;
	const struct command *t;
	int opt, rc, help = 0;

	while ((opt = getopt_long(argc, argv, "+c:vqhV", global_opts, NULL)) != -1) {
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
	if (!(t = find_command(argv[optind])))
		return usage_error("unknown command \"%s\"", argv[optind]);
	/* sub-command options come after the command: restart getopt there */
	argv += optind;
	argc -= optind;
	optind = 0; /* GNU getopt: start afresh at argv[1] */
	if (!(t->flags & CMD_OWN_ARGS) && (argc = scan_globals(&c, t, argc, argv, &help)) < 0)
		return -argc;
	if (help) { /* before the INI file is read: it may be what is wrong */
		command_usage(t, stdout);
		return 0;
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

	c.cmd = t;
	rc = t->run(&c, argc, argv);
	/* a signal ends every command but serve and follow (whose way to
	 * stop them it is) with 128 + N, whatever the loop it stopped in
	 * returned */
	if (cancel_signal && strcmp(t->name, "serve") != 0 && strcmp(t->name, "follow") != 0)
		rc = interrupted_code();

	unlock_job(c.lockfd);
	if (c.reg_ready)
		registry_free(&c.reg);
	config_free(c.cfg);
	free(default_config);
	return rc;
}
