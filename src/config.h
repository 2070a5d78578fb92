/* config.h - the INI file (read with inih) as typed structs.
 *
 * Loading happens in two steps.  config_load() reads the file and checks
 * everything the core itself knows: section kinds, names, core keys, and
 * that every job names sources, sinks and a retention that exist.  Plugin
 * keys are checked later by config_typed(), against the key table of the
 * plugin that was loaded for a section, before the plugin sees them. */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <cairn/plugin.h>
#include <stdint.h>

#include "util.h"

enum section_kind {
	SECTION_CAIRN,
	SECTION_SOURCE,
	SECTION_SINK,
	SECTION_RETENTION,
	SECTION_JOB
};

struct cfg_entry {
	char *key;
	char *value;
	int line;
};

/* One [kind name] section with its raw key/values, in file order. */
struct cfg_section {
	enum section_kind kind;
	char *name; /* NULL for [cairn] */
	int line;
	struct cfg_entry *entries;
	size_t nentries;
	const char *plugin; /* source/sink: the value of plugin = */
	int plugin_line;    /* and its line, for errors about that plugin */
};

enum compression {
	COMP_NONE,
	COMP_ZSTD,
	COMP_GZIP,
	COMP_XZ
};

#define KEEP_ALL (-1)

/* The INI file and a KEY_file secret are read whole, so they are bounded:
 * what is larger is not a configuration but a wrong path (/dev/zero, a
 * log, a disk image).  Only regular files are read at all. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define SECRET_MAX_BYTES (64 * 1024)

struct cfg_retention {
	const struct cfg_section *sec;
	/* Number of backups to keep per period; 0 none, KEEP_ALL every one. */
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
		keep_yearly;
};

struct cfg_job {
	const struct cfg_section *sec;
	const char *name;
	struct strvec sources, sinks;
	const struct cfg_section *retention; /* NULL if none */
	struct cfg_retention keep;           /* its numbers, for prune */
	enum compression compression;
	int level;   /* -1: the compressor's default */
	int threads; /* compression worker threads; 0: none */
	const char *description;
};

struct cairn_cfg {
	char *path; /* as given */
	char *dir;  /* absolute directory of the file: base of relative paths */
	char *state_dir;
	char *plugin_dir; /* NULL if unset */
	struct cfg_section *sections;
	size_t nsections;
	struct cfg_job *jobs;
	size_t njobs;
	int other_readable; /* the file's mode lets others read it */
};

/* Read and check path.  On error returns NULL and sets *err to one line
 * "FILE:LINE: [section] key: what is wrong; what to do".  Free with
 * config_free. */
struct cairn_cfg *config_load(const char *path, char **err);
void config_free(struct cairn_cfg *cfg);

const struct cfg_job *config_job(const struct cairn_cfg *cfg, const char *name);
const struct cfg_section *config_section(const struct cairn_cfg *cfg,
                                         enum section_kind kind, const char *name);
/* "source", "sink", ... */
const char *section_kind_name(enum section_kind kind);

/* For config check: can a run use dir as its state directory?  Creates it
 * as a run does (mkdir -p, mode 0700 for what it creates), checks it is a
 * directory in which a file can be created and flock(2)ed (a probe file,
 * removed at once), the way lock_job() takes a job's lock.  Returns 0, or
 * -1 with *err set to one line naming dir, the cause and what to do. */
int state_dir_check(const char *dir, char **err);

/* A plugin section's keys checked and parsed against a key table.  The
 * cairn_config inside is what the plugin's create() gets. */
struct typed_config {
	struct cairn_config pub;
	struct cairn_value *values;
	struct strvec owned; /* strings the values point into */
	int *line;           /* per key: the INI line that set it, or 0 */
	char ***lists;
	size_t nlists;
};

/* Check sec's keys (except plugin =) against keys, then apply overrides
 * ("KEY=VALUE" strings from --set, relative paths against the working
 * directory).  Errors name the file, line, section and key.  Returns 0 or
 * CAIRN_E_CONFIG with *err set.  Free *out with typed_config_free. */
int config_typed(const struct cairn_cfg *cfg, const struct cfg_section *sec,
                 const char *plugin_name, const struct cairn_key *keys,
                 const struct strvec *overrides, struct typed_config **out,
                 char **err);
void typed_config_free(struct typed_config *tc);

/* Value parsers shared by the core's own keys and plugin keys; each
 * returns 0, or -1 when text is not a value of that type. */
int parse_bool(const char *text, int64_t *out);
int parse_int(const char *text, int64_t *out);
int parse_size(const char *text, int64_t *out);
int parse_duration(const char *text, int64_t *out);
int parse_compression(const char *text, enum compression *out);
const char *compression_name(enum compression c);
/* File name suffix without dot, or NULL for none. */
const char *compression_ext(enum compression c);

#endif
