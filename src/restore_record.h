/* restore_record.h - the run record of a restore: STATE_DIR/status/
 * JOB.restore.json, beside the job's backup record (state.h), written
 * when a restore ends, also when it failed or a signal stopped it.  It
 * says when, which job, sink and set (or --from file), the result with
 * the exit code, and per source the set it came from, its result and the
 * statistics its plugin recorded in restore() (for a server target, what
 * was written before a signal: redis's keys.dbN, mongo's per-collection
 * documents), which are otherwise not kept.  The last restore only: a
 * new one replaces it.  Written atomically, mode 0600. */
#ifndef CAIRN_RESTORE_RECORD_H
#define CAIRN_RESTORE_RECORD_H

#include <jansson.h>
#include <time.h>

#define RESTORE_RECORD_FORMAT 1

struct restore_record {
	const char *job;
	const char *sink; /* NULL for restore --from */
	const char *id;   /* the set restored from (the base); NULL for --from */
	const char *from; /* restore --from FILE, or NULL */
	time_t started;
	json_t *sources; /* array, one object per source */
};

/* Start the record of a restore of job. */
void restore_record_begin(struct restore_record *r, const char *job, time_t started);

/* Add source name, restored from set id (NULL: from a file): rc is its
 * CAIRN_E_* result (0 ok), error the one line said (NULL if none),
 * stats the plugin's (copied; NULL if none). */
void restore_record_source(struct restore_record *r, const char *name, const char *id, int rc,
                           const char *error, const json_t *stats);
/* Add a source of the plan that was not reached. */
void restore_record_skipped(struct restore_record *r, const char *name, const char *id);

/* The record as JSON (new reference): exit_code is the restore's exit
 * code, finished when it ended. */
json_t *restore_record_json(const struct restore_record *r, int exit_code, time_t finished);

/* Write it to STATE_DIR/status/JOB.restore.json.  0, or -1 with *err. */
int restore_record_save(const char *state_dir, const struct restore_record *r, int exit_code,
                        char **err);
void restore_record_free(struct restore_record *r);

/* STATE_DIR/status/JOB.restore.json; caller frees. */
char *restore_record_path(const char *state_dir, const char *job);

#endif
