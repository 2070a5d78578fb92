/* config.h - the INI file (read with inih) as typed structs.
 *
 * Loading happens in two steps.  config_load() reads the file and checks
 * everything the core itself knows: section kinds, names, core keys, and
 * that every job names sources, sinks and a retention that exist.  Plugin
 * keys are checked later by config_typed() (plugin_keys.h), against the
 * key table of the plugin that was loaded for a section, before the plugin
 * sees them.  The words of values (sizes, durations, ...) are values.h's. */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <cairn/plugin.h>
#include <stdint.h>

#include "retention.h"
#include "util.h"
#include "values.h"

struct stat;

enum section_kind {
	SECTION_CAIRN,
	SECTION_SOURCE,
	SECTION_SINK,
	SECTION_RETENTION,
	SECTION_JOB,
	SECTION_CHECK, /* [check]: thresholds of cairn check */
	SECTION_SERVE  /* [serve]: cairn serve */
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

#define KEEP_ALL (-1)

/* The INI file and a KEY_file secret are read whole, so they are bounded:
 * what is larger is not a configuration but a wrong path (/dev/zero, a
 * log, a disk image).  Only regular files are read at all. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define SECRET_MAX_BYTES (64 * 1024)

struct cfg_retention {
	const struct cfg_section *sec;
	/* Number of backups to keep per period; 0 none, KEEP_ALL every one. */
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	int64_t keep_within;      /* seconds; 0: off */
	int64_t incomplete_grace; /* seconds; default 24h */
	struct retention_tz tz;   /* timezone = local (default), UTC or +HH:MM */
};

/* on_source_failure: what a run does with the other sources' objects when
 * one source fails. */
enum on_source_failure {
	SOURCE_FAILURE_KEEP,   /* commit them as a partial set (default) */
	SOURCE_FAILURE_DISCARD /* lose the whole set */
};

/* The hooks of a job (hooks.h); NULL when not set. */
struct cfg_hooks {
	const char *before, *after, *on_success, *on_failure;
	int64_t timeout; /* seconds; default 5m */
};

/* A threshold of cairn check: a warning above warn, critical above crit;
 * 0 is off.  Written "WARN,CRIT" or, for critical alone, "CRIT". */
struct check_level {
	int64_t warn, crit;
};

/* The [check] section, or a job's own thresholds over it.  Ages are
 * seconds, the others percent. */
struct cfg_check {
	struct check_level max_age;        /* since the last complete backup */
	struct check_level max_size_drop;  /* stored size against the previous */
	struct check_level max_verify_age; /* since the last good verify */
	struct check_level max_usage;      /* of the sink's space */
	/* jobs that follow: age of the newest committed log segment
	 * (default 5m critical) */
	struct check_level max_log_lag;
};

/* A job's log streams (cairn follow): the job keys segment_span,
 * segment_size and pitr_window. */
struct cfg_log {
	int64_t segment_span;  /* seconds; default 60 */
	uint64_t segment_size; /* bytes (raw); default 64 MiB */
	int64_t pitr_window;   /* seconds of log kept; 0: as long as a kept set needs it */
};

/* A job's encryption (crypt.h; the keys are read by config_crypt.c, the
 * key files only when a run needs them, by crypt_keys.c). */
struct cfg_crypt {
	int age;                  /* encryption = age (default: none) */
	struct strvec recipients; /* age_recipients = age1... age1... */
	char *recipients_file;    /* age_recipients_file = PATH, or NULL */
	char *passphrase_file;    /* age_passphrase_file = PATH, or NULL */
	char *passphrase_env;     /* age_passphrase_env = NAME, or NULL */
	char *identity_file;      /* age_identity_file = PATH, or NULL */
	int manifest_stats;       /* manifest_stats = no: leave the sources'
	                           * statistics out of the (clear) manifests */
	int line;                 /* of the encryption key, for messages;
	                           * 0: no encryption = key */
	const char *cfg_path;     /* the INI file, for messages */
};

