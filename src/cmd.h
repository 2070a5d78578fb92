/* cmd.h - what the commands of the command line share; internal to
 * cli.c and the cmd_*.c files.
 *
 * Each command is one file, src/cmd_NAME.c, whose entry point has the
 * type cmd_fn, and one row of the table in cli.c, which says whether it
 * reads the INI file and takes a job's lock and gives the line --help
 * prints.  The helpers below are the one place for what more than one
 * command does: loading the configuration, finding a job, making plugin
 * instances, finding a set, printing a line and turning an outcome into
 * an exit code. */
#ifndef CAIRN_CMD_H
#define CAIRN_CMD_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "cairn.h"
#include "config.h"
#include "manifest.h"
#include "plugin.h"
#include "retention.h"
#include "sets.h"
#include "timeutil.h"
#include "util.h"

/* Flags of a command's table row. */
#define CMD_CONFIG 0x1u   /* reads the INI file: may call load_config() */
#define CMD_JOB_LOCK 0x2u /* takes a job's lock: may call take_job_lock() */
#define CMD_OWN_ARGS 0x4u /* no global options are taken from its arguments */

struct cli;

/* A command: argv[0] is its name, options start at argv[1] (getopt is
 * reset for it).  Returns the exit code (enum cairn_exit). */
typedef int cmd_fn(struct cli *c, int argc, char **argv);

struct command {
	const char *name;
	cmd_fn *run;
	unsigned flags;       /* CMD_* */
	const char *synopsis; /* after the name; a '\n' starts a continuation
	                         line.  NULL: not listed in --help */
	const char *help;     /* what it does, one short line */
	/* Its long options: the array its getopt_long() takes (a val that
	 * is a letter is also the short option), ended by a zeroed entry;
	 * NULL: it takes none.  cli.c scans the command's arguments with it
	 * for the global options (-c, -v, -q, -h) that may follow the
	 * command (an option missing here keeps working, but an argument of
	 * it such as "-q" would be taken for the global option), and `cairn
	 * __complete` offers them.  Completion of an option's argument goes
	 * by its name: --sink, --from, --to a sink of the job, --source a
	 * source, --set SOURCE. or KEY=, --id a set id, --prometheus a file. */
	const struct option *opts;
};

/* The rows of cli.c, ended by a row with a NULL name. */
const struct command *command_table(void);
/* "Usage: cairn NAME SYNOPSIS", its help line and the global options. */
void command_usage(const struct command *t, FILE *out);

/* The state of one cairn run, shared by the dispatcher and the command. */
struct cli {
	const struct command *cmd; /* the command running */
	const char *config_path;
	struct config *cfg; /* once load_config() read it */
	struct plugin_registry reg;
	int reg_ready;
	int verbose, quiet;
	int lockfd; /* the job lock take_job_lock() took, or -1; cli_main
	               releases it after the command, whatever it returns */
};

/* The commands (one file each). */
cmd_fn cmd_backup, cmd_list, cmd_restore, cmd_verify, cmd_config, cmd_plugins;
/* status, check and serve (cmd_status.c, cmd_check.c, cmd_serve.c) */
cmd_fn cmd_status, cmd_check, cmd_serve;
/* prune (cmd_prune.c) */
cmd_fn cmd_prune;
/* copy (cmd_copy.c); pin and unpin (cmd_pin.c) */
cmd_fn cmd_copy, cmd_pin, cmd_unpin;
/* follow (cmd_follow.c): the change logs, until stopped */
cmd_fn cmd_follow;
/* the hidden helper of the bash completion (cmd_complete.c) */
cmd_fn cmd_complete;
/* Their options (struct command's opts), in their files. */
extern const struct option backup_options[], list_options[], restore_options[], verify_options[],
        status_options[], check_options[], serve_options[], prune_options[], plugins_options[],
        copy_options[], pin_options[], unpin_options[], config_options[], follow_options[];

/* The job's [retention] as retention.c's policy. */
void job_policy(const struct cfg_job *job, struct retention_policy *p);
/* What retention.c is told of each set of l in sink (rs has l->n
 * entries, pointing into l): its time, whether it is complete, partial,
 * incomplete or damaged (each manifest read once, a damaged one said
 * with a warning), and whether it is pinned.  With only, just the sets
 * l->v[i] with only[i] set. */
void sets_for_retention(struct instance *sink, const char *job, struct set_list *l, const int *only,
                        struct retention_set *rs);

/* "cairn: MESSAGE; see cairn --help" on stderr (escaped: it may quote the
 * command line); returns CAIRN_EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line of standard output, with control characters escaped: names in
 * it come from manifests, sinks and plugins, none of which may move a
 * terminal's cursor or retitle its window.  fmt ends without a newline. */
void print_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The exit code of a run stopped by a signal: 130 for SIGINT, else
 * 128 + the signal. */
int interrupted_code(void);

/* The one map from an outcome (CAIRN_E_*, or INSTANCE_E_PLUGIN) to the
 * exit code; see cmd_common.c. */
