/* state.h - what cairn remembers of a job's runs between runs: per job a
 * small JSON file STATE_DIR/status/JOB.json holding, per sink, the last
 * backup run's outcome (ok, partial or failed, with the error), how many
 * runs failed or were partial since the last good one, and the last
 * verify and restore-test results.  status, check, the metrics and serve
 * read it; backup and verify write it.
 *
 * The file is written atomically (a temporary file, fsync, rename, mode
 * 0600) under a lock of its own, so two runs that record at once never
 * lose each other's update.  It is read with a size bound and checked
 * field by field: a damaged record is reported and replaced by the next
 * write, never believed in part. */
#ifndef CAIRN_STATE_H
#define CAIRN_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "timeutil.h"

#define STATE_FORMAT 1
/* A record is a few hundred bytes per sink; anything this large is not
 * ours. */
#define STATE_MAX_BYTES (1024 * 1024)

enum run_status {
	RUN_NONE = 0, /* no run recorded */
	RUN_OK,       /* a complete set in this sink */
	RUN_PARTIAL,  /* a set without some of its sources */
	RUN_FAILED    /* no set in this sink */
};

struct state_run {
	enum run_status status;
	char id[BACKUP_ID_LEN + 1]; /* "" when the run got no id */
	char *error;                /* why not ok; NULL when ok */
	time_t started, finished;
};

/* A verify or a restore test of one set. */
struct state_test {
	time_t time; /* when it ended; 0: none recorded */
	char id[BACKUP_ID_LEN + 1];
	int ok;
	char *detail; /* what failed; NULL when ok */
};

struct state_sink {
	char *name;
	struct state_run run;     /* the last backup run */
	time_t last_ok;           /* finish of the last ok run; 0: none */
	unsigned partial, failed; /* runs of each kind since the last ok one */
	struct state_test verify, restore_test;
};

struct job_state {
	struct state_sink *v;
	size_t n;
};

/* STATE_DIR/status/JOB.json, caller frees. */
char *state_path(const char *state_dir, const char *job);

/* Read the record of job into *st.  A missing file is an empty record
 * (0).  A file that is not a record (too large, not JSON, wrong fields)
 * gives -1 with *err naming the file and what to do, and *st empty. */
int state_load(const char *state_dir, const char *job, struct job_state *st, char **err);
/* Parse a record from memory (state_load's second half; for tests).
 * 0, or -1 with *why. */
int state_parse(const char *buf, size_t len, const char *job, struct job_state *st, char **why);
/* Write it atomically, mode 0600.  0, or -1 with *err. */
int state_save(const char *state_dir, const char *job, const struct job_state *st, char **err);
void state_free(struct job_state *st);

/* The sink's entry, or NULL; state_sink_add makes it when missing. */
const struct state_sink *state_find(const struct job_state *st, const char *sink);
struct state_sink *state_sink_add(struct job_state *st, const char *sink);

/* Record a backup run's outcome in one sink (counting partial and failed
 * runs since the last ok one).  error may be NULL. */
void state_set_run(struct state_sink *s, enum run_status status, const char *id, const char *error,
                   time_t started, time_t finished);
/* Record a verify (restore_test 0) or restore test (1). */
void state_set_test(struct state_sink *s, int restore_test, const char *id, int ok,
                    const char *detail, time_t when);

/* What callers do: lock the record, load it (a damaged one is replaced,
 * with a warning), let fn change it, save it.  0, or -1 with *err. */
int state_update(const char *state_dir, const char *job, void (*fn)(struct job_state *st, void *ud),
                 void *ud, char **err);

const char *run_status_name(enum run_status s);
/* A verify or restore test as the record and the status document write
 * it: {"time", "id", "ok", "detail"}, or null when none is recorded.  A
 * new reference. */
json_t *state_test_json(const struct state_test *t);

#endif
