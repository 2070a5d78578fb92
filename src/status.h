/* status.h - what is known of each job in each of its sinks: gathered from
 * the sink (the listing, the manifests of the newest sets, usage) and the
 * state record (runs, verifies, restore tests).  status, check, the
 * metrics and serve all read this one picture, and nothing here writes.
 *
 * Cheap by design: the listing gives every set's id and size, so only the
 * manifests of the newest complete sets are read (the last complete
 * backup and the one before it, for the duration and the size change),
 * whatever the number of sets. */
#ifndef CAIRN_STATUS_H
#define CAIRN_STATUS_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "logstatus.h"
#include "plugin.h"
#include "state.h"

/* Version of the JSON document (doc/status-json.md): fields are only ever
 * added; a change of meaning would be version 2. */
#define STATUS_JSON_VERSION 1
/* Sets kept in each sink's recentBackups, and drawn in the sparkline. */
#define STATUS_RECENT 10

struct set_summary {
	char id[BACKUP_ID_LEN + 1];
	time_t time;          /* the id's time: when the backup started */
	uint64_t bytes;       /* what the listing says the set holds */
	int have_manifest;    /* the fields below come from it */
	uint64_t stored, raw; /* sums over its sources */
	time_t started, finished;
	size_t nsources;
	int partial; /* the manifest says a source is missing */
};

struct sink_status {
	char *name;
	char *plugin;
	int reachable;        /* created and listed */
	char *error;          /* why not reachable, or a damaged manifest */
	size_t sets;          /* complete sets */
	struct strvec pinned; /* ids of the complete sets pinned, oldest first */
	/* ids of the sets whose id lies in the future (a host with a wrong
	 * clock, or planted), oldest first: not taken for the last backup */
	struct strvec future;
	uint64_t bytes_kept;
	int have_last, have_prev;
	struct set_summary last, prev;            /* the newest complete sets, not partial */
	struct set_summary recent[STATUS_RECENT]; /* oldest first */
	size_t nrecent;
	int have_usage;
	struct cairn_usage usage;
	struct state_sink state; /* a copy; zero when nothing recorded */
	/* the job's change logs here, per source with log objects; only
	 * looked for when a source of the job follows (logstatus.h) */
	struct log_summary *logs;
	size_t nlogs;
	char *log_error; /* the logs could not be listed */
};

struct job_status {
	const struct cfg_job *job;
	struct sink_status *sinks;
	size_t nsinks;
	char *state_error; /* the state record is damaged; NULL if fine */
};

struct status_report {
	time_t now;
	struct job_status *jobs;
	size_t njobs;
};

/* Gather every job (only NULL) or job only.  Never fails as a whole: a
 * sink that cannot be made or listed is reported unreachable with its
 * error.  Returns 0, or -1 when only names no job. */
int status_gather(struct plugin_registry *reg, const struct config *cfg, const char *only,
                  struct status_report *out);
void status_free(struct status_report *r);
/* One sink of one job, as status_gather() gathers it (serve gathers each
 * sink on its own thread): never fails, an unreachable sink says why in
 * ss->error.  st is the job's state record (may be empty). */
void status_gather_sink(struct plugin_registry *reg, const struct config *cfg,
                        const struct cfg_job *job, const char *name, const struct job_state *st,
                        struct sink_status *ss);
/* Free what one sink_status holds (status_free does it for a report). */
void status_sink_free(struct sink_status *ss);

/* The document of doc/status-json.md (new reference). */
json_t *status_json(const struct status_report *r);
/* The document of one job (for /status/JOB); NULL when not reported. */
json_t *status_job_json(const struct status_report *r, const char *job);

/* The size change of the last complete set against the previous, in
 * percent (negative: it shrank); 0 and returns 0 when unknown. */
int status_size_change(const struct sink_status *s, double *pct);
/* Used share of the sink's space in percent; 0 when unknown. */
int status_usage_percent(const struct sink_status *s, double *pct);

/* ----------------------------------------------------------- check */

enum check_state {
	CHECK_OK = 0,
	CHECK_WARNING = 1,
	CHECK_CRITICAL = 2,
	CHECK_UNKNOWN = 3
};

struct check_problem {
	enum check_state level;
	char *text; /* "JOB in SINK: ..." */
};

struct check_result {
	enum check_state state; /* the worst: critical, unknown, warning, ok */
	struct check_problem *v;
	size_t n;
	char *perfdata; /* Nagios perfdata, 'label'=value[unit];warn;crit;; ... */
};

/* Apply each job's thresholds (cfg_job.check) to the report. */
void check_evaluate(const struct status_report *r, struct check_result *out);
void check_result_free(struct check_result *c);
const char *check_state_name(enum check_state s);

#endif