/* The [serve] section. */
struct cfg_serve {
	char *listen;     /* "ADDR:PORT"; default 127.0.0.1:9135 */
	char *token_file; /* NULL if unset */
	char *tls_cert, *tls_key;
	int max_connections;
	int line; /* of the section, for messages; 0 if none */
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
	enum on_source_failure on_source_failure;
	int prune; /* prune each sink after a successful backup (default yes) */
	struct cfg_hooks hooks;
	struct cfg_check check; /* [check] with the job's own max_* over it */
	struct cfg_log log;
	struct cfg_crypt crypt;
};

struct config {
	char *path; /* as given */
	char *dir;  /* absolute directory of the file: base of relative paths */
	char *state_dir;
	char *plugin_dir;   /* NULL if unset */
	char *metrics_file; /* [cairn] metrics_file; NULL if unset */
	struct cfg_check check;
	struct cfg_serve serve;
	struct cfg_section *sections;
	size_t nsections;
	struct cfg_job *jobs;
	size_t njobs;
	int other_readable; /* the file's mode lets others read it */
};

/* Read and check path.  On error returns NULL and sets *err to one line
 * "FILE:LINE: [section] key: what is wrong; what to do".  Free with
 * config_free. */
struct config *config_load(const char *path, char **err);
void config_free(struct config *cfg);
/* For config check: the same, but every error is said, not only the
 * first: each goes to errs as its own line, in the order of the file's
 * lines.  What is in error is left out of the configuration returned (a
 * refused section with its keys, a job's name of a missing sink, a
 * section's plugin when plugin = is missing), so the plugin sections that
 * are sound can still be checked.  NULL, with *err set, only when the file
 * cannot be read or parsed at all. */
struct config *config_load_all(const char *path, struct strvec *errs, char **err);

const struct cfg_job *config_job(const struct config *cfg, const char *name);
const struct cfg_section *config_section(const struct config *cfg, enum section_kind kind,
                                         const char *name);
/* "source", "sink", ... */
const char *section_kind_name(enum section_kind kind);

/* For config check: can a run use dir as its state directory?  Creates it
 * as a run does (mkdir -p, mode 0700 for what it creates), checks it is a
 * directory in which a file can be created and flock(2)ed (a probe file,
 * removed at once), the way lock_job() takes a job's lock.  Returns 0, or
 * -1 with *err set to one line naming dir, the cause and what to do. */
int state_dir_check(const char *dir, char **err);

/* config_log.c: a job's log keys (segment_span, segment_size, pitr_window).  The
 * defaults; and, for one key of a [job] section, 1 when it is one of
 * them (*why set, one line without the key's place, when its value is
 * refused: the caller frees it), else 0. */
void config_log_defaults(struct cfg_log *log);
int config_log_key(const char *key, const char *value, struct cfg_log *log, char **why);

/* config_crypt.c: a job's encryption keys (encryption, age_recipients,
 * age_recipients_file, age_passphrase_file, age_passphrase_env,
 * age_identity_file, manifest_stats), as config_log_key(); paths are made
 * absolute against dir.  config_crypt_check() checks them together once
 * the section is read (encryption = age needs recipients or a
 * passphrase, ...): 0, or -1 with *why one line. */
void config_crypt_defaults(struct cfg_crypt *c);
int config_crypt_key(const char *key, const char *value, const char *dir, struct cfg_crypt *c,
                     char **why);
int config_crypt_check(const struct cfg_crypt *c, char **why);
void config_crypt_free(struct cfg_crypt *c);

/* "[kind name]" or "[cairn]" into buf, for messages. */
void section_label(const struct cfg_section *s, char *buf, size_t len);

/* Read all of the regular file path, at most max bytes, into *data (NUL
 * after its *len bytes; caller frees), without ever blocking on a FIFO or
 * a device, with *st from the descriptor read.  For the configuration
 * itself secret is NULL; for a KEY_file secret it is KEY, and the message
 * then says nothing of the content.  Returns 0, or -1 with *err set to one
 * line naming path, what is wrong and what to do. */
int config_read_file(const char *path, const char *secret, size_t max, struct stat *st, char **data,
                     size_t *len, char **err);

#endif
