/* logstatus.h - what a job's change logs look like in one sink, for list,
 * status, check and the metrics: per source, the span the log covers, its
 * segments and bytes, how far behind it is, and every break in it (a gap
 * record, or a hole between segments found from their names).
 *
 * Made from one listing (logcat_load without manifests): no segment is
 * read.  Only list -v reads the manifests (logstatus_gather's
 * read_manifests). */
#ifndef CAIRN_LOGSTATUS_H
#define CAIRN_LOGSTATUS_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "logcat.h"

enum log_break_kind {
	LOG_BREAK_GAP,  /* a gap record: the follower lost this stretch */
	LOG_BREAK_HOLE, /* no segment covers it, and no gap record says why */
};

struct log_break {
	enum log_break_kind kind;
	struct cairn_log_pos from, to; /* (from, to] */
	char *reason;                  /* one line */
	char base[BACKUP_ID_LEN + 1];  /* a gap's new base; "" if none */
};

/* One source's log in one sink. */
struct log_summary {
	char *source;
	int can_follow; /* a source of the job whose plugin follows (ABI 1.4) */
	size_t segments;
	uint64_t bytes;  /* stored bytes of the segments, as listed */
	int64_t from_ms; /* the oldest segment's FROM time; valid when segments */
	int64_t to_ms;   /* the newest segment's TO time; valid when segments */
	char newest[LOGSEG_NAME_MAX];
	struct log_break *breaks; /* gaps and holes, in log order */
	size_t nbreaks;
	size_t ngaps, nholes;
	struct strvec damage; /* logcat's lines: a record that cannot be believed */
	size_t orphans;       /* data without a manifest (uncommitted or left over) */
};

/* Summarise one source's log as logcat_load gave it (pure: no I/O). */
void logstatus_summarise(const struct log_source *ls, struct log_summary *out);
void logstatus_summary_free(struct log_summary *s);
void logstatus_free(struct log_summary *v, size_t n);

/* The logs of job in sink, one summary per source with any log object,
 * in source-name order; can_follow set for the names in `follows`.  0,
 * or a CAIRN_E_* code with *err (the listing failed).  With
 * read_manifests, *cat (when not NULL) keeps the catalog for more detail
 * (the caller frees it with logcat_free). */
int logstatus_gather(struct instance *sink, const char *job, const struct strvec *follows,
                     int read_manifests, struct log_summary **v, size_t *n, struct log_catalog *cat,
                     char **err);

/* Lag in seconds at now (0 when the newest segment lies in the future);
 * only for a summary with segments. */
double logstatus_lag(const struct log_summary *s, time_t now);

/* "2026-12-07T14:28:00.123Z .. 2026-12-07T14:29:00.000Z" into buf */
void logstatus_interval(const struct cairn_log_pos *from, const struct cairn_log_pos *to, char *buf,
                        size_t len);

/* {"source", "segments", "bytes", "from", "to", "newestSegment",
 *  "lagSeconds", "gaps", "holes", "breaks":[{"kind","from","to","reason",
 *  "base"}], "damage":[...], "uncommitted"} (doc/status-json.md) */
json_t *logstatus_json(const struct log_summary *s, time_t now);

/* Is the plugin NAME, loaded in reg, a source that follows a change log?
 * Looks only among plugins already loaded (serve's threads must not
 * load); logstatus_load_sources loads the job's sources' plugins first
 * (one thread only), ignoring those that cannot be loaded. */
struct plugin_registry;
struct config;
struct cfg_job;
void logstatus_load_sources(struct plugin_registry *reg, const struct config *cfg,
                            const struct cfg_job *job);
/* The names of job's sources that follow, into out. */
void logstatus_follows(const struct plugin_registry *reg, const struct config *cfg,
                       const struct cfg_job *job, struct strvec *out);

#endif