int exit_for(int rc);

/* Read the INI file once (CMD_CONFIG commands) and set up the plugin
 * registry.  Returns 0 or an exit code, the error said. */
int load_config(struct cli *c);
/* The job NAME, or an error listing the jobs there are (exit 2). */
int find_job(struct cli *c, const char *name, const struct cfg_job **job);
/* Take the job's lock for the rest of the run (CMD_JOB_LOCK commands):
 * 0, or exit 5 when another run holds it, 1 for any other failure. */
int take_job_lock(struct cli *c, const struct cfg_job *job);

/* Make the instance of [KIND NAME] with overrides (may be NULL): 0, or
 * an exit code with the error said.  try_instance says nothing: it
 * returns the CAIRN_E_* code (or INSTANCE_E_PLUGIN) with *err, one line. */
int try_instance(struct cli *c, enum section_kind kind, const char *name,
                 const struct strvec *overrides, struct instance **out, char **err);
int make_instance(struct cli *c, enum section_kind kind, const char *name,
                  const struct strvec *overrides, struct instance **out);
void free_instances(struct instance **v, size_t n);
/* The job's sinks, or only the one named only (may be NULL): 0 or an exit
 * code; *out and *n hold what was made either way. */
int make_sinks(struct cli *c, const struct cfg_job *job, const char *only, struct instance ***out,
               size_t *n);

/* The sink to read a set from: --sink, else the first sink of the job
 * holding a matching complete set (by id, else the newest taken at or
 * before *at, else the newest).  With m_out, its manifest is read; without,
 * found gets the set's id.  Returns 0 or an exit code. */
int locate_set(struct cli *c, const struct cfg_job *job, const char *only_sink, const char *id,
               const time_t *at, struct instance **sink_out, struct manifest **m_out,
               char found[BACKUP_ID_LEN + 1]);
/* --id ID and --at TIME checked (either may be NULL; at may be NULL when
 * at_text is): 0 or CAIRN_EXIT_USAGE with the error said. */
int parse_when(const char *id, const char *at_text, time_t *at);

/* The --set rules of restore, verify and backup.  A key's table flags
 * say in which runs it has an effect (CAIRN_KEY_NO_RESTORE,
 * CAIRN_KEY_NO_BACKUP); a --set of a key in a run it has none in is
 * refused, naming the key and the source. */
enum set_phase {
	SET_BACKUP,  /* backup --set */
	SET_RESTORE, /* restore --set */
	SET_VERIFY   /* verify's deep check and restore test: a restore */
};
/* "backup", "restore", "verify" */
const char *set_phase_name(enum set_phase phase);
/* How a plugin takes a --set key in a phase. */
enum set_take {
	TAKES_NOT = 0,  /* it has no such key */
	TAKES_YES,      /* it has the key (or KEY_file / KEY_env of a secret) */
	TAKES_NO_EFFECT /* it has the key, which does nothing in this phase */
};
/* Does the plugin take KEY (the first len bytes of key), or KEY_file /
 * KEY_env for one of its secrets, in phase? */
enum set_take plugin_takes(const struct loaded_plugin *lp, const char *key, size_t len,
                           enum set_phase phase);
/* Split "[SOURCE.]KEY=VALUE": *source (may be NULL) and the KEY=VALUE
 * part. */
const char *split_set(const char *s, char **source);
/* Every --set must reach one of the sources named (those the run
 * backs up or restores, each a [source NAME] of the INI file) and have an
 * effect there in phase: a scoped one names one of them, a plain one is a
 * key of at least one of their plugins.  0, or CAIRN_EXIT_USAGE with the
 * error said (a refused key named with its source, never its value). */
int check_sets(struct cli *c, const struct strvec *sets, const char *const *sources, size_t n,
               enum set_phase phase);
/* The --set values for one source whose plugin is lp: SOURCE.KEY=VALUE
 * for it, and plain KEY=VALUE where its plugin takes that key in phase;
 * appended to out (check_sets() refused the rest beforehand). */
void overrides_for(const struct strvec *sets, const char *source, const struct loaded_plugin *lp,
                   enum set_phase phase, struct strvec *out);
/* The instance of [source NAME] with the --set values that reach it in
 * phase; with record, each of them is appended as the manifest records it
 * (set_for_record).  0, or an exit code with the error said. */
int make_source(struct cli *c, const char *name, const struct strvec *sets, enum set_phase phase,
                struct instance **out, struct strvec *record);
/* KEY=VALUE as a manifest may keep it: the value of a secret key (the
 * plugin's CAIRN_KEY_SECRET, given inline) is "(secret)"; its _file and
 * _env forms name where the secret is, and are kept. */
char *set_for_record(const struct loaded_plugin *lp, const char *kv);
/* The instance of the source a manifest names, checked against the INI
 * file, with the --set values that reach it (phase SET_RESTORE). */
int source_for_manifest(struct cli *c, const struct manifest_source *ms, const struct strvec *sets,
                        struct instance **out);

#endif
